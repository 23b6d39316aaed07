"""The production sampling schedule: linear frames plus log-spaced frames after each of them."""

from __future__ import annotations

import numpy as np

from meltdyn.spec.models import ProtocolSpec, SamplingSpec


def log_offsets(interval_steps: int, n_log: int) -> np.ndarray:
    """Distinct step offsets in (0, interval) spaced geometrically from 1 step."""
    if n_log == 0 or interval_steps < 2:
        return np.zeros(0, dtype=np.int64)
    raw = np.unique(np.round(np.geomspace(1, interval_steps, n_log + 1)).astype(np.int64))
    return raw[(raw > 0) & (raw < interval_steps)]


def frame_steps(sampling: SamplingSpec, timestep_ps: float, duration_ps: float) -> tuple[np.ndarray, int]:
    """Steps (counted from the start of production) at which frames are written, and the linear interval."""
    interval = max(1, round(sampling.interval_ps / timestep_ps))
    total = round(duration_ps / timestep_ps)
    if total < interval:
        raise ValueError(f"protocol.stages[production]: duration_ps={duration_ps} is shorter than "
                         f"sampling.interval_ps={sampling.interval_ps}")
    origins = np.arange(0, total + 1, interval, dtype=np.int64)
    offsets = log_offsets(interval, sampling.log_frames_per_interval)
    steps = (origins[:-1, None] + offsets[None, :]).ravel()
    return np.unique(np.concatenate([origins, steps])), interval


def protocol_cost(protocol: ProtocolSpec, n_atoms: int) -> str:
    """What a run of ``n_atoms`` under ``protocol`` will cost, as ``meltdyn validate`` prints it: MD steps and the
    simulated time, production frames, and a lower bound on the trajectory's size on disk (its positions in float64,
    velocities too where sampled, box, step and time; HDF5's chunks and metadata add to it)."""
    dt_ps = protocol.timestep_fs * 1e-3
    simulated = sum(getattr(stage, "duration_ps", 0.0) for stage in protocol.stages)
    steps = sum(round(getattr(stage, "duration_ps", 0.0) / dt_ps) for stage in protocol.stages)
    production = protocol.production
    frames = len(frame_steps(production.sampling, dt_ps, production.duration_ps)[0])
    per_frame = n_atoms * 3 * 8 * (2 if production.sampling.velocities else 1) + 9 * 8 + 2 * 8
    return (f"{steps:,} MD steps ({simulated:g} ps), {frames:,} frames, trajectory ≥ "
            f"{frames * per_frame / 1e6:.3g} MB")
