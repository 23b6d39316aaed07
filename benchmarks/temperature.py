"""Benchmark: the temperature each engine simulates, per production frame schedule (issue 19).

NS2, 648 atoms, SHIK (default cutoffs), 3000 K, Langevin at 1/ps (production; equilibration at 10/ps so that it is
relaxed in 1 ps), 1 fs steps, one thread. The achieved temperature is the mean kinetic temperature of the stored
velocities (relative to the centre of mass, 3N − 3 degrees of freedom) with its block-averaged standard error
(blocks doubling in length; the largest error with at least 8 blocks). Schedules: linear frames every 0.05 ps, the
same with 6 log frames per interval, and a frame every 2 steps.

    python benchmarks/temperature.py [--engines lammps openmm torchsim] [--production-ps 4] [--out FILE]

Production is short (4 ps by default, not the 20 ps of the issue) so that the nine runs stay within ~15 min on one
core; σ says what that costs.
"""

from __future__ import annotations

import argparse
import copy
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

import meltdyn
from meltdyn import elements
from meltdyn.trajectory import H5MDReader
from meltdyn.units import BOLTZMANN_EV_K, U_A2_PS2_TO_EV

ROOT = Path(__file__).resolve().parents[1]
TARGET_K = 3000.0
ENGINES = {"lammps": {"plugin": "lammps", "threads": 1},
           "openmm": {"plugin": "openmm", "platform": "CPU", "threads": 1},
           "torchsim": {"plugin": "torchsim", "device": "cpu", "precision": "float64"}}
SCHEDULES = {"linear 0.05 ps": {"interval_ps": 0.05},
             "log 6/interval": {"interval_ps": 0.05, "log_frames_per_interval": 6},
             "every 2 steps": {"interval_ps": 0.002}}


def kinetic_temperatures_K(v: np.ndarray, symbols: list[str]) -> np.ndarray:
    m = elements.masses_u(symbols)[None, :, None]
    relative = v - (m * v).sum(1, keepdims=True) / m.sum()
    kinetic_eV = 0.5 * (m * relative**2).sum((1, 2)) * U_A2_PS2_TO_EV
    return 2 * kinetic_eV / ((3 * len(symbols) - 3) * BOLTZMANN_EV_K)


def block_mean(x: np.ndarray, min_blocks: int = 8) -> tuple[float, float]:
    errors, size = [], 1
    while len(x) // size >= min_blocks:
        n = len(x) // size
        errors.append(x[: n * size].reshape(n, size).mean(1).std(ddof=1) / np.sqrt(n))
        size *= 2
    return float(x.mean()), float(max(errors))


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
            temperatures = kinetic_temperatures_K(traj.velocities_A_ps(), list(traj.symbols))
            stored = float(traj.observable("temperature").mean())
    mean, sigma = block_mean(temperatures)
    return {"engine": engine, "schedule": schedule, "frames": len(temperatures), "T_K": mean, "sigma_K": sigma,
            "stored_T_K": stored, "bias_percent": 100 * (mean - TARGET_K) / TARGET_K, "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", nargs="+", default=list(ENGINES), choices=list(ENGINES))
    parser.add_argument("--schedules", nargs="+", default=list(SCHEDULES), choices=list(SCHEDULES))
    parser.add_argument("--production-ps", type=float, default=4.0)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "temperature-1cpu.json")
    args = parser.parse_args()
    rows = []
    for engine in args.engines:
        for schedule in args.schedules:
            rows.append(measure(engine, schedule, args.production_ps))
            r = rows[-1]
            print(f"{engine:9s} {schedule:15s} {r['T_K']:7.0f} ± {r['sigma_K']:3.0f} K  ({r['bias_percent']:+.1f} %, "
                  f"{r['frames']} frames, {r['seconds']:.0f} s)", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"target_K": TARGET_K, "atoms": 648, "production_ps": args.production_ps,
                                    "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
