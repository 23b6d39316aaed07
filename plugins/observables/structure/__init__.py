"""The melt's pair structure: partial g(r), running coordination, first shells, Faber–Ziman S(q) and T(r).

Whole frames, spread evenly over the trajectory (``max_frames``), each binned with its own cell's minimum image.
Pair counts and the ideal-gas expectation (pairs per volume) are sums over frames kept per block of the trajectory
(ten consecutive stretches), so instances merge by adding them and every number has a block-average error: the
scatter of the ten blocks' values over √10, right when a block is longer than the structure's memory (τ_α). When
the atoms moved less than a neighbour distance between the first and last frames used (a glass, a run shorter
than τ_α) the frames are one configuration, and every error says that it is scatter in time only
(:mod:`meltdyn.analysis.relaxation`).

- g_ab(r) = counts / (Σ_frames pairs_ab / V · 4πr²dr); coordination n_ab(r): b atoms within r of an a atom.
- First shell of each pair: the first maximum of g (smoothed over three bins), the first minimum after it, and the
  coordination number there; from the total and, for the error, from each block at the same rule.
- S(q): Faber–Ziman partials S_ab(q) = 1 + 4πρ ∫ r²(g_ab − 1) sin(qr)/(qr) W(r) dr up to r_max, W the Lorch
  function (or none), and the neutron and X-ray totals S(q) = 1 + Σ c_a c_b w_a w_b (S_ab − 1) / (Σ c_a w_a)² with
  the weights of :mod:`.scattering`. Below q = 2π/r_max a box of this size cannot resolve S(q): the peak search
  starts there and the summary says so.
- T(r) = 4πρ r Σ c_a c_b b_a b_b g_ab(r), the total correlation function neutron data are compared with (Keen,
  J. Appl. Cryst. 34 (2001) 172).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field
from scipy.signal import find_peaks

from meltdyn.plugin import (
    PAIR_BACKEND, EndFrames, Estimate, FrameBatch, FrameObservable, InputError, PluginDef, PluginParams, Reported,
    ResultArray, StudyOutline, Summary, TrajectoryInfo, annotate, coordinate, estimate_arrays, frozen_note, hookimpl,
    min_width_A, pair_histogram, pair_histogram_bytes, pairs_bytes, select, species_coordinate,
)
from meltdyn.plugins.observables.structure import scattering

PEAK_PROMINENCE = 0.02
"""How far the first S(q) peak must rise above the minima on either side (S is 1 for an ideal gas)."""
BLOCKS = 10
"""Consecutive stretches of the trajectory whose values' scatter gives the errors."""
DEFAULT_R_MAX_A = 12.0
BLOCK_METHOD = f"scatter of {BLOCKS} consecutive blocks of frames / sqrt({BLOCKS})"
RADIATIONS = ("neutron", "xray")


class StructureParams(PluginParams):
    r_max_A: float | None = Field(None, gt=0, le=100, description=f"Largest distance binned; default the smaller of "
                                  f"{DEFAULT_R_MAX_A} Å and half the cell's smallest width (the most it may be).")
    bins: int = Field(240, ge=10, le=100_000, description="Distance bins between 0 and r_max_A.")
    max_frames: int = Field(200, ge=1, le=10**6, description="Frames used, spread evenly over the trajectory.")
    q_max_per_A: float = Field(20.0, gt=0, le=100, description="S(q) is given from q_max/q_bins up to this.")
    q_bins: int = Field(400, ge=10, le=100_000, description="Wavenumbers of S(q).")
    window: Literal["lorch", "none"] = Field("lorch", description="Window of the g(r) → S(q) transform: Lorch "
                                             "damps the ripples truncation at r_max makes; none is the bare sum.")


def smooth(y: np.ndarray) -> np.ndarray:
    """A three-bin running mean along the last axis, ends kept."""
    out = y.copy()
    out[..., 1:-1] = (y[..., :-2] + y[..., 1:-1] + y[..., 2:]) / 3
    return out


SIGNIFICANCE = 2.0
"""A fall from the first peak, or a rise from the first minimum, counts when it exceeds this many standard errors of
the difference: smaller wiggles are the noise of a few atoms' pair counts, not a shell."""


