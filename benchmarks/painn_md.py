"""Benchmark: MD with one PaiNN model, meltdyn's OpenMM TorchForce engine vs schnetpack's ASE calculator.

Same model weights (schnetpack PaiNN, 32 features × 2 interactions, 5 Å cutoff, float32), same NS2 system,
same machine and threads, Langevin at 2500 K with 1 fs steps. meltdyn: OpenMM CPU platform, TorchForce module
with a vesin-torch neighbour list, energy-only graph with forces by autograd in openmm-torch. schnetpack:
`SpkCalculator` with its matscipy neighbour list driving `ase.md.Langevin`, the model with a Forces output and
no stress. Speed does not depend on the weights: an untrained model of that size is used unless --model-dir
names a trained one. Also timed: the network alone (energy and forces of the eager schnetpack model on a
prepared input).

meltdyn's path keeps freed memory in the process, as the painn potential does (`keep_freed_memory`, on by
default; see plugins/potentials/heap.py). So that a reader can tell that from the module's own arithmetic,
schnetpack's path is timed twice: as shipped, and with the same allocator setting.

Each path runs in its own fresh interpreter, alternating, ``--repeats`` times; the best run of each counts.
(Run in one process, whichever path goes second inherits the first one's heap.)

    python benchmarks/painn_md.py [--atoms 200 3000] [--steps 50] [--threads 2] [--repeats 2] [--model-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import schnetpack as spk
import torch

from meltdyn.builder import build_system
from meltdyn.plugins.engines.openmm_loader import load_openmm
from meltdyn.plugins.potentials.heap import keep_freed_memory
from meltdyn.plugins.potentials.painn import PainnParams
from meltdyn.plugins.potentials.painn_runtime import Painn
from meltdyn.plugins.potentials.painn_export import OpenMMPaiNN
from meltdyn.plugins.potentials.painn_model import ATOMIC_NUMBER, Architecture, build_model
from meltdyn.specs import SystemSpec

ARCH = Architecture(cutoff_A=5.0, features=32, interactions=2, radial_basis=20)
T_K = 2500.0


def meltdyn_ms_per_step(model, cutoff_A, system, steps):
    import vesin_torch  # noqa: F401
    from openmmtorch import TorchForce

    mm = load_openmm()
    numbers = np.array([ATOMIC_NUMBER[s] for s in system.symbols])
    omm = mm.System()
    for m in system.masses_u:
        omm.addParticle(float(m))
    omm.setDefaultPeriodicBoxVectors(*[mm.Vec3(*row) for row in system.cell_A * 0.1])
    force = TorchForce(torch.jit.script(OpenMMPaiNN(model, numbers, cutoff_A, torch.float32)))
    force.setUsesPeriodicBoundaryConditions(True)
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


def schnetpack_ms_per_step(model, cutoff_A, system, steps):
    import ase
    from ase import units
    from ase.md.langevin import Langevin

    forces_only = spk.model.NeuralNetworkPotential(
        representation=model.representation, input_modules=[spk.atomistic.PairwiseDistances()],
        output_modules=[model.output_modules[0], model.output_modules[1], spk.atomistic.Forces()])
    calc = spk.interfaces.SpkCalculator(forces_only.eval(), neighbor_list=spk.transform.MatScipyNeighborList(
        cutoff=cutoff_A), energy_unit="eV", position_unit="Angstrom")
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
    """One path, one size, in this (fresh) process: prints {"ms_per_step": …, ["network_ms": …]}."""
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if args.model_dir:
        trained = Painn(PainnParams(model_dir=args.model_dir))
        model, arch = trained.model, trained.arch
    else:
        model, arch = build_model(ARCH, {8: -5.0, 11: -2.0, 14: -9.0}).eval(), ARCH
    system = build_system(SystemSpec(atoms=args.worker_atoms, density_g_cm3=2.3), "NS2", T_K, seed=1)
    if args.worker == "meltdyn" or args.keep_freed_memory:
        # What the painn potential does before it builds its TorchForce (PainnParams.keep_freed_memory, default on).
        if not keep_freed_memory():
            raise SystemExit("this benchmark's figures are for glibc, whose mallopt this C library lacks")
    if args.worker == "meltdyn":
        row = {"ms_per_step": meltdyn_ms_per_step(model, arch.cutoff_A, system, args.steps)}
    else:
        per_step, network = schnetpack_ms_per_step(model, arch.cutoff_A, system, args.steps)
        row = {"ms_per_step": per_step, "network_ms": network}
    print(json.dumps({"atoms": system.n_atoms, "architecture": arch.__dict__, **row}))


def measure(path: str, atoms: int, args: argparse.Namespace, keep_memory: bool = False) -> dict:
    """Run one path in a fresh interpreter: the allocator's state left by one path must not speed up the other."""
    command = [sys.executable, __file__, "--worker", path, "--worker-atoms", str(atoms), "--steps", str(args.steps),
               "--threads", str(args.threads)] + (["--model-dir", str(args.model_dir)] if args.model_dir else []) + (
               ["--keep-freed-memory"] if keep_memory else [])
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--atoms", type=int, nargs="+", default=[200, 3000])
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=2, help="alternating runs of each path; the best one counts")
    p.add_argument("--model-dir", type=Path, help="a trained model (meltdyn train) instead of the untrained one")
    p.add_argument("--worker", choices=["meltdyn", "schnetpack"], help=argparse.SUPPRESS)
    p.add_argument("--keep-freed-memory", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--worker-atoms", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
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
        best_ours, best_theirs, best_kept = (min(r["ms_per_step"] for r in runs) for runs in (ours, theirs, theirs_kept))
        row = {"atoms": ours[0]["atoms"], "meltdyn_openmm_ms_per_step": best_ours,
               "schnetpack_ase_ms_per_step": best_theirs, "speedup_meltdyn_over_schnetpack": best_theirs / best_ours,
               "schnetpack_ase_kept_memory_ms_per_step": best_kept,
               "speedup_meltdyn_over_schnetpack_kept_memory": best_kept / best_ours,
               "network_energy_forces_ms": min(r["network_ms"] for r in theirs),
               "all_meltdyn_ms_per_step": [r["ms_per_step"] for r in ours],
               "all_schnetpack_ms_per_step": [r["ms_per_step"] for r in theirs],
               "all_schnetpack_kept_memory_ms_per_step": [r["ms_per_step"] for r in theirs_kept]}
        rows.append(row)
        print(json.dumps(row), flush=True)
    print(json.dumps({"threads": args.threads, "steps": args.steps, "repeats": args.repeats,
                      "architecture": ours[0]["architecture"],
                      "model_dir": str(args.model_dir) if args.model_dir else "untrained", "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
