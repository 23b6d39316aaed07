"""The ``serial`` executor (the default): every batch here, one after another, in this process."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from meltdyn.plugin import Executor, ExecutorOutline, PluginDef, PluginParams, RunHandle, StudyHandle, hookimpl


class SerialParams(PluginParams):
    pass


class Serial(Executor):
    def __init__(self, params: SerialParams):
        self.params = params

    def execute(self, study: StudyHandle, runs: Sequence[RunHandle], progress: bool | None) -> list[str]:
        monitor = study.monitor(runs, progress)
        failures = []
        for batch in study.batches(runs):
            failures += study.execute(batch, progress)
            monitor.report()
        return failures


def _example(workdir: Path) -> dict[str, Any]:
    return {}


@hookimpl
def meltdyn_executors() -> list[PluginDef]:
    return [PluginDef("serial", "executor", SerialParams, Serial, "every run here, one batch after another (default)",
                      outline=lambda params: ExecutorOutline(local=True), example=_example)]
