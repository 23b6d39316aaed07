"""The engine kit's types: what an engine implements (a stage machine and its lanes) and the settings every engine shares."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import Field

from meltdyn.hooks.contracts import RunContext
from meltdyn.hooks.definitions import PluginParams
from meltdyn.spec.models import MinimiseStage, Stage
from meltdyn.trajectory.h5md import Snapshot


class SimulationBlewUp(RuntimeError):
    """The energy stopped being finite or sane, or the engine failed numerically (the last checkpoint stays)."""


class EngineSettings(PluginParams):
    """Settings of the stage driver, shared by every engine built on it (an engine's params derive from this)."""

    checkpoint_interval_ps: float = Field(10.0, gt=0, le=1e7, description="Simulated time between checkpoints "
                                          "outside production (production checkpoints after every chunk of frames).")
    report_interval_steps: int = Field(200, ge=1, le=10**8, description="Steps between progress and energy checks.")
    max_energy_kJ_mol_per_atom: float = Field(1.0e4, gt=0, le=1e12, description="|E|/N above this stops the run.")


@dataclass(frozen=True)
class LaneStart:
    """How one run enters a stage.

    ``restart`` is the state a :meth:`Lane.save` wrote (None: start from the run's system); ``exact`` says it was
    saved mid-stage, so the integrator's own state (thermostat variables, random stream) is restored too;
    ``thermalise`` asks for velocities drawn at ``temperature_K`` with ``seed`` (the first dynamics after a fresh
    start or a minimisation). An engine that cannot restore its random stream seeds it with ``seed``, which then
    differs for every resumption.
    """

    run: RunContext
    temperature_K: float
    seed: int
    restart: bytes | None
    exact: bool
    thermalise: bool


class Lane(ABC):
    """One run inside an engine during a stage."""

    @abstractmethod
    def potential_energy_eV(self) -> float: ...

    @abstractmethod
    def snapshot(self, velocities: bool) -> Snapshot:
        """The current frame: unwrapped positions, cell, energy, instantaneous temperature (velocities if asked)."""

    @abstractmethod
    def cell_A(self) -> np.ndarray: ...

    @abstractmethod
    def rescale_to_cell(self, cell_A: np.ndarray) -> None:
        """Scale positions affinely into ``cell_A`` (the end of an NPT stage, so the next continues at its mean)."""

    @abstractmethod
    def save(self, exact: bool) -> bytes:
        """The run's state: exact (mid-stage: everything to continue bit for bit where the engine allows it) or at a
        stage boundary (positions, velocities, cell)."""


class StageMachine(ABC):
    """An engine's primitives for a batch of runs."""

    @abstractmethod
    def start_stage(self, stage: Stage, starts: Sequence[LaneStart]) -> list[Lane]:
        """Set up the stage's integrator, thermostat and barostat for every run and return their lanes."""

    @abstractmethod
    def minimise(self, stage: MinimiseStage) -> None: ...

    @abstractmethod
    def advance(self, steps: int) -> None:
        """Integrate every lane ``steps`` steps; raise :class:`SimulationBlewUp` if the engine fails numerically."""

    def set_temperature(self, temperatures_K: Sequence[float]) -> None:
        """Retarget the thermostat (and barostat) of each lane for the steps that follow: a ramp stage calls it
        before every chunk with the temperature at the chunk's middle. An engine that cannot says so at validation
        (its ``check``), so this is never reached there."""
        raise NotImplementedError(f"{type(self).__name__} cannot change its thermostat's temperature within a stage")

    def facts(self) -> dict[str, Any]:
        """Where and how the engine ran (platform, precision, threads) for provenance."""
        return {}
