"""The production sampling schedule: linear frames plus log-spaced frames after each of them."""

from __future__ import annotations

import numpy as np

from meltdyn.spec.models import SamplingSpec


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
