"""Mean squared displacement per species over all time origins, and the diffusion coefficient."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import numpy as np
from pydantic import Field, model_validator

from meltdyn.contracts import AtomBlock, Observable, ResultArray, StudyOutline, TrajectoryInfo
from meltdyn.hookspecs import hookimpl
from meltdyn.lags import LagPlan, plan_lags
from meltdyn.plugin import PluginDef, PluginParams


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
    f = np.fft.rfft(x, n=2 * n, axis=0)
    s2 = np.fft.irfft(f.real**2 + f.imag**2, n=2 * n, axis=0)[:n].sum(axis=-1)
    return (s1 - 2 * s2) / (n - m)[:, None]


def msd_pairs(x: np.ndarray, plan: LagPlan) -> np.ndarray:
    """MSD at the plan's log-spaced lags, exactly from the frame pairs that realise them. (lags, atoms)."""
    out = np.empty((len(plan.log_pairs), x.shape[1]))
    for k, (i, j) in enumerate(plan.log_pairs):
        d = x[j] - x[i]
        out[k] = np.einsum("pai,pai->a", d, d) / len(i)
    return out


class MSD(Observable):
    def __init__(self, params: MSDParams):
        self.params = params

    def prepare(self, info: TrajectoryInfo) -> None:
        self.info = info
        self.plan = plan_lags(info)
        self.species = info.species
        self.sums = {s: np.zeros(len(self.plan.lags_steps)) for s in self.species}
        self.counts = dict.fromkeys(self.species, 0)

    def process(self, block: AtomBlock) -> None:
        x = block.positions_A
        per_atom = np.concatenate([msd_pairs(x, self.plan), msd_fft(x[self.plan.linear_frames])[1:]])
        per_atom = np.concatenate([np.zeros((1, x.shape[1])), per_atom])[self.plan.order]
        symbols = np.array(block.symbols)
        for s in self.species:
            mask = symbols == s
            self.sums[s] += per_atom[:, mask].sum(axis=1)
            self.counts[s] += int(mask.sum())

    def memory(self) -> tuple[int, int]:
        """The linear frames, copied, and the FFT over them: about ten more copies (zero-padded complex transform,
        squares, running sums, measured with tracemalloc); the log lags one displacement array at a time."""
        linear = len(self.plan.linear_frames)
        log_pairs = max((len(i) for i, _ in self.plan.log_pairs), default=0)
        held = self.plan.nbytes + sum(i.nbytes + j.nbytes for i, j in self.plan.log_pairs)
        return held, 11 * linear * 24 + 3 * log_pairs * 24 + 2 * len(self.plan.lags_steps) * 8

    def conclude(self) -> dict[str, ResultArray]:
        lag_ps = self.plan.lags_steps * self.info.timestep_ps
        out = {"lag": ResultArray(lag_ps, "ps", ("lag",), "time lag")}
        for s in self.species:
            msd = self.sums[s] / self.counts[s]
            out[f"msd_{s}"] = ResultArray(msd, "angstrom^2", ("lag",), f"mean squared displacement of {s}")
            d, window, exponent = self._fit(lag_ps, msd)
            out[f"D_{s}"] = ResultArray(np.array(d), "angstrom^2/ps", (), f"diffusion coefficient of {s}")
            out[f"fit_window_{s}"] = ResultArray(np.array(window), "ps", ("bound",), "lags used for D")
            out[f"diffusive_exponent_{s}"] = ResultArray(
                np.array(exponent), "1", (), "log-log slope of the MSD over the fit window; 1 when diffusive")
        return out

    def _fit(self, lag_ps: np.ndarray, msd: np.ndarray) -> tuple[float, tuple[float, float], float]:
        if self.params.fit_window_ps is not None:
            lo, hi = self.params.fit_window_ps
        else:
            hi = lag_ps[-1] / 2
            lo = hi / 10
        sel = (lag_ps >= lo) & (lag_ps <= hi) & (lag_ps > 0)
        if sel.sum() < 3:
            return float("nan"), (float(lo), float(hi)), float("nan")
        slope, _ = np.polyfit(lag_ps[sel], msd[sel], 1)
        exponent = np.polyfit(np.log(lag_ps[sel]), np.log(np.maximum(msd[sel], 1e-300)), 1)[0]
        return float(slope / 6), (float(lag_ps[sel][0]), float(lag_ps[sel][-1])), float(exponent)

    def summary(self, results: dict[str, ResultArray]) -> dict[str, Any]:
        out: dict[str, Any] = {k: float(v.values) for k, v in results.items()
                               if k.startswith(("D_", "diffusive_exponent_"))}
        flags = []
        for key, exponent in out.items():
            if not key.startswith("diffusive_exponent_"):
                continue
            s = key.removeprefix("diffusive_exponent_")
            lo, hi = results[f"fit_window_{s}"].values
            if not np.isfinite(exponent):
                flags.append(f"MSD of {s}: too few lags in the fit window ({lo:g}-{hi:g} ps) for D_{s}")
            elif exponent < 0.9:
                flags.append(f"MSD of {s} grows as t^{exponent:.2f} over the fit window ({lo:g}-{hi:g} ps): not yet "
                             f"diffusive, so D_{s} is an apparent value")
        if flags:
            out["flags"] = flags
        return out

    def plot(self, results: dict[str, ResultArray], ax: Any) -> bool:
        lag = results["lag"].values
        for key, arr in results.items():
            if key.startswith("msd_"):
                ax.loglog(lag[1:], arr.values[1:], label=key.removeprefix("msd_"))
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
