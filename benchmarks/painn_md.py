"""Benchmark: MD with one PaiNN model, meltdyn's OpenMM TorchForce engine vs schnetpack's ASE calculator.

Same model weights (schnetpack PaiNN, 32 features × 2 interactions, 5 Å cutoff, float32), same NS2 system,
same machine and threads, Langevin at 2500 K with 1 fs steps. meltdyn: OpenMM CPU platform, TorchForce module
with a vesin-torch neighbour list, energy-only graph with forces by autograd in openmm-torch. schnetpack:
`SpkCalculator` with its matscipy neighbour list driving `ase.md.Langevin`, the model with a Forces output and
no stress. Speed does not depend on the weights: an untrained model of that size is used unless --model-dir
names a trained one. Also timed: the network alone (energy and forces of the eager schnetpack model on a
prepared input), the floor both paths share.

    python benchmarks/painn_md.py [--atoms 200 3000] [--steps 50] [--threads 2] [--model-dir models/NAME]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import schnetpack as spk
import torch

from meltdyn.builder import build_system
from meltdyn.plugins.engines.openmm_loader import load_openmm
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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--atoms", type=int, nargs="+", default=[200, 3000])
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--model-dir", type=Path, help="a trained model (meltdyn train) instead of the untrained one")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if args.model_dir:
        trained = Painn(PainnParams(model_dir=args.model_dir))
        model, arch = trained.model, trained.arch
    else:
        model, arch = build_model(ARCH, {8: -5.0, 11: -2.0, 14: -9.0}).eval(), ARCH
    rows = []
    for atoms in args.atoms:
        system = build_system(SystemSpec(atoms=atoms, density_g_cm3=2.3), "NS2", T_K, seed=1)
        ours = meltdyn_ms_per_step(model, arch.cutoff_A, system, args.steps)
        theirs, network = schnetpack_ms_per_step(model, arch.cutoff_A, system, args.steps)
        row = {"atoms": system.n_atoms, "meltdyn_openmm_ms_per_step": ours, "schnetpack_ase_ms_per_step": theirs,
               "speedup_meltdyn_over_schnetpack": theirs / ours, "network_energy_forces_ms": network}
        rows.append(row)
        print(json.dumps(row), flush=True)
    print(json.dumps({"threads": args.threads, "steps": args.steps, "architecture": arch.__dict__,
                      "model_dir": str(args.model_dir) if args.model_dir else "untrained", "rows": rows},
                     indent=2))


if __name__ == "__main__":
    main()
