"""The production stage of the engine kit: frame schedule, one chunked H5MD file per run, a checkpoint per flush.

A checkpoint follows every flush, so a resumed run drops the frames flushed after it and writes them again: none
lost, none twice. Before a run creates its trajectory it records the file's token in its checkpoint; a trajectory
is resumed only when its token is that run's, so a stray file is never overwritten and a run interrupted between
creating the file and its first flush resumes like any other.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import h5py
import numpy as np

from meltdyn.base.storage import reopen_cut_short
from meltdyn.engine.checkpoints import Checkpoint
from meltdyn.engine.kit import Lane
from meltdyn.engine.schedule import frame_steps
from meltdyn.engine.trust import StageGuard
from meltdyn.hooks.contracts import RunContext
from meltdyn.spec.models import ProductionStage
from meltdyn.trajectory.h5md import H5MDWriter, Snapshot, TrajectoryHeader


class TrajectoryConflict(RuntimeError):
    """A trajectory file this run did not write stands where its production would go."""


def _token_of(path: Path) -> str | None:
    """The token of an existing trajectory, or None if the file cannot be read as one."""
    try:
        with h5py.File(path, "r") as f:
            return str(f["parameters/meltdyn"].attrs["token"])
    except Exception:  # unreadable, truncated, not ours: the caller decides what that means
        return None


def _checked_cut_back(path: Path, ck: Checkpoint) -> str | None:
    """The token of a trajectory made whole by :func:`reopen_cut_short`, if its checkpointed frames read back as
    this run wrote them (steps increasing to the checkpoint's, finite positions); None if they do not."""
    try:
        with h5py.File(path, "r") as f:
            steps = f["particles/all/position/step"][: ck.frames]
            positions = f["particles/all/position/value"][ck.frames - 1]
            token = str(f["parameters/meltdyn"].attrs["token"])
    except Exception:  # still not readable: the caller's message says what to do
        return None
    intact = (len(steps) == ck.frames and int(steps[-1]) == ck.step and bool(np.all(np.diff(steps) > 0))
              and bool(np.isfinite(positions).all()))
    return token if intact else None


def open_trajectory(run: RunContext, ck: Checkpoint, index: int, stage: ProductionStage, dt_ps: float,
                    interval: int) -> tuple[H5MDWriter, Checkpoint]:
    """Open (resume) or create this run's trajectory; return the writer and the checkpoint that owns it."""
    path = run.trajectory_path
    owned = ck.stage == index and ck.trajectory is not None
    if path.exists():
        token = _token_of(path)
        if owned and token is None and ck.frames > 0 and reopen_cut_short(path):
            token = _checked_cut_back(path, ck)  # a storage fault cut our own file short: back to the checkpoint
        if owned and token is None and ck.frames == 0:
            path.unlink()  # our own file, cut short while it was being created: it holds no frame
        elif owned and token is None:
            raise TrajectoryConflict(f"{path} cannot be read, but {ck.frames} of its frames were checkpointed; "
                                     f"restore it, or remove {run.run_dir} to run this run again from the start")
        elif not owned or token != ck.trajectory:
            raise TrajectoryConflict(
                f"{path} exists but this run's production did not write it; meltdyn will not overwrite it. "
                "Move it away to start production.")
    elif owned and ck.frames > 0:
        raise TrajectoryConflict(f"{path} is missing but {ck.frames} of its frames were checkpointed; restore the "
                                 f"file, or remove {run.run_dir} to run this run again from the start")
    if not owned:
        ck = replace(ck, stage=index, step=0, frames=0, trajectory=uuid.uuid4().hex)
        ck.record(run.checkpoint_dir)
    header = TrajectoryHeader(list(run.system.symbols), dt_ps, interval, token=ck.trajectory or "")
    writer = H5MDWriter(path, header, stage.sampling.chunk_frames, stage.sampling.velocities)
    writer.truncate(ck.frames if ck.mid_stage else 0)
    return writer, ck


def produce(runs: Sequence[RunContext], lanes: Sequence[Lane], checkpoints: list[Checkpoint], index: int,
            stage: ProductionStage, dt_ps: float, advance: Callable[[int], None],
            check_energy: Callable[[RunContext, float, int], None],
            thermo: Callable[[int, Snapshot, int, float], None], guard: StageGuard,
            stop: Callable[[int, int, str, int, str | None], None]) -> tuple[list[Checkpoint], set[int]]:
    """Write every run's production trajectory, all runs advancing together; resume from their checkpoints.
    ``thermo(k, snapshot, step, dt_ps)`` records each frame of the k-th run in its thermodynamic log. A frame the
    ``guard`` says stop at ends that run's production there (:mod:`meltdyn.engine.trust`): its frames so far are
    flushed and ``stop(k, step, reason, frames, trajectory)`` ends the run; the others go on. Returns the
    checkpoints and the runs stopped."""
    steps, interval = frame_steps(stage.sampling, dt_ps, stage.duration_ps)
    opened = [open_trajectory(run, ck, index, stage, dt_ps, interval) for run, ck in zip(runs, checkpoints)]
    writers, checkpoints = [w for w, _ in opened], [ck for _, ck in opened]
    frames = checkpoints[0].frames if checkpoints[0].mid_stage else 0
    done = int(steps[frames - 1]) if frames else 0
    progress = runs[0].progress
    progress.stage(f"[{index}] production", int(steps[-1]), dt_ps, done)
    guard.start(done, check_now=frames == 0)
    stopped: set[int] = set()
    try:
        for k in range(frames, len(steps)):
            target = int(steps[k])
            if target > done:
                advance(target - done)
                progress.advance(target - done)
                done = target
            for j, (run, lane, writer) in enumerate(zip(runs, lanes, writers)):
                if j in stopped:
                    continue  # its lane still moves with the batch; nothing of it is kept
                snapshot = lane.snapshot(stage.sampling.velocities)
                check_energy(run, snapshot.potential_energy_eV, done)
                writer.append(done, done * dt_ps, snapshot)
                thermo(j, snapshot, done, dt_ps)
                reason = guard.check(j, snapshot, done)
                if reason is not None:
                    stop(j, done, reason, writer.flush(), checkpoints[j].trajectory)
                    stopped.add(j)
            guard.advanced(done)
            going = [j for j in range(len(runs)) if j not in stopped]
            if not going:
                break
            if writers[going[0]].pending == stage.sampling.chunk_frames or k == len(steps) - 1:
                for j in going:
                    flushed = writers[j].flush()
                    checkpoints[j] = replace(checkpoints[j], stage=index, step=done, frames=flushed).commit(
                        runs[j].checkpoint_dir, lanes[j].save(exact=True))
    finally:
        for writer in writers:
            writer.discard_pending()  # frames not yet flushed belong to no checkpoint
            writer.close()
    return checkpoints, stopped

