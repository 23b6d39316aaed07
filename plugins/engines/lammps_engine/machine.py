"""LAMMPS' primitives for the stage driver: one live LAMMPS instance per run, restart files as checkpoints.

LAMMPS keeps its state from stage to stage, so within a session only the fixes change; a new session reads the
checkpoint's restart file. ``fix langevin``'s random stream is not in a restart file: a run resumed in the middle of
a stage continues with the resumption's own seed (no frame lost or duplicated, but not bit for bit).

Dynamics is advanced in many short ``run`` commands (one per stored frame), and they must add up to one run. A
``run`` with ``pre yes`` sets the system up again (Verlet::setup), and that calls FixLangevin::setup → post_force,
which replaces the random force of the step just finished by a fresh draw. That force is the one the next step's
first half-kick uses: the two half-kicks around every boundary then get independent noise instead of the same one,
half the noise variance on that step, a colder melt the more often frames are stored (3000 K → 2250 K with a frame
every two steps). So a run continues the previous one with ``pre no`` (LAMMPS keeps every force, Langevin's
included), and where LAMMPS must be set up again in the middle of a stage (``write_restart`` wraps atoms into the box
and rebuilds the ghosts, which leaves the neighbour lists stale) the forces the next half-kick needs are carried
across the setup. Only a stage's start and a resumption draw a fresh Langevin force, once.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Sequence
from typing import Any

import numpy as np

from meltdyn.plugin import (
    Lane, LaneStart, MinimiseStage, RampStage, RunContext, SimulationBlewUp, Snapshot, Stage, StageMachine,
    default_threads, stage_dynamics,
)
from meltdyn.plugins.engines.lammps_engine.interface import load_lammps, quote, write_data

RAMP_VARIABLE = "meltdyn_ramp_T"
"""The equal-style LAMMPS variable a Langevin ramp's bath temperature follows."""


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
        self.machine.stale, self.machine.continuing = True, False  # new positions: the forces must be computed anew
        self.machine.step(0)

    def save(self, exact: bool) -> bytes:
        path = self.machine.work / "state.restart"
        self.lmp.command(f"write_restart {quote(path)}")
        self.machine.stale = True  # write_restart wrapped the atoms into the box and rebuilt the ghosts
        return path.read_bytes()


class LAMMPSMachine(StageMachine):
    def __init__(self, params: Any, run: RunContext):
        self.params = params
        self.run = run
        self.threads = params.threads or default_threads()
        # Tables and restart scratch are made anew by every session; the run's lock keeps sessions apart.
        self.work = run.run_dir / "lammps-scratch"
        shutil.rmtree(self.work, ignore_errors=True)
        self.work.mkdir()
        self.species = run.system.species
        self.pair_commands, self.energy_offset_eV = run.potential.lammps_commands(run.system, self.species, self.work)
        self.lmp = load_lammps(self.threads)
        self.live = False
        self.fixes: list[str] = []
        # stale: LAMMPS must be set up before it runs again (new fixes, box or atoms rewrapped); continuing: the
        # forces in LAMMPS are those the next step's first half-kick needs (a dynamics run ended in this stage).
        self.stale = True
        self.continuing = False

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
        self.stale, self.continuing = True, False

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
        self.stale, self.continuing = True, False
        self.step(0)  # so energy, temperature and computes describe the state the stage starts from
        return [LAMMPSLane(self)]

    def _fixes(self, stage: Stage, t: float, seed: int) -> list[str]:
        """Define the stage's integrator, thermostat and barostat fixes; return their ids."""
        dynamics = stage_dynamics(stage)
        if dynamics is None or dynamics.ensemble == "nve":
            cmds = ["fix dynamics all nve"]
            self.lmp.commands_list(cmds)
            return [c.split()[1] for c in cmds]
        damping = 1.0 / dynamics.friction_per_ps
        barostat = (f" iso {dynamics.pressure_bar} {dynamics.pressure_bar} {self.params.barostat_time_ps}"
                    if dynamics.ensemble == "npt" else "")
        if dynamics.thermostat == "nose_hoover":
            cmds = [f"fix dynamics all {'npt' if barostat else 'nvt'} temp {t} {t} {damping}{barostat}"]
        else:
            # A ramp's bath temperature is an equal-style variable, redefined before each chunk (set_temperature).
            bath = f"v_{RAMP_VARIABLE} {t}" if isinstance(stage, RampStage) else f"{t} {t}"
            if isinstance(stage, RampStage):
                self.lmp.command(f"variable {RAMP_VARIABLE} equal {t}")
            cmds = [f"fix dynamics all {'nph' + barostat if barostat else 'nve'}",
                    f"fix thermostat all langevin {bath} {damping} {seed} zero yes"]
        self.lmp.commands_list(cmds)
        return [c.split()[1] for c in cmds]

    def set_temperature(self, temperatures_K: Sequence[float]) -> None:
        (temperature,) = temperatures_K  # a Langevin ramp: validation refuses a Nosé–Hoover one here
        self.lmp.command(f"variable {RAMP_VARIABLE} equal {temperature}")

    def minimise(self, stage: MinimiseStage) -> None:
        # LAMMPS' ftol bounds the 2-norm of the global force vector: the RMS criterion times √(3N).
        ftol = stage.tolerance_eV_A * math.sqrt(3 * self.run.system.n_atoms)
        self.lmp.command(f"minimize 0.0 {ftol} {stage.max_iterations or 100000} 1000000")
        self.lmp.command("velocity all set 0.0 0.0 0.0")
        self.stale, self.continuing = True, False
        self.step(0)

    def step(self, n: int) -> None:
        """Advance ``n`` steps as the continuation of the previous run of the stage (``n = 0``: make energy,
        temperature and computes describe the current state)."""
        try:
            if self.stale and self.continuing:
                forces = self._forces()
                self.lmp.command("run 0 pre yes post no")  # rebuilds neighbours and ghosts; redraws Langevin's force
                self._set_forces(forces)  # ... which the next half-kick must not see: it shares the last step's
            elif self.stale:
                self.lmp.command("run 0 pre yes post no")
            self.stale = False
            if n:
                self.lmp.command(f"run {n} pre no post no")
                self.continuing = True
        except Exception as exc:  # LAMMPS reports lost atoms, bad dynamics etc. as exceptions
            raise SimulationBlewUp(f"run {self.run.id}: LAMMPS stopped: {exc}") from None

    def _forces(self) -> np.ndarray:
        """Every atom's total force (fixes' included), in the order of atom ids."""
        n = self.run.system.n_atoms
        ids = self.lmp.numpy.extract_atom("id")[:n]
        return np.array(self.lmp.numpy.extract_atom("f")[:n])[np.argsort(ids)]

    def _set_forces(self, forces: np.ndarray) -> None:
        n = self.run.system.n_atoms
        ids = self.lmp.numpy.extract_atom("id")[:n]  # a setup may have sorted the atoms anew
        self.lmp.numpy.extract_atom("f")[:n] = forces[ids - 1]

    def advance(self, steps: int) -> None:
        self.step(steps)

    def facts(self) -> dict[str, Any]:
        return {"platform": f"LAMMPS {self.lmp.version()} OPENMP", "properties": {"threads": self.threads}}
