"""LAMMPS' primitives for the stage driver: one live LAMMPS instance per run, restart files as checkpoints.

LAMMPS keeps its state from stage to stage, so within a session only the fixes change; a new session reads the
checkpoint's restart file. ``fix langevin``'s random stream is not in a restart file: a run resumed in the middle of
a stage continues with the resumption's own seed (no frame lost or duplicated, but not bit for bit).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from typing import Any

import numpy as np

from meltdyn.contracts import RunContext
from meltdyn.plugins.engines.lammps_engine.interface import load_lammps, quote, write_data
from meltdyn.specs import MinimiseStage, NPTStage, NVEStage, ProductionStage, Stage
from meltdyn.stage_driver import Lane, LaneStart, SimulationBlewUp, Snapshot, StageMachine
from meltdyn.units import EV_TO_KJ_MOL


class LAMMPSLane(Lane):
    def __init__(self, machine: LAMMPSMachine):
        self.machine = machine
        self.lmp = machine.lmp
        self.n = machine.run.system.n_atoms

    def potential_energy_eV(self) -> float:
        return float(self.lmp.get_thermo("pe")) + self.machine.energy_offset_eV

    def _edges(self) -> np.ndarray:
        lo, hi = self.lmp.extract_box()[:2]
        return np.array(hi) - np.array(lo)

    def snapshot(self, velocities: bool) -> Snapshot:
        order = np.argsort(self.lmp.numpy.extract_atom("id")[: self.n])
        unwrapped = np.array(self.lmp.numpy.extract_compute("unwrapped", 1, 2)[: self.n])[order]
        v = np.array(self.lmp.numpy.extract_atom("v")[: self.n])[order] if velocities else None
        return Snapshot(unwrapped, np.diag(self._edges()), self.potential_energy_eV(),
                        float(self.lmp.get_thermo("temp")), v)

    def cell_A(self) -> np.ndarray:
        return np.diag(self._edges())

    def rescale_to_cell(self, cell_A: np.ndarray) -> None:
        self.lmp.command("change_box all " + " ".join(f"{d} final 0 {L:.17g}" for d, L in zip("xyz", np.diag(cell_A)))
                         + " remap units box")
        self.machine.step(0)

    def save(self, exact: bool) -> bytes:
        path = self.machine.work / "state.restart"
        self.lmp.command(f"write_restart {quote(path)}")
        return path.read_bytes()


class LAMMPSMachine(StageMachine):
    def __init__(self, params: Any, run: RunContext):
        self.params = params
        self.run = run
        self.threads = params.threads or os.cpu_count() or 1
        # Tables and restart scratch are made anew by every session; the run's lock keeps sessions apart.
        self.work = run.run_dir / "lammps-scratch"
        shutil.rmtree(self.work, ignore_errors=True)
        self.work.mkdir()
        self.species = run.system.species
        self.pair_commands, self.energy_offset_eV = run.potential.lammps_commands(run.system, self.species, self.work)
        self.lmp = load_lammps(self.threads)
        self.live = False
        self.fixes: list[str] = []

    def close(self) -> None:
        self.lmp.close()
        shutil.rmtree(self.work, ignore_errors=True)

    def _load(self, restart: bytes | None) -> None:
        self.lmp.commands_list(["units metal", "atom_style atomic", "boundary p p p", "atom_modify map array"])
        if restart is None:
            write_data(self.work / "start.data", self.run.system, self.species)  # orthogonal: checked at validation
            self.lmp.command(f"read_data {quote(self.work / 'start.data')}")
        else:
            (self.work / "resume.restart").write_bytes(restart)
            self.lmp.command(f"read_restart {quote(self.work / 'resume.restart')}")
        self.lmp.commands_list([*self.pair_commands, f"neighbor {self.params.neighbor_skin_A} bin",
                                "neigh_modify every 1 delay 0 check yes",
                                f"timestep {self.run.protocol.timestep_fs * 1e-3}",
                                "compute unwrapped all property/atom xu yu zu", "thermo_style custom step temp pe vol",
                                "thermo 0"])
        self.live = True

    def start_stage(self, stage: Stage, starts: Sequence[LaneStart]) -> list[Lane]:
        (start,) = starts
        if not self.live:
            self._load(start.restart)
        self.lmp.commands_list([f"unfix {name}" for name in self.fixes])
        self.fixes = []
        if start.thermalise:
            self.lmp.command(f"velocity all create {start.temperature_K} {start.seed} dist gaussian mom yes")
        if not isinstance(stage, MinimiseStage):
            self.fixes = self._fixes(stage, start.temperature_K, start.seed)
        self.step(0)  # so energy, temperature and computes describe the state the stage starts from
        return [LAMMPSLane(self)]

    def _fixes(self, stage: Stage, t: float, seed: int) -> list[str]:
        """Define the stage's integrator, thermostat and barostat fixes; return their ids."""
        nve = isinstance(stage, NVEStage) or (isinstance(stage, ProductionStage) and stage.ensemble == "nve")
        damping = 1.0 / getattr(stage, "friction_per_ps", 1.0)
        barostat = (f" iso {stage.pressure_bar} {stage.pressure_bar} {stage.barostat_time_ps}"
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

    def minimise(self, stage: MinimiseStage) -> None:
        tolerance_eV_A = stage.tolerance_kJ_mol_nm / EV_TO_KJ_MOL / 10
        self.lmp.command(f"minimize 0.0 {tolerance_eV_A} {stage.max_iterations or 100000} 1000000")
        self.lmp.command("velocity all set 0.0 0.0 0.0")
        self.step(0)

    def step(self, n: int) -> None:
        try:
            self.lmp.command(f"run {n} pre yes post no")
        except Exception as exc:  # LAMMPS reports lost atoms, bad dynamics etc. as exceptions
            raise SimulationBlewUp(f"run {self.run.id}: LAMMPS stopped: {exc}") from None

    def advance(self, steps: int) -> None:
        self.step(steps)

    def facts(self) -> dict[str, Any]:
        return {"platform": f"LAMMPS {self.lmp.version()} OPENMP", "properties": {"threads": self.threads}}
