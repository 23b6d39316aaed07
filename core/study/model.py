"""The study-file model, built from the plugins the registry holds."""

from __future__ import annotations

from pydantic import BaseModel, Field

from meltdyn.hooks.registry import Registry
from meltdyn.hooks.sections import plugin_union
from meltdyn.spec.models import AnalysisSettings, OutputDir, ProtocolSpec, SweepSpec, WithObservables


def study_model(registry: Registry) -> type[BaseModel]:
    """The StudySpec model for the plugins in ``registry``."""
    system = plugin_union(registry, "system")
    potential = plugin_union(registry, "potential")
    engine = plugin_union(registry, "engine")
    executor_union = plugin_union(registry, "executor")  # not "executor": the field's default would shadow it
    observable = plugin_union(registry, "observable")

    class StudySpec(WithObservables):
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
