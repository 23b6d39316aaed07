"""A study-wide progress line: simulated time of every run against its protocol."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import Any, Protocol

from meltdyn.base.progress import clock
from meltdyn.engine.checkpoints import Checkpoint
from meltdyn.spec.models import ProtocolSpec


class MonitoredRun(Protocol):
    """What the monitor reads of a run (a :class:`~meltdyn.study.runner.Run` is one): its state and checkpoint."""

    @property
    def status(self) -> dict[str, Any]: ...

    @property
    def completed(self) -> bool: ...

    def checkpoint(self) -> Checkpoint: ...


def simulated_ps(run: MonitoredRun, protocol: ProtocolSpec) -> tuple[float, float]:
    """(simulated so far, in all) of a run's dynamics, from its checkpoint: every stage but minimisation."""
    stages = protocol.stages
    dt_ps = protocol.timestep_fs * 1e-3
    durations = [getattr(s, "duration_ps", 0.0) for s in stages]
    if run.completed:
        return sum(durations), sum(durations)
    ck = run.checkpoint()
    done = sum(durations[: ck.stage]) + (ck.step * dt_ps if ck.stage < len(stages) else 0.0)
    return done, sum(durations)


class StudyMonitor:
    """The state of a study's runs, read from their directories, as one line."""

    def __init__(self, runs: Sequence[MonitoredRun], protocol: ProtocolSpec, progress: bool | None = None):
        self.runs = list(runs)
        self.protocol = protocol
        self.enabled = progress is not False and bool(self.runs)
        self._t0 = time.time()
        self._ps0 = self._totals()[0]

    def _totals(self) -> tuple[float, float]:
        pairs = [simulated_ps(run, self.protocol) for run in self.runs]
        return sum(p[0] for p in pairs), sum(p[1] for p in pairs)

    def line(self) -> str:
        states = [run.status["state"] for run in self.runs]
        # A run whose MD is done but whose analysis has not finished is not simulating: told apart so that a
        # study on two workers never seems to run four runs at once.
        stages = len(self.protocol.stages)
        simulated = sum(state == "running" and run.checkpoint().stage >= stages
                        for state, run in zip(states, self.runs))
        done, total = self._totals()
        rate = (done - self._ps0) / max(time.time() - self._t0, 1e-9)
        eta = clock((total - done) / rate) if rate > 0 else "?"
        # Interrupted: left by a process or worker that died, until a retried task or another `meltdyn run` takes it.
        interrupted = f", {states.count('interrupted')} interrupted" if "interrupted" in states else ""
        return (f"study: {states.count('completed')}/{len(states)} runs completed, "
                f"{states.count('running') - simulated} simulating, {simulated} awaiting analysis, "
                f"{states.count('failed')} failed{interrupted}; {done * 1e-3:.4g} of {total * 1e-3:.4g} ns simulated, "
                f"ETA {eta}")

    def report(self) -> None:
        if self.enabled:
            print(self.line(), file=sys.stderr, flush=True)
