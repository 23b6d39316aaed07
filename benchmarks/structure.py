"""Benchmark: the structure and χ4 observables against freud's RDF and atooms-pp's χ4, on the same trajectory.

An NS2-proportioned liquid-like configuration (3,000 atoms at 0.07 Å⁻³, Brownian motion) written as meltdyn H5MD and,
for atooms-pp, as extended XYZ. Each contender runs in its own process; wall time and that process's peak resident
memory are recorded, and ratios are taken within the same run.

- g(r): meltdyn's ``structure`` observable over every frame (all six partial g(r), the coordination, S(q) neutron
  and X-ray, T(r), first shells) through the analysis pass, reading H5MD; freud's ``density.RDF`` for the six
  partials, frame by frame, positions already in memory (reading excluded). Both use every core (freud's TBB,
  meltdyn's numba kernel); the time numba takes to load its compiled kernel from its cache (or to compile it, the
  first time on a machine: a few seconds) is recorded apart, as freud's is compiled ahead of time.
- χ4: meltdyn's ``chi4`` (one overlap length, every origin, per species, at its ~25 log-spaced lags) through the
  analysis pass; atooms-pp's ``Chi4SelfOverlap`` over every origin of all atoms at four lags, its reading included
  (it reads as it goes). Their agreement is a test (tests/analysis/test_chi4.py), not this benchmark's.

    python benchmarks/structure.py [--atoms 3000] [--frames 500] [--data /tmp/meltdyn-bench-structure]
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

DT = 0.01
DENSITY = 0.07
D = {"Na": 0.5, "Si": 0.02, "O": 0.05}
R_MAX = 10.0
BINS = 200
LAGS_PS = [0.1, 0.5, 1.0, 2.0]


def _symbols(atoms: int) -> list[str]:
    n_na = n_si = round(atoms * 2 / 9)
    return ["Na"] * n_na + ["Si"] * n_si + ["O"] * (atoms - n_na - n_si)


def make(data: Path, atoms: int, frames: int) -> None:
    from meltdyn.trajectory.h5md import H5MDWriter, Snapshot, TrajectoryHeader

    symbols = _symbols(atoms)
    edge = (atoms / DENSITY) ** (1 / 3)
    sigma = np.sqrt(2 * np.array([D[s] for s in symbols]) * DT)[:, None]
    rng = np.random.default_rng(0)
    x = rng.random((atoms, 3)) * edge
    box = np.eye(3) * edge
    writer = H5MDWriter(data / "t.h5", TrajectoryHeader(symbols, DT, 1), chunk_frames=64, velocities=False)
    with open(data / "t.xyz", "w") as xyz:
        for t in range(frames):
            writer.append(t, t * DT, Snapshot(x, box, 0.0, 0.0))
            if writer.pending == 64:
                writer.flush()
            xyz.write(f"{atoms}\nstep:{t} cell:{edge},{edge},{edge} columns:species,position\n")
            xyz.writelines(f"{s} {p[0]:.6f} {p[1]:.6f} {p[2]:.6f}\n" for s, p in zip(symbols, x))
            x = x + rng.normal(size=x.shape) * sigma
    writer.close()
    np.save(data / "x.npy", _positions(data / "t.h5"))  # for freud, which is timed without reading
    (data / "edge.txt").write_text(str(edge))


def _positions(path: Path) -> np.ndarray:
    from meltdyn.trajectory.h5md import H5MDReader

    with H5MDReader(path) as reader:
        return reader.positions_A()


def _r_max(data: Path) -> float:
    return min(R_MAX, 0.99 * float((data / "edge.txt").read_text()) / 2)


def case_meltdyn_structure(data: Path, frames: int) -> dict:
    from meltdyn.analysis.streaming import analyse
    from meltdyn.plugin import estimate_at, select
    from meltdyn.plugins.observables.structure import Structure, StructureParams

    from meltdyn.plugin import PAIR_BACKEND, pair_histogram

    r_max = _r_max(data)
    t0 = time.perf_counter()  # numba's compiled kernel, loaded from its cache (or compiled, the first time)
    pair_histogram(np.zeros((2, 3)), np.eye(3) * 10.0, np.zeros(2, dtype=int), 1, 1.0, 2)
    jit = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = analyse(data / "t.h5", {"s": Structure(StructureParams(r_max_A=r_max, bins=BINS, max_frames=frames))})["s"]
    return {"seconds": time.perf_counter() - t0, "pair_backend": PAIR_BACKEND, "kernel_load_seconds": jit,
            "g_O_O_at_5A": float(select(res, "g", center="O", neighbour="O")[int(5.0 / r_max * BINS)]),
            "n_Si_O_first_shell": estimate_at(res, "first_shell_coordination", center="Si", neighbour="O").value}


def case_freud(data: Path, frames: int) -> dict:
    import freud

    x = np.load(data / "x.npy")
    edge = float((data / "edge.txt").read_text())
    symbols = np.array(_symbols(x.shape[1]))
    box = freud.box.Box.cube(edge)
    r_max = _r_max(data)
    species = ["Na", "Si", "O"]
    t0 = time.perf_counter()
    rdfs = {}
    for a_i, a in enumerate(species):
        for b in species[a_i:]:
            rdf = freud.density.RDF(bins=BINS, r_max=r_max, normalization_mode="finite_size" if a == b else "exact")
            for frame in x[:frames]:
                pa, pb = box.wrap(frame[symbols == a] - edge / 2), box.wrap(frame[symbols == b] - edge / 2)
                rdf.compute(system=(box, pb), query_points=None if a == b else pa, reset=False)
            rdfs[a, b] = rdf.rdf
    return {"seconds": time.perf_counter() - t0, "g_O_O_at_5A": float(rdfs["O", "O"][int(5.0 / r_max * BINS)])}


def case_meltdyn_chi4(data: Path, frames: int) -> dict:
    from meltdyn.analysis.streaming import analyse
    from meltdyn.plugin import select
    from meltdyn.plugins.observables.chi4 import Chi4, Chi4Params

    t0 = time.perf_counter()
    res = analyse(data / "t.h5", {"c": Chi4(Chi4Params(overlap_A=[0.5], q_per_A=[], max_origins=10**6))})["c"]
    chi = select(res, "chi4_overlap", species="O", a=0.5)
    lags = res["lag"].values
    return {"seconds": time.perf_counter() - t0,
            "chi4_O_at": {f"{t:g}": float(chi[np.argmin(np.abs(lags - t))]) for t in LAGS_PS}}


def case_atooms(data: Path, frames: int) -> dict:
    import os

    os.chdir(data)  # atooms compiles its kernels into the working directory
    import atooms.postprocessing as pp
    from atooms.trajectory import TrajectoryXYZ

    t0 = time.perf_counter()
    trajectory = TrajectoryXYZ(str(data / "t.xyz"))
    trajectory.timestep = DT
    chi4 = pp.Chi4SelfOverlap(trajectory, tgrid=LAGS_PS, a=0.5, norigins=-1)
    chi4.compute()
    return {"seconds": time.perf_counter() - t0, "chi4_all_at": dict(zip(map(str, LAGS_PS), map(float, chi4.value)))}


CASES = {"meltdyn_structure": case_meltdyn_structure, "freud": case_freud, "meltdyn_chi4": case_meltdyn_chi4,
         "atooms": case_atooms}


def run_case(name: str, data: Path, frames: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--case", name, "--data", str(data), "--frames", str(frames)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--atoms", type=int, default=3000)
    parser.add_argument("--frames", type=int, default=500)
    parser.add_argument("--data", type=Path, default=Path("/tmp/meltdyn-bench-structure"))
    parser.add_argument("--case")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.case:
        result = CASES[args.case](args.data, args.frames)
        result["peak_rss_MB"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return
    args.data.mkdir(parents=True, exist_ok=True)
    if not (args.data / "t.h5").exists():
        make(args.data, args.atoms, args.frames)
    results = {name: run_case(name, args.data, args.frames) for name in CASES}
    results["ratios"] = {"structure / freud": results["meltdyn_structure"]["seconds"] / results["freud"]["seconds"],
                         "chi4 / atooms-pp": results["meltdyn_chi4"]["seconds"] / results["atooms"]["seconds"]}
    results["setup"] = {"atoms": args.atoms, "frames": args.frames, "r_max_A": _r_max(args.data), "bins": BINS}
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
