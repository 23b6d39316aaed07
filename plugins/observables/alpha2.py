"""Non-Gaussian parameter α2(t) = 3⟨r⁴⟩/(5⟨r²⟩²) − 1 per species, with its peak height and time.

Their standard errors come from a block bootstrap over time origins (blocks merged until each is at least the peak
time long), as for τα in :mod:`meltdyn.plugins.observables.isf`. A peak at the longest lag is no peak: its height and
time are lower bounds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from meltdyn.plugin import (
    BOOTSTRAP_BLOCKS, AtomBlock, Estimate, Observable, PluginDef, PluginParams, Reported, ResultArray, Summary,
    TrajectoryInfo, bootstrap_bytes, bootstrap_replicates, bootstrap_std, coordinate, estimate_arrays, estimate_at,
    hookimpl, independent_blocks, largest_sample, merge_blocks, origin_blocks, plan_lags, sample_lags, samples_bytes,
    select, species_coordinate,
)

PEAK_METHOD = "block bootstrap over time origins (blocks at least the peak time long)"


class Alpha2Params(PluginParams):
    lags_per_decade: int = Field(10, ge=1, le=100, description="Log-spaced lags per decade.")
    max_origins: int = Field(200, ge=1, le=10**6, description="Origins per lag, spread evenly over the trajectory.")


def squared_lengths(d: np.ndarray) -> np.ndarray:
    """|d|² over the last axis; a function so that the displacements are released as soon as it returns."""
    return np.einsum("...i,...i->...", d, d)


def alpha2(r2: np.ndarray, r4: np.ndarray) -> np.ndarray:
    return 3 * r4 / (5 * r2**2) - 1


def peak(lag: np.ndarray, a2: np.ndarray, replicates: np.ndarray, n_blocks: int) -> tuple[Estimate, Estimate]:
    """Height and time of the α2 maximum, with bootstrap errors from ``replicates`` (resamples, 2: each resample's
    peak height and time) over ``n_blocks`` blocks. A maximum at the longest lag is no peak: the height and time
    are lower bounds; at the shortest lag the peak may lie earlier, so the height is a lower bound and the time an
    upper bound."""
    k = int(np.nanargmax(a2))
    if k == len(lag) - 1:
        note = (f"alpha2 is largest at the longest lag ({lag[k]:g} ps): the peak lies later, so its height and time "
                "are lower bounds; run longer to see it")
        return Estimate.lower(a2[k], note), Estimate.lower(lag[k], note)
    if k == 0:
        note = (f"alpha2 is largest at the shortest lag ({lag[k]:g} ps): the peak may lie earlier, so its height is "
                "a lower bound and its time an upper bound; sample shorter lags to see it")
        return Estimate.lower(a2[k], note), Estimate.upper(lag[k], note)
    note = (f"the peak time rests on only {independent_blocks(n_blocks)} of origins: its errors are rough"
            if n_blocks < 4 else "")
    return (Estimate(float(a2[k]), bootstrap_std(replicates[:, 0], n_blocks), note=note, method=PEAK_METHOD),
            Estimate(float(lag[k]), bootstrap_std(replicates[:, 1], n_blocks), note=note, method=PEAK_METHOD))


def resampled_peaks(lag: np.ndarray, curves: np.ndarray) -> np.ndarray:
    """(height, time) of the maximum of each resampled α2 curve (resamples, lags); NaN where a curve has no
    finite value (a resample that misses every origin of every lag)."""
    finite = np.isfinite(curves)
    k = np.argmax(np.where(finite, curves, -np.inf), axis=1)
    found = finite.any(axis=1)
    return np.column_stack([np.where(found, curves[np.arange(len(k)), k], np.nan), np.where(found, lag[k], np.nan)])


class Alpha2(Observable):
    def __init__(self, params: Alpha2Params):
        self.params = params

    def prepare(self, info: TrajectoryInfo) -> None:
        self.info = info
        self.samples = sample_lags(plan_lags(info), self.params.lags_per_decade, self.params.max_origins)
        # Sums per lag and time block of origins, for the bootstrap; the (origin, atom) pairs behind a block's sums
        # are its origins times the species' atoms.
        self.blocks = [origin_blocks(info, x.origins) for x in self.samples]
        self.origins_per_block = np.stack([np.bincount(b, minlength=BOOTSTRAP_BLOCKS) for b in self.blocks])
        self.r2 = {s: np.zeros((len(self.samples), BOOTSTRAP_BLOCKS)) for s in info.species}
        self.r4 = {s: np.zeros((len(self.samples), BOOTSTRAP_BLOCKS)) for s in info.species}
        self.counts = dict.fromkeys(info.species, 0)

    def process(self, block: AtomBlock) -> None:
        for k, sample in enumerate(self.samples):
            r2 = squared_lengths(block.displacements(sample.origins, sample.targets))
            for s in self.r2:
                m = block.mask(s)
                self.r2[s][k] += np.bincount(self.blocks[k], weights=r2[:, m].sum(axis=1), minlength=BOOTSTRAP_BLOCKS)
                self.r4[s][k] += np.bincount(self.blocks[k], weights=(r2[:, m] ** 2).sum(axis=1),
                                             minlength=BOOTSTRAP_BLOCKS)
        for s in self.counts:
            self.counts[s] += int(block.mask(s).sum())

    def memory(self) -> tuple[int, int]:
        """One lag at a time: its displacements while they are made (two arrays of 3 numbers per pair), then r², a
        species' copy of it and its square, and the previous lag's r² until it is replaced. Held: the sums per lag
        and time block, each origin's block, and the bootstrap's resampled curves in conclude."""
        lags = len(self.samples)
        held = (samples_bytes(self.samples) + 8 * 2 * lags * BOOTSTRAP_BLOCKS * len(self.r2)
                + sum(b.nbytes for b in self.blocks) + self.origins_per_block.nbytes
                + bootstrap_bytes(lags, 4))
        return held, (3 + 3 + 1) * largest_sample(self.samples) * 8

    def conclude(self) -> dict[str, ResultArray]:
        lag = np.array([x.lag_steps * self.info.timestep_ps for x in self.samples])
        a2s, r2s, heights, times = [], [], [], []
        for s in self.r2:
            pairs = (self.origins_per_block * self.counts[s]).astype(float)  # (lags, blocks)
            r2, r4 = self.r2[s].sum(axis=1) / pairs.sum(axis=1), self.r4[s].sum(axis=1) / pairs.sum(axis=1)
            a2 = alpha2(r2, r4)
            height, time = self._peak(lag, a2, self.r2[s], self.r4[s], pairs)
            a2s.append(a2), r2s.append(r2), heights.append(height), times.append(time)
        return {"species": species_coordinate(list(self.r2)),
                "lag": coordinate("lag", lag, "ps", "time lag"),
                "alpha2": ResultArray(np.array(a2s), "1", ("species", "lag"), "non-Gaussian parameter"),
                "r2": ResultArray(np.array(r2s), "angstrom^2", ("species", "lag"), "<r^2> on the same lags"),
                **estimate_arrays("peak_time", times, "ps", ("species",), "lag of the alpha2 maximum"),
                **estimate_arrays("peak_height", heights, "1", ("species",), "alpha2 maximum")}

    def _peak(self, lag: np.ndarray, a2: np.ndarray, r2: np.ndarray, r4: np.ndarray, pairs: np.ndarray
              ) -> tuple[Estimate, Estimate]:
        """The peak of α2 with errors from resampling blocks at least as long as the peak time."""
        scale = float(lag[int(np.nanargmax(a2))])
        r2, r4, pairs = (merge_blocks(x, self.info, scale) for x in (r2, r4, pairs))

        def peaks(weights: np.ndarray) -> np.ndarray:
            with np.errstate(invalid="ignore", divide="ignore"):  # a resample may miss every origin of a long lag
                n = weights @ pairs.T
                return resampled_peaks(lag, alpha2((weights @ r2.T) / n, (weights @ r4.T) / n))

        k = int(np.searchsorted(lag, scale))
        return peak(lag, a2, bootstrap_replicates(peaks, pairs.shape[1]), int(np.count_nonzero(pairs[k])))

    def summary(self, results: dict[str, ResultArray]) -> Summary:
        flags = []
        for s in results["species"].values.tolist():
            time = estimate_at(results, "peak_time", species=s)
            if not time.is_value:
                flags.append(f"alpha2 of {s}: {time.note}")
        return Summary({"peak_height": Reported(PEAK_METHOD, "level"), "peak_time": Reported(PEAK_METHOD)}, flags)

    def plot(self, results: dict[str, ResultArray], ax: Any) -> bool:
        for s in results["species"].values.tolist():
            ax.semilogx(results["lag"].values, select(results, "alpha2", species=s), label=s)
        ax.set(xlabel="t (ps)", ylabel="$\\alpha_2(t)$")
        return True


def _example(workdir: Path) -> dict[str, Any]:
    return {}


@hookimpl
def meltdyn_observables() -> list[PluginDef]:
    return [PluginDef("alpha2", "observable", Alpha2Params, Alpha2,
                      "non-Gaussian parameter alpha2(t) per species with its peak time and height", example=_example)]
