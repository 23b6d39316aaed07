"""Benchmark: the analysis pass as a whole against its floor, reading the positions once.

648 atoms (NS2 proportions) × 2,001 evenly spaced frames of Brownian motion as meltdyn H5MD; the four
dynamic-heterogeneity observables (MSD, F_s, G_s with the hop analysis, α2 and γ) through one streamed pass,
against h5py reading the same positions into memory (the floor: any pass reads them at least once). Each case in
its own process; a cProfile of the pass says where its time goes (functions with the most time of their own).

    python benchmarks/analysis_pass.py [--atoms 648] [--frames 2001] [--out results/analysis-pass-2cpu.json]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

DT = 0.01
D = {"Na": 0.5, "Si": 0.02, "O": 0.05}
REPEATS = 3


def make(path: Path, atoms: int, frames: int) -> None:
    from meltdyn.trajectory.h5md import H5MDWriter, Snapshot, TrajectoryHeader

    n_na = n_si = round(atoms * 2 / 9)
    symbols = ["Na"] * n_na + ["Si"] * n_si + ["O"] * (atoms - n_na - n_si)
    edge = (atoms / 0.07) ** (1 / 3)
    sigma = np.sqrt(2 * np.array([D[s] for s in symbols]) * DT)[:, None]
    rng = np.random.default_rng(0)
    x = rng.random((atoms, 3)) * edge
    writer = H5MDWriter(path, TrajectoryHeader(symbols, DT, 1), chunk_frames=128, velocities=False)
    for t in range(frames):
        writer.append(t, t * DT, Snapshot(x, np.eye(3) * edge, 0.0, 0.0))
        if writer.pending == 128:
            writer.flush()
        x = x + rng.normal(size=x.shape) * sigma
    writer.close()


def observables() -> dict:
    from meltdyn.plugins.observables.alpha2 import Alpha2, Alpha2Params
    from meltdyn.plugins.observables.isf import ISF, ISFParams
    from meltdyn.plugins.observables.msd import MSD, MSDParams
    from meltdyn.plugins.observables.van_hove import VanHove, VanHoveParams

    return {"msd": MSD(MSDParams()), "isf": ISF(ISFParams()), "alpha2": Alpha2(Alpha2Params()),
            "van_hove": VanHove(VanHoveParams(lags_ps=[0.1, 1.0, 10.0]))}


def case_read(path: Path) -> dict:
    import h5py

    best = np.inf
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        with h5py.File(path) as f:
            x = f["particles/all/position/value"][()]
        best = min(best, time.perf_counter() - t0)
    return {"seconds": best, "bytes": int(x.nbytes)}


def case_pass(path: Path) -> dict:
    from meltdyn.analysis.streaming import analyse
    from meltdyn.plugin import select

    analyse(path, observables())  # warm: imports, file cache
    best, res = np.inf, None
    for _ in range(REPEATS):
        obs = observables()
        t0 = time.perf_counter()
        res = analyse(path, obs)
        best = min(best, time.perf_counter() - t0)
    profile = cProfile.Profile()
    profile.enable()
    analyse(path, observables())
    profile.disable()
    text = io.StringIO()
    pstats.Stats(profile, stream=text).sort_stats("tottime").print_stats(12)
    top = [line for line in text.getvalue().splitlines() if line.strip()[:1].isdigit()][:12]
    return {"seconds": best, "D_Na": float(select(res["msd"], "D", species="Na")), "profile_top_tottime": top}


CASES = {"read": case_read, "pass": case_pass}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--atoms", type=int, default=648)
    p.add_argument("--frames", type=int, default=2001)
    p.add_argument("--data", type=Path, default=Path("/tmp/meltdyn-bench-pass"))
    p.add_argument("--out", type=Path)
    p.add_argument("--case", choices=CASES, help=argparse.SUPPRESS)
    args = p.parse_args()
    path = args.data / f"brownian_{args.atoms}x{args.frames}.h5"
    if args.case:
        print(json.dumps(CASES[args.case](path)))
        return
    args.data.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        make(path, args.atoms, args.frames)
    results = {}
    for name in CASES:
        proc = subprocess.run([sys.executable, __file__, "--case", name, "--atoms", str(args.atoms), "--frames",
                               str(args.frames), "--data", str(args.data)], capture_output=True, text=True, check=True)
        results[name] = json.loads(proc.stdout.strip().splitlines()[-1])
    out = {"atoms": args.atoms, "frames": args.frames,
           "pass_over_read": results["pass"]["seconds"] / results["read"]["seconds"], "results": results}
    text = json.dumps(out, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
