"""The ``openmm`` engine: minimise, NVT (Langevin, Nosé–Hoover), NPT (Monte Carlo barostat), NVE and checkpointed
production on any OpenMM platform, through the stage driver. Runs potentials that give OpenMM forces
(:mod:`.interface`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from meltdyn.plugin import (
    Engine, EngineSettings, PluginDef, RunContext, StudyOutline, drive, hookimpl, warn_if_oversubscribed,
)
from meltdyn.plugins.engines.openmm_engine.interface import OPENMM_FORCES


class OpenMMParams(EngineSettings):
    platform: Literal["auto", "CUDA", "OpenCL", "CPU", "Reference"] = Field(
        "auto", description="auto picks the first available of CUDA, OpenCL, CPU, Reference.")
    precision: Literal["single", "mixed", "double"] = Field("mixed", description="GPU platforms only.")
    threads: int | None = Field(None, ge=1, le=1024, description="CPU platform threads; default OMP_NUM_THREADS if "
                                "set, else every core this process may use (one with deterministic: true).")
    barostat_interval_steps: int = Field(25, ge=1, le=10**6, description="npt stages: steps between volume moves of "
                                         "the Monte Carlo barostat.")


class OpenMMEngine(Engine):
    def __init__(self, params: OpenMMParams):
        self.params = params

    def run(self, runs: Sequence[RunContext]) -> list[dict[str, Any]]:
        from meltdyn.plugins.engines.openmm_engine.machine import OpenMMMachine

        (run,) = runs
        return drive(OpenMMMachine(self.params, run), runs, self.params)


def check(params: OpenMMParams, study: StudyOutline) -> list[str]:
    problems = []
    if study.spec.deterministic and params.threads not in (None, 1):
        problems.append(f"threads: {params.threads} with deterministic: true; OpenMM's CPU platform repeats its "
                        "results bit for bit on one thread only (leave threads unset)")
    if study.local:
        warn_if_oversubscribed(params.threads, "engine.threads")
        from meltdyn.plugins.engines.openmm_engine.machine import choose_platform

        try:
            choose_platform(params.platform)
        except ValueError as exc:
            problems.append(str(exc))
    return problems


def _example(workdir: Path) -> dict[str, Any]:
    return {"platform": "Reference", "report_interval_steps": 10}


@hookimpl
def meltdyn_engines() -> list[PluginDef]:
    return [PluginDef("openmm", "engine", OpenMMParams, OpenMMEngine,
                      "OpenMM: minimise, NVT (Langevin, Nose-Hoover), NPT (MC barostat), NVE, checkpointed production",
                      requires=OPENMM_FORCES, check=check, example=_example)]
