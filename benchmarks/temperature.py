"""Benchmark: the temperature each engine simulates, per production frame schedule (issue 19).

NS2, 648 atoms, SHIK (default cutoffs), 3000 K, Langevin at 1/ps (production; equilibration at 10/ps so that it is
relaxed in 1 ps), 1 fs steps, one thread. The achieved temperature is what meltdyn's state point reports: the mean
kinetic temperature of the stored velocities (relative to the centre of mass, 3N − 3 degrees of freedom) over the
evenly spaced frames, with its autocorrelation-corrected standard error. Schedules: linear frames every 0.05 ps, the
same with 6 log frames per interval, and a frame every 2 steps.

    python benchmarks/temperature.py [--engines lammps openmm torchsim] [--production-ps 10] [--out FILE]

At 1/ps the kinetic temperature decorrelates in ~0.5 ps, so 10 ps of production hold ~20 correlation times: σ of
~1 % at 648 atoms. The runs share a seed, but any difference in how they are cut up diverges the trajectories within
picoseconds, so two schedules' means differ by their combined σ, not less.
"""

from __future__ import annotations

import argparse
import copy
import json
import tempfile
import time
from pathlib import Path

import yaml

import meltdyn
from meltdyn.analysis import state_point
from meltdyn.trajectory.h5md import H5MDReader

ROOT = Path(__file__).resolve().parents[1]
TARGET_K = 3000.0
ENGINES = {"lammps": {"plugin": "lammps", "threads": 1},
           "openmm": {"plugin": "openmm", "platform": "CPU", "threads": 1},
           "torchsim": {"plugin": "torchsim", "device": "cpu", "precision": "float64"}}
SCHEDULES = {"linear 0.05 ps": {"interval_ps": 0.05},
             "log 6/interval": {"interval_ps": 0.05, "log_frames_per_interval": 6},
             "every 2 steps": {"interval_ps": 0.002}}


def study(engine: str, sampling: dict, production_ps: float, out: Path) -> dict:
    spec = yaml.safe_load((ROOT / "examples" / "tiny.yaml").read_text())
    spec.update(output_dir=str(out), engine=ENGINES[engine], observables=[], seed=19)
    spec["system"] = {"plugin": "sodium_silicate", "atoms": 648}
    spec["potential"] = {"plugin": "shik"}
    spec["protocol"]["stages"] = [
        {"stage": "minimise", "max_iterations": 200},
        {"stage": "nvt", "duration_ps": 1.0, "friction_per_ps": 10.0},
        {"stage": "production", "duration_ps": production_ps, "friction_per_ps": 1.0,
         "sampling": {**sampling, "chunk_frames": 64, "velocities": True}}]
    return spec


def measure(engine: str, schedule: str, production_ps: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        (run,) = meltdyn.load_study(study(engine, SCHEDULES[schedule], production_ps, Path(tmp))).run(progress=False)
        seconds = time.perf_counter() - started
        with H5MDReader(run.dir / "trajectory.h5") as traj:
            point = state_point.measure(traj, TARGET_K)
            stored = float(traj.observable("temperature").mean())
    t = point.temperature_K
    return {"engine": engine, "schedule": schedule, "frames": point.frames, "T_K": t.value, "sigma_K": t.stderr,
            "sigma_note": t.note, "first_half_K": point.first_half_K.value, "second_half_K": point.second_half_K.value,
            "stored_T_K": stored, "bias_percent": 100 * (t.value - TARGET_K) / TARGET_K, "seconds": seconds}


def plot(results: dict, path: Path) -> None:
    """Achieved T per engine and schedule with ±2σ bars, against the target."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = results["rows"]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    labels = [f"{r['engine']}\n{r['schedule']}" for r in rows]
    ax.errorbar(range(len(rows)), [r["T_K"] for r in rows], yerr=[2 * r["sigma_K"] for r in rows], fmt="o",
                capsize=4)
    ax.axhline(results["target_K"], color="k", lw=0.8, ls="--", label="target")
    ax.axhspan(0.99 * results["target_K"], 1.01 * results["target_K"], color="0.9", label="±1 %")
    ax.set_xticks(range(len(rows)), labels, fontsize=7)
    ax.set_ylabel("production T (K), ±2σ")
    ax.set_title(f"{results['atoms']} atoms, {results['production_ps']:g} ps of production at Langevin 1/ps",
                 fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", nargs="+", default=list(ENGINES), choices=list(ENGINES))
    parser.add_argument("--schedules", nargs="+", default=list(SCHEDULES), choices=list(SCHEDULES))
    parser.add_argument("--production-ps", type=float, default=10.0)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "temperature-1cpu.json")
    args = parser.parse_args()
    rows = []
    for engine in args.engines:
        for schedule in args.schedules:
            rows.append(measure(engine, schedule, args.production_ps))
            r = rows[-1]
            print(f"{engine:9s} {schedule:15s} {r['T_K']:7.0f} ± {r['sigma_K']:3.0f} K  ({r['bias_percent']:+.1f} %, "
                  f"{r['frames']} frames, {r['seconds']:.0f} s) {r['sigma_note']}", flush=True)
    results = {"target_K": TARGET_K, "atoms": 648, "production_ps": args.production_ps, "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1))
    plot(results, args.out.with_suffix(".png"))


if __name__ == "__main__":
    main()
