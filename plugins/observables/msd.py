"""Mean squared displacement per species over all time origins, and the diffusion coefficient with its error.

D comes from a generalised least-squares fit MSD(t) = 6 D t + c over the fit window, weighted by the covariance of
the all-origin MSD estimator between lags for Brownian motion (exact for it, and a good model of diffusion past the
cage), with the intercept c taking up the ballistic and caging offset. That covariance depends only on the lags and
origins, not on D, so the weights are fixed before any atom is read and the fit is a linear estimator
D = Σ_k w_k MSD(t_k). Applied to each atom's own all-origin MSD it gives a per-atom D_i whose mean is D, and the
standard error is the spread of the D_i over the atoms, √(var(D_i)/N): right whatever the true covariance is (the
model only decides how efficient the weights are), because each D_i uses every origin of the trajectory and atoms,
not origins, are the independent samples. The idea of modelling the MSD covariance follows kinisi (McCluskey et al.,
J. Chem. Theory Comput. 2024); the model and the error estimate here are meltdyn's own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import numpy as np
import scipy.fft
from pydantic import Field, model_validator

from meltdyn.plugin import (
    AtomBlock, Estimate, LagPlan, Observable, PluginDef, PluginParams, Reported, ResultArray, StudyOutline, Summary,
    TrajectoryInfo, coordinate, estimate_arrays, estimate_at, hookimpl, plan_lags, select, species_coordinate,
)

D_METHOD = "spread over atoms of per-atom GLS fits (Brownian all-origin MSD covariance)"
FIT_LAGS = 16
"""Lags of the fit window the GLS uses, log-spaced: neighbouring lags' MSDs are nearly collinear, so more add little
but cost a (lags × lags) covariance built from the origins."""


class MSDParams(PluginParams):
    fit_window_ps: tuple[Annotated[float, Field(ge=0, le=1e7)], Annotated[float, Field(gt=0, le=1e7)]] | None = Field(
        None, description="Lag window for D; default: the last decade of lags up to half the trajectory.")

    @model_validator(mode="after")
    def _ordered(self) -> MSDParams:
        if self.fit_window_ps is not None and not 0 <= self.fit_window_ps[0] < self.fit_window_ps[1]:
            raise ValueError(f"fit_window_ps must be [start, end] with 0 <= start < end, got {self.fit_window_ps}")
        return self


def msd_fft(x: np.ndarray) -> np.ndarray:
    """MSD over all origins for evenly spaced frames; x has shape (frames, atoms, 3). Returns (frames, atoms).

    MSD(m) = S1(m) - 2 S2(m) with S2 the position autocorrelation from a zero-padded FFT and S1 from
    running sums of |x|^2 (Calandrini et al., Collection SFN 12, 201 (2011)).
    """
    n = x.shape[0]
    x = x - x[:1]  # smaller magnitudes, less cancellation; MSD is translation invariant
    sq = np.einsum("tai,tai->ta", x, x)
    cs = np.concatenate([np.zeros((1, sq.shape[1])), np.cumsum(sq, axis=0)])
    m = np.arange(n)
    s1 = cs[n - m] + (cs[n] - cs[m])
    # Zero-padded to at least 2n − 1 (no wrap-around) at a length with small prime factors, frames on the last,
    # contiguous axis: 2n itself can have large prime factors (4002 = 2·3·23·29), which made this 2.6× slower.
    length = scipy.fft.next_fast_len(2 * n - 1, real=True)
    f = scipy.fft.rfft(np.ascontiguousarray(np.moveaxis(x, 0, -1)), n=length, axis=-1)
    power = np.einsum("aiw,aiw->aw", f.real, f.real) + np.einsum("aiw,aiw->aw", f.imag, f.imag)
    del f
    s2 = scipy.fft.irfft(power, n=length, axis=-1)[:, :n].T  # one inverse for x, y and z: it is linear
    return (s1 - 2 * s2) / (n - m)[:, None]


def msd_pairs(x: np.ndarray, plan: LagPlan) -> np.ndarray:
    """MSD at the plan's log-spaced lags, exactly from the frame pairs that realise them. (lags, atoms)."""
    out = np.empty((len(plan.log_pairs), x.shape[1]))
    for k, (i, j) in enumerate(plan.log_pairs):
        d = x[j] - x[i]
        out[k] = np.einsum("pai,pai->a", d, d) / len(i)
    return out


def origin_indices(plan: LagPlan, lag_steps: int) -> np.ndarray:
    """Origins of a lag's frame pairs, as positions on the evenly spaced (linear) frames."""
    origins, _ = plan.pairs(lag_steps)
    return np.searchsorted(plan.linear_frames, origins)


