"""Benchmark: MD with one trained PaiNN, meltdyn's OpenMM TorchForce engine vs schnetpack's ASE calculator.

Same model weights (the model a `meltdyn train` wrote; float32), same NS2 system, same machine and threads,
Langevin at 2500 K with 1 fs steps. meltdyn: the `painn` potential's own forces (`Painn.openmm_forces`, what
`meltdyn run` uses: TorchScript module with a vesin-torch neighbour list, forces by autograd in openmm-torch,
freed memory kept in the process) on OpenMM's CPU platform. schnetpack: `SpkCalculator` with its matscipy
neighbour list driving `ase.md.Langevin`, the model with a Forces output and no stress. Also timed: the network
alone (energy and forces of the eager schnetpack model on a prepared input).

meltdyn's path keeps freed memory in the process (`keep_freed_memory`, on by default; plugins/potentials/heap.py).
So that a reader can tell that from the module's own arithmetic, schnetpack's path is timed twice: as shipped,
and with the same allocator setting. Each path runs in its own fresh interpreter, alternating, ``--repeats``
times; the best run of each counts (in one process, whichever path goes second inherits the first one's heap).
Peak resident memory of each process is reported too.

    python benchmarks/painn_md.py [--atoms 200 3000] [--steps 50] [--threads 2] [--repeats 2] [--model-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import schnetpack as spk
import torch

from meltdyn.contracts import AtomicSystem
from meltdyn.plugins.engines.openmm_engine.interface import OpenMMTarget, load_openmm
from meltdyn.plugins.potentials.painn import PainnParams
from meltdyn.plugins.potentials.painn.heap import keep_freed_memory
from meltdyn.plugins.potentials.painn.runtime import Painn
from meltdyn.plugins.systems.sodium_silicate import SodiumSilicate, SodiumSilicateParams

ROOT = Path(__file__).resolve().parent.parent
T_K = 2500.0


def meltdyn_ms_per_step(potential: Painn, system: AtomicSystem, steps: int) -> float:
    mm = load_openmm()
    omm = mm.System()
    for m in system.masses_u:
        omm.addParticle(float(m))
    omm.setDefaultPeriodicBoxVectors(*[mm.Vec3(*row) for row in system.cell_A * 0.1])
    for force in potential.openmm_forces(system, OpenMMTarget("CPU")):
        omm.addForce(force)
    integrator = mm.LangevinMiddleIntegrator(T_K, 1.0, 0.001)
    ctx = mm.Context(omm, integrator, mm.Platform.getPlatformByName("CPU"))
    ctx.setPositions(system.positions_A * 0.1)
    ctx.setVelocitiesToTemperature(T_K, 1)
    integrator.step(5)
    t0 = time.perf_counter()
    integrator.step(steps)
    ctx.getState(getPositions=True)
    return (time.perf_counter() - t0) / steps * 1e3


def schnetpack_ms_per_step(potential: Painn, system: AtomicSystem, steps: int) -> tuple[float, float]:
    import ase
    from ase import units
    from ase.md.langevin import Langevin

    model = potential.model
    forces_only = spk.model.NeuralNetworkPotential(
        representation=model.representation, input_modules=[spk.atomistic.PairwiseDistances()],
        output_modules=[model.output_modules[0], model.output_modules[1], spk.atomistic.Forces()])
    calc = spk.interfaces.SpkCalculator(forces_only.eval(), neighbor_list=spk.transform.MatScipyNeighborList(
        cutoff=potential.arch.cutoff_A), energy_unit="eV", position_unit="Angstrom")
    atoms = ase.Atoms(system.symbols, positions=system.positions_A, cell=system.cell_A, pbc=True)
    atoms.calc = calc
    dyn = Langevin(atoms, 1.0 * units.fs, temperature_K=T_K, friction=0.001 / units.fs)
    dyn.run(5)
    t0 = time.perf_counter()
    dyn.run(steps)
    per_step = (time.perf_counter() - t0) / steps * 1e3
    inputs = calc.converter(atoms)  # neighbour list built once: what is left is the network itself
    t0 = time.perf_counter()
    for _ in range(steps):
        forces_only(dict(inputs))
    return per_step, (time.perf_counter() - t0) / steps * 1e3


def worker(args: argparse.Namespace) -> None:
    """One path, one size, in this (fresh) process: prints one JSON line."""
    torch.set_num_threads(args.threads)
    potential = Painn(PainnParams(model_dir=args.model_dir))
    system = SodiumSilicate(SodiumSilicateParams(atoms=args.worker_atoms, density_g_cm3=2.3)).build("NS2", T_K, seed=1)
    if args.worker == "meltdyn":
        row = {"ms_per_step": meltdyn_ms_per_step(potential, system, args.steps)}
    else:
        if args.keep_freed_memory and not keep_freed_memory():
            raise SystemExit("--keep-freed-memory: this C library is not glibc")
        per_step, network = schnetpack_ms_per_step(potential, system, args.steps)
        row = {"ms_per_step": per_step, "network_ms": network}
    peak_MB = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB
    print(json.dumps({"atoms": system.n_atoms, "architecture": potential.meta["architecture"], **row,
                      "peak_rss_MB": peak_MB}))


def measure(path: str, atoms: int, args: argparse.Namespace, keep_memory: bool = False) -> dict:
    command = [sys.executable, __file__, "--worker", path, "--worker-atoms", str(atoms), "--steps", str(args.steps),
               "--threads", str(args.threads), "--model-dir", str(args.model_dir)] + (
               ["--keep-freed-memory"] if keep_memory else [])
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def best(runs: list[dict]) -> dict:
    return min(runs, key=lambda r: r["ms_per_step"])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--atoms", type=int, nargs="+", default=[200, 3000])
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=2, help="alternating runs of each path; the best one counts")
    p.add_argument("--model-dir", type=Path, default=ROOT / "models/painn-ns-validation",
                   help="a model written by meltdyn train (default: the README's validation model)")
    p.add_argument("--worker", choices=["meltdyn", "schnetpack"], help=argparse.SUPPRESS)
    p.add_argument("--keep-freed-memory", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--worker-atoms", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if not (args.model_dir / "model.json").exists():
        p.error(f"--model-dir: {str(args.model_dir)!r} holds no model.json; train one first, e.g. "
                "meltdyn train examples/training/painn-ns-validation.yaml")
    if args.worker:
        worker(args)
        return
    rows = []
    for atoms in args.atoms:
        ours, theirs, theirs_kept = [], [], []
        for _ in range(args.repeats):
            ours.append(measure("meltdyn", atoms, args))
            theirs.append(measure("schnetpack", atoms, args))
            theirs_kept.append(measure("schnetpack", atoms, args, keep_memory=True))
        o, t, k = best(ours), best(theirs), best(theirs_kept)
        row = {"atoms": o["atoms"],
               "meltdyn_openmm_ms_per_step": o["ms_per_step"], "meltdyn_peak_rss_MB": o["peak_rss_MB"],
               "schnetpack_ase_ms_per_step": t["ms_per_step"], "schnetpack_peak_rss_MB": t["peak_rss_MB"],
               "speedup_meltdyn_over_schnetpack": t["ms_per_step"] / o["ms_per_step"],
               "schnetpack_ase_kept_memory_ms_per_step": k["ms_per_step"],
               "schnetpack_kept_memory_peak_rss_MB": k["peak_rss_MB"],
               "speedup_meltdyn_over_schnetpack_kept_memory": k["ms_per_step"] / o["ms_per_step"],
               "network_energy_forces_ms": min(r["network_ms"] for r in theirs),
               "all_meltdyn_ms_per_step": [r["ms_per_step"] for r in ours],
               "all_schnetpack_ms_per_step": [r["ms_per_step"] for r in theirs],
               "all_schnetpack_kept_memory_ms_per_step": [r["ms_per_step"] for r in theirs_kept]}
        rows.append(row)
        print(json.dumps(row), flush=True)
    print(json.dumps({"threads": args.threads, "steps": args.steps, "repeats": args.repeats,
                      "architecture": ours[0]["architecture"], "model_dir": str(args.model_dir), "rows": rows},
                     indent=2))


if __name__ == "__main__":
    main()
