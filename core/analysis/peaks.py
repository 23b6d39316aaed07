"""The maximum of a curve over lags (α2, γ, χ4) as estimates: its height and time with bootstrap errors, or the
bounds a curve still rising at the longest lag (or largest at the shortest) gives."""

from __future__ import annotations

import numpy as np

from meltdyn.analysis.estimates import Estimate
from meltdyn.analysis.lags import bootstrap_std, independent_blocks


def peak(name: str, lag: np.ndarray, curve: np.ndarray, replicates: np.ndarray, n_blocks: int, method: str
         ) -> tuple[Estimate, Estimate]:
    """Height and time of the maximum of ``curve`` (named ``name`` in notes), with bootstrap errors from
    ``replicates`` (resamples, 2: each resample's peak height and time) over ``n_blocks`` blocks. A maximum at the
    longest lag is no peak: the height and time are lower bounds; at the shortest lag the peak may lie earlier, so
    the height is a lower bound and the time an upper bound."""
    k = int(np.nanargmax(curve))
    if k == len(lag) - 1:
        note = (f"{name} is largest at the longest lag ({lag[k]:g} ps): the peak lies later, so its height and time "
                "are lower bounds; run longer to see it")
        return Estimate.lower(curve[k], note), Estimate.lower(lag[k], note)
    if k == 0:
        note = (f"{name} is largest at the shortest lag ({lag[k]:g} ps): the peak may lie earlier, so its height is "
                "a lower bound and its time an upper bound; sample shorter lags to see it")
        return Estimate.lower(curve[k], note), Estimate.upper(lag[k], note)
    note = (f"the peak time rests on only {independent_blocks(n_blocks)} of origins: its errors are rough"
            if n_blocks < 4 else "")
    # The peak lies somewhere between the sampled lags around it: their spacing adds (uniformly) to its error.
    resolution = (lag[k + 1] - lag[k - 1]) / 2 / np.sqrt(12)
    spread = bootstrap_std(replicates[:, 1], n_blocks)
    return (Estimate(float(curve[k]), bootstrap_std(replicates[:, 0], n_blocks), note=note, method=method),
            Estimate(float(lag[k]), float(np.hypot(spread, resolution)) if np.isfinite(spread) else float("nan"),
                     note=note, method=f"{method}, and the spacing of the lags"))


def resampled_peaks(lag: np.ndarray, curves: np.ndarray) -> np.ndarray:
    """(height, time) of the maximum of each resampled curve (resamples, lags); NaN where a curve has no finite
    value (a resample that misses every origin of every lag)."""
    finite = np.isfinite(curves)
    k = np.argmax(np.where(finite, curves, -np.inf), axis=1)
    found = finite.any(axis=1)
    return np.column_stack([np.where(found, curves[np.arange(len(k)), k], np.nan), np.where(found, lag[k], np.nan)])


__all__ = ["peak", "resampled_peaks"]
