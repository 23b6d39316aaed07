"""Which time lags a sampling schedule offers, and the frame pairs that realise each one."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from meltdyn.contracts import TrajectoryInfo
from meltdyn.errors import InputError


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
            raise InputError(f"lag of {lag_steps} steps is not offered by this trajectory's schedule")
        m = lag_steps // interval
        return self.linear_frames[:-m], self.linear_frames[m:]

    @property
    def nbytes(self) -> int:
        """Bytes held by an observable that keeps the plan (the log pairs are counted where they are used)."""
        return sum(a.nbytes for a in (self.lags_steps, self.linear_frames, self.log_offsets, self.order))


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
    chosen = np.unique(available[_nearest_in_log(available, np.asarray(lags_steps, dtype=float))])
    samples = []
    for lag in chosen:
        origins, targets = plan.pairs(int(lag))
        if len(origins) > max_origins:
            keep = np.unique(np.linspace(0, len(origins) - 1, max_origins).round().astype(int))
            origins, targets = origins[keep], targets[keep]
        samples.append(LagSample(int(lag), origins, targets))
    return samples


def _nearest_in_log(sorted_values: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Index of the value nearest to each wanted one on a log scale, without a (wanted × values) table: a long
    trajectory has as many lags as frames."""
    log_values = np.log(sorted_values)
    log_wanted = np.log(wanted)
    right = np.clip(np.searchsorted(log_values, log_wanted), 1, len(log_values) - 1) if len(log_values) > 1 else \
        np.zeros(len(wanted), dtype=int)
    left = np.maximum(right - 1, 0)
    return np.where(np.abs(log_values[left] - log_wanted) <= np.abs(log_values[right] - log_wanted), left, right)


def largest_sample(samples: list[LagSample]) -> int:
    """Frame pairs of the largest sample: an observable's per-atom work space scales with it."""
    return max((len(s.origins) for s in samples), default=0)


def samples_bytes(samples: list[LagSample]) -> int:
    """Bytes the samples' frame indices hold (part of an observable's memory whatever the block size)."""
    return sum(s.origins.nbytes + s.targets.nbytes for s in samples)


def plan_lags(info: TrajectoryInfo) -> LagPlan:
    steps = np.asarray(info.steps, dtype=np.int64)
    interval = info.linear_interval_steps
    rel = steps - steps[0]
    linear = np.flatnonzero(rel % interval == 0)
    if not np.array_equal(rel[linear], np.arange(len(linear)) * interval):
        raise InputError(f"trajectory: frames at multiples of {interval} steps are not contiguous; "
                         "a linear frame is missing")
    offsets = np.unique(rel[rel % interval != 0] % interval)
    pairs = []
    for o in offsets:
        # steps increase (readers refuse anything else), so a step's frame is found by bisection
        wanted = rel[linear] + o
        found = np.minimum(np.searchsorted(rel, wanted), len(rel) - 1)
        has = rel[found] == wanted
        pairs.append((linear[has], found[has]))
    linear_lags = np.arange(1, len(linear)) * interval
    lags = np.concatenate([[0], offsets, linear_lags])
    order = np.argsort(lags, kind="stable")
    return LagPlan(lags[order], linear, offsets, pairs, order)