def first_shell(r: np.ndarray, g: np.ndarray, stderr: np.ndarray | None = None) -> tuple[int, int] | None:
    """Bins of the first maximum of g (above 1) and of the first minimum after it, from g smoothed over three bins;
    None when g has no peak above 1 or no minimum after it within the range.

    With ``stderr`` (g's standard error per bin) an extremum is taken only when g then moves away from it by more
    than :data:`SIGNIFICANCE` standard errors of the difference: the peak is the highest point before g falls that
    far, the minimum the lowest before it rises that far again. Without it every wiggle counts. In a small sample
    (tens of atoms) g is noisy enough for the first wiggle above 1 to pass for a peak a few hundredths of an Å before
    the next wiggle, and the coordination counted there to be a fraction of the shell's."""
    s = smooth(g)
    # the smoothed curve's error: the mean of three bins whose counting noise is independent
    e = np.zeros_like(s) if stderr is None else np.nan_to_num(smooth(stderr), nan=0.0, posinf=np.inf) / np.sqrt(3)
    above = np.flatnonzero(s > 1.0)
    if not len(above):
        return None
    peak, low = int(above[0]), None
    for k in range(peak + 1, len(s)):
        if low is None:
            if s[k] >= s[peak]:  # on a plateau, its last bin (as a strict fall after it defines the peak)
                peak = k
            elif s[peak] - s[k] > SIGNIFICANCE * np.hypot(e[peak], e[k]):
                low = k
        elif s[k] <= s[low]:
            low = k
        elif s[k] - s[low] > SIGNIFICANCE * np.hypot(e[low], e[k]):
            return peak, low
    return None


