"""The production loop both engines share: frame schedule, chunked H5MD, checkpoint after every flush."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from meltdyn.contracts import RunContext
from meltdyn.plugins.engines.checkpoints import Checkpoint
from meltdyn.schedule import frame_steps
from meltdyn.specs import ProductionStage
from meltdyn.trajectory import H5MDWriter, TrajectoryHeader


@dataclass
class Snapshot:
    """One frame as an engine reports it: nm, kJ/mol, K, nm/ps."""

    positions_nm: np.ndarray
    box_nm: np.ndarray
    energy_kJ_mol: float
    temperature_K: float
    velocities_nm_ps: np.ndarray | None


def produce(ctx: RunContext, stage: ProductionStage, ck: Checkpoint, index: int, dt_ps: float,
            advance: Callable[[int, int], None], snapshot: Callable[[int], Snapshot],
            save: Callable[[Checkpoint], None]) -> None:
    """Write the production trajectory, resuming from ``ck`` if it is this stage's.

    ``advance(n, step)`` integrates n steps from ``step``; ``snapshot(step)`` returns the current frame and
    raises if the energy is not sane; ``save(ck)`` checkpoints the engine's state. A checkpoint follows every
    flush, so a resumed run drops the frames flushed after it and writes them again: none lost, none twice.
    """
    steps, interval = frame_steps(stage.sampling, dt_ps, stage.duration_ps)
    resuming = ck.stage == index and ck.mid_stage
    if ctx.trajectory_path.exists() and not resuming:
        raise RuntimeError(f"{ctx.trajectory_path} exists but no production checkpoint does; "
                           "meltdyn will not overwrite it. Move it away to start production again.")
    writer = H5MDWriter(ctx.trajectory_path, TrajectoryHeader(list(ctx.system.symbols), dt_ps, interval),
                        stage.sampling.chunk_frames, stage.sampling.velocities)
    frames = ck.frames if resuming else 0
    writer.truncate(frames)
    done = int(steps[frames - 1]) if frames else 0
    ctx.progress.stage(f"[{index}] production", int(steps[-1]), dt_ps, done)
    try:
        for k in range(frames, len(steps)):
            target = int(steps[k])
            if target > done:
                advance(target - done, done)
                ctx.progress.advance(target - done)
                done = target
            s = snapshot(done)
            writer.append(done, done * dt_ps, s.positions_nm, s.box_nm, s.energy_kJ_mol, s.temperature_K,
                          s.velocities_nm_ps)
            if writer.pending == stage.sampling.chunk_frames or k == len(steps) - 1:
                frames = writer.flush()
                save(Checkpoint(index, done, frames))
    finally:
        writer.discard_pending()  # frames not yet flushed belong to no checkpoint
        writer.close()
