"""OpenMM's primitives for the stage driver: a Context per stage, exact checkpoints in the middle of stages."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from meltdyn.plugin import (
    A_TO_NM, EV_TO_KJ_MOL, KJ_MOL_TO_EV, NM_TO_A, U_A2_PS2_TO_EV, Lane, LaneStart, MinimiseStage, RunContext,
    SimulationBlewUp, Snapshot, Stage, StageMachine, default_threads, kinetic_temperature_K, stage_dynamics,
)
from meltdyn.plugins.engines.openmm_engine.interface import OpenMMTarget, load_openmm, openmm_system

PLATFORM_ORDER = ("CUDA", "OpenCL", "CPU", "Reference")


def available_platforms() -> list[str]:
    mm = load_openmm()
    return [mm.Platform.getPlatform(i).getName() for i in range(mm.Platform.getNumPlatforms())]


def choose_platform(requested: str) -> str:
    available = available_platforms()
    if requested == "auto":
        return next(n for n in PLATFORM_ORDER if n in available)
    if requested not in available:
        failures = "; ".join(load_openmm().Platform.getPluginLoadFailures()) or "none reported"
        raise ValueError(f"platform: {requested!r} is not available here; available: {available}. OpenMM plugin load "
                         f"failures: {failures}")
    return requested


class OpenMMLane(Lane):
    def __init__(self, machine: OpenMMMachine):
        self.machine = machine

    @property
    def context(self) -> Any:
        return self.machine.context

    def potential_energy_eV(self) -> float:
        return self.context.getState(getEnergy=True).getPotentialEnergy()._value * KJ_MOL_TO_EV

    def snapshot(self, velocities: bool) -> Snapshot:
        verlet = isinstance(self.context.getIntegrator(), self.machine.mm.VerletIntegrator)
        state = self.context.getState(getPositions=True, getEnergy=True, getVelocities=True, getForces=verlet,
                                      enforcePeriodicBox=False)
        v = np.array(state.getVelocities()._value) * NM_TO_A
        if verlet:
            # OpenMM's Verlet is leapfrog: its velocities lag the positions by half a step (its own kinetic energy
            # shifts them by the same half kick). LangevinMiddle's and Nosé–Hoover's velocities are the ones their
            # schemes thermalise (after the O step; on the step) and OpenMM reports their kinetic energy unshifted.
            dt_ps = self.machine.run.protocol.timestep_fs * 1e-3
            forces = state.getForces(asNumpy=True)._value * KJ_MOL_TO_EV / NM_TO_A
            v = v + 0.5 * dt_ps * forces / self.machine.run.system.masses_u[:, None] / U_A2_PS2_TO_EV
        return Snapshot(np.array(state.getPositions()._value) * NM_TO_A,
                        np.array(state.getPeriodicBoxVectors()._value) * NM_TO_A,
                        state.getPotentialEnergy()._value * KJ_MOL_TO_EV,
                        float(kinetic_temperature_K(v, self.machine.run.system.masses_u)), v if velocities else None)

    def cell_A(self) -> np.ndarray:
        return np.array(self.context.getState().getPeriodicBoxVectors()._value) * NM_TO_A

    def rescale_to_cell(self, cell_A: np.ndarray) -> None:
        mm = self.machine.mm
        state = self.context.getState(getPositions=True, enforcePeriodicBox=False)
        old = np.array(state.getPeriodicBoxVectors()._value)
        new = cell_A * A_TO_NM
        self.context.setPeriodicBoxVectors(*[mm.Vec3(*row) for row in new])
        self.context.setPositions(np.array(state.getPositions()._value) @ np.linalg.inv(old) @ new)

    def save(self, exact: bool) -> bytes:
        if exact:  # integrator, thermostat and random-number state included: resumes bit for bit
            return self.context.createCheckpoint()
        state = self.context.getState(getPositions=True, getVelocities=True, enforcePeriodicBox=False)
        return self.machine.mm.XmlSerializer.serialize(state).encode()


class OpenMMMachine(StageMachine):
    def __init__(self, params: Any, run: RunContext):
        self.mm = load_openmm()
        self.params = params
        self.run = run
        name = choose_platform(params.platform)
        self.platform = self.mm.Platform.getPlatformByName(name)
        self.properties: dict[str, str] = {}
        if name in ("CUDA", "OpenCL"):
            self.properties["Precision"] = params.precision
            if run.deterministic:
                self.properties["DeterministicForces"] = "true"
        if name == "CPU":
            # The CPU platform's force sums depend on how threads split the work; one thread is bitwise repeatable.
            # Unset, OpenMM would take every core of the machine, whatever this process may use.
            threads = 1 if run.deterministic else params.threads or default_threads()
            self.properties["Threads"] = str(threads)
        self.target = OpenMMTarget(name, params.precision if name in ("CUDA", "OpenCL") else "double")
        self.context: Any = None

    def _integrator(self, stage: Stage, temperature: float, dt_ps: float, seed: int) -> Any:
        mm = self.mm
        dynamics = stage_dynamics(stage)
        if dynamics is None or dynamics.ensemble == "nve":
            return mm.VerletIntegrator(dt_ps)
        if dynamics.thermostat == "nose_hoover":
            return mm.NoseHooverIntegrator(temperature, dynamics.friction_per_ps, dt_ps)
        integrator = mm.LangevinMiddleIntegrator(temperature, dynamics.friction_per_ps, dt_ps)
        integrator.setRandomNumberSeed(seed)
        return integrator

    def start_stage(self, stage: Stage, starts: Sequence[LaneStart]) -> list[Lane]:
        (start,) = starts
        mm, run = self.mm, start.run
        extra = []
        self.barostat = False
        dynamics = stage_dynamics(stage)
        if dynamics is not None and dynamics.ensemble == "npt":
            barostat = mm.MonteCarloBarostat(dynamics.pressure_bar, start.temperature_K,
                                             self.params.barostat_interval_steps)
            barostat.setRandomNumberSeed(start.seed)
            extra.append(barostat)
            self.barostat = True
        system = openmm_system(run.system, run.potential, self.target, *extra)
        integrator = self._integrator(stage, start.temperature_K, run.protocol.timestep_fs * 1e-3, start.seed)
        self.context = mm.Context(system, integrator, self.platform, self.properties)
        if start.restart is None:
            self.context.setPositions(run.system.positions_A * A_TO_NM)
        elif start.exact:
            self.context.loadCheckpoint(start.restart)
        else:
            state = mm.XmlSerializer.deserialize(start.restart.decode())
            self.context.setPeriodicBoxVectors(*state.getPeriodicBoxVectors())
            self.context.setPositions(state.getPositions())
            self.context.setVelocities(state.getVelocities())
        if start.thermalise:
            self.context.setVelocitiesToTemperature(start.temperature_K, start.seed)
        return [OpenMMLane(self)]

    def set_temperature(self, temperatures_K: Sequence[float]) -> None:
        (temperature,) = temperatures_K
        integrator = self.context.getIntegrator()
        integrator.setTemperature(temperature)  # LangevinMiddle's bath, or the Nosé–Hoover chain's target
        if self.barostat:
            self.context.setParameter(self.mm.MonteCarloBarostat.Temperature(), temperature)

    def minimise(self, stage: MinimiseStage) -> None:
        # OpenMM stops once the RMS force component is below its tolerance, in kJ/mol/nm.
        tolerance = stage.tolerance_eV_A * EV_TO_KJ_MOL * 10
        self.mm.LocalEnergyMinimizer.minimize(self.context, tolerance, stage.max_iterations)
        self.context.setVelocities(np.zeros((self.run.system.n_atoms, 3)))

    def advance(self, steps: int) -> None:
        try:
            self.context.getIntegrator().step(steps)
        except self.mm.OpenMMException as exc:
            raise SimulationBlewUp(f"run {self.run.id}: OpenMM failed: {exc}") from None

    def facts(self) -> dict[str, Any]:
        return {"platform": self.platform.getName(), "properties": dict(self.properties)}
