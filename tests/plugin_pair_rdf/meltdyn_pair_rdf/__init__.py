"""A third-party meltdyn observable of the whole-frame kind: partial radial distribution functions g_ab(r).

Each frame's pair distances are binned with the minimum image of that frame's cell (triclinic included), and the
counts are divided by what an ideal gas of the same composition would give in the same cells. Counts and the ideal
expectation are sums over frames, so two instances that saw different frames merge by adding them.
"""

from __future__ import annotations

from itertools import combinations_with_replacement
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from meltdyn.plugin import (
    FrameBatch, FrameObservable, InputError, PluginDef, PluginParams, ResultArray, TrajectoryInfo, coordinate, hookimpl,
    min_width_A,
)


class PairRdfParams(PluginParams):
    r_max_A: float = Field(5.0, gt=0, le=50, description="Largest distance binned; at most half the cell's width.")
    bins: int = Field(100, ge=1, le=10_000, description="Number of distance bins between 0 and r_max_A.")


class PairRdf(FrameObservable):
    def __init__(self, params: PairRdfParams):
        self.params = params

    def prepare(self, info: TrajectoryInfo) -> None:
        if self.params.r_max_A > min_width_A(info.cell_A) / 2:
            raise InputError(f"r_max_A: {self.params.r_max_A:g} Å is more than half the cell's width "
                             f"({min_width_A(info.cell_A) / 2:.2f} Å), where the minimum image is no longer unique")
        self.edges = np.linspace(0.0, self.params.r_max_A, self.params.bins + 1)
        symbols = np.asarray(info.symbols)
        self.members = {s: np.flatnonzero(symbols == s) for s in info.species}
        self.pairs = list(combinations_with_replacement(sorted(info.species), 2))  # names whatever the atom order
        self.counts = np.zeros((len(self.pairs), self.params.bins))
        self.ideal_per_A3 = np.zeros(len(self.pairs))  # Σ over frames of (pairs of the kind) / volume
        self.frames = 0
        self.largest = max(len(m) for m in self.members.values())

    def memory(self) -> tuple[int, int]:
        # Histograms, and for the largest species pair of one frame: displacements, their fractional coordinates, a
        # rounding temporary and the distances (frames are binned one at a time: the work does not grow with the
        # batch). The conformance kit traces what process allocates against this.
        return 2 * self.counts.nbytes + (3 * 3 + 1) * 8 * self.largest**2, 0

    def process(self, frames: FrameBatch) -> None:
        for x, cell in zip(frames.positions_A, frames.cell_A):
            inverse, volume = np.linalg.inv(cell), abs(np.linalg.det(cell))
            for k, (a, b) in enumerate(self.pairs):
                frac = (x[self.members[b]][None, :, :] - x[self.members[a]][:, None, :]) @ inverse
                frac -= np.rint(frac)
                d = frac @ cell
                del frac
                r = np.sqrt(np.einsum("abi,abi->ab", d, d))
                del d
                na, nb = len(self.members[a]), len(self.members[b])
                if a == b:
                    r = r[np.triu_indices(na, 1)]
                    self.ideal_per_A3[k] += na * (na - 1) / 2 / volume
                else:
                    self.ideal_per_A3[k] += na * nb / volume
                self.counts[k] += np.histogram(r, self.edges)[0]
            self.frames += 1

    def merge(self, other: PairRdf) -> None:
        self.counts += other.counts
        self.ideal_per_A3 += other.ideal_per_A3
        self.frames += other.frames

    def conclude(self) -> dict[str, ResultArray]:
        shells = 4 / 3 * np.pi * np.diff(self.edges**3)
        expected = self.ideal_per_A3[:, None] * shells
        g = np.divide(self.counts, expected, out=np.zeros_like(expected), where=expected > 0)
        return {"pair": coordinate("pair", [f"{a}-{b}" for a, b in self.pairs], "", "species pair"),
                "r": coordinate("r", (self.edges[1:] + self.edges[:-1]) / 2, "angstrom", "bin centres"),
                "g": ResultArray(g, "1", ("pair", "r"), "partial radial distribution function"),
                "frames": ResultArray(np.array(self.frames), "1", (), "frames averaged")}


def example(workdir: Path) -> dict[str, Any]:
    """Parameters of a working instance, for meltdyn's conformance kit."""
    return {"r_max_A": 4.5, "bins": 30}


@hookimpl
def meltdyn_observables() -> list[PluginDef]:
    return [PluginDef("pair_rdf", "observable", PairRdfParams, PairRdf,
                      "partial radial distribution functions g_ab(r) (example third-party whole-frame plugin)",
                      example=example)]
