"""Non-Gaussian parameters per species, with their peak heights and times: α2(t) = 3⟨r⁴⟩/(5⟨r²⟩²) − 1, which
weighs the fast particles, and Flenner and Szamel's γ(t) = ⟨r²⟩⟨1/r²⟩/3 − 1 (Phys. Rev. E 72, 011205 (2005)), which
weighs the slow ones and peaks later, near τ_α. Both are 0 for Gaussian displacements; a ballistic gas of one speed
has α2 = −2/5 and γ = −2/3. The mean of 1/r² has heavy tails (1/r⁴ is not integrable against a displacement density
that is finite at r = 0): a rare short displacement moves it, so γ's errors are rougher than α2's, and its notes say
so.

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
    TrajectoryInfo, bootstrap_bytes, bootstrap_replicates, coordinate, estimate_arrays, estimate_at, hookimpl,
    largest_sample, merge_blocks, origin_blocks, peak, plan_lags, resampled_peaks, sample_lags, samples_bytes, select,
    species_coordinate,
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


def gamma(r2: np.ndarray, inverse: np.ndarray) -> np.ndarray:
    return r2 * inverse / 3 - 1


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
        # γ's ⟨1/r²⟩ over the displacements that are not zero (an atom that did not move has none), and their count.
        self.inverse = {s: np.zeros((len(self.samples), BOOTSTRAP_BLOCKS)) for s in info.species}
        self.moved = {s: np.zeros((len(self.samples), BOOTSTRAP_BLOCKS)) for s in info.species}
        self.counts = dict.fromkeys(info.species, 0)

    def process(self, block: AtomBlock) -> None:
        for k, sample in enumerate(self.samples):
            r2 = squared_lengths(block.displacements(sample.origins, sample.targets))
            for s in self.r2:
                m = block.mask(s)
                rs = r2[:, m]
                self.r2[s][k] += np.bincount(self.blocks[k], weights=rs.sum(axis=1), minlength=BOOTSTRAP_BLOCKS)
                self.r4[s][k] += np.bincount(self.blocks[k], weights=(rs**2).sum(axis=1), minlength=BOOTSTRAP_BLOCKS)
                moved = rs > 0
                inverse = np.divide(1.0, rs, out=np.zeros_like(rs), where=moved).sum(axis=1)
                self.inverse[s][k] += np.bincount(self.blocks[k], weights=inverse, minlength=BOOTSTRAP_BLOCKS)
                self.moved[s][k] += np.bincount(self.blocks[k], weights=moved.sum(axis=1), minlength=BOOTSTRAP_BLOCKS)
        for s in self.counts:
            self.counts[s] += int(block.mask(s).sum())

    def memory(self) -> tuple[int, int]:
        """One lag at a time: its displacements while they are made (two arrays of 3 numbers per pair), then r², a
        species' copy of it, its square, its inverse and which moved, and the previous lag's r² until it is replaced.
        Held: the sums per lag and time block, each origin's block, and the bootstrap's resampled curves in
        conclude."""
        lags = len(self.samples)
        held = (samples_bytes(self.samples) + 8 * 4 * lags * BOOTSTRAP_BLOCKS * len(self.r2)
                + sum(b.nbytes for b in self.blocks) + self.origins_per_block.nbytes
                + bootstrap_bytes(lags, 4))
        return held, (3 + 3 + 1 + 3) * largest_sample(self.samples) * 8

    def conclude(self) -> dict[str, ResultArray]:
        lag = np.array([x.lag_steps * self.info.timestep_ps for x in self.samples])
        a2s, gammas, r2s, peaks = [], [], [], []
        for s in self.r2:
            pairs = (self.origins_per_block * self.counts[s]).astype(float)  # (lags, blocks)
            with np.errstate(invalid="ignore", divide="ignore"):
                r2 = self.r2[s].sum(axis=1) / pairs.sum(axis=1)
                a2 = alpha2(r2, self.r4[s].sum(axis=1) / pairs.sum(axis=1))
                g = gamma(r2, self.inverse[s].sum(axis=1) / self.moved[s].sum(axis=1))
            a2s.append(a2), gammas.append(g), r2s.append(r2)
            peaks.append(self._peak("alpha2", lag, a2, (self.r2[s], self.r4[s], pairs),
                                    lambda r2, r4, n: alpha2(r2 / n, r4 / n))
                         + self._peak("gamma", lag, g, (self.r2[s], self.inverse[s], pairs, self.moved[s]),
                                      lambda r2, inv, n, moved: gamma(r2 / n, inv / moved)))
        height, time, gamma_height, gamma_time = (list(x) for x in zip(*peaks))
        return {"species": species_coordinate(list(self.r2)),
                "lag": coordinate("lag", lag, "ps", "time lag"),
                "alpha2": ResultArray(np.array(a2s), "1", ("species", "lag"), "non-Gaussian parameter"),
                "gamma": ResultArray(np.array(gammas), "1", ("species", "lag"),
                                     "Flenner-Szamel non-Gaussian parameter <r^2><1/r^2>/3 - 1"),
                "r2": ResultArray(np.array(r2s), "angstrom^2", ("species", "lag"), "<r^2> on the same lags"),
                **estimate_arrays("peak_time", time, "ps", ("species",), "lag of the alpha2 maximum"),
                **estimate_arrays("peak_height", height, "1", ("species",), "alpha2 maximum"),
                **estimate_arrays("gamma_peak_time", gamma_time, "ps", ("species",), "lag of the gamma maximum"),
                **estimate_arrays("gamma_peak_height", gamma_height, "1", ("species",), "gamma maximum")}

    def _peak(self, name: str, lag: np.ndarray, curve: np.ndarray, sums: tuple[np.ndarray, ...],
              curve_of: Any) -> tuple[Estimate, Estimate]:
        """The peak of a curve with errors from resampling blocks at least as long as the peak time: ``sums`` are
        its per-block sums (lags, blocks), the third the pairs counted; ``curve_of`` makes the curve from their
        resampled totals."""
        if not np.isfinite(curve).any():
            none = Estimate.undefined(f"{name} is not finite at any lag")
            return none, none
        scale = float(lag[int(np.nanargmax(curve))])
        merged = [merge_blocks(x, self.info, scale) for x in sums]

        def peaks(weights: np.ndarray) -> np.ndarray:
            with np.errstate(invalid="ignore", divide="ignore"):  # a resample may miss every origin of a long lag
                return resampled_peaks(lag, curve_of(*(weights @ x.T for x in merged)))

        k = int(np.searchsorted(lag, scale))
        pairs = merged[2]  # the (origin, atom) pairs behind each block's sums: third in both curves' sums
        height, time = peak(name, lag, curve, bootstrap_replicates(peaks, pairs.shape[1]),
                            int(np.count_nonzero(pairs[k])), PEAK_METHOD)
        if name == "gamma" and height.is_value:
            caution = "<1/r^2> has heavy tails: the bootstrap error is rough"
            height, time = (Estimate(e.value, e.stderr, note="; ".join(filter(None, [e.note, caution])),
                                     method=e.method) for e in (height, time))
        return height, time

    def summary(self, results: dict[str, ResultArray]) -> Summary:
        flags = []
        for s in results["species"].values.tolist():
            for name, what in (("peak_time", "alpha2"), ("gamma_peak_time", "gamma")):
                time = estimate_at(results, name, species=s)
                if not time.is_value:
                    flags.append(f"{what} of {s}: {time.note}")
        return Summary({"peak_height": Reported(PEAK_METHOD, "level"), "peak_time": Reported(PEAK_METHOD),
                        "gamma_peak_height": Reported(PEAK_METHOD, "level"), "gamma_peak_time": Reported(PEAK_METHOD)},
                       flags)

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
