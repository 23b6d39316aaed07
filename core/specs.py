"""Study-file specs. Plugin sections are discriminated unions built from the registry at run time.

Every number is finite and bounded: a temperature of 1e30 K or a timestep of 1e-300 fs is an error that names
the field, not a run that grows without bound.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal, Union

from pydantic import AfterValidator, BaseModel, Field, create_model, field_validator, model_validator

from meltdyn import elements
from meltdyn.registry import Registry
from meltdyn.strict import StrictModel

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


class MinimiseStage(Spec):
    stage: Literal["minimise"]
    tolerance_kJ_mol_nm: float = Field(10.0, gt=0, le=1e6, description="Stop when the RMS force is below this.")
    max_iterations: int = Field(0, ge=0, le=10**7, description="0 means until converged.")


Thermostat = Literal["langevin", "nose_hoover"]
Duration = Annotated[float, Field(gt=0, le=1e7, description="Simulated time of the stage.")]


class _Dynamics(Spec):
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
                                "the second half of the stage.")
    barostat_interval_steps: int = Field(25, ge=1, le=10**6, description="Steps between volume moves of OpenMM's "
                                         "Monte Carlo barostat.")
    barostat_time_ps: float = Field(1.0, gt=0, le=1e4, description="Relaxation time of the LAMMPS and TorchSim "
                                    "barostats.")


class NVEStage(Spec):
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


class ProductionStage(Spec):
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
    Union[MinimiseStage, NVTStage, NPTStage, NVEStage, ProductionStage], Field(discriminator="stage")
]


def stage_temperature(stage: Any, target_K: float) -> float:
    """A stage's temperature: its own, or the run's for 'target' and for stages without one."""
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


RESERVED_LABELS = ("arrays", "state_point", "trajectory")
"""Summary entries meltdyn writes itself (array units, the measured state point, trajectory warnings)."""


class _WithObservables(Spec):
    """Shared by study and analysis files: observables are labelled, labels are unique."""

    @model_validator(mode="after")
    def _unique_labels(self) -> _WithObservables:
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


def _tagged(kind: str, entries: dict, with_label: bool) -> Any:
    members = []
    for name, entry in sorted(entries.items()):
        fields: dict[str, Any] = {"plugin": (Literal[name], Field(description=f"{kind} plugin {name!r}"))}
        if with_label:
            fields["label"] = (str | None, Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", max_length=100,
                                                 description="Results group name; default the plugin name."))
        model = create_model(f"{name}_{kind}", __base__=entry.definition.params, __doc__=entry.definition.summary,
                             **fields)
        members.append(model)
    if not members:
        raise ValueError(f"no {kind} plugins are registered")
    if len(members) == 1:
        return members[0]
    return Annotated[Union[tuple(members)], Field(discriminator="plugin")]


def plugin_union(registry: Registry, kind: str) -> Any:
    """The discriminated union of one plugin kind's parameter models, for use in other specs."""
    return _tagged(kind, registry.entries[kind], with_label=kind == "observable")


def validate_section(registry: Registry, kind: str, mapping: Any, where: str) -> BaseModel:
    """Validate one plugin section (e.g. a potential named inside a labeller) with the usual clear errors."""
    from pydantic import ValidationError

    from meltdyn import errors

    model = create_model("Section", __base__=Spec, **{where: (plugin_union(registry, kind), ...)})
    try:
        return getattr(model.model_validate({where: mapping}), where)
    except ValidationError as exc:
        raise errors.StudyError("invalid " + where + ":\n  " + "\n  ".join(errors.describe(exc, model))) from None


OutputDir = Annotated[str, Field(min_length=1, max_length=4096, description="Where results go; relative paths are "
                                 "relative to the current directory. Never overwritten.")]


def analysis_model(registry: Registry) -> type[BaseModel]:
    """The model of an analysis file: observables over a trajectory made anywhere."""
    observable = plugin_union(registry, "observable")

    class AnalysisSpec(AnalysisSettings, _WithObservables):
        """Observables over an existing trajectory (meltdyn's H5MD, extxyz, LAMMPS dump, DCD, ...)."""

        trajectory: str = Field(min_length=1, description="Trajectory file.")
        format: Literal["auto", "h5md", "ase", "lammpsdump", "dcd"] = Field(
            "auto", description="auto: by suffix (.h5 → h5md, .dcd, .lammpstrj/.dump → lammpsdump, else ASE).")
        timestep_ps: float | None = Field(None, gt=0, le=1e3, description="MD timestep; for formats that store "
                                          "step numbers but no times.")
        frame_interval_steps: int | None = Field(None, ge=1, le=10**9, description="MD steps between frames, for "
                                                 "formats that store neither steps nor times.")
        unwrapped: bool = Field(False, description="Positions are already unwrapped; else unwrapped with image "
                                "flags when the file has them, or frame to frame with the box.")
        topology: str | None = Field(None, description="DCD: file with the atoms' names (PDB, PSF, ...).")
        type_elements: dict[str, ElementSymbol] | None = Field(None, description="Atom type or name → element.")
        output_dir: OutputDir
        observables: list[observable] = Field(min_length=1, max_length=100)  # type: ignore[valid-type]

    return AnalysisSpec


def study_model(registry: Registry) -> type[BaseModel]:
    """The StudySpec model for the plugins in ``registry``."""
    system = plugin_union(registry, "system")
    potential = plugin_union(registry, "potential")
    engine = plugin_union(registry, "engine")
    executor_union = plugin_union(registry, "executor")  # not "executor": the field's default would shadow it
    observable = plugin_union(registry, "observable")

    class StudySpec(_WithObservables):
        """A study: a sweep of runs sharing one system recipe, potential, engine, protocol and observables."""

        name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", max_length=200,
                          description="The study's name: letters, digits, . _ -")
        output_dir: OutputDir
        seed: int = Field(0, ge=0, le=2**63 - 1, description="Root of every random choice (packing, velocities, "
                          "thermostat noise); each is derived from it and the run, and recorded in provenance.json.")
        deterministic: bool = Field(False, description="Bit-identical reruns where the platform allows it: one "
                                    "thread for OpenMM's CPU platform, deterministic torch algorithms.")
        system: system  # type: ignore[valid-type]
        sweep: SweepSpec
        potential: potential  # type: ignore[valid-type]
        engine: engine  # type: ignore[valid-type]
        protocol: ProtocolSpec
        executor: executor_union = Field({"plugin": "serial"}, validate_default=True,  # type: ignore[valid-type]
                                   description="Where and when the runs are carried out; default here, one by one.")
        analysis: AnalysisSettings = Field(default_factory=AnalysisSettings)
        observables: list[observable] = Field(default_factory=list, max_length=100)  # type: ignore[valid-type]

    return StudySpec