class Structure(FrameObservable):
    def __init__(self, params: StructureParams):
        self.params = params

    def prepare(self, info: TrajectoryInfo) -> None:
        p = self.params
        half = min_width_A(info.cell_A) / 2
        if p.r_max_A is not None and p.r_max_A > half:
            raise InputError(f"r_max_A: {p.r_max_A:g} Å is more than half the cell's smallest width ({half:.3f} Å), "
                             "where the minimum image is no longer unique")
        self.r_max = float(p.r_max_A if p.r_max_A is not None else min(DEFAULT_R_MAX_A, half))
        self.edges = np.linspace(0.0, self.r_max, p.bins + 1)
        self.species = info.species
        self.types = np.array([self.species.index(s) for s in info.symbols])
        self.counts_of = np.bincount(self.types, minlength=len(self.species)).astype(float)
        n_frames = len(info.steps)
        chosen = np.unique(np.linspace(0, n_frames - 1, min(n_frames, p.max_frames)).round().astype(int))
        self.block_of = dict(zip(chosen.tolist(), (np.arange(len(chosen)) * BLOCKS // len(chosen)).tolist()))
        s = len(self.species)
        self.counts = np.zeros((BLOCKS, s, s, p.bins))  # unordered pairs, a <= b
        self.ideal = np.zeros((BLOCKS, s, s))  # Σ over frames of pairs_ab / V
        self.density = np.zeros(BLOCKS)  # Σ over frames of N / V
        self.frames = np.zeros(BLOCKS)
        na = self.counts_of
        self.pairs_per_frame = np.where(np.eye(s, dtype=bool), na[:, None] * (na - 1) / 2, na[:, None] * na[None, :])
        self.density_guess = len(info.symbols) / abs(np.linalg.det(info.cell_A))
        self.ends = EndFrames()

    def memory(self) -> tuple[int, int]:
        """Held: the block sums, and one frame's work (frames are binned one at a time, so nothing grows with the
        batch): the pair histogram's (:func:`~meltdyn.analysis.pair_histogram.pair_histogram_bytes`, or the pairs
        themselves where numba is missing), and the histograms made from it."""
        s, bins = len(self.species), self.params.bins
        if PAIR_BACKEND == "numba":
            work = pair_histogram_bytes(len(self.types), s, bins)
        else:  # the pairs within r_max, their species and histogram indices
            pairs = len(self.types) * 4 / 3 * np.pi * self.r_max**3 * self.density_guess / 2
            work = pairs_bytes(len(self.types), self.r_max, self.density_guess) + int(1.5 * pairs) * 8 * 6
        held = self.counts.nbytes * 3 + self.ideal.nbytes + EndFrames.nbytes(len(self.types))
        return held + work + 3 * 8 * s * s * bins, 0

    def process(self, frames: FrameBatch) -> None:
        s, bins = len(self.species), self.params.bins
        for k, frame in enumerate(frames.frames.tolist()):
            block = self.block_of.get(frame)
            if block is None:
                continue
            cell = frames.cell_A[k]
            volume = abs(float(np.linalg.det(cell)))
            try:
                counts = pair_histogram(frames.unwrapped_A[k], cell, self.types, s, self.r_max, bins)
            except ValueError as exc:
                raise InputError(f"r_max_A: frame {frame}: {exc}") from None
            # Unordered species pairs a <= b: the [b, a] counts of unlike pairs join [a, b].
            self.counts[block] += np.triu(np.ones((s, s)))[..., None] * counts + \
                np.triu(np.ones((s, s)), 1)[..., None] * np.transpose(counts, (1, 0, 2))
            self.ideal[block] += self.pairs_per_frame / volume
            self.density[block] += len(self.types) / volume
            self.frames[block] += 1
            self.ends.see(frame, frames.unwrapped_A[k])

    def merge(self, other: Structure) -> None:
        for name in ("counts", "ideal", "density", "frames"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.ends.merge(other.ends)

    # -- conclusions ----------------------------------------------------------------------------------------------

    def _g(self, counts: np.ndarray, ideal: np.ndarray) -> np.ndarray:
        """Symmetric g (species, species, bins) from unordered counts and ideal sums (one block's, or the total)."""
        shells = 4 / 3 * np.pi * np.diff(self.edges**3)
        upper = np.divide(counts, ideal[..., None] * shells, out=np.zeros_like(counts), where=ideal[..., None] > 0)
        g = np.triu(np.ones(upper.shape[:2]))[..., None] * upper
        return g + np.transpose(np.triu(np.ones(upper.shape[:2]), 1)[..., None] * upper, (1, 0, 2))

    def _coordination(self, counts: np.ndarray, frames: float) -> np.ndarray:
        """n_ab(r) (center a, neighbour b, bins): b atoms within the bin's upper edge of an a atom, on average."""
        cumulative = np.cumsum(counts, axis=-1)
        s = len(self.species)
        out = np.zeros_like(cumulative)
        for a in range(s):
            for b in range(s):
                lo, hi = min(a, b), max(a, b)
                pairs = cumulative[lo, hi] * (2 if a == b else 1)
                out[a, b] = pairs / (frames * self.counts_of[a]) if frames and self.counts_of[a] else np.nan
        return out

    def _sq_partials(self, g: np.ndarray, density: float, q: np.ndarray) -> np.ndarray:
        """Faber–Ziman S_ab(q) (species, species, q) from g up to r_max."""
        r = 0.5 * (self.edges[1:] + self.edges[:-1])
        dr = np.diff(self.edges)
        window = np.sinc(r / self.r_max) if self.params.window == "lorch" else np.ones_like(r)
        kernel = np.sinc(np.outer(q, r) / np.pi) * (r**2 * window * dr)[None, :]  # (q, bins)
        return 1 + 4 * np.pi * density * np.einsum("abr,qr->abq", g - 1, kernel)

    def _total(self, partials: np.ndarray, radiation: str, q: np.ndarray) -> np.ndarray:
        if scattering.missing(self.species, radiation):
            return np.full(len(q), np.nan)
        c = self.counts_of / self.counts_of.sum()
        w = scattering.weights(self.species, radiation, q)  # (species, q)
        mean = np.einsum("a,aq->q", c, w)
        return 1 + np.einsum("a,b,aq,bq,abq->q", c, c, w, w, partials - 1) / mean**2

    def _t_of_r(self, g: np.ndarray, density: float) -> np.ndarray:
        if scattering.missing(self.species, "neutron"):
            return np.full(len(self.edges) - 1, np.nan)
        r = 0.5 * (self.edges[1:] + self.edges[:-1])
        c = self.counts_of / self.counts_of.sum()
        b = np.array([scattering.NEUTRON_B_FM[s] for s in self.species])
        return 4 * np.pi * density * r * np.einsum("a,b,a,b,abr->r", c, c, b, b, g)

    def conclude(self) -> dict[str, ResultArray]:
        p = self.params
        r = 0.5 * (self.edges[1:] + self.edges[:-1])
        q = np.linspace(p.q_max_per_A / p.q_bins, p.q_max_per_A, p.q_bins)
        used = self.frames > 0
        frames = float(self.frames.sum())
        density = float(self.density.sum() / frames) if frames else float("nan")
        g = self._g(self.counts.sum(axis=0), self.ideal.sum(axis=0))
        n = self._coordination(self.counts.sum(axis=0), frames)
        partials = self._sq_partials(g, density, q)
        totals = np.array([self._total(partials, rad, q) for rad in RADIATIONS])
        t_of_r = self._t_of_r(g, density)
        # The same numbers from each block, for their errors.
        blocks = []
        for k in np.flatnonzero(used):
            gk = self._g(self.counts[k], self.ideal[k])
            dk = self.density[k] / self.frames[k]
            pk = self._sq_partials(gk, dk, q)
            blocks.append((gk, self._coordination(self.counts[k], self.frames[k]),
                           np.array([self._total(pk, rad, q) for rad in RADIATIONS]), self._t_of_r(gk, dk)))

        def stderr(index: int) -> np.ndarray:
            if len(blocks) < 2:
                return np.full_like([g, n, totals, t_of_r][index], np.nan)
            return np.std([b[index] for b in blocks], axis=0, ddof=1) / np.sqrt(len(blocks))

        s = species_coordinate(self.species)
        out = {"species": s, "center": coordinate("center", self.species, "", "the atom whose neighbours are counted"),
               "neighbour": coordinate("neighbour", self.species, "", "the neighbours' species"),
               "r": coordinate("r", r, "angstrom", "bin centres"),
               "q": coordinate("q", q, "1/angstrom", "wavenumbers"),
               "radiation": coordinate("radiation", list(RADIATIONS), "", "what the total S(q) is weighted for"),
               "g": ResultArray(g, "1", ("center", "neighbour", "r"), "partial radial distribution function"),
               "g_stderr": ResultArray(stderr(0), "1", ("center", "neighbour", "r"), f"standard error of g "
                                       f"({BLOCK_METHOD})"),
               "coordination": ResultArray(n, "1", ("center", "neighbour", "r"),
                                           "running coordination: neighbours within r of a center atom"),
               "coordination_stderr": ResultArray(stderr(1), "1", ("center", "neighbour", "r"),
                                                  f"standard error of the coordination ({BLOCK_METHOD})"),
               "S_partial": ResultArray(partials, "1", ("center", "neighbour", "q"), "Faber-Ziman partial S_ab(q)"),
               "S": ResultArray(totals, "1", ("radiation", "q"), "Faber-Ziman total structure factor"),
               "S_stderr": ResultArray(stderr(2), "1", ("radiation", "q"), f"standard error of S ({BLOCK_METHOD})"),
               "T": ResultArray(t_of_r, "fm^2/angstrom^2", ("r",), "total correlation function (neutrons)"),
               "T_stderr": ResultArray(stderr(3), "fm^2/angstrom^2", ("r",), f"standard error of T ({BLOCK_METHOD})"),
               "q_resolved_min": ResultArray(np.array(2 * np.pi / self.r_max), "1/angstrom", (),
                                             "below this q (2 pi / r_max) the box cannot resolve S(q)"),
               "r_max": ResultArray(np.array(self.r_max), "angstrom", (), "largest distance binned"),
               "frames_used": ResultArray(np.array(frames), "1", (), "frames binned"),
               "density": ResultArray(np.array(density), "1/angstrom^3", (), "mean number density")}
        out |= self._shells(r, g, n, blocks, out["g_stderr"].values)
        out |= self._peaks(q, totals, [b[2] for b in blocks])
        rms = self.ends.rms_displacement_A()
        out["rms_displacement"] = ResultArray(np.array(rms), "angstrom", (), "root-mean-square displacement between "
                                              "the first and last frames used: under 1 Å they are one configuration")
        return annotate(out, frozen_note(rms))

    def _shells(self, r: np.ndarray, g: np.ndarray, n: np.ndarray, blocks: list[tuple[np.ndarray, ...]],
                g_stderr: np.ndarray) -> dict[str, ResultArray]:
        """First peak, first minimum and the coordination at that minimum, per (center, neighbour), with errors from
        the blocks (the same rule on each block's g, whose noise is √blocks times the mean's; the coordination at the
        total's minimum) and the bin width. Extrema within noise of each other are not taken (:func:`first_shell`)."""
        s = len(self.species)
        dr = float(self.edges[1] - self.edges[0])
        peak, low, shell = (np.empty((s, s), dtype=object) for _ in range(3))
        for a in range(s):
            for b in range(s):
                pair = f"{self.species[a]}-{self.species[b]}"
                found = first_shell(r, g[a, b], g_stderr[a, b])
                if found is None:
                    noise = (f" (a fall or rise within {SIGNIFICANCE:g} standard errors is noise)"
                             if np.isfinite(g_stderr[a, b]).any() else "")
                    why = (f"g of {pair} has no first peak above 1 with a minimum after it within r_max = "
                           f"{self.r_max:g} Å{noise}: more frames or atoms, or a larger box, may resolve one")
                    peak[a, b] = low[a, b] = shell[a, b] = Estimate.undefined(why)
                    continue
                kp, km = found
                per_block = [first_shell(r, bl[0][a, b], g_stderr[a, b] * np.sqrt(len(blocks))) for bl in blocks]
                located = [x for x in per_block if x is not None]
                note = "" if len(located) == len(blocks) else \
                    f"{len(blocks) - len(located)} of {len(blocks)} blocks show no first shell: the error is the others'"

                def err(values: list[float]) -> float:
                    spread = np.std(values, ddof=1) / np.sqrt(len(values)) if len(values) > 1 else np.nan
                    return float(np.hypot(spread, dr / np.sqrt(12)))

                peak[a, b] = Estimate(float(r[kp]), err([r[x[0]] for x in located]), note=note, method=BLOCK_METHOD)
                low[a, b] = Estimate(float(r[km]), err([r[x[1]] for x in located]), note=note, method=BLOCK_METHOD)
                counted = [bl[1][a, b, km] for bl in blocks]
                spread = float(np.std(counted, ddof=1) / np.sqrt(len(counted))) if len(counted) > 1 else np.nan
                shell[a, b] = Estimate(float(n[a, b, km]), spread, note=note, method=BLOCK_METHOD)
        dims = ("center", "neighbour")
        return (estimate_arrays("first_peak_r", peak, "angstrom", dims, "first maximum of g")
                | estimate_arrays("first_min_r", low, "angstrom", dims, "first minimum of g after its first peak")
                | estimate_arrays("first_shell_coordination", shell, "1", dims,
                                  "neighbours of a center atom within the first minimum of g"))

    def _peaks(self, q: np.ndarray, totals: np.ndarray, blocks: list[np.ndarray]) -> dict[str, ResultArray]:
        """Position and height of the first peak of each total S(q) above the resolved range, with block errors."""
        q_min = 2 * np.pi / self.r_max
        where, height = [], []
        for k, radiation in enumerate(RADIATIONS):
            missing = scattering.missing(self.species, radiation)
            found = self._first_peak(q, totals[k], q_min)
            if missing or found is None:
                source = scattering.NEUTRON_SOURCE if radiation == "neutron" else scattering.XRAY_SOURCE
                why = (f"no {radiation} weights for {missing} in {source}" if missing else
                       f"{radiation} S(q) has no peak of prominence {PEAK_PROMINENCE} between {q_min:.3g} "
                       f"(2 pi / r_max) and {q[-1]:g} 1/Å")
                where.append(Estimate.undefined(why)), height.append(Estimate.undefined(why))
                continue
            located = [x for x in (self._first_peak(q, b[k], q_min) for b in blocks) if x is not None]
            dq = float(q[1] - q[0])

            def err(values: list[float], width: float = 0.0) -> float:
                spread = np.std(values, ddof=1) / np.sqrt(len(values)) if len(values) > 1 else np.nan
                return float(np.hypot(spread, width))

            note = f"S(q) below {q_min:.3g} 1/Å (2 pi / r_max) is not resolved by this box"
            where.append(Estimate(float(q[found]), err([q[x] for x in located], dq / np.sqrt(12)), note=note,
                                  method=BLOCK_METHOD))
            height.append(Estimate(float(totals[k, found]), err([b[k, found] for b in blocks]), note=note,
                                   method=BLOCK_METHOD))
        return (estimate_arrays("sq_peak_q", where, "1/angstrom", ("radiation",), "first peak of S(q)")
                | estimate_arrays("sq_peak_height", height, "1", ("radiation",), "height of the first peak of S(q)"))

    @staticmethod
    def _first_peak(q: np.ndarray, sq: np.ndarray, q_min: float) -> int | None:
        """The first maximum of S (smoothed over three points) at q ≥ q_min that stands out by at least
        :data:`PEAK_PROMINENCE` (a first sharp diffraction peak may lie below 1)."""
        if not np.isfinite(sq).all():
            return None
        start = int(np.searchsorted(q, q_min))
        found, _ = find_peaks(smooth(sq)[start:], prominence=PEAK_PROMINENCE)
        return int(start + found[0]) if len(found) else None

    def summary(self, results: dict[str, ResultArray]) -> Summary:
        flags = []
        if float(results["frames_used"].values) < 2 * BLOCKS:
            flags.append(f"structure from {int(results['frames_used'].values)} frames: fewer than two per block, so "
                         "its errors are rough or missing")
        frozen = frozen_note(float(results["rms_displacement"].values))
        if frozen:
            flags.append(frozen)
        for radiation in RADIATIONS:
            if not np.isfinite(select(results, "S", radiation=radiation)).any():
                missing = ", ".join(scattering.missing(self.species_of(results), radiation))
                flags.append(f"no {radiation} S(q): {missing} have no tabulated weights")
        return Summary({"first_peak_r": Reported(BLOCK_METHOD), "first_min_r": Reported(BLOCK_METHOD),
                        "first_shell_coordination": Reported(BLOCK_METHOD, "level"),
                        "sq_peak_q": Reported(BLOCK_METHOD), "sq_peak_height": Reported(BLOCK_METHOD)}, flags)

    @staticmethod
    def species_of(results: dict[str, ResultArray]) -> list[str]:
        return [str(s) for s in results["species"].values.tolist()]

    def plot(self, results: dict[str, ResultArray], ax: Any) -> bool:
        r = results["r"].values
        species = self.species_of(results)
        for k, a in enumerate(species):
            for b in species[k:]:
                ax.plot(r, select(results, "g", center=a, neighbour=b), label=f"{a}-{b}")
        ax.set(xlabel="r (Å)", ylabel="$g_{ab}(r)$")
        return True


def check(params: StructureParams, study: StudyOutline) -> list[str]:
    problems = []
    for run in study.runs:
        half = run.system.min_width_A / 2
        if params.r_max_A is not None and params.r_max_A > half:
            problems.append(f"r_max_A: {params.r_max_A:g} Å is more than half the smallest width of run {run.id}'s "
                            f"cell ({half:.3f} Å); at most that")
            break
    return problems


def _example(workdir: Path) -> dict[str, Any]:
    return {"r_max_A": 5.0, "bins": 50, "max_frames": 40, "q_max_per_A": 12.0, "q_bins": 60}


@hookimpl
def meltdyn_observables() -> list[PluginDef]:
    return [PluginDef("structure", "observable", StructureParams, Structure,
                      "partial g(r), coordination and first shells, neutron and X-ray S(q), T(r)", check=check,
                      example=_example)]