def brownian_msd_covariance(plan: LagPlan, lags_steps: np.ndarray) -> np.ndarray:
    """Covariance between lags of one Brownian particle's all-origin MSD, up to the factor (2D·dt)².

    Per axis, the squared displacements over [s, s+L] and [u, u+M] of Gaussian increments have covariance
    2·(overlap of the two intervals)²; the MSD sums three axes and averages its n_L and n_M origins. The double sum
    over origins depends only on their separation δ, and how many origin pairs have each δ is a cross-correlation of
    the two origin sets, taken by FFT: exact for any schedule, in O(frames · log frames) per pair of lags."""
    interval = int(plan.lags_steps[len(plan.log_offsets) + 1]) if len(plan.linear_frames) > 1 else 1
    n = len(plan.linear_frames)
    size = 2 * n
    present = []
    for lag in lags_steps:
        mark = np.zeros(n)
        mark[origin_indices(plan, int(lag))] = 1.0
        present.append(np.fft.rfft(mark, size))
    delta = np.arange(size)
    delta = np.where(delta < n, delta, delta - size)  # origin separations u − s, in intervals
    cov = np.empty((len(lags_steps), len(lags_steps)))
    for a, la in enumerate(lags_steps):
        for b in range(a, len(lags_steps)):
            lb = lags_steps[b]
            pairs = np.rint(np.fft.irfft(np.conj(present[a]) * present[b], size))  # pairs with u = s + δ
            overlap = np.clip(np.minimum(la, delta * interval + lb) - np.maximum(0, delta * interval), 0, None)
            total = np.sum(pairs * overlap.astype(float) ** 2)
            count_a, count_b = np.abs(present[a][0]), np.abs(present[b][0])
            cov[a, b] = cov[b, a] = 6 * total / (count_a * count_b)
    return cov


