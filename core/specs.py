"""Study-file specs. Plugin sections are discriminated unions built from the registry at run time."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator, model_validator

from meltdyn.registry import Registry

TARGET = "target"
"""A stage temperature of ``target`` means the run's temperature from the sweep."""


class Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


_NS_RE = re.compile(r"^NS(\d+(?:\.\d+)?)$")


def na2o_fraction(composition: str | float) -> float:
    """Mole fraction of Na2O for ``NSk`` (Na2O·k SiO2) or a number in (0, 1)."""
    if isinstance(composition, str):
        m = _NS_RE.match(composition)
        if not m:
            raise ValueError(f"composition {composition!r} is not of the form NSk (e.g. NS2, NS4, NS6) "
                             "nor a Na2O mole fraction in (0, 1)")
        return 1.0 / (1.0 + float(m.group(1)))
    if not 0.0 < float(composition) < 1.0:
        raise ValueError(f"composition {composition!r}: a Na2O mole fraction must lie in (0, 1)")
    return float(composition)


class SystemSpec(Spec):
    """How to build each run's starting configuration."""

    atoms: int = Field(gt=0, description="Target atom count; rounded to whole formula units (reported).")
    density_g_cm3: float | None = Field(None, gt=0, description="Packing density; default from the density model.")
    box_A: float | None = Field(None, gt=0, description="Cubic box edge; exclusive with density_g_cm3.")
    seed: int = Field(0, ge=0, description="Base seed; replica r uses seed + r.")
    min_distance_scale: float = Field(1.0, gt=0, le=1.5, description="Scales the minimum inter-species distances.")

    @model_validator(mode="after")
    def _one_size(self) -> SystemSpec:
        if self.density_g_cm3 is not None and self.box_A is not None:
            raise ValueError("give density_g_cm3 or box_A, not both")
        return self


class SweepSpec(Spec):
    """The runs of a study: every composition × temperature × replica."""

    compositions: list[str | float] = Field(min_length=1, description="NSk names or Na2O mole fractions.")
    temperatures_K: list[Annotated[float, Field(gt=0)]] = Field(min_length=1, description="Run temperatures.")
    replicas: int = Field(1, ge=1, description="Independent starts per state point (seeds differ).")

    @field_validator("compositions")
    @classmethod
    def _known_compositions(cls, value: list[str | float]) -> list[str | float]:
        for c in value:
            na2o_fraction(c)
        return value


class MinimiseStage(Spec):
    stage: Literal["minimise"]
    tolerance_kJ_mol_nm: float = Field(10.0, gt=0, description="Stop when the RMS force is below this.")
    max_iterations: int = Field(0, ge=0, description="0 means until converged.")


Thermostat = Literal["langevin", "nose_hoover"]


class _Dynamics(Spec):
    duration_ps: float = Field(gt=0, description="Simulated time of the stage.")
    temperature_K: float | Literal["target"] = Field(TARGET, description="Kelvin, or 'target' for the sweep's.")
    thermostat: Thermostat = Field("langevin", description="langevin (LangevinMiddle) or nose_hoover (chain of 3).")
    friction_per_ps: float = Field(1.0, gt=0, description="Langevin friction / Nosé–Hoover collision frequency.")

    @field_validator("temperature_K")
    @classmethod
    def _positive(cls, v: float | str) -> float | str:
        if not isinstance(v, str) and v <= 0:
            raise ValueError(f"temperature_K must be > 0 K or 'target', got {v}")
        return v


class NVTStage(_Dynamics):
    stage: Literal["nvt"]


class NPTStage(_Dynamics):
    stage: Literal["npt"]
    pressure_bar: float = Field(1.0, description="Isotropic Monte Carlo barostat; the box ends at the mean of the "
                                "second half of the stage.")
    barostat_interval_steps: int = Field(25, ge=1, description="Steps between volume moves.")


class NVEStage(Spec):
    stage: Literal["nve"]
    duration_ps: float = Field(gt=0, description="Simulated time of the stage (velocity Verlet).")


class SamplingSpec(Spec):
    """Frames at every ``interval_ps`` plus log-spaced frames after each of those, one schedule for all lags."""

    interval_ps: float = Field(gt=0, description="Spacing of the linear frames (the time origins).")
    log_frames_per_interval: int = Field(0, ge=0, description="Geometric frames from one step up to the interval.")
    chunk_frames: int = Field(32, ge=1, description="Frames per HDF5 chunk; a crash loses at most one chunk.")
    velocities: bool = Field(False, description="Also write velocities.")


