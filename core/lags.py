"""Which time lags a sampling schedule offers, and the frame pairs that realise each one."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from meltdyn.contracts import TrajectoryInfo


@dataclass(frozen=True)
class LagPlan:
    """Lags in steps, sorted: 0, the log-spaced offsets within one interval, then multiples of the interval.

    ``linear_frames`` are the evenly spaced frames (all origins, FFT-able); ``log_pairs[k]`` holds the
    (origin, frame) index arrays realising log offset ``k``; ``order`` sorts [0, log lags, linear lags].
    """

    lags_steps: np.ndarray
    linear_frames: np.ndarray
    log_pairs: list[tuple[np.ndarray, np.ndarray]]
    order: np.ndarray


def plan_lags(info: TrajectoryInfo) -> LagPlan:
    steps = np.asarray(info.steps, dtype=np.int64)
    interval = info.linear_interval_steps
    rel = steps - steps[0]
    linear = np.flatnonzero(rel % interval == 0)
    if not np.array_equal(rel[linear], np.arange(len(linear)) * interval):
        raise ValueError(f"trajectory: frames at multiples of {interval} steps are not contiguous; "
                         "a linear frame is missing")
    index_of_step = {int(s): i for i, s in enumerate(rel)}
    offsets = np.unique(rel[rel % interval != 0] % interval)
    pairs = []
    for o in offsets:
        origin = [i for i in linear if int(rel[i]) + int(o) in index_of_step]
        pairs.append((np.array(origin), np.array([index_of_step[int(rel[i]) + int(o)] for i in origin])))
    linear_lags = np.arange(1, len(linear)) * interval
    lags = np.concatenate([[0], offsets, linear_lags])
    order = np.argsort(lags, kind="stable")
    return LagPlan(lags[order], linear, pairs, order)
