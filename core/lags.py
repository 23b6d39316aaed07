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
    log_offsets: np.ndarray
    log_pairs: list[tuple[np.ndarray, np.ndarray]]
    order: np.ndarray

    def pairs(self, lag_steps: int) -> tuple[np.ndarray, np.ndarray]:
        """(origin, frame) index arrays of every frame pair separated by ``lag_steps``."""
        k = np.searchsorted(self.log_offsets, lag_steps)
        if k < len(self.log_offsets) and self.log_offsets[k] == lag_steps:
            return self.log_pairs[k]
        interval = int(self.lags_steps[len(self.log_offsets) + 1]) if len(self.linear_frames) > 1 else 0
        if interval == 0 or lag_steps % interval:
            raise ValueError(f"lag of {lag_steps} steps is not offered by this trajectory's schedule")
        m = lag_steps // interval
        return self.linear_frames[:-m], self.linear_frames[m:]


@dataclass(frozen=True)
class LagSample:
    """One lag and the (capped, evenly spread) frame pairs used to estimate quantities at it."""

    lag_steps: int
    origins: np.ndarray
    targets: np.ndarray


def sample_lags(plan: LagPlan, per_decade: int, max_origins: int, lags_steps: np.ndarray | None = None
                ) -> list[LagSample]:
    """Log-spaced lags (``per_decade`` per decade, or the given ones), each with at most ``max_origins`` origins."""
    available = plan.lags_steps[plan.lags_steps > 0]
    if lags_steps is None:
        decades = np.log10(available[-1] / available[0]) if len(available) > 1 else 0.0
        wanted = np.geomspace(available[0], available[-1], max(2, int(np.ceil(decades * per_decade)) + 1))
        lags_steps = wanted
    chosen = np.unique(available[np.abs(np.log(available)[None, :] - np.log(lags_steps)[:, None]).argmin(axis=1)])
    samples = []
    for lag in chosen:
        origins, targets = plan.pairs(int(lag))
        if len(origins) > max_origins:
            keep = np.unique(np.linspace(0, len(origins) - 1, max_origins).round().astype(int))
            origins, targets = origins[keep], targets[keep]
        samples.append(LagSample(int(lag), origins, targets))
    return samples

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
    return LagPlan(lags[order], linear, offsets, pairs, order)