class ProductionStage(Spec):
    stage: Literal["production"]
    duration_ps: float = Field(gt=0, description="Simulated time written to the trajectory.")
    ensemble: Literal["nvt", "nve"] = Field("nvt", description="nve: velocity Verlet, no thermostat.")
    temperature_K: float | Literal["target"] = Field(TARGET, description="Kelvin, or 'target' for the sweep's.")
    thermostat: Thermostat = Field("langevin", description="For ensemble nvt.")
    friction_per_ps: float = Field(1.0, gt=0, description="Langevin friction / Nosé–Hoover collision frequency.")
    sampling: SamplingSpec = Field(description="When frames are written.")


Stage = Annotated[
    Union[MinimiseStage, NVTStage, NPTStage, NVEStage, ProductionStage], Field(discriminator="stage")
]


class ProtocolSpec(Spec):
    timestep_fs: float = Field(1.0, gt=0, le=5.0, description="Integration timestep of every stage.")
    stages: list[Stage] = Field(min_length=1, description="Run in order; the last must be 'production'.")

    @model_validator(mode="after")
    def _one_final_production(self) -> ProtocolSpec:
        kinds = [s.stage for s in self.stages]
        if kinds.count("production") != 1 or kinds[-1] != "production":
            raise ValueError(f"stages must end with exactly one 'production' stage, got {kinds}")
        return self

    @property
    def production(self) -> ProductionStage:
        return self.stages[-1]  # type: ignore[return-value]


class _WithObservables(Spec):
    """Shared by study and analysis files: observables are labelled, labels are unique."""

    @model_validator(mode="after")
    def _unique_labels(self) -> _WithObservables:
        labels = self.observable_labels
        dup = sorted({x for x in labels if labels.count(x) > 1})
        if dup:
            raise ValueError(f"observable labels must be unique; repeated: {dup} (set 'label' to tell them apart)")
        return self

    @property
    def observable_labels(self) -> list[str]:
        return [o.label or o.plugin for o in self.observables]  # type: ignore[attr-defined]


def _tagged(kind: str, entries: dict, with_label: bool) -> Any:
    members = []
    for name, entry in sorted(entries.items()):
        fields: dict[str, Any] = {"plugin": (Literal[name], Field(description=f"{kind} plugin {name!r}"))}
        if with_label:
            fields["label"] = (str | None, Field(None, description="Results group name; default the plugin name."))
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


def analysis_model(registry: Registry) -> type[BaseModel]:
    """The model of an analysis file: observables over a trajectory made anywhere."""
    observable = plugin_union(registry, "observable")

    class AnalysisSpec(_WithObservables):
        """Observables over an existing trajectory (meltdyn's H5MD, extxyz, LAMMPS dump, DCD, ...)."""

        trajectory: str = Field(description="Trajectory file.")
        format: Literal["auto", "h5md", "ase", "lammpsdump", "dcd"] = Field(
            "auto", description="auto: by suffix (.h5 → h5md, .dcd, .lammpstrj/.dump → lammpsdump, else ASE).")
        timestep_ps: float | None = Field(None, gt=0, description="MD timestep; needed by formats without times.")
        frame_interval_steps: int = Field(1, ge=1, description="MD steps between stored frames.")
        unwrapped: bool = Field(False, description="Positions are already unwrapped; else unwrapped with the box.")
        topology: str | None = Field(None, description="DCD: file with the atoms' names (PDB, PSF, ...).")
        type_elements: dict[str, str] | None = Field(None, description="Atom type or name → element.")
        memory_budget_MB: float = Field(512.0, gt=0, description="Bounds the atoms streamed at a time.")
        output_dir: str = Field(description="Where results.h5 and summary.json go; never overwritten.")
        observables: list[observable] = Field(min_length=1)  # type: ignore[valid-type]

    return AnalysisSpec


def study_model(registry: Registry) -> type[BaseModel]:
    """The StudySpec model for the plugins in ``registry``."""
    potential = plugin_union(registry, "potential")
    engine = plugin_union(registry, "engine")
    observable = plugin_union(registry, "observable")

    class StudySpec(_WithObservables):
        """A study: a sweep of runs sharing one system recipe, potential, engine, protocol and observables."""

        name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
        output_dir: str = Field(description="Where run directories go; relative paths are relative to the CWD.")
        system: SystemSpec
        sweep: SweepSpec
        potential: potential  # type: ignore[valid-type]
        engine: engine  # type: ignore[valid-type]
        protocol: ProtocolSpec
        observables: list[observable] = Field(default_factory=list)  # type: ignore[valid-type]

    return StudySpec
