"""Study-file specs. Plugin sections are discriminated unions built from the registry at run time.

Every number is finite and bounded: a temperature of 1e30 K or a timestep of 1e-300 fs is an error that names
the field, not a run that grows without bound.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union

from pydantic import AfterValidator, Field, field_validator, model_validator

from meltdyn.base import elements
from meltdyn.base.strict import StrictModel
from meltdyn.spec.migrations import moved_field, tolerance_eV_A

TARGET = "target"
"""A stage temperature of ``target`` means the run's temperature from the sweep."""

MAX_FRAMES = 10_000_000
MAX_TEMPERATURE_K = 1.0e5
Temperature = Annotated[float, Field(gt=0, le=MAX_TEMPERATURE_K)]


def _element(symbol: str) -> str:
    elements.atomic_number(symbol)  # raises, naming the symbol
    return symbol


ElementSymbol = Annotated[str, AfterValidator(_element)]


class Spec(StrictModel):
    """A section of a study, analysis or training file that no plugin owns."""


def _unique(values: list[Any], what: str) -> list[Any]:
    seen: list[Any] = []
    for v in values:
        if v in seen:
            raise ValueError(f"{what} must be distinct; {v!r} is given twice")
        seen.append(v)
    return values


class SweepSpec(Spec):
    """The runs of a study: every composition × temperature × replica."""

    compositions: list[Annotated[str, Field(min_length=1, max_length=200)] | float] = Field(
        min_length=1, max_length=1000, description="Compositions, as the system plugin names them (e.g. NS2).")
    temperatures_K: list[Temperature] = Field(min_length=1, max_length=1000, description="Run temperatures.")
    replicas: int = Field(1, ge=1, le=1000, description="Independent starts per state point (seeds differ).")

    @field_validator("compositions")
    @classmethod
    def _distinct_compositions(cls, value: list[Any]) -> list[Any]:
        return _unique(value, "compositions")

    @field_validator("temperatures_K")
    @classmethod
    def _distinct_temperatures(cls, value: list[float]) -> list[float]:
        return _unique(value, "temperatures_K")


