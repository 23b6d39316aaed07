"""A third-party meltdyn observable: the largest displacement from the first frame, per species."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from meltdyn.plugin import (
    AtomBlock, Observable, PluginDef, PluginParams, Reported, ResultArray, Summary, TrajectoryInfo, hookimpl,
    species_coordinate,
)


class MaxDispParams(PluginParams):
    threshold_A: float = Field(1.0, gt=0, description="Count atoms that ever move farther than this.")


class MaxDisplacement(Observable):
    def __init__(self, params: MaxDispParams):
        self.params = params

    def prepare(self, info: TrajectoryInfo) -> None:
        self.max = dict.fromkeys(info.species, 0.0)
        self.movers = dict.fromkeys(info.species, 0)
        self.frames = len(info.steps)

    def memory(self) -> tuple[int, int]:
        # Per atom of a block, at every frame: its displacement from the first frame, the squares the norm takes,
        # and the lengths (the conformance kit traces what process allocates against this).
        return 0, self.frames * (3 + 3 + 2) * 8

    def process(self, block: AtomBlock) -> None:
        d = np.linalg.norm(block.positions_A - block.positions_A[:1], axis=-1).max(axis=0)
        for s in self.max:
            mask = np.array(block.symbols) == s
            if mask.any():
                self.max[s] = max(self.max[s], float(d[mask].max()))
                self.movers[s] += int((d[mask] > self.params.threshold_A).sum())

    def conclude(self) -> dict[str, ResultArray]:
        return {"species": species_coordinate(list(self.max)),
                "max_displacement": ResultArray(np.array(list(self.max.values())), "angstrom", ("species",),
                                                "largest displacement from the first frame"),
                "movers": ResultArray(np.array(list(self.movers.values()), dtype=float), "1", ("species",),
                                      "atoms that moved farther than threshold_A")}

    def summary(self, results: dict[str, ResultArray]) -> Summary:
        # Exact statistics of this trajectory, without a standard error: they print as ≈ values.
        return Summary({"max_displacement": Reported(trend="level"), "movers": Reported()})


def example(workdir: Path) -> dict[str, Any]:
    """Parameters of a working instance, for meltdyn's conformance kit."""
    return {"threshold_A": 0.5}


@hookimpl
def meltdyn_observables() -> list[PluginDef]:
    return [PluginDef("maxdisp", "observable", MaxDispParams, MaxDisplacement,
                      "largest displacement per species (example third-party plugin)", example=example)]
