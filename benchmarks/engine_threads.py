"""Benchmark: the best `threads` per CPU engine and system size, through meltdyn's own study path.

For each engine, atom count and thread count, one SHIK NS2 study (the authors' form; 5 Å cutoffs below 500 atoms,
where 8/10 Å do not fit the box): minimise 200 iterations, NVT
at 3000 K for `--steps` steps, 0.05 ps of production. Reported per setting: the minimisation's seconds and the NVT
stage's ms per step, from the run's provenance (the stage driver's own timings), and the ratio to one thread in
the same session.

    python benchmarks/engine_threads.py [--engines lammps openmm] [--atoms 204 648 3000] [--threads 1 2]
                                        [--steps 2000] [--out benchmarks/results/engine-threads.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
from pathlib import Path

import meltdyn


def study(engine: str, atoms: int, threads: int, steps: int, out: Path) -> dict:
    return {
        "name": f"threads-{engine}-{atoms}-{threads}", "output_dir": str(out), "seed": 5,
        "system": {"plugin": "sodium_silicate", "atoms": atoms},
        "sweep": {"compositions": ["NS2"], "temperatures_K": [3000.0], "replicas": 1},
        # SHIK as published (8 and 10 Å) where the box allows it (about 500 atoms and more), else 5 Å cutoffs.
        "potential": {"plugin": "shik", **({} if atoms >= 500 else {"short_range_cutoff_A": 5.0,
                                                                    "coulomb_cutoff_A": 5.0})},
        "engine": {"plugin": engine, "threads": threads, **({"platform": "CPU"} if engine == "openmm" else {})},
        "protocol": {"timestep_fs": 1.0, "stages": [
            {"stage": "minimise", "max_iterations": 200},
            {"stage": "nvt", "duration_ps": steps / 1000},
            {"stage": "production", "duration_ps": 0.05, "sampling": {"interval_ps": 0.01}}]},
        "observables": [{"plugin": "msd"}],
    }


def measure(engine: str, atoms: int, threads: int, steps: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        s = meltdyn.load_study(study(engine, atoms, threads, steps, Path(tmp) / "runs"))
        (run,) = s.run(progress=False)
        seconds = json.loads((run.dir / "provenance.json").read_text())["engine"]["stage_seconds"]
        atoms_built = s.outline.runs[0].system.n_atoms
    minimise = next(v for k, v in seconds.items() if k.endswith(":minimise"))
    nvt = next(v for k, v in seconds.items() if k.endswith(":nvt"))
    return {"engine": engine, "atoms": atoms_built, "cutoffs_A": "8/10" if atoms >= 500 else "5/5", "threads": threads,
            "minimise_s": round(minimise, 3),
            "nvt_ms_per_step": round(1e3 * nvt / steps, 3)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--engines", nargs="+", default=["lammps", "openmm"])
    p.add_argument("--atoms", type=int, nargs="+", default=[204, 648, 3000])
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    rows = []
    for engine in args.engines:
        for atoms in args.atoms:
            one = None
            for threads in args.threads:
                row = measure(engine, atoms, threads, args.steps)
                one = one or row
                row["nvt_vs_1_thread"] = round(row["nvt_ms_per_step"] / one["nvt_ms_per_step"], 2)
                row["minimise_vs_1_thread"] = round(row["minimise_s"] / one["minimise_s"], 2)
                rows.append(row)
                print(json.dumps(row), flush=True)
    record = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
              "steps": args.steps, "rows": rows}
    if args.out:
        args.out.write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