class _Stage(Spec):
    """A protocol stage; a field an earlier meltdyn had here and this one moved is refused with where it went."""

    @model_validator(mode="before")
    @classmethod
    def _moved(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name, value in data.items():
                problem = moved_field(str(data.get("stage")), str(name), value)
                if problem:
                    raise ValueError(problem)
        return data


DEFAULT_TOLERANCE_EV_A = tolerance_eV_A(10.0)
"""10 kJ/mol/nm, OpenMM's default, in eV/Å (0.0104): the default of meltdyn before 0.3, kept exactly so that runs
made then resume."""


class MinimiseStage(_Stage):
    stage: Literal["minimise"]
    tolerance_eV_A: float = Field(DEFAULT_TOLERANCE_EV_A, gt=0, le=1e4, description="Stop when the root-mean-square "
                                  "force component is below this (eV/Å; every engine applies it so).")
    max_iterations: int = Field(0, ge=0, le=10**7, description="0 means until converged.")


Thermostat = Literal["langevin", "nose_hoover"]
Duration = Annotated[float, Field(gt=0, le=1e7, description="Simulated time of the stage.")]


class _Dynamics(_Stage):
    duration_ps: Duration
    temperature_K: Temperature | Literal["target"] = Field(TARGET, description="Kelvin, or 'target' for the "
                                                                                "sweep's.")
    thermostat: Thermostat = Field("langevin", description="langevin (LangevinMiddle/BAOAB) or nose_hoover (chain).")
    friction_per_ps: float = Field(1.0, gt=0, le=1e4, description="Langevin friction / Nosé–Hoover collision "
                                                                   "frequency.")


class NVTStage(_Dynamics):
    stage: Literal["nvt"]


class NPTStage(_Dynamics):
    stage: Literal["npt"]
    pressure_bar: float = Field(1.0, ge=-1e5, le=1e7, description="Isotropic pressure; the cell ends at the mean of "
                                "the second half of the stage. How the barostat couples is the engine's setting.")


class RampStage(_Stage):
    """The temperature changed linearly in time, from ``from_K`` at the start to ``to_K`` at the end: a quench (or a
    heating ramp) at a rate of (to − from) / duration, at constant volume or, for ensemble npt, constant pressure.
    A stepped protocol is a sequence of nvt (or npt) stages."""

    stage: Literal["ramp"]
    duration_ps: Duration
    from_K: Temperature | Literal["target"] = Field(TARGET, description="Temperature at the start: Kelvin, or "
                                                                         "'target' for the sweep's.")
    to_K: Temperature | Literal["target"] = Field(TARGET, description="Temperature at the end: Kelvin, or 'target' "
                                                                       "for the sweep's.")
    ensemble: Literal["nvt", "npt"] = Field("nvt", description="npt: at pressure_bar, the cell free to follow.")
    pressure_bar: float = Field(1.0, ge=-1e5, le=1e7, description="ensemble npt: the isotropic pressure.")
    thermostat: Thermostat = Field("langevin", description="langevin (LangevinMiddle/BAOAB) or nose_hoover (chain).")
    friction_per_ps: float = Field(1.0, gt=0, le=1e4, description="Langevin friction / Nosé–Hoover collision "
                                                                   "frequency.")


class NVEStage(_Stage):
    stage: Literal["nve"]
    duration_ps: Duration


class SamplingSpec(Spec):
    """Frames at every ``interval_ps`` plus log-spaced frames after each of those, one schedule for all lags."""

    interval_ps: float = Field(gt=0, le=1e7, description="Spacing of the linear frames (the time origins); a "
                               "multiple of the timestep.")
    log_frames_per_interval: int = Field(0, ge=0, le=1000, description="Geometric frames from one step up to the "
                                         "interval.")
    chunk_frames: int = Field(32, ge=1, le=100_000, description="Frames per HDF5 chunk; a crash loses at most one "
                              "chunk.")
    velocities: bool = Field(False, description="Also write velocities.")


class ProductionStage(_Stage):
    stage: Literal["production"]
    duration_ps: float = Field(gt=0, le=1e7, description="Simulated time written to the trajectory.")
    ensemble: Literal["nvt", "nve"] = Field("nvt", description="nve: velocity Verlet, no thermostat.")
    temperature_K: Temperature | Literal["target"] = Field(TARGET, description="Kelvin, or 'target' for the "
                                                                                "sweep's.")
    thermostat: Thermostat = Field("langevin", description="For ensemble nvt.")
    friction_per_ps: float = Field(1.0, gt=0, le=1e4, description="Langevin friction / Nosé–Hoover collision "
                                                                   "frequency.")
    sampling: SamplingSpec = Field(description="When frames are written.")


Stage = Annotated[
    Union[MinimiseStage, NVTStage, NPTStage, RampStage, NVEStage, ProductionStage], Field(discriminator="stage")
]


Ensemble = Literal["nve", "nvt", "npt"]


@dataclass(frozen=True)
class Dynamics:
    """What an engine integrates in a dynamics stage, in one vocabulary whatever the stage's kind: the ensemble, the
    thermostat and its friction (None for NVE), the pressure (None but for NPT)."""

    ensemble: Ensemble
    thermostat: Thermostat | None
    friction_per_ps: float | None
    pressure_bar: float | None


def stage_dynamics(stage: Stage) -> Dynamics | None:
    """The dynamics of a stage; None for a minimisation. Production gives its ensemble as a field, the other stages
    by their kind: engines ask this, not the stage's class."""
    if isinstance(stage, MinimiseStage):
        return None
    ensemble: Ensemble = (stage.ensemble if isinstance(stage, (ProductionStage, RampStage))  # type: ignore[assignment]
                          else stage.stage)
    if ensemble == "nve":
        return Dynamics("nve", None, None, None)
    return Dynamics(ensemble, stage.thermostat, stage.friction_per_ps,  # type: ignore[union-attr]
                    stage.pressure_bar if ensemble == "npt" else None)  # type: ignore[union-attr]


def stage_temperature(stage: Stage, target_K: float, fraction: float = 0.0) -> float:
    """A stage's temperature ``fraction`` of the way through it: its own, or the run's for 'target' and for stages
    without one; a ramp's, linear in time from its start to its end."""
    if isinstance(stage, RampStage):
        start, end = (target_K if v == TARGET else float(v) for v in (stage.from_K, stage.to_K))
        return start + (end - start) * min(max(fraction, 0.0), 1.0)
    value = getattr(stage, "temperature_K", TARGET)
    return target_K if value == TARGET else float(value)


class ProtocolSpec(Spec):
    timestep_fs: float = Field(1.0, ge=0.01, le=5.0, description="Integration timestep of every stage.")
    stages: list[Stage] = Field(min_length=1, max_length=100, description="Run in order; the last must be "
                                                                          "'production'.")

    @model_validator(mode="after")
    def _consistent(self) -> ProtocolSpec:
        kinds = [s.stage for s in self.stages]
        if kinds.count("production") != 1 or kinds[-1] != "production":
            raise ValueError(f"stages must end with exactly one 'production' stage, got {kinds}")
        dt_ps = self.timestep_fs * 1e-3
        for k, s in enumerate(self.stages):
            if hasattr(s, "duration_ps") and s.duration_ps < dt_ps * (1 - 1e-9):
                raise ValueError(f"stages[{k}].duration_ps={s.duration_ps} is shorter than one timestep "
                                 f"({dt_ps} ps)")
        production = self.production
        interval = production.sampling.interval_ps / dt_ps
        if interval < 1 - 1e-9 or not math.isclose(interval, round(interval), rel_tol=1e-6):
            raise ValueError(f"production sampling.interval_ps={production.sampling.interval_ps} must be a whole "
                             f"number of timesteps ({dt_ps} ps each)")
        if production.duration_ps < production.sampling.interval_ps * (1 - 1e-9):
            raise ValueError(f"production duration_ps={production.duration_ps} is shorter than sampling.interval_ps="
                             f"{production.sampling.interval_ps}")
        frames = production.duration_ps / production.sampling.interval_ps * (1 + production.sampling.
                                                                             log_frames_per_interval)
        if frames > MAX_FRAMES:
            raise ValueError(f"production would write {frames:.3g} frames, more than {MAX_FRAMES:,}; lengthen "
                             "sampling.interval_ps or lower log_frames_per_interval")
        return self

    @property
    def production(self) -> ProductionStage:
        return self.stages[-1]  # type: ignore[return-value]


class AnalysisSettings(Spec):
    """How every observable sees the trajectory: one frame of reference for all, one memory bound."""

    reference_frame: Literal["centre_of_mass", "box"] = Field(
        "centre_of_mass", description="centre_of_mass: displacements relative to the system's centre of mass (its "
        "drift removed) for every observable; box: as stored.")
    memory_budget_MB: float = Field(512.0, ge=1, le=1e7, description="Bounds the analysis' working memory; a "
                                    "setting that cannot fit is refused with what would.")


RESERVED_LABELS = ("arrays", "layout", "state_point", "trajectory")
"""Summary entries meltdyn writes itself (array units, the measured state point, trajectory warnings)."""


class WithObservables(Spec):
    """Shared by study and analysis files: observables are labelled, labels are unique."""

    @model_validator(mode="after")
    def _unique_labels(self) -> WithObservables:
        labels = self.observable_labels
        dup = sorted({x for x in labels if labels.count(x) > 1})
        if dup:
            raise ValueError(f"observable labels must be unique; repeated: {dup} (set 'label' to tell them apart)")
        taken = sorted(set(labels) & set(RESERVED_LABELS))
        if taken:
            raise ValueError(f"observable label {taken[0]!r} is reserved for what meltdyn itself writes beside the "
                             f"observables' results ({', '.join(RESERVED_LABELS)}); choose another label")
        return self

    @property
    def observable_labels(self) -> list[str]:
        return [o.label or o.plugin for o in self.observables]  # type: ignore[attr-defined]


OutputDir = Annotated[str, Field(min_length=1, max_length=4096, description="Where results go; relative paths are "
                                 "relative to the current directory. Never overwritten.")]
