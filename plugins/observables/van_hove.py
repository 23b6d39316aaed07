"""Self part of the van Hove function G_s(r,t) per species, its log10 r form, and a hop analysis.

Normalisation: ∫ 4πr² G_s(r,t) dr = 1. The distribution of log10 r, P(log10 r) = ln10 · 4πr³ G_s(r,t), is where a
hopping species shows two peaks: vibration within a site, and jumps of about one site distance.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from pydantic import Field, field_validator, model_validator
from scipy.signal import find_peaks

from meltdyn import elements
from meltdyn.contracts import AtomBlock, Observable, ResultArray, StudyOutline, TrajectoryInfo
from meltdyn.hookspecs import hookimpl
from meltdyn.lags import largest_sample, plan_lags, sample_lags, samples_bytes
from meltdyn.plugin import PluginDef, PluginParams


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


def dip_between_peaks(centres: np.ndarray, density: np.ndarray) -> tuple[float, float]:
    """(dip, second peak) positions of a two-peaked distribution; NaN if it has one peak.

    Peaks are those of a lightly smoothed histogram that stand out from their surroundings by at least 10 % of its
    highest point (their prominence): counting noise on a flank makes local maxima, but not prominent ones. The
    first peak is the one at the smallest r (vibration in the cage), the second the highest beyond it, the dip the
    lowest point between them.
    """
    smooth = np.convolve(density, np.ones(5) / 5, mode="same")
    if not smooth.max() > 0:
        return float("nan"), float("nan")
    peaks, _ = find_peaks(smooth, prominence=0.1 * smooth.max())
    if len(peaks) < 2:
        return float("nan"), float("nan")
    first, second = peaks[0], peaks[1:][np.argmax(smooth[peaks[1:]])]
    dip = first + int(np.argmin(smooth[first:second + 1]))
    return float(centres[dip]), float(centres[second])


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


def hops(x: np.ndarray, r_hop: float, settle: int) -> tuple[np.ndarray, list[float]]:
    """Hops per particle and residence times (in frames) from smoothed positions (frames, atoms, 3).

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
    for t in range(1, n_frames):
        d = x[t] - site
        hopped = (busy_until < t) & (np.einsum("ai,ai->a", d, d) > r_hop**2)
        if not hopped.any():
            continue
        counts[hopped] += 1
        timed = hopped & (since >= 0)
        residence.append(t - since[timed])
        since[hopped] = t
        settled = min(t + settle, last)
        site[hopped] = x[settled, hopped]
        busy_until[hopped] = settled
    return counts, [float(r) for r in np.concatenate(residence)] if residence else []


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
            rs = r[:, block.mask(s)].ravel()
            self.hist[s][k] += np.histogram(rs, self.r_edges)[0]
            self.log_hist[s][k] += np.histogram(np.log10(np.maximum(rs, 1e-300)), self.log_edges)[0]
            self.total[s][k] += rs.size

    def memory(self) -> tuple[int, int]:
        """Held: the histograms. Per atom: one lag's displacements (and their squares, while taking the norm), a
        species' distances and their logarithms; or a hop species' linear frames and their running mean (spilled to a
        temporary file, not kept, until the hop analysis)."""
        histograms = 8 * (2 * len(self.samples) * self.params.bins + len(self.samples)) * len(self.hist)
        held = self.plan.nbytes + samples_bytes(self.samples) + histograms
        histogram = (3 + 3 + 1 + 1) * largest_sample(self.samples) * 8
        smoothing = 2 * len(self.plan.linear_frames) * 3 * 8 if self.hop_blocks else 0
        return held, max(histogram, smoothing)

    def conclude(self) -> dict[str, ResultArray]:
        p, info = self.params, self.info
        r = 0.5 * (self.r_edges[1:] + self.r_edges[:-1])
        lg = 0.5 * (self.log_edges[1:] + self.log_edges[:-1])
        dr, dlg = np.diff(self.r_edges), np.diff(self.log_edges)
        lag = np.array([x.lag_steps * info.timestep_ps for x in self.samples])
        out = {"lag": ResultArray(lag, "ps", ("lag",), "lags actually used"),
               "r": ResultArray(r, "angstrom", ("r",), "bin centres"),
               "log10_r": ResultArray(lg, "log10(angstrom)", ("log10_r",), "bin centres")}
        for s in self.hist:
            # Normalised by every displacement, those beyond r_max included, so ∫4πr²G_s dr ≤ 1 shows any loss.
            shell = self.hist[s] / self.total[s][:, None] / dr
            out[f"Gs_{s}"] = ResultArray(shell / (4 * np.pi * r**2), "1/angstrom^3", ("lag", "r"),
                                         f"self van Hove function of {s}")
            plog = self.log_hist[s] / self.total[s][:, None] / dlg
            out[f"P_log10r_{s}"] = ResultArray(plog, "1", ("lag", "log10_r"), f"distribution of log10 r for {s}")
        interval_ps = info.linear_interval_steps * info.timestep_ps
        wanted = p.hop_lag_ps if p.hop_lag_ps is not None else p.lags_ps[0]
        k_hop = int(np.argmin(np.abs(np.log(lag) - np.log(wanted))))
        if self.hop_blocks:
            out["hop_lag"] = ResultArray(np.array(lag[k_hop]), "ps", (), "lag used to find the hop peak and dip")
        for s, offsets in self.hop_blocks.items():
            plog = out[f"P_log10r_{s}"].values[k_hop]
            dip, second = dip_between_peaks(lg, plog)
            # One peak: hopping and vibration cannot be told apart at this lag, which is not "no particle hopped".
            fraction = float(np.sum(plog[lg > dip] * dlg[lg > dip])) if np.isfinite(dip) else float("nan")
            out[f"hop_peak_r_{s}"] = ResultArray(np.array(10**second), "angstrom", (),
                                                 f"second peak of P(log10 r) at hop_lag, {s}; NaN if unimodal")
            out[f"hop_threshold_r_{s}"] = ResultArray(np.array(10**dip), "angstrom", (), "dip between the peaks")
            out[f"hopping_fraction_{s}"] = ResultArray(np.array(fraction), "1", (),
                                                       f"fraction of {s} beyond the dip at hop_lag; NaN if unimodal")
            if np.isfinite(dip) and offsets:
                counts, residence = [], []
                for offset in offsets:
                    self._spill.seek(offset)
                    c, res = hops(np.load(self._spill), 10**dip, self.settle)
                    counts.append(c)
                    residence += res
                counts = np.concatenate(counts)
                out[f"hop_count_hist_{s}"] = ResultArray(np.bincount(counts).astype(float), "1", ("hops",),
                                                         f"particles of {s} by number of hops")
                out[f"residence_times_{s}"] = ResultArray(np.sort(residence) * interval_ps, "ps", ("event",),
                                                          "times between consecutive hops, sorted")
        if self._spill is not None:
            self._spill.close()
        return out

    def summary(self, results: dict[str, ResultArray]) -> dict[str, Any]:
        keys = ("hop_lag", "hop_peak_r_", "hop_threshold_r_", "hopping_fraction_")
        summary: dict[str, Any] = {k: float(v.values) for k, v in results.items() if k.startswith(keys)}
        for k, v in results.items():
            if k.startswith("residence_times_") and v.values.size:
                summary["mean_" + k] = float(v.values.mean())
        present = {k.removeprefix("Gs_") for k in results if k.startswith("Gs_")}
        flags = [f"hop_species {s}: not in this trajectory, so it has no hop analysis"
                 for s in self.params.hop_species if s not in present]
        lag = summary.get("hop_lag", float("nan"))
        for s in (s for s in self.params.hop_species if s in present):
            fraction = summary.get(f"hopping_fraction_{s}", float("nan"))
            if not np.isfinite(summary.get(f"hop_peak_r_{s}", float("nan"))):
                flags.append(f"P(log10 r) of {s} at the hop lag ({lag:g} ps) has one peak: hops cannot be told from "
                             "vibration there; try another hop_lag_ps")
            elif fraction > 0.9:
                flags.append(f"{fraction:.0%} of {s} lie beyond the dip at the hop lag ({lag:g} ps): too long a lag to "
                             "tell vibration from hops; choose a shorter hop_lag_ps")
        if flags:
            summary["flags"] = flags
        return summary

    def plot(self, results: dict[str, ResultArray], ax: Any) -> bool:
        """4πr²G_s(r,t) of the first hop species present (the bimodal one), else of the first species."""
        species = [k.removeprefix("Gs_") for k in results if k.startswith("Gs_")]
        hopping = [s for s in self.params.hop_species if s in species]
        s = (hopping or species)[0]
        r = results["r"].values
        for k, t in enumerate(results["lag"].values):
            ax.semilogx(r[1:], 4 * np.pi * r[1:] ** 2 * results[f"Gs_{s}"].values[k, 1:], label=f"t={t:g} ps")
        ax.set(xlabel="r (Å)", ylabel=f"$4\\pi r^2 G_s(r,t)$ of {s} (Å$^{{-1}}$)")
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
