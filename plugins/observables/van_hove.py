"""Self part of the van Hove function G_s(r,t) per species, its log10 r form, and a hop analysis.

Normalisation: ∫ 4πr² G_s(r,t) dr = 1. The distribution of log10 r, P(log10 r) = ln10 · 4πr³ G_s(r,t), is where a
hopping species shows two peaks: vibration within a site, and jumps of about one site distance. A hop population
(its fraction, hop distance, threshold, hop counts and residence times) is reported only when the dip between those
peaks is significant, by a bootstrap over the particles, against every one-peaked P(log10 r) (:func:`hop_test`).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from pydantic import Field, field_validator, model_validator
from scipy.ndimage import convolve1d
from scipy.signal import find_peaks

from meltdyn.plugin import (
    AtomBlock, Estimate, Observable, PluginDef, PluginParams, Reported, ResultArray, StudyOutline, Summary,
    TrajectoryInfo, coordinate, elements, estimate_arrays, estimate_at, hookimpl, largest_sample, plan_lags,
    sample_lags, samples_bytes, select, species_coordinate,
)


class VanHoveParams(PluginParams):
    lags_ps: list[Annotated[float, Field(gt=0, le=1e7)]] = Field(
        min_length=1, max_length=100, description="Lags at which G_s is wanted (nearest available used).")
    r_max_A: float = Field(10.0, gt=0, le=1000, description="Histogram range in r.")
    bins: int = Field(200, ge=10, le=100_000, description="Bins in r and in log10 r.")
    log10_r_min: float = Field(-2.0, ge=-10, le=3, description="Lower end of the log10 r histogram (r in Å).")
    max_origins: int = Field(200, ge=1, le=10**6, description="Origins per lag, spread evenly over the trajectory.")
    hop_species: list[str] = Field(["Na"], max_length=20, description="Species given the hop analysis.")
    hop_lag_ps: float | None = Field(None, gt=0, le=1e7, description="Lag whose P(log10 r) locates the hop peak and "
                                     "dip (G_s is given there too); default the first of lags_ps. Pick one where the "
                                     "distribution is bimodal.")
    hop_smoothing_ps: float = Field(0.2, gt=0, le=1e6, description="Running mean that removes vibrations before hops.")

    @field_validator("hop_species")
    @classmethod
    def _elements(cls, value: list[str]) -> list[str]:
        for symbol in value:
            elements.atomic_number(symbol)
        return value

    @model_validator(mode="after")
    def _range(self) -> VanHoveParams:
        if self.log10_r_min >= np.log10(self.r_max_A):
            raise ValueError(f"log10_r_min={self.log10_r_min} must lie below log10(r_max_A)")
        return self


SMOOTHING_BINS = 5
"""Bins of the running mean that locates the peaks of P(log10 r) and the dip between them."""
HOP_LEVEL = 0.01
"""Significance level of the hop test. A spurious hop population is the error that matters (it was averaged into a
report's "Na hop fraction" once), so the level is strict: a one-peaked P(log10 r) passes for two-peaked in fewer
than 1 run in 100."""
RESAMPLES = 999
"""Bootstrap resamples of the hop species' particles: p-values in steps of 0.001, and the 1 % level decided by the
ten largest of the null's statistics."""
MIN_HOP_PARTICLES = 10
"""Fewer particles than this cannot be resampled into a null distribution worth the name."""
RESAMPLE_CHUNK = 8
"""Resamples drawn at once: their weights are (chunk, particles) floats, their densities (chunk, bins)."""
HOP_SEED = 19
HOP_METHOD = f"bootstrap over particles ({RESAMPLES} resamples)"
HOP_METHODS = {"hop_p_value": "Monte Carlo error of the bootstrap p-value",
               "hopping_fraction": f"{HOP_METHOD}, the dip held where the whole sample has it",
               "hop_peak_r": f"{HOP_METHOD}, the peaks located again in each, and the bin width",
               "hop_threshold_r": f"{HOP_METHOD}, the peaks located again in each, and the bin width",
               "mean_residence_times": HOP_METHOD}
HOP_ESTIMATES = (("hop_p_value", "1", "p-value of the second peak of P(log10 r) at hop_lag against a one-peaked null"),
                 ("hopping_fraction", "1", "fraction beyond the dip at hop_lag"),
                 ("hop_peak_r", "angstrom", "second peak of P(log10 r) at hop_lag"),
                 ("hop_threshold_r", "angstrom", "dip between the peaks of P(log10 r) at hop_lag"),
                 ("mean_residence_times", "ps", "mean time between hops"))
"""The hop analysis' headline numbers: name, unit, what it is; all but the p-value undefined, for the same reason,
without a significant hop population."""


def smoothed(density: np.ndarray) -> np.ndarray:
    """Running mean over SMOOTHING_BINS bins along the last axis, zero beyond the ends. It keeps a one-peaked
    distribution one-peaked (a box is log-concave), so smoothing cannot make a second peak for the test to find."""
    return convolve1d(density, np.ones(SMOOTHING_BINS) / SMOOTHING_BINS, axis=-1, mode="constant")


def contrast(smooth: np.ndarray, sd: np.ndarray | None, first: int, dip: int, second: int) -> float:
    """How far the dip lies below the lower of its two peaks: in the density's units, or (given ``sd``, the
    smoothed density's standard deviation per bin) in units of the band half-widths that would just close it. NaN
    where nothing varies (0/0)."""
    if sd is None:
        return float(min(smooth[first], smooth[second]) - smooth[dip])
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(min((smooth[first] - smooth[dip]) / (sd[first] + sd[dip]),
                         (smooth[second] - smooth[dip]) / (sd[second] + sd[dip])))


def peak_bins(density: np.ndarray, sd: np.ndarray | None = None) -> tuple[int, int, int] | None:
    """(first peak, dip, second peak) bins of a two-peaked distribution; None if it has one peak.

    Peaks are those of a lightly smoothed histogram that stand out from their surroundings by at least 10 % of its
    highest point (their prominence): counting noise on a flank makes local maxima, but not prominent ones. Of the
    pairs of such peaks, the one whose dip (the lowest point between them) is deepest by :func:`contrast` is taken:
    a lump in the sparse tail below the vibration peak is then not mistaken for it. Prominence alone does not make a
    peak real: see :func:`hop_test`.
    """
    smooth = smoothed(density)
    if not smooth.max() > 0:
        return None
    peaks, _ = find_peaks(smooth, prominence=0.1 * smooth.max())
    best, deepest = None, -np.inf
    for a, first in enumerate(peaks[:-1]):
        for second in peaks[a + 1:]:
            dip = int(first + np.argmin(smooth[first:second + 1]))
            depth = contrast(smooth, sd, first, dip, second)
            if depth > deepest:  # NaN never is
                best, deepest = (int(first), dip, int(second)), depth
    return best


def dip_between_peaks(centres: np.ndarray, density: np.ndarray) -> tuple[float, float]:
    """(dip, second peak) positions of a two-peaked distribution (:func:`peak_bins`, by height); NaN if it has one
    peak."""
    found = peak_bins(density)
    if found is None:
        return float("nan"), float("nan")
    return float(centres[found[1]]), float(centres[found[2]])


def resample_weights(order: np.ndarray, seed: int) -> Iterator[np.ndarray]:
    """The bootstrap's resamples of the particles, as how often each is drawn: (chunk, particles) arrays, RESAMPLES
    rows in all, the same ones on every call with the same seed. The draws are made in the canonical ``order`` (the
    k-th drawn is particle order[k]) and returned in the particles' own order."""
    rng = np.random.default_rng(seed)
    n = len(order)
    for start in range(0, RESAMPLES, RESAMPLE_CHUNK):
        drawn = rng.multinomial(n, np.full(n, 1.0 / n), size=min(RESAMPLE_CHUNK, RESAMPLES - start))
        weights = np.empty(drawn.shape)
        weights[:, order] = drawn
        yield weights


def canonical_order(counts: np.ndarray) -> np.ndarray:
    """The particles sorted by their histograms (rows of ``counts``), so that resampling them does not depend on how
    the atoms are numbered: by a fixed random projection of each, one number per particle where sorting the rows
    themselves would copy them. Only identical histograms tie, and which of those comes first changes nothing."""
    return np.argsort(counts @ np.random.default_rng(HOP_SEED).random(counts.shape[1]), kind="stable")


@dataclass(frozen=True)
class HopTest:
    """The hop test of one species at the hop lag: the dip and second peak of the whole sample, how significant the
    dip is, and the spread of what it locates over the resamples."""

    dip: int
    second: int
    p_value: float
    dip_sd: float
    """Standard deviation over the resamples of the dip's bin, among those with two peaks; NaN unless significant."""
    second_sd: float
    relocated: float
    """Fraction of resamples in which two peaks were found again; 0 unless significant."""
    fraction_sd: float
    """Standard deviation over the resamples of the fraction beyond the (whole sample's) dip."""

    @property
    def significant(self) -> bool:
        return self.p_value <= HOP_LEVEL


def hop_test(counts: np.ndarray, order: np.ndarray, widths: np.ndarray, origins: int, seed: int) -> HopTest | None:
    """Whether the dip of P(log10 r) between its first and second peak is real; None if it has one peak.

    ``counts`` (particles, bins) are each particle's log10 r histogram over the same ``origins`` frame pairs,
    ``order`` their :func:`canonical_order`. The particles, not their displacements, are resampled: one particle's
    displacements from different origins are correlated, and a sample of a few tens of particles makes lumps that
    counting noise over displacements would call significant.

    The null is every one-peaked P(log10 r) at once: Brownian motion, vibration in a cage of any width, a spread of
    mobilities or a heavy tail. The resamples give a simultaneous band f ± c·s for the smoothed density f (s: its
    bootstrap standard deviation per bin; c: a quantile of max over bins of |f* − f|/s). When the band covers the
    truth, which it does with the band's confidence, a dip that lies below both peaks by more than the band's width
    there cannot belong to a one-peaked truth. The p-value is the fraction of resamples whose max deviation reaches
    the smallest c at which it does so; checking the data's own candidate peaks costs nothing, as the band holds
    for every bin at once.
    """
    n = len(counts)
    scale = 1.0 / (n * origins * widths)
    density = counts.sum(axis=0) * scale
    if peak_bins(density) is None:
        return None
    f = smoothed(density)
    sums, squares = np.zeros_like(f), np.zeros_like(f)
    for w in resample_weights(order, seed):
        deviation = smoothed(w @ counts * scale) - f
        sums += deviation.sum(axis=0)
        squares += (deviation**2).sum(axis=0)
    sd = np.sqrt(np.maximum(squares / RESAMPLES - (sums / RESAMPLES) ** 2, 0.0))
    found = peak_bins(density, sd)
    if found is None:  # every pair of peaks 0/0: nothing varies
        return None
    first, dip, second = found
    depth = contrast(f, sd, first, dip, second)
    live = sd > 0  # bins no resample changes (empty ones) bound nothing
    beyond = counts[:, dip + 1:].sum(axis=1) / origins
    exceed, fractions = 0, np.empty(RESAMPLES)
    for start, w in zip(range(0, RESAMPLES, RESAMPLE_CHUNK), resample_weights(order, seed)):
        deviation = np.abs(smoothed(w @ counts * scale) - f)[:, live] / sd[live]
        exceed += int(np.sum(deviation.max(axis=1, initial=0.0) >= depth))
        fractions[start:start + len(w)] = w @ beyond / n
    p = (1 + exceed) / (RESAMPLES + 1)
    # Where the peaks lie in each resample: only wanted (and worth its cost) when they are reported.
    located = np.full((RESAMPLES, 2), np.nan)  # (dip, second peak) bins of each resample that has two peaks
    for start, w in zip(range(0, RESAMPLES, RESAMPLE_CHUNK), resample_weights(order, seed) if p <= HOP_LEVEL else ()):
        for k, row in enumerate(w @ counts * scale):
            bins = peak_bins(row, sd)
            if bins is not None:
                located[start + k] = bins[1:]
    found_again = located[~np.isnan(located[:, 0])]
    spread = found_again.std(axis=0) if len(found_again) > 1 else (np.nan, np.nan)
    return HopTest(dip, second, float(p), float(spread[0]), float(spread[1]), len(found_again) / RESAMPLES,
                   float(np.std(fractions)))


def running_mean(x: np.ndarray, width: int) -> np.ndarray:
    """Mean over ``width`` consecutive frames of x (frames, ...), frames - width + 1 of them, overwriting x with its
    running sums: two arrays the size of x at most. The sums are taken relative to the first frame so that long
    trajectories keep their precision."""
    first = x[:1].copy()
    x -= first
    np.cumsum(x, axis=0, out=x)
    mean = x[width - 1:].copy()
    mean[1:] -= x[:-width]
    mean /= width
    mean += first
    return mean


def hops(x: np.ndarray, r_hop: float, settle: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hops per particle, residence times (in frames) and the particle each belongs to, from smoothed positions
    (frames, atoms, 3).

    A particle hops when it is farther than ``r_hop`` from the place where it last settled; its new place is
    taken ``settle`` frames later, once the running mean has moved past the jump. Residence times are counted
    only between two hops, so they are not cut short by the trajectory's ends.
    """
    n_frames, n = x.shape[:2]
    last = n_frames - 1
    counts = np.zeros(n, dtype=int)
    site = x[0].copy()
    since = np.full(n, -1)
    busy_until = np.zeros(n, dtype=int)  # no new hop is looked for while the running mean crosses the jump
    residence: list[np.ndarray] = []
    owners: list[np.ndarray] = []
    for t in range(1, n_frames):
        d = x[t] - site
        hopped = (busy_until < t) & (np.einsum("ai,ai->a", d, d) > r_hop**2)
        if not hopped.any():
            continue
        counts[hopped] += 1
        timed = hopped & (since >= 0)
        residence.append(t - since[timed])
        owners.append(np.flatnonzero(timed))
        since[hopped] = t
        settled = min(t + settle, last)
        site[hopped] = x[settled, hopped]
        busy_until[hopped] = settled
    if not residence:
        return counts, np.array([]), np.array([], dtype=int)
    return counts, np.concatenate(residence).astype(float), np.concatenate(owners)


class VanHove(Observable):
    def __init__(self, params: VanHoveParams):
        self.params = params

    def prepare(self, info: TrajectoryInfo) -> None:
        p = self.params
        self.info = info
        self.plan = plan_lags(info)
        # The hop lag is sampled too: snapping it to the nearest of lags_ps would analyse hops at a lag not asked for.
        hop_lag = [] if p.hop_lag_ps is None else [p.hop_lag_ps]
        wanted = np.array(p.lags_ps + hop_lag) / info.timestep_ps
        self.samples = sample_lags(self.plan, 1, p.max_origins, lags_steps=wanted)
        lag_steps = np.array([x.lag_steps for x in self.samples])
        hop_steps = (p.hop_lag_ps if p.hop_lag_ps is not None else p.lags_ps[0]) / info.timestep_ps
        self.k_hop = int(np.argmin(np.abs(np.log(lag_steps) - np.log(hop_steps))))
        self.r_edges = np.linspace(0.0, p.r_max_A, p.bins + 1)
        self.log_edges = np.linspace(p.log10_r_min, np.log10(p.r_max_A), p.bins + 1)
        shape = (len(self.samples), p.bins)
        self.hist = {s: np.zeros(shape) for s in info.species}
        self.log_hist = {s: np.zeros(shape) for s in info.species}
        self.total = {s: np.zeros(len(self.samples)) for s in info.species}
        interval_ps = info.linear_interval_steps * info.timestep_ps
        self.settle = max(1, min(round(p.hop_smoothing_ps / interval_ps), len(self.plan.linear_frames)))
        # Byte offsets in the spill file of each block's smoothed hop-species positions.
        self.hop_blocks: dict[str, list[int]] = {s: [] for s in p.hop_species if s in info.species}
        # Each hop-species atom's log10 r histogram at the hop lag, in the order streamed: the hop test resamples
        # atoms. Filled row by row, so that no block's histograms are held twice.
        self.atom_hist = {s: np.zeros((info.symbols.count(s), p.bins)) for s in self.hop_blocks}
        self.atom_rows = dict.fromkeys(self.hop_blocks, 0)
        self._spill: Any = None  # made by the first block that has hop-species atoms

    def process(self, block: AtomBlock) -> None:
        for k, sample in enumerate(self.samples):
            self._histogram(k, np.linalg.norm(block.displacements(sample.origins, sample.targets), axis=-1), block)
        for s in self.hop_blocks:
            atoms = np.flatnonzero(block.mask(s))
            if len(atoms):
                if self._spill is None:
                    self._spill = tempfile.TemporaryFile(prefix="meltdyn-hops-")
                self.hop_blocks[s].append(self._spill.tell())
                np.save(self._spill, running_mean(block.positions_A[np.ix_(self.plan.linear_frames, atoms)],
                                                  self.settle))

    def _histogram(self, k: int, r: np.ndarray, block: AtomBlock) -> None:
        # A method of its own so that one lag's distances are released before the next lag's are made.
        for s in self.hist:
            rs = r[:, block.mask(s)]
            log_r = np.log10(np.maximum(rs, 1e-300))
            self.hist[s][k] += np.histogram(rs, self.r_edges)[0]
            self.log_hist[s][k] += np.histogram(log_r, self.log_edges)[0]
            self.total[s][k] += rs.size
            if k == self.k_hop and s in self.atom_hist and rs.shape[1]:
                row = self.atom_rows[s]
                self.atom_hist[s][row:row + rs.shape[1]] = self._atom_histograms(log_r)
                self.atom_rows[s] += rs.shape[1]

    def _atom_histograms(self, log_r: np.ndarray) -> np.ndarray:
        """(atoms, bins) histograms of log_r (pairs, atoms), binned as np.histogram bins: each bin half-open but
        the last, which holds its right edge."""
        edges, bins = self.log_edges, self.params.bins
        index = np.searchsorted(edges, log_r, side="right") - 1
        index[log_r == edges[-1]] = bins - 1
        inside = (index >= 0) & (index < bins)
        cell = np.arange(log_r.shape[1]) * bins + index
        return np.bincount(cell[inside], minlength=log_r.shape[1] * bins).reshape(-1, bins)

    def memory(self) -> tuple[int, int]:
        """Held: the histograms, and each hop-species atom's histogram at the hop lag; the hop test's work at the
        end (a few numbers per atom, a chunk of resample weights and densities, a number per resample) is counted
        here too. Per atom: one lag's displacements (and their squares, while taking the norm), a species' distances,
        their logarithms and bin indices, and its own histogram; or a hop species' linear frames and their running
        mean (spilled to a temporary file, not kept, until the hop analysis)."""
        bins = self.params.bins
        histograms = 8 * (2 * len(self.samples) * bins + len(self.samples)) * len(self.hist)
        hop_atoms = [self.info.symbols.count(s) for s in self.hop_blocks]
        per_atom_histograms = 8 * bins * sum(hop_atoms)
        test = 8 * ((3 + 2 * RESAMPLE_CHUNK) * max(hop_atoms) + 6 * RESAMPLE_CHUNK * bins + 4 * RESAMPLES
                    + 4 * bins) if hop_atoms else 0
        held = self.plan.nbytes + samples_bytes(self.samples) + histograms + per_atom_histograms + test
        histogram = (3 + 3 + 1 + 1 + 3) * largest_sample(self.samples) * 8 + (8 * bins if hop_atoms else 0)
        smoothing = 2 * len(self.plan.linear_frames) * 3 * 8 if self.hop_blocks else 0
        return held, max(histogram, smoothing)

    def conclude(self) -> dict[str, ResultArray]:
        info = self.info
        r = 0.5 * (self.r_edges[1:] + self.r_edges[:-1])
        lg = 0.5 * (self.log_edges[1:] + self.log_edges[:-1])
        dr, dlg = np.diff(self.r_edges), np.diff(self.log_edges)
        lag = np.array([x.lag_steps * info.timestep_ps for x in self.samples])
        # Normalised by every displacement, those beyond r_max included, so ∫4πr²G_s dr ≤ 1 shows any loss.
        shell = np.array([self.hist[s] / self.total[s][:, None] / dr for s in self.hist])
        plog = np.array([self.log_hist[s] / self.total[s][:, None] / dlg for s in self.hist])
        out = {"species": species_coordinate(list(self.hist)),
               "lag": coordinate("lag", lag, "ps", "lags actually used"),
               "r": coordinate("r", r, "angstrom", "bin centres"),
               "log10_r": coordinate("log10_r", lg, "log10(angstrom)", "bin centres"),
               "Gs": ResultArray(shell / (4 * np.pi * r**2), "1/angstrom^3", ("species", "lag", "r"),
                                 "self van Hove function"),
               "P_log10r": ResultArray(plog, "1", ("species", "lag", "log10_r"), "distribution of log10 r")}
        if self.hop_blocks:
            out |= self._hops(lg, float(lag[self.k_hop]))
        if self._spill is not None:
            self._spill.close()
        return out

    def _hops(self, lg: np.ndarray, lag_ps: float) -> dict[str, ResultArray]:
        """The hop analysis of every hop species, over the ``hop_species`` axis; a species without a significant hop
        population has its estimates undefined and NaN for its hop counts and residence times."""
        found = [self._hop_analysis(s, lg, lag_ps) for s in self.hop_blocks]
        out = {"hop_species": coordinate("hop_species", list(self.hop_blocks), "", "species given the hop analysis"),
               "hop_lag": ResultArray(np.array(lag_ps), "ps", (), "lag used to find the hop peak and dip")}
        for name, unit, text in HOP_ESTIMATES:
            out |= estimate_arrays(name, [estimates[name] for estimates, _, _ in found], unit, ("hop_species",), text)

        width = max((len(h) for _, h, _ in found if h is not None), default=0)
        hist = np.full((len(found), width), np.nan)
        for k, (_, h, _) in enumerate(found):
            if h is not None:
                hist[k] = np.pad(h, (0, width - len(h)))
        out["hop_count_hist"] = ResultArray(hist, "1", ("hop_species", "hops"),
                                            "particles by number of hops (NaN: no hop population)")
        events = max((len(t) for _, _, t in found if t is not None), default=0)
        times = np.full((len(found), events), np.nan)
        for k, (_, _, t) in enumerate(found):
            if t is not None:
                times[k, :len(t)] = t
        out["residence_times"] = ResultArray(times, "ps", ("hop_species", "event"),
                                             "times between consecutive hops, sorted (NaN past the last)")
        return out

    def _hop_analysis(self, s: str, lg: np.ndarray, lag_ps: float
                      ) -> tuple[dict[str, Estimate], np.ndarray | None, np.ndarray | None]:
        """The hop test of species s at the hop lag and, when it finds a hop population, the hops themselves: the
        estimates by name, the histogram of hops per particle and the residence times (None without hops)."""
        counts = self.atom_hist[s]
        order = canonical_order(counts)
        n, origins = len(counts), len(self.samples[self.k_hop].origins)
        width = float(lg[1] - lg[0])
        seed = HOP_SEED + elements.atomic_number(s)
        where = f"P(log10 r) of {s} at {lag_ps:g} ps"
        test = hop_test(counts, order, np.full(len(lg), width), origins, seed) if n >= MIN_HOP_PARTICLES else None
        if n < MIN_HOP_PARTICLES:
            why = (f"{where}: {n} {s} atoms are too few (fewer than {MIN_HOP_PARTICLES}) to test a second peak by "
                   "resampling them; hops cannot be told from vibration")
        elif test is None:
            why = f"{where} has one peak: hops cannot be told from vibration there"
        elif not test.significant:
            why = (f"{where}: no second peak significant against a one-peaked null (p = {test.p_value:.2g}, level "
                   f"{HOP_LEVEL:g}; candidate dip {10**lg[test.dip]:.2f} Å, second peak {10**lg[test.second]:.2f} "
                   f"Å, over {n} {s} atoms); hops cannot be told from vibration")
        if test is None:
            p_value = Estimate.undefined(why)
        else:
            verdict = f"one-peaked null rejected at level {HOP_LEVEL:g}" if test.significant else why
            p_value = Estimate(test.p_value, float(np.sqrt(test.p_value * (1 - test.p_value) / RESAMPLES)),
                               note=verdict, method=HOP_METHODS["hop_p_value"])
        if test is None or not test.significant:
            none = Estimate.undefined(why)
            return {"hop_p_value": p_value, **{name: none for name, _, _ in HOP_ESTIMATES[1:]}}, None, None
        relocated = (f"two peaks found again in {test.relocated:.0%} of {RESAMPLES} resamples of the {n} {s} atoms; "
                     f"one-peaked null rejected, p = {test.p_value:.2g}")

        def position(bin_: int, sd_bins: float) -> Estimate:
            # The spread over resamples and the bin's own width (uniform within it) add up in quadrature.
            r_at = float(10 ** lg[bin_])
            return Estimate(r_at, r_at * np.log(10) * width * float(np.sqrt(sd_bins**2 + 1 / 12)), note=relocated,
                            method=HOP_METHODS["hop_peak_r"])

        fraction = float(counts[:, test.dip + 1:].sum() / (n * origins))
        caution = (f"{fraction:.0%} of {s} lie beyond the dip at the hop lag ({lag_ps:g} ps): too long a lag to tell "
                   "vibration from hops; choose a shorter hop_lag_ps" if fraction > 0.9 else relocated)
        hist, times, mean = self._residence(s, float(10 ** lg[test.dip]), order, seed)
        return {"hop_p_value": p_value,
                "hopping_fraction": Estimate(fraction, test.fraction_sd, note=caution,
                                             method=HOP_METHODS["hopping_fraction"]),
                "hop_peak_r": position(test.second, test.second_sd),
                "hop_threshold_r": position(test.dip, test.dip_sd),
                "mean_residence_times": mean}, hist, times

    def _residence(self, s: str, threshold: float, order: np.ndarray, seed: int
                   ) -> tuple[np.ndarray, np.ndarray, Estimate]:
        """Hops of species s past ``threshold`` in its spilled, smoothed positions: the particles by number of hops,
        the sorted times between hops, and their mean with its error from the same resamples of the atoms (drawn in
        the hop test's ``order``)."""
        interval_ps = self.info.linear_interval_steps * self.info.timestep_ps
        counts, residence, owners, start = [], [], [], 0
        for offset in self.hop_blocks[s]:
            self._spill.seek(offset)
            c, res, owner = hops(np.load(self._spill), threshold, self.settle)
            counts.append(c)
            residence.append(res * interval_ps)
            owners.append(owner + start)
            start += len(c)
        times, owner = np.concatenate(residence), np.concatenate(owners)
        if not len(times):
            mean = Estimate.undefined(f"no {s} atom hopped twice within the run, so no time between hops was seen")
        else:
            sums = np.bincount(owner, weights=times, minlength=len(order))
            events = np.bincount(owner, minlength=len(order)).astype(float)
            means = []
            for w in resample_weights(order, seed):
                seen = w @ events
                means.append((w @ sums)[seen > 0] / seen[seen > 0])
            mean = Estimate(float(times.mean()), float(np.std(np.concatenate(means))),
                            note=f"{len(times)} times between hops of {int(np.sum(events > 0))} {s} atoms",
                            method=HOP_METHODS["mean_residence_times"])
        return np.bincount(np.concatenate(counts)).astype(float), np.sort(times), mean

    def summary(self, results: dict[str, ResultArray]) -> Summary:
        present = results["species"].values.tolist()
        flags = [f"hop_species {s}: not in this trajectory, so it has no hop analysis"
                 for s in self.params.hop_species if s not in present]
        if "hop_species" not in results:
            return Summary({}, flags)
        for s in results["hop_species"].values.tolist():
            fraction = estimate_at(results, "hopping_fraction", hop_species=s)
            if not fraction.is_value:
                flags.append(f"{fraction.note}; try another hop_lag_ps")
            elif fraction.value > 0.9:
                flags.append(fraction.note)
        return Summary({name: Reported(HOP_METHODS[name]) for name, _, _ in HOP_ESTIMATES}, flags)

    def plot(self, results: dict[str, ResultArray], ax: Any) -> bool:
        """P(log10 r, t) of the first hop species present, else of the first species: on a log-r axis the natural
        density (a linear-r histogram there would be distorted), where hops show as a second peak; the hop
        threshold, where the analysis found one, dashed."""
        species = results["species"].values.tolist()
        hopping = [s for s in self.params.hop_species if s in species]
        s = (hopping or species)[0]
        r = 10.0 ** results["log10_r"].values
        density = select(results, "P_log10r", species=s)
        for k, t in enumerate(results["lag"].values):
            ax.semilogx(r, density[k], label=f"t={t:g} ps")
        if s in hopping and str(select(results, "hop_threshold_r_kind", hop_species=s)) == "value":
            ax.axvline(float(select(results, "hop_threshold_r", hop_species=s)), color="grey", ls="--", lw=0.8,
                       label="hop threshold")
        ax.set(xlabel="r (Å)", ylabel=f"$P(\\log_{{10}} r, t)$ of {s}")
        return True


def check(params: VanHoveParams, study: StudyOutline) -> list[str]:
    problems = []
    absent = [s for s in params.hop_species if s not in study.species]
    if absent:
        problems.append(f"hop_species: {absent} are not among this study's species {study.species}; name some of "
                        "them, or [] for no hop analysis")
    duration = study.spec.protocol.production.duration_ps
    if max(params.lags_ps) > duration:
        problems.append(f"lags_ps: {[x for x in params.lags_ps if x > duration]} ps are longer than the production "
                        f"({duration} ps)")
    if params.hop_lag_ps is not None and params.hop_lag_ps > duration:
        problems.append(f"hop_lag_ps: {params.hop_lag_ps} ps is longer than the production ({duration} ps)")
    return problems


def _example(workdir: Path) -> dict[str, Any]:
    return {"lags_ps": [0.05, 0.2], "r_max_A": 6.0, "hop_lag_ps": 0.2, "hop_smoothing_ps": 0.04}


@hookimpl
def meltdyn_observables() -> list[PluginDef]:
    return [PluginDef("van_hove", "observable", VanHoveParams, VanHove,
                      "self van Hove G_s(r,t), P(log10 r) and sodium hop analysis per species", check=check,
                      example=_example)]
