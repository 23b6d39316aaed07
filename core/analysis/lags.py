"""Which time lags a sampling schedule offers, and the frame pairs that realise each one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from meltdyn.base.errors import InputError
from meltdyn.hooks.data import TrajectoryInfo


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


# -- block bootstrap over time origins ------------------------------------------------------------------------------

BOOTSTRAP_BLOCKS = 20  # at most 256: a block index is one byte
"""Time blocks of origins an observable accumulates separately, so that conclude can resample them. Blocks are merged
in conclude until each is at least as long as the time scale being estimated (see :func:`merge_blocks`)."""

BOOTSTRAP_RESAMPLES = 400
BOOTSTRAP_SEED = 20240519
"""A fixed seed: the same trajectory gives the same standard errors, streamed in any block size or atom order."""


def origin_blocks(info: TrajectoryInfo, origins: np.ndarray, n_blocks: int = BOOTSTRAP_BLOCKS) -> np.ndarray:
    """The time block (0 … n_blocks−1) of each origin frame: equal slices of the trajectory's span."""
    t = np.asarray(info.times_ps, dtype=float)
    span = t[-1] - t[0]
    # One byte per origin: observables hold these beside the origins' own (eight-byte) frame indices.
    if span <= 0:
        return np.zeros(len(origins), dtype=np.uint8)
    return np.minimum((t[origins] - t[0]) / span * n_blocks, n_blocks - 1).astype(np.uint8)


def merge_blocks(values: np.ndarray, info: TrajectoryInfo, time_scale_ps: float) -> np.ndarray:
    """Sum adjacent time blocks (last axis) until each is at least ``time_scale_ps`` long.

    Blocks shorter than the time scale of the quantity are correlated (a displacement over τ from the end of one
    block overlaps those from the start of the next), and resampling them as if independent underestimates the
    error. At least two blocks are kept so that resampling is possible at all; :func:`bootstrap_std` reports how
    many there were."""
    n = values.shape[-1]
    span = float(info.times_ps[-1] - info.times_ps[0])
    group = int(np.clip(np.ceil(time_scale_ps / (span / n)) if span > 0 and np.isfinite(time_scale_ps) else 1,
                        1, max(1, n // 2)))
    return np.add.reduceat(values, np.arange(0, n, group), axis=-1)


BOOTSTRAP_CHUNK = 50
"""Resamples drawn and evaluated at a time: what an observable's conclude holds is this many resampled curves."""


def bootstrap_replicates(statistic: Callable[[np.ndarray], np.ndarray], n_blocks: int,
                         n_resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED) -> np.ndarray:
    """``statistic`` of each bootstrap resample of ``n_blocks`` blocks, stacked along the first axis.

    ``statistic`` takes (resamples, blocks) multiplicities (each row draws ``n_blocks`` blocks with replacement)
    and returns one row per resample; it is called on :data:`BOOTSTRAP_CHUNK` rows at a time, so that the
    resampled curves behind it never all exist at once."""
    rng = np.random.default_rng(seed)
    out = []
    for start in range(0, n_resamples, BOOTSTRAP_CHUNK):
        draws = rng.integers(0, n_blocks, size=(min(BOOTSTRAP_CHUNK, n_resamples - start), n_blocks))
        weights = (draws[:, :, None] == np.arange(n_blocks)).sum(axis=1).astype(float)
        out.append(statistic(weights))
    return np.concatenate(out)


def bootstrap_bytes(n_lags: int, curves: int) -> int:
    """Bytes a conclude holds while bootstrapping ``curves`` resampled quantities per lag a chunk at a time, and
    the replicate statistics (a few per resample)."""
    return 8 * (BOOTSTRAP_CHUNK * (curves * n_lags + 2 * BOOTSTRAP_BLOCKS) + 4 * BOOTSTRAP_RESAMPLES)


def independent_blocks(n_blocks: int) -> str:
    """``"1 independent block"``, ``"3 independent blocks"``: what an error rests on, for a note."""
    return f"{n_blocks} independent block{'s' if n_blocks != 1 else ''}"


def bootstrap_std(samples: np.ndarray, n_blocks: int) -> float:
    """Standard deviation of bootstrap replicates of a statistic of ``n_blocks`` blocks, scaled by √(B/(B−1)): the
    bootstrap variance of a mean over B blocks is (B−1)/B of its unbiased estimate. NaN with fewer than two blocks
    or replicates."""
    finite = samples[np.isfinite(samples)]
    if n_blocks < 2 or len(finite) < 2:
        return float("nan")
    return float(np.std(finite, ddof=1) * np.sqrt(n_blocks / (n_blocks - 1)))
