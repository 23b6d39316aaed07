"""Self intermediate scattering function F_s(q,t) per species, and the α-relaxation time."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field

from meltdyn.contracts import AtomBlock, Observable, ResultArray, TrajectoryInfo
from meltdyn.hookspecs import hookimpl
from meltdyn.lags import LagSample, plan_lags, sample_lags
from meltdyn.plugin import PluginDef, PluginParams


class ISFParams(PluginParams):
    q_per_A: list[Annotated[float, Field(gt=0, le=100)]] = Field(
        [1.7], min_length=1, max_length=100, description="Wavenumbers; 1.7 1/Å is near the first S(q) peak.")
    average: Literal["isotropic", "box_vectors"] = Field(
        "isotropic", description="sin(qr)/(qr), or cos(q·r) over reciprocal-lattice vectors with |q| near q.")
    q_shell_width_per_A: float = Field(0.05, gt=0, le=10, description="box_vectors: half-width of the |q| shell.")
    max_q_vectors: int = Field(48, ge=1, le=10_000, description="box_vectors: at most this many vectors per shell.")
    lags_per_decade: int = Field(10, ge=1, le=100, description="Log-spaced lags per decade.")
    max_origins: int = Field(200, ge=1, le=10**6, description="Origins per lag, spread evenly over the trajectory.")


def box_q_vectors(cell_A: np.ndarray, q: float, width: float, limit: int) -> np.ndarray:
    """Reciprocal-lattice vectors of the cell with |q| within ``width`` of ``q``, one of each ±pair."""
    recip = 2 * np.pi * np.linalg.inv(cell_A).T
    n_max = int(np.ceil((q + width) / np.linalg.norm(recip, axis=1).min()))
    grid = np.arange(-n_max, n_max + 1)
    n = np.array(np.meshgrid(grid, grid, grid, indexing="ij")).reshape(3, -1).T
    n = n[(n[:, 0] > 0) | ((n[:, 0] == 0) & (n[:, 1] > 0)) | ((n[:, 0] == 0) & (n[:, 1] == 0) & (n[:, 2] > 0))]
    vectors = n @ recip
    norm = np.linalg.norm(vectors, axis=1)
    vectors = vectors[np.abs(norm - q) <= width]
    if len(vectors) == 0:
        raise ValueError(f"isf: no reciprocal vector of this box has |q| within {width} of {q} 1/Å; "
                         "widen q_shell_width_per_A or use average: isotropic")
    return vectors[np.linspace(0, len(vectors) - 1, min(limit, len(vectors))).round().astype(int)]


def crossing_time(t: np.ndarray, f: np.ndarray, level: float) -> float:
    """First time f falls to ``level``, interpolated linearly in log t; NaN if it never does."""
    below = np.flatnonzero((f <= level) & (t > 0))
    if len(below) == 0:
        return float("nan")
    k = below[0]
    if k == 0 or t[k - 1] <= 0:
        return float(t[k])
    x0, x1 = np.log(t[k - 1]), np.log(t[k])
    return float(np.exp(x0 + (level - f[k - 1]) * (x1 - x0) / (f[k] - f[k - 1])))


class ISF(Observable):
    def __init__(self, params: ISFParams):
        self.params = params

    def prepare(self, info: TrajectoryInfo) -> None:
        p = self.params
        self.info = info
        self.samples: list[LagSample] = sample_lags(plan_lags(info), p.lags_per_decade, p.max_origins)
        self.q = np.array(p.q_per_A)
        self.vectors = ([box_q_vectors(info.cell_A, q, p.q_shell_width_per_A, p.max_q_vectors) for q in self.q]
                        if p.average == "box_vectors" else None)
        self.sums = {s: np.zeros((len(self.q), len(self.samples))) for s in info.species}
        self.counts = dict.fromkeys(info.species, 0)

    def process(self, block: AtomBlock) -> None:
        for k, sample in enumerate(self.samples):
            d = block.displacements(sample.origins, sample.targets)
            for s in self.sums:
                ds = d[:, block.mask(s)]
                if ds.shape[1] == 0:
                    continue
                for iq, q in enumerate(self.q):
                    if self.vectors is None:
                        qr = q * np.linalg.norm(ds, axis=-1)
                        value = np.sinc(qr / np.pi).mean(axis=0)  # sin(qr)/(qr), finite at r = 0
                    else:
                        value = np.cos(ds @ self.vectors[iq].T).mean(axis=(0, 2))
                    self.sums[s][iq, k] += value.sum()
        for s in self.counts:
            self.counts[s] += int(block.mask(s).sum())

    def conclude(self) -> dict[str, ResultArray]:
        lag = np.array([0.0] + [x.lag_steps * self.info.timestep_ps for x in self.samples])
        out = {"lag": ResultArray(lag, "ps", ("lag",), "time lag"),
               "q": ResultArray(self.q, "1/angstrom", ("q",), "wavenumbers")}
        for s, total in self.sums.items():
            fs = np.concatenate([np.ones((len(self.q), 1)), total / self.counts[s]], axis=1)
            out[f"Fs_{s}"] = ResultArray(fs, "1", ("q", "lag"), f"self intermediate scattering function of {s}")
            tau = [crossing_time(lag, f, 1 / np.e) for f in fs]
            out[f"tau_alpha_{s}"] = ResultArray(np.array(tau), "ps", ("q",), "time at which F_s = 1/e")
        return out

    def summary(self, results: dict[str, ResultArray]) -> dict[str, Any]:
        return {k: v.values.tolist() for k, v in results.items() if k.startswith("tau_alpha_")}

    def plot(self, results: dict[str, ResultArray], ax: Any) -> bool:
        lag = results["lag"].values
        for key, arr in results.items():
            if key.startswith("Fs_"):
                for iq, q in enumerate(results["q"].values):
                    ax.semilogx(lag[1:], arr.values[iq, 1:], label=f"{key.removeprefix('Fs_')}, q={q:g} Å$^{{-1}}$")
        ax.axhline(1 / np.e, color="grey", lw=0.5)
        ax.set(xlabel="t (ps)", ylabel="$F_s(q,t)$")
        return True


def _example(workdir: Path) -> dict[str, Any]:
    return {"q_per_A": [1.0, 2.5], "average": "box_vectors", "q_shell_width_per_A": 0.3}


@hookimpl
def meltdyn_observables() -> list[PluginDef]:
    return [PluginDef("isf", "observable", ISFParams, ISF,
                      "self intermediate scattering function F_s(q,t) per species and tau_alpha", example=_example)]
