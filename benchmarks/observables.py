"""Benchmark: all four dynamic-heterogeneity observables vs MDAnalysis EinsteinMSD (FFT) and a NumPy loop.

3,000 atoms (NS2 proportions) × 20,000 evenly spaced frames of Brownian motion, written as meltdyn H5MD
(float64, 1.44 GB of positions). Each contender runs in its own process; wall time and that process's peak
resident memory are recorded, and ratios are taken within the same run.

    python benchmarks/observables.py [--atoms 3000] [--frames 20000] [--data /tmp/meltdyn-bench]
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


def make(path: Path, atoms: int, frames: int) -> None:
    from meltdyn.trajectory.h5md import H5MDWriter, Snapshot, TrajectoryHeader

    n_na = n_si = round(atoms * 2 / 9)
    symbols = ["Na"] * n_na + ["Si"] * n_si + ["O"] * (atoms - n_na - n_si)
    sigma = np.sqrt(2 * np.array([D[s] for s in symbols]) * DT)[:, None]
    rng = np.random.default_rng(0)
    x = rng.random((atoms, 3)) * 30.0
    writer = H5MDWriter(path, TrajectoryHeader(symbols, DT, 1), chunk_frames=128, velocities=False)
    box = np.eye(3) * 30.0
    for t in range(frames):
        writer.append(t, t * DT, Snapshot(x, box, 0.0, 0.0))
        if writer.pending == 128:
            writer.flush()
        x = x + rng.normal(size=x.shape) * sigma
    writer.close()


def case_meltdyn(path: Path) -> dict:
    from meltdyn.analysis.streaming import analyse
    from meltdyn.plugin import select
    from meltdyn.plugins.observables.alpha2 import Alpha2, Alpha2Params
    from meltdyn.plugins.observables.isf import ISF, ISFParams
    from meltdyn.plugins.observables.msd import MSD, MSDParams
    from meltdyn.plugins.observables.van_hove import VanHove, VanHoveParams

    obs = {"msd": MSD(MSDParams()), "isf": ISF(ISFParams()), "alpha2": Alpha2(Alpha2Params()),
           "van_hove": VanHove(VanHoveParams(lags_ps=[0.1, 1.0, 10.0, 100.0]))}
    t0 = time.perf_counter()
    res = analyse(path, obs)
    return {"seconds": time.perf_counter() - t0, "D_Na": float(select(res["msd"], "D", species="Na"))}


def _positions(path: Path, dtype) -> np.ndarray:
    import h5py

    with h5py.File(path) as f:
        return (f["particles/all/position/value"][()] * 10).astype(dtype)


def case_mdanalysis(path: Path) -> dict:
    import MDAnalysis as mda
    from MDAnalysis.analysis.msd import EinsteinMSD
    from MDAnalysis.coordinates.memory import MemoryReader

    t0 = time.perf_counter()
    x = _positions(path, np.float32)
    u = mda.Universe.empty(x.shape[1], trajectory=True)
    u.load_new(x, format=MemoryReader, dt=DT)
    del x
    t1 = time.perf_counter()
    msd = EinsteinMSD(u, select="all", msd_type="xyz", fft=True).run()
    t2 = time.perf_counter()
    return {"seconds": t2 - t1, "load_seconds": t1 - t0, "msd_last": float(msd.results.timeseries[-1])}


def case_numpy(path: Path) -> dict:
    """MSD at 10 log-spaced lags per decade, every origin, one vectorised difference per lag."""
    t0 = time.perf_counter()
    x = _positions(path, np.float64)
    lags = np.unique(np.geomspace(1, len(x) - 1, 44).astype(int))
    t1 = time.perf_counter()
    msd = [float(np.mean(np.sum((x[lag:] - x[:-lag]) ** 2, axis=-1))) for lag in lags]
    return {"seconds": time.perf_counter() - t1, "load_seconds": t1 - t0, "lags": len(lags), "msd_last": msd[-1]}


CASES = {"meltdyn": case_meltdyn, "mdanalysis": case_mdanalysis, "numpy": case_numpy}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--atoms", type=int, default=3000)
    p.add_argument("--frames", type=int, default=20000)
    p.add_argument("--data", type=Path, default=Path("/tmp/meltdyn-bench"))
    p.add_argument("--case", choices=CASES, help=argparse.SUPPRESS)
    args = p.parse_args()
    path = args.data / f"brownian_{args.atoms}x{args.frames}.h5"
    if args.case:
        out = CASES[args.case](path)
        out["peak_rss_MB"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(out))
        return
    args.data.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        make(path, args.atoms, args.frames)
    size_MB = args.atoms * args.frames * 3 * 8 / 2**20
    results = {}
    for name in CASES:
        proc = subprocess.run([sys.executable, __file__, "--case", name, "--atoms", str(args.atoms), "--frames",
                               str(args.frames), "--data", str(args.data)], capture_output=True, text=True, check=True)
        results[name] = json.loads(proc.stdout.strip().splitlines()[-1])
        print(name, results[name], flush=True)
    m, a, n = results["meltdyn"], results["mdanalysis"], results["numpy"]
    print(json.dumps({"atoms": args.atoms, "frames": args.frames, "trajectory_MB_float64": size_MB,
                      "meltdyn_all_four_over_mdanalysis_msd_time": m["seconds"] / a["seconds"],
                      "meltdyn_all_four_over_numpy_msd_time": m["seconds"] / n["seconds"],
                      "meltdyn_peak_rss_over_trajectory": m["peak_rss_MB"] / size_MB,
                      "mdanalysis_peak_rss_over_trajectory": a["peak_rss_MB"] / size_MB,
                      "results": results}, indent=2))


if __name__ == "__main__":
    main()
