"""Benchmark: analysing a trajectory meltdyn did not write — a LAMMPS text dump — within a memory budget.

3,000 atoms (NS2 proportions) × 5,000 frames of Brownian motion in a 30 Å box, written as a LAMMPS dump with
wrapped positions and image flags (``id type x y z ix iy iz``; 1.1 GB of text, 343 MB as float64 positions).
Contenders, each in its own process:

* meltdyn ``analyse`` (Python API): converts the dump once to chunked H5MD beside the results, then runs MSD, F_s,
  G_s (with the Na hop analysis) and α2 under ``memory_budget_MB`` (default 128, well below the positions' size);
* MDAnalysis (the peer): its LAMMPSDUMP reader with ``unwrap_images=True`` and ``EinsteinMSD(fft=True)``, MSD only.

Peak resident memory is reported absolute and above the process' baseline after imports (the budget bounds the
analysis, not the interpreter and its libraries).

    python benchmarks/foreign_dump.py [--atoms 3000] [--frames 5000] [--budget-MB 128] [--data /tmp/meltdyn-bench]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

DT = 0.01  # ps between frames
D = {"Na": 0.5, "Si": 0.02, "O": 0.05}  # Å²/ps
BOX = 30.0
TYPES = {"Na": 1, "Si": 2, "O": 3}


def make(path: Path, atoms: int, frames: int) -> None:
    n_na = n_si = round(atoms * 2 / 9)
    symbols = ["Na"] * n_na + ["Si"] * n_si + ["O"] * (atoms - n_na - n_si)
    types = np.array([TYPES[s] for s in symbols])
    sigma = np.sqrt(2 * np.array([D[s] for s in symbols]) * DT)[:, None]
    rng = np.random.default_rng(0)
    x = rng.random((atoms, 3)) * BOX
    ids = np.arange(1, atoms + 1)
    header = (f"ITEM: NUMBER OF ATOMS\n{atoms}\nITEM: BOX BOUNDS pp pp pp\n" + f"0.0 {BOX}\n" * 3
              + "ITEM: ATOMS id type x y z ix iy iz\n")
    partial = path.with_suffix(".partial")
    with open(partial, "w") as f:
        for t in range(frames):
            image = np.floor(x / BOX)
            f.write(f"ITEM: TIMESTEP\n{t}\n" + header)
            table = np.column_stack([ids, types, x - image * BOX, image])
            np.savetxt(f, table, fmt="%d %d %.6f %.6f %.6f %d %d %d")
            x = x + rng.normal(size=x.shape) * sigma
    partial.rename(path)


def _rss_MB() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * resource.getpagesize() / 2**20


def case_meltdyn(path: Path, budget_MB: float) -> dict:
    import numpy.fft  # noqa: F401  (imported lazily by numpy on first use: libraries, not analysis)
    import numpy.ma  # noqa: F401

    from meltdyn.analysis.streaming import AnalysisCost
    from meltdyn.plugin import select
    from meltdyn.trajectory.convert import convert  # noqa: F401
    from meltdyn.trajectory.readers import LammpsDump  # noqa: F401
    from meltdyn.hooks.registry import discover
    from meltdyn.analysis.standalone import analyse_trajectory

    discover()  # loads every plugin module, as the analysis will

    out = path.parent / f"meltdyn-{time.time_ns()}"
    spec = {"trajectory": str(path), "output_dir": str(out), "timestep_ps": DT, "memory_budget_MB": budget_MB,
            "type_elements": {str(v): k for k, v in TYPES.items()},
            "observables": [{"plugin": "msd"}, {"plugin": "isf"}, {"plugin": "alpha2"},
                            {"plugin": "van_hove", "lags_ps": [0.1, 1.0, 10.0]}]}
    baseline = _rss_MB()
    cost = AnalysisCost()
    t0 = time.perf_counter()
    res = analyse_trajectory(spec, cost=cost)
    conversion = json.loads((out / "conversion.json").read_text())
    return {"seconds": time.perf_counter() - t0, "conversion_seconds": cost.conversion_seconds,
            "analysis_seconds": cost.seconds - cost.conversion_seconds, "block_atoms": cost.block_atoms,
            "estimate_MB": cost.estimate_MB, "baseline_rss_MB": baseline,
            "unwrapped_by": conversion["report"]["unwrapped_by"],
            "msd_last": _all_atom_msd_last(res["msd"], path),
            "D_Na": float(select(res["msd"], "D", species="Na"))}


def _all_atom_msd_last(msd: dict, path: Path) -> float:
    """The per-species MSDs at the longest lag, weighted by atom counts: MDAnalysis' all-atom figure."""
    from meltdyn.plugin import select

    atoms = int(path.name.split("_")[1].split("x")[0])
    n_na = n_si = round(atoms * 2 / 9)
    counts = {"Na": n_na, "Si": n_si, "O": atoms - n_na - n_si}
    return sum(counts[s] * float(select(msd, "msd", species=s)[-1]) for s in counts) / atoms


def case_mdanalysis(path: Path, budget_MB: float) -> dict:
    import MDAnalysis as mda
    from MDAnalysis.analysis.msd import EinsteinMSD

    baseline = _rss_MB()
    t0 = time.perf_counter()
    u = mda.Universe(str(path), format="LAMMPSDUMP", dt=DT, unwrap_images=True)
    msd = EinsteinMSD(u, select="all", msd_type="xyz", fft=True).run()
    return {"seconds": time.perf_counter() - t0, "baseline_rss_MB": baseline,
            "msd_last": float(msd.results.timeseries[-1])}


CASES = {"meltdyn": case_meltdyn, "mdanalysis": case_mdanalysis}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--atoms", type=int, default=3000)
    p.add_argument("--frames", type=int, default=5000)
    p.add_argument("--budget-MB", type=float, default=128.0)
    p.add_argument("--data", type=Path, default=Path("/tmp/meltdyn-bench"))
    p.add_argument("--case", choices=CASES, help=argparse.SUPPRESS)
    args = p.parse_args()
    path = args.data / f"brownian_{args.atoms}x{args.frames}.lammpstrj"
    if args.case:
        out = CASES[args.case](path, args.budget_MB)
        out["peak_rss_MB"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        out["peak_above_baseline_MB"] = out["peak_rss_MB"] - out["baseline_rss_MB"]
        print(json.dumps(out))
        return
    args.data.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        t0 = time.perf_counter()
        make(path, args.atoms, args.frames)
        print(f"wrote {path} in {time.perf_counter() - t0:.0f} s", flush=True)
    results = {}
    for name in CASES:
        proc = subprocess.run([sys.executable, __file__, "--case", name, "--atoms", str(args.atoms), "--frames",
                               str(args.frames), "--budget-MB", str(args.budget_MB), "--data", str(args.data)],
                              capture_output=True, text=True, check=True)
        results[name] = json.loads(proc.stdout.strip().splitlines()[-1])
        print(name, results[name], flush=True)
    m, a = results["meltdyn"], results["mdanalysis"]
    print(json.dumps({"atoms": args.atoms, "frames": args.frames, "budget_MB": args.budget_MB,
                      "positions_MB_float64": args.atoms * args.frames * 3 * 8 / 2**20,
                      "meltdyn_all_four_over_mdanalysis_msd_time": m["seconds"] / a["seconds"],
                      "meltdyn_peak_above_baseline_over_budget": m["peak_above_baseline_MB"] / args.budget_MB,
                      "results": results}, indent=2))


if __name__ == "__main__":
    main()