def gls_weights(t: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """Weights w with D = w · MSD(t): the GLS slope of MSD = 6 D t + c under covariance ``cov``."""
    x = np.column_stack([6 * t, np.ones_like(t)])
    # Scale to unit diagonal first: the MSD variance grows as t³, and the raw matrix is badly conditioned.
    scale = np.sqrt(np.diag(cov))
    corr = cov / np.outer(scale, scale)
    xs = x / scale[:, None]
    solved = np.linalg.solve(corr, xs)
    beta = np.linalg.solve(xs.T @ solved, solved.T)
    return beta[0] / scale


class MSD(Observable):
    def __init__(self, params: MSDParams):
        self.params = params

    def prepare(self, info: TrajectoryInfo) -> None:
        self.info = info
        self.plan = plan_lags(info)
        self.species = info.species
        self.sums = {s: np.zeros(len(self.plan.lags_steps)) for s in self.species}
        self.counts = dict.fromkeys(self.species, 0)
        lag_ps = self.plan.lags_steps * info.timestep_ps
        if self.params.fit_window_ps is not None:
            lo, hi = self.params.fit_window_ps
        else:
            hi = lag_ps[-1] / 2
            lo = hi / 10
        self.window = (float(lo), float(hi))
        self.in_window = np.flatnonzero((lag_ps >= lo) & (lag_ps <= hi) & (lag_ps > 0))
        # The GLS lags: up to FIT_LAGS of the window's, nearest to a log-spaced set; their weights, and per species
        # the sum and sum of squares of the per-atom estimates D_i.
        self.fit = np.array([], dtype=int)
        self.weights = np.array([])
        if len(self.in_window) >= 3:
            t = lag_ps[self.in_window]
            wanted = np.geomspace(t[0], t[-1], FIT_LAGS)
            self.fit = self.in_window[np.unique(np.abs(np.log(t)[None] - np.log(wanted)[:, None]).argmin(axis=1))]
            if len(self.fit) >= 3:
                cov = brownian_msd_covariance(self.plan, self.plan.lags_steps[self.fit])
                self.weights = gls_weights(lag_ps[self.fit], cov)
        self.d_sums = {s: np.zeros(2) for s in self.species}

    def process(self, block: AtomBlock) -> None:
        x = block.positions_A
        per_atom = np.concatenate([msd_pairs(x, self.plan), msd_fft(x[self.plan.linear_frames])[1:]])
        per_atom = np.concatenate([np.zeros((1, x.shape[1])), per_atom])[self.plan.order]
        d_atoms = self.weights @ per_atom[self.fit] if len(self.weights) else None
        symbols = np.array(block.symbols)
        for s in self.species:
            mask = symbols == s
            self.sums[s] += per_atom[:, mask].sum(axis=1)
            self.counts[s] += int(mask.sum())
            if d_atoms is not None:
                self.d_sums[s] += [d_atoms[mask].sum(), (d_atoms[mask] ** 2).sum()]

    def memory(self) -> tuple[int, int]:
        """The linear frames, copied, and the FFT over them: about ten more copies (zero-padded complex transform,
        squares, running sums, measured with tracemalloc); the log lags one displacement array at a time; the fit
        lags' MSDs and each atom's D. Held: the plan, and the GLS weights and lags."""
        linear = len(self.plan.linear_frames)
        log_pairs = max((len(i) for i, _ in self.plan.log_pairs), default=0)
        held = (self.plan.nbytes + sum(i.nbytes + j.nbytes for i, j in self.plan.log_pairs)
                + self.in_window.nbytes + self.fit.nbytes + self.weights.nbytes)
        return held, 11 * linear * 24 + 3 * log_pairs * 24 + (2 * len(self.plan.lags_steps) + len(self.fit) + 1) * 8

    def conclude(self) -> dict[str, ResultArray]:
        lag_ps = self.plan.lags_steps * self.info.timestep_ps
        sel = self.in_window
        window = (float(lag_ps[sel][0]), float(lag_ps[sel][-1])) if len(sel) else self.window
        msd = np.array([self.sums[s] / self.counts[s] for s in self.species])
        exponents = [float(np.polyfit(np.log(lag_ps[sel]), np.log(np.maximum(m[sel], 1e-300)), 1)[0])
                     if len(self.weights) else float("nan") for m in msd]
        out = {"species": species_coordinate(self.species),
               "lag": coordinate("lag", lag_ps, "ps", "time lag"),
               "bound": coordinate("bound", ["start", "end"], "", "ends of an interval"),
               "msd": ResultArray(msd, "angstrom^2", ("species", "lag"), "mean squared displacement"),
               "fit_window": ResultArray(np.array(window), "ps", ("bound",), "lags used for D"),
               "diffusive_exponent": ResultArray(np.array(exponents), "1", ("species",),
                                                 "log-log slope of the MSD over the fit window; 1 when diffusive")}
        estimates = [self._estimate(s, window, e) for s, e in zip(self.species, exponents)]
        return out | estimate_arrays("D", estimates, "angstrom^2/ps", ("species",), "diffusion coefficient")

    def _estimate(self, s: str, window: tuple[float, float], exponent: float) -> Estimate:
        """D of one species from the per-atom sums: the mean of the D_i and its standard error over the atoms."""
        lo, hi = window
        if not len(self.weights):
            return Estimate.undefined(f"too few lags in the fit window ({lo:g}-{hi:g} ps) to fit D_{s}")
        n = self.counts[s]
        total, squares = self.d_sums[s]
        d = total / n
        stderr = float(np.sqrt(max(squares - n * d * d, 0.0) / (n - 1) / n)) if n > 1 else float("nan")
        notes = [] if n > 1 else [f"one {s} atom: no spread to estimate the error from"]
        if exponent < 0.9:
            notes.append(f"apparent: the MSD grows as t^{exponent:.2f} over the fit window ({lo:g}-{hi:g} ps), not yet "
                         "diffusive")
        elif exponent > 1.1:  # a window inside the ballistic regime: a run far too short for D
            notes.append(f"apparent: the MSD grows as t^{exponent:.2f} over the fit window ({lo:g}-{hi:g} ps), still "
                         "ballistic, not diffusive")
        return Estimate(float(d), stderr, note="; ".join(notes), method=D_METHOD)

    def summary(self, results: dict[str, ResultArray]) -> Summary:
        flags = []
        for s, exponent in zip(results["species"].values.tolist(), results["diffusive_exponent"].values.tolist()):
            estimate = estimate_at(results, "D", species=s)
            if not estimate.is_value or not 0.9 <= exponent <= 1.1:
                flags.append(f"MSD of {s}: {estimate.note}")
        return Summary({"D": Reported(D_METHOD, "rate"), "diffusive_exponent": Reported()}, flags)

    def plot(self, results: dict[str, ResultArray], ax: Any) -> bool:
        lag = results["lag"].values
        for s in results["species"].values.tolist():
            ax.loglog(lag[1:], select(results, "msd", species=s)[1:], label=s)
        lo, hi = results["fit_window"].values
        ax.axvspan(max(lo, lag[1]), hi, color="0.9", zorder=0, label="D fit window")
        ax.set(xlabel="t (ps)", ylabel="MSD (Å$^2$)")
        return True


def check(params: MSDParams, study: StudyOutline) -> list[str]:
    duration = study.spec.protocol.production.duration_ps
    if params.fit_window_ps is not None and params.fit_window_ps[1] > duration:
        return [f"fit_window_ps: ends at {params.fit_window_ps[1]} ps, beyond the production's {duration} ps"]
    return []


def _example(workdir: Path) -> dict[str, Any]:
    return {}


@hookimpl
def meltdyn_observables() -> list[PluginDef]:
    return [PluginDef("msd", "observable", MSDParams, MSD,
                      "mean squared displacement per species (FFT over all origins) and diffusion coefficients",
                      check=check, example=_example)]
