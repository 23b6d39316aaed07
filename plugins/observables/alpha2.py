"""Non-Gaussian parameter α2(t) = 3⟨r⁴⟩/(5⟨r²⟩²) − 1 per species, with its peak."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from meltdyn.contracts import AtomBlock, Observable, ResultArray, TrajectoryInfo
from meltdyn.hookspecs import hookimpl
from meltdyn.lags import largest_sample, plan_lags, sample_lags, samples_bytes
from meltdyn.plugin import PluginDef, PluginParams


class Alpha2Params(PluginParams):
    lags_per_decade: int = Field(10, ge=1, le=100, description="Log-spaced lags per decade.")
    max_origins: int = Field(200, ge=1, le=10**6, description="Origins per lag, spread evenly over the trajectory.")


def squared_lengths(d: np.ndarray) -> np.ndarray:
    """|d|² over the last axis; a function so that the displacements are released as soon as it returns."""
    return np.einsum("...i,...i->...", d, d)


class Alpha2(Observable):
    def __init__(self, params: Alpha2Params):
        self.params = params

    def prepare(self, info: TrajectoryInfo) -> None:
        self.info = info
        self.samples = sample_lags(plan_lags(info), self.params.lags_per_decade, self.params.max_origins)
        self.r2 = {s: np.zeros(len(self.samples)) for s in info.species}
        self.r4 = {s: np.zeros(len(self.samples)) for s in info.species}
        self.counts = dict.fromkeys(info.species, 0)

    def process(self, block: AtomBlock) -> None:
        for k, sample in enumerate(self.samples):
            r2 = squared_lengths(block.displacements(sample.origins, sample.targets))
            for s in self.r2:
                m = block.mask(s)
                self.r2[s][k] += r2[:, m].mean(axis=0).sum()
                self.r4[s][k] += (r2[:, m] ** 2).mean(axis=0).sum()
        for s in self.counts:
            self.counts[s] += int(block.mask(s).sum())

    def memory(self) -> tuple[int, int]:
        """One lag at a time: its displacements while they are made (two arrays of 3 numbers per pair), then r², a
        species' copy of it and its square, and the previous lag's r² until it is replaced."""
        held = samples_bytes(self.samples) + 8 * 2 * len(self.samples) * len(self.r2)
        return held, (3 + 3 + 1) * largest_sample(self.samples) * 8

    def conclude(self) -> dict[str, ResultArray]:
        lag = np.array([x.lag_steps * self.info.timestep_ps for x in self.samples])
        out = {"lag": ResultArray(lag, "ps", ("lag",), "time lag")}
        for s in self.r2:
            r2, r4 = self.r2[s] / self.counts[s], self.r4[s] / self.counts[s]
            a2 = 3 * r4 / (5 * r2**2) - 1
            k = int(np.nanargmax(a2))
            out[f"alpha2_{s}"] = ResultArray(a2, "1", ("lag",), f"non-Gaussian parameter of {s}")
            out[f"r2_{s}"] = ResultArray(r2, "angstrom^2", ("lag",), f"<r^2> of {s} on the same lags")
            out[f"peak_time_{s}"] = ResultArray(np.array(lag[k]), "ps", (), "lag of the alpha2 maximum")
            out[f"peak_height_{s}"] = ResultArray(np.array(a2[k]), "1", (), "alpha2 maximum")
        return out

    def summary(self, results: dict[str, ResultArray]) -> dict[str, Any]:
        out: dict[str, Any] = {k: float(v.values) for k, v in results.items() if k.startswith("peak_")}
        lag = results["lag"].values
        flags = []
        for key, value in out.items():
            if key.startswith("peak_time_") and lag.size and value >= lag[-1]:
                flags.append(f"alpha2 of {key.removeprefix('peak_time_')} peaks at the longest lag ({value:g} ps): "
                             "the true peak may lie later, and its height is a lower bound")
        if flags:
            out["flags"] = flags
        return out

    def plot(self, results: dict[str, ResultArray], ax: Any) -> bool:
        for key, arr in results.items():
            if key.startswith("alpha2_"):
                ax.semilogx(results["lag"].values, arr.values, label=key.removeprefix("alpha2_"))
        ax.set(xlabel="t (ps)", ylabel="$\\alpha_2(t)$")
        return True


def _example(workdir: Path) -> dict[str, Any]:
    return {}


@hookimpl
def meltdyn_observables() -> list[PluginDef]:
    return [PluginDef("alpha2", "observable", Alpha2Params, Alpha2,
                      "non-Gaussian parameter alpha2(t) per species with its peak time and height", example=_example)]
