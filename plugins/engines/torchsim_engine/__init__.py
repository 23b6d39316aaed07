"""The ``torchsim`` engine: the stages on TorchSim (``torch-sim-atomistic``), CPU or CUDA, with the runs of a sweep
that share a potential and stand at the same checkpoint advanced together in one batched evaluation, each written to
its own run directory. Runs potentials that are torch modules of the energy (:mod:`.interface`).

TorchSim is an extra (``pip install -e ".[torchsim]"``, included in the test extras); it is imported only when this
engine runs.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from meltdyn.plugin import (
    Engine, EngineSettings, PluginDef, RunContext, StudyOutline, drive, hookimpl, stage_dynamics,
)
from meltdyn.plugins.engines.torchsim_engine.interface import TORCH_MODEL


class TorchSimParams(EngineSettings):
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto: CUDA when torch sees a GPU.")
    precision: Literal["float32", "float64"] = Field("float64", description="Arithmetic of the state and the model "
                                                     "(float32 is the faster choice on a GPU).")
    max_batch: int = Field(16, ge=1, le=4096, description="Runs advanced together in one batched evaluation (runs "
                           "of the sweep at the same checkpoint).")
    barostat_time_ps: float = Field(1.0, gt=0, le=1e4, description="npt stages: relaxation time of the MTK "
                                    "barostat.")


class TorchSimEngine(Engine):
    def __init__(self, params: TorchSimParams):
        self.params = params
        self.max_batch = params.max_batch

    def run(self, runs: Sequence[RunContext]) -> list[dict[str, Any]]:
        from meltdyn.plugins.engines.torchsim_engine.machine import TorchSimMachine

        return drive(TorchSimMachine(self.params, runs), runs, self.params)


def check(params: TorchSimParams, study: StudyOutline) -> list[str]:
    problems = []
    for k, stage in enumerate(study.spec.protocol.stages):
        dynamics = stage_dynamics(stage)
        if dynamics is not None and dynamics.ensemble == "npt" and dynamics.thermostat == "langevin":
            problems.append(f"protocol.stages[{k}] (npt) with thermostat langevin is not carried by the torchsim "
                            "engine: TorchSim's Langevin barostat draws one random stream for a whole batch, so a "
                            "run would depend on the runs batched with it. Use thermostat: nose_hoover (MTK barostat)")
    if study.local:
        if importlib.util.find_spec("torch_sim") is None:
            problems.append('the torchsim engine needs TorchSim here: pip install -e ".[torchsim]"')
        if params.device == "cuda":
            import torch

            if not torch.cuda.is_available():
                problems.append("device: 'cuda' but torch sees no CUDA device here; allowed: auto, cpu, cuda")
    return problems


def _example(workdir: Path) -> dict[str, Any]:
    return {"device": "cpu", "precision": "float64", "report_interval_steps": 10}


@hookimpl
def meltdyn_engines() -> list[PluginDef]:
    return [PluginDef("torchsim", "engine", TorchSimParams, TorchSimEngine,
                      "TorchSim: the same stages on CPU or CUDA, runs of a sweep batched in one evaluation",
                      requires=TORCH_MODEL, check=check, example=_example)]
