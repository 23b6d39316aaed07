"""Progress on long work: a bar on a terminal, a plain line every so often in a log, nothing when asked for quiet.

:class:`Progress` reports one stage of one batch (simulated time, ns/day, ETA); :class:`StudyMonitor` reports the
whole study from its run directories (runs done, running and failed, simulated time, ETA), whichever process or
cluster worker is running them.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import Any

from tqdm import tqdm

LINE_EVERY_S = 30.0


def _clock(seconds: float) -> str:
    if seconds != seconds or seconds == float("inf"):
        return "?"
    hours, rest = divmod(int(seconds), 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


class Progress:
    """Reports steps of one stage at a time; engines' stage driver calls :meth:`stage` then :meth:`advance`.

    ``enabled``: None (default) draws a bar when stderr is a terminal and writes a line every ``every_s`` seconds
    otherwise; False is quiet.
    """

    def __init__(self, enabled: bool | None = None, prefix: str = "", every_s: float = LINE_EVERY_S):
        self.mode = "off" if enabled is False else ("bar" if sys.stderr.isatty() else "lines")
        self.prefix = prefix
        self.every_s = every_s
        self._bar: tqdm | None = None
        self._name = ""
        self._timestep_ps = 0.0
        self._t0 = self._last_line = 0.0
        self._steps = self._done = self._total = 0

    def stage(self, name: str, total_steps: int, timestep_ps: float, done_steps: int = 0) -> None:
        self.close()
        self._name, self._timestep_ps, self._total, self._done = name, timestep_ps, total_steps, done_steps
        self._t0 = self._last_line = time.perf_counter()
        self._steps = 0
        if self.mode == "bar":
            self._bar = tqdm(total=total_steps, initial=done_steps, desc=f"{self.prefix}{name}", unit="step",
                             dynamic_ncols=True, file=sys.stderr)

    def advance(self, steps: int) -> None:
        self._steps += steps
        self._done += steps
        if self._bar is not None:
            self._bar.update(steps)
            self._bar.set_postfix_str(f"t={self._bar.n * self._timestep_ps:.3g} ps, {self.ns_per_day:.3g} ns/day",
                                      refresh=False)
        elif self.mode == "lines" and time.perf_counter() - self._last_line >= self.every_s:
            self._last_line = time.perf_counter()
            rate = self._steps / max(self._last_line - self._t0, 1e-9)
            print(f"{self.prefix}{self._name}: {self._done}/{self._total} steps "
                  f"({100 * self._done / max(self._total, 1):.0f} %), t={self._done * self._timestep_ps:.4g} ps, "
                  f"{self.ns_per_day:.3g} ns/day, stage ETA {_clock((self._total - self._done) / rate)}",
                  file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    @property
    def ns_per_day(self) -> float:
        elapsed = time.perf_counter() - self._t0
        return self._steps * self._timestep_ps * 1e-3 / elapsed * 86400 if elapsed > 0 else float("nan")


def simulated_ps(run: Any) -> tuple[float, float]:
    """(simulated so far, in all) of a run's dynamics, from its checkpoint: every stage but minimisation."""
    stages = run.study.spec.protocol.stages
    dt_ps = run.study.spec.protocol.timestep_fs * 1e-3
    durations = [getattr(s, "duration_ps", 0.0) for s in stages]
    if run.completed:
        return sum(durations), sum(durations)
    ck = run.checkpoint()
    done = sum(durations[: ck.stage]) + (ck.step * dt_ps if ck.stage < len(stages) else 0.0)
    return done, sum(durations)


class StudyMonitor:
    """The state of a study's runs, read from their directories, as one line."""

    def __init__(self, study: Any, runs: Sequence[Any], progress: bool | None = None):
        self.runs = list(runs)
        self.enabled = progress is not False and bool(self.runs)
        self._t0 = time.time()
        self._ps0 = self._totals()[0]

    def _totals(self) -> tuple[float, float]:
        pairs = [simulated_ps(run) for run in self.runs]
        return sum(p[0] for p in pairs), sum(p[1] for p in pairs)

    def line(self) -> str:
        states = [run.status["state"] for run in self.runs]
        # A run whose MD is done but whose analysis has not finished is not simulating: told apart so that a
        # study on two workers never seems to run four runs at once.
        stages = len(self.runs[0].study.spec.protocol.stages) if self.runs else 0
        simulated = sum(state == "running" and run.checkpoint().stage >= stages
                        for state, run in zip(states, self.runs))
        done, total = self._totals()
        rate = (done - self._ps0) / max(time.time() - self._t0, 1e-9)
        eta = _clock((total - done) / rate) if rate > 0 else "?"
        # Interrupted: left by a process or worker that died, until a retried task or another `meltdyn run` takes it.
        interrupted = f", {states.count('interrupted')} interrupted" if "interrupted" in states else ""
        return (f"study: {states.count('completed')}/{len(states)} runs completed, "
                f"{states.count('running') - simulated} simulating, {simulated} awaiting analysis, "
                f"{states.count('failed')} failed{interrupted}; {done * 1e-3:.4g} of {total * 1e-3:.4g} ns simulated, "
                f"ETA {eta}")

    def report(self) -> None:
        if self.enabled:
            print(self.line(), file=sys.stderr, flush=True)
