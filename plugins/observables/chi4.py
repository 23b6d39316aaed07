"""The four-point dynamic susceptibility χ4(t) per species: how many particles relax together.

For each time origin, the self-overlap Q(t) = (1/N) Σᵢ wᵢ(t) of a species, with wᵢ = θ(a − |Δrᵢ(t)|) for each overlap
length a (a particle that stayed within a of where it was), and Fs(t) with wᵢ = sin(q|Δrᵢ|)/(q|Δrᵢ|) for each q (the
self-intermediate scattering function of that configuration); χ4(t) = N (⟨Q²⟩ − ⟨Q⟩²) over the origins. For
independent particles χ4 is the single-particle variance, ⟨w²⟩ − ⟨w⟩²; a peak well above it, at a time near τ_α, is
the size of the regions that relax together (Lačević et al., J. Chem. Phys. 119, 7372 (2003)).

The origins' fluctuations are those of the run's ensemble: NVE or NVT χ4 are smaller than the fluctuations at fixed
N, V, T (Berthier et al., Science 310, 1797 (2005)) and say so in their description. Errors: block bootstrap over
time origins (blocks merged until each is at least the peak time long), as for τ_α.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import numpy as np
from pydantic import Field

from meltdyn.plugin import (
    BOOTSTRAP_BLOCKS, AtomBlock, Estimate, Observable, PluginDef, PluginParams, Reported, ResultArray, Summary,
    TrajectoryInfo, bootstrap_bytes, bootstrap_replicates, coordinate, estimate_arrays, estimate_at, hookimpl,
    largest_sample, merge_blocks, origin_blocks, peak, plan_lags, resampled_peaks, sample_lags, samples_bytes, select,
    species_coordinate,
)

METHOD = "block bootstrap over time origins (blocks at least the peak time long)"
ENSEMBLE_NOTE = "over the time origins of the run's own ensemble (NVT/NVE: without the fluctuations of N, E)"


class Chi4Params(PluginParams):
    overlap_A: list[Annotated[float, Field(gt=0, le=100)]] = Field(
        [0.5, 1.0], min_length=0, max_length=20, description="Overlap lengths a of w = θ(a − |Δr|); about a third of "
        "the nearest-neighbour distance follows the cage.")
    q_per_A: list[Annotated[float, Field(gt=0, le=100)]] = Field(
        [1.7], min_length=0, max_length=20, description="Wavenumbers of w = sin(q|Δr|)/(q|Δr|), the F_s-based χ4.")
    lags_per_decade: int = Field(10, ge=1, le=100, description="Log-spaced lags per decade.")
    max_origins: int = Field(200, ge=1, le=10**6, description="Origins per lag, spread evenly over the trajectory.")


class Chi4(Observable):
    def __init__(self, params: Chi4Params):
        self.params = params

    def prepare(self, info: TrajectoryInfo) -> None:
        self.info = info
        self.samples = sample_lags(plan_lags(info), self.params.lags_per_decade, self.params.max_origins)
        self.kernels = [("overlap", a) for a in self.params.overlap_A] + [("fs", q) for q in self.params.q_per_A]
        # Per species, kernel and lag, the sum of w over the species' atoms at each origin: Q is complete only once
        # every block of atoms has added to it.
        self.sums = {s: [np.zeros((len(self.kernels), len(x.origins))) for x in self.samples] for s in info.species}
        self.counts = dict.fromkeys(info.species, 0)

    def _weights(self, r: np.ndarray) -> np.ndarray:
        """(kernels, *r.shape) w of each kernel for distances r."""
        out = np.empty((len(self.kernels), *r.shape))
        for k, (kind, x) in enumerate(self.kernels):
            out[k] = (r < x) if kind == "overlap" else np.sinc(x * r / np.pi)
        return out

    def process(self, block: AtomBlock) -> None:
        for k, sample in enumerate(self.samples):
            r = np.linalg.norm(block.displacements(sample.origins, sample.targets), axis=-1)  # (origins, atoms)
            for s in self.sums:
                m = block.mask(s)
                if m.any():
                    self.sums[s][k] += self._weights(r[:, m]).sum(axis=2)
        for s in self.counts:
            self.counts[s] += int(block.mask(s).sum())

    def memory(self) -> tuple[int, int]:
        """Held: each origin's sum of w per species, kernel and lag, the origins' blocks and the bootstrap's curves.
        Per atom, one lag at a time: its displacements (two arrays of three numbers per pair while made), their
        lengths, a species' copy and w for every kernel."""
        origins = sum(len(x.origins) for x in self.samples)
        held = (samples_bytes(self.samples) + 8 * len(self.kernels) * origins * len(self.sums) * 2
                + bootstrap_bytes(len(self.samples), 3 * len(self.kernels)))
        return held, (3 + 3 + 1 + 1 + 2 * len(self.kernels)) * largest_sample(self.samples) * 8

    def conclude(self) -> dict[str, ResultArray]:
        lag = np.array([x.lag_steps * self.info.timestep_ps for x in self.samples])
        blocks = [origin_blocks(self.info, x.origins) for x in self.samples]
        n_kernels = len(self.kernels)
        mean = np.full((len(self.sums), n_kernels, len(lag)), np.nan)
        chi = np.full_like(mean, np.nan)
        heights = np.empty((len(self.sums), n_kernels), dtype=object)
        times = np.empty_like(heights)
        for a, (s, per_lag) in enumerate(self.sums.items()):
            n = self.counts[s]
            # Per lag and time block: origins, Σ Q and Σ Q² (kernels, lags, blocks).
            origins = np.stack([np.bincount(b, minlength=BOOTSTRAP_BLOCKS) for b in blocks]).astype(float)
            m1 = np.stack([np.stack([np.bincount(b, weights=q / n, minlength=BOOTSTRAP_BLOCKS) for q in sums])
                           for b, sums in zip(blocks, per_lag)], axis=1)
            m2 = np.stack([np.stack([np.bincount(b, weights=(q / n) ** 2, minlength=BOOTSTRAP_BLOCKS) for q in sums])
                           for b, sums in zip(blocks, per_lag)], axis=1)
            for k in range(n_kernels):
                q1, q2 = m1[k].sum(axis=1) / origins.sum(axis=1), m2[k].sum(axis=1) / origins.sum(axis=1)
                mean[a, k], chi[a, k] = q1, n * (q2 - q1**2)
                heights[a, k], times[a, k] = self._peak(lag, chi[a, k], m1[k], m2[k], origins, n)
        out = {"species": species_coordinate(list(self.sums)), "lag": coordinate("lag", lag, "ps", "time lag")}
        for kind, name, unit, what in (("overlap", "a", "angstrom", "overlap length"), ("fs", "q", "1/angstrom",
                                                                                       "wavenumber")):
            which = [k for k, (kernel, _) in enumerate(self.kernels) if kernel == kind]
            if not which:
                continue
            label = "overlap" if kind == "overlap" else "fs"
            out[name] = coordinate(name, [self.kernels[k][1] for k in which], unit, what)
            dims = ("species", name)
            out[f"Q_{label}"] = ResultArray(mean[:, which], "1", (*dims, "lag"), f"mean self-{label} <Q(t)>")
            out[f"chi4_{label}"] = ResultArray(chi[:, which], "1", (*dims, "lag"),
                                               f"four-point susceptibility N(<Q^2> - <Q>^2) {ENSEMBLE_NOTE}")
            out |= estimate_arrays(f"chi4_{label}_peak_height", heights[:, which], "1", dims, "chi4 maximum")
            out |= estimate_arrays(f"chi4_{label}_peak_time", times[:, which], "ps", dims, "lag of the chi4 maximum")
        return out

    def _peak(self, lag: np.ndarray, chi: np.ndarray, m1: np.ndarray, m2: np.ndarray, origins: np.ndarray, n: int
              ) -> tuple[Estimate, Estimate]:
        """χ4's maximum with errors from resampling time blocks at least as long as the peak time."""
        if not np.isfinite(chi).any():
            none = Estimate.undefined("chi4 is not finite at any lag")
            return none, none
        scale = float(lag[int(np.nanargmax(chi))])
        m1, m2, origins = (merge_blocks(x, self.info, scale) for x in (m1, m2, origins))

        def peaks(weights: np.ndarray) -> np.ndarray:
            with np.errstate(invalid="ignore", divide="ignore"):  # a resample may miss every origin of a long lag
                counted = weights @ origins.T
                q1, q2 = (weights @ m1.T) / counted, (weights @ m2.T) / counted
                return resampled_peaks(lag, n * (q2 - q1**2))

        k = int(np.searchsorted(lag, scale))
        return peak("chi4", lag, chi, bootstrap_replicates(peaks, origins.shape[1]), int(np.count_nonzero(origins[k])),
                    METHOD)

    def summary(self, results: dict[str, ResultArray]) -> Summary:
        quantities, flags = {}, []
        for label, axis in (("overlap", "a"), ("fs", "q")):
            if f"chi4_{label}" not in results:
                continue
            quantities[f"chi4_{label}_peak_height"] = Reported(METHOD, "level")
            quantities[f"chi4_{label}_peak_time"] = Reported(METHOD)
            for s in results["species"].values.tolist():
                for x in results[axis].values.tolist():
                    time = estimate_at(results, f"chi4_{label}_peak_time", species=s, **{axis: x})
                    if not time.is_value:
                        flags.append(f"chi4 ({label}, {axis}={x:g}) of {s}: {time.note}")
        return Summary(quantities, flags)

    def plot(self, results: dict[str, ResultArray], ax: Any) -> bool:
        if "chi4_overlap" not in results and "chi4_fs" not in results:
            return False
        label, axis = ("overlap", "a") if "chi4_overlap" in results else ("fs", "q")
        for s in results["species"].values.tolist():
            for x in results[axis].values.tolist():
                ax.semilogx(results["lag"].values, select(results, f"chi4_{label}", species=s, **{axis: x}),
                            label=f"{s}, {axis}={x:g}")
        ax.set(xlabel="t (ps)", ylabel=r"$\chi_4(t)$")
        return True


def check(params: Chi4Params, study: Any) -> list[str]:
    if not params.overlap_A and not params.q_per_A:
        return ["overlap_A: empty, and q_per_A too: give at least one overlap length or wavenumber"]
    return []


def _example(workdir: Path) -> dict[str, Any]:
    return {"overlap_A": [0.3], "q_per_A": [2.0]}


@hookimpl
def meltdyn_observables() -> list[PluginDef]:
    return [PluginDef("chi4", "observable", Chi4Params, Chi4,
                      "four-point susceptibility chi4(t) from the self-overlap and from F_s, with its peak",
                      check=check, example=_example)]
