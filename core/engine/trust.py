"""The engine kit's trust guard: the potential that drives the MD judges the configurations it reaches.

A potential with a region it can vouch for (a committee, by its members' disagreement) sets
:attr:`~meltdyn.hooks.contracts.Potential.check_interval_ps`; the stage driver then calls its ``check_frame`` that
often in simulated time, in every dynamics stage of every engine (in production at its frames: the first frame, then
the first at or after each further interval), and records what it returns in the run's ``checks.csv``. Where it says
stop:

- before production, the run fails with :class:`LeftTrustRegion`; its last checkpoint is kept;
- in production, that run's production ends at the frame checked: its trajectory holds the frames up to and including
  that one, the run is analysed as it stands, and its state point carries the stop and a flag (:func:`stop_flag`),
  so no number of it is read without the warning. Runs advancing in the same batch go on.

A stop is recorded (:data:`TRUST_STOP` in the run's facts) before the checkpoint that ends the run is committed: a run
killed between the two resumes its production, and the record of a stop that did not take is dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from meltdyn.engine.thermo import StepLog
from meltdyn.hooks.contracts import RunContext
from meltdyn.hooks.data import AtomicSystem
from meltdyn.trajectory.h5md import Snapshot

CHECKS = "checks.csv"
BASE_COLUMNS = ("stage", "stage_kind", "step", "time_ps")
TRUST_STOP = "stopped"
"""The key of a run's facts (and of its state point) that records where and why its production stopped."""
MIN_FRAMES = 2
"""Frames a stopped production needs to be analysed: every time correlation needs two."""


class LeftTrustRegion(RuntimeError):
    """Before production, MD reached a configuration its potential does not vouch for (the last checkpoint stays)."""


def check_interval_steps(runs: Sequence[RunContext], dt_ps: float) -> int | None:
    """MD steps between checks (None: the potential checks nothing); the runs of a batch share their potential."""
    interval = runs[0].potential.check_interval_ps
    return None if interval is None else max(1, round(interval / dt_ps))


def next_check(done: int, every: int, check_now: bool) -> int:
    """The step of the next check in a stage that stands at ``done``: ``done`` itself if ``check_now`` (the first
    frame of a production not yet written), else the next multiple of ``every`` after it."""
    return done if check_now else (done // every + 1) * every


class FrameChecker:
    """Checks one batch's frames with their potential and logs each check in its run's ``checks.csv``."""

    def __init__(self, runs: Sequence[RunContext], resumes_at: tuple[int, int]):
        self.runs, self.resumes_at = runs, resumes_at
        self.logs: list[StepLog | None] = [None] * len(runs)

    def check(self, k: int, snapshot: Snapshot, stage: int, kind: str, step: int, time_ps: float) -> str | None:
        """Judge the k-th run's ``snapshot``; log the values; return why the run must stop there, or None."""
        run = self.runs[k]
        cell = np.asarray(snapshot.cell_A, dtype=float)
        fractional = np.asarray(snapshot.positions_A, dtype=float) @ np.linalg.inv(cell)
        wrapped = (fractional - np.floor(fractional)) @ cell  # the configuration, whatever the engine unwrapped
        verdict = run.potential.check_frame(AtomicSystem(list(run.system.symbols), wrapped, cell))
        names = tuple(sorted(verdict.values))
        if self.logs[k] is None:
            self.logs[k] = StepLog(run.run_dir / CHECKS, BASE_COLUMNS + names, self.resumes_at)
        self.logs[k].write([stage, kind, step, f"{time_ps:.6g}", *(f"{verdict.values[n]:.10g}" for n in names)])
        return verdict.stop

    def close(self) -> None:
        for log in self.logs:
            if log is not None:
                log.close()


class StageGuard:
    """The trust checks of one stage: when they fall due, and each one (the stage driver keeps one per stage)."""

    def __init__(self, checker: FrameChecker, every: int | None, index: int, kind: str, elapsed_ps: float,
                 dt_ps: float):
        self.checker, self.every, self.index, self.kind = checker, every, index, kind
        self.elapsed_ps, self.dt_ps = elapsed_ps, dt_ps
        self.due: int | None = None

    def start(self, done: int, check_now: bool) -> None:
        if self.every is not None:
            self.due = next_check(done, self.every, check_now)

    def steps_to_next(self, done: int) -> int:
        """Steps until the next check (a chunk of dynamics ends there); unbounded without checks."""
        return self.due - done if self.due is not None and self.due > done else 2**62

    def time_ps(self, step: int) -> float:
        return self.elapsed_ps + step * self.dt_ps

    def check(self, k: int, snapshot: Snapshot, step: int) -> str | None:
        """The k-th run's check at ``step`` if one is due there; why it must stop, or None."""
        if self.due is None or step < self.due:
            return None
        return self.checker.check(k, snapshot, self.index, self.kind, step, self.time_ps(step))

    def advanced(self, step: int) -> None:
        """Every run was checked at ``step`` if a check was due: the next falls an interval later."""
        if self.due is not None and step >= self.due:
            self.due = next_check(step, self.every, False)  # type: ignore[arg-type]


def stop_record(stage: int, kind: str, step: int, time_ps: float, production_ps: float, planned_ps: float,
                reason: str) -> dict[str, Any]:
    """What a run's facts and state point keep of a stop in production."""
    return {"stage": stage, "stage_kind": kind, "step": step, "time_ps": time_ps,
            "production_ps": production_ps, "planned_production_ps": planned_ps, "reason": reason}


def stop_flag(record: dict[str, Any]) -> str:
    """The flag a stopped run's state point raises: when, of how much, and why."""
    return (f"production stopped at {record['production_ps']:g} ps of the {record['planned_production_ps']:g} ps "
            f"planned: {record['reason']}. Every number of this run comes from the {record['production_ps']:g} ps "
            "before the stop, and the configurations it was heading to lie outside what the potential vouches for")


def too_short(record: dict[str, Any], frames: int) -> str:
    """Why a production that stopped this early cannot be analysed."""
    return (f"production stopped at its frame {frames} ({record['production_ps']:g} ps of the "
            f"{record['planned_production_ps']:g} ps planned): {record['reason']}; {frames} frame(s) are too few to "
            f"analyse (a time correlation needs {MIN_FRAMES}). Its trajectory is kept")
