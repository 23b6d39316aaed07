"""A third-party meltdyn observable: the largest displacement from the first frame, per species."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from meltdyn.plugin import AtomBlock, Observable, PluginDef, PluginParams, ResultArray, TrajectoryInfo, hookimpl


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
        out = {f"max_{s}": ResultArray(np.array(v), "angstrom", ()) for s, v in self.max.items()}
        out |= {f"movers_{s}": ResultArray(np.array(v), "1", ()) for s, v in self.movers.items()}
        return out


def example(workdir: Path) -> dict[str, Any]:
    """Parameters of a working instance, for meltdyn's conformance kit."""
    return {"threshold_A": 0.5}


@hookimpl
def meltdyn_observables() -> list[PluginDef]:
    return [PluginDef("maxdisp", "observable", MaxDispParams, MaxDisplacement,
                      "largest displacement per species (example third-party plugin)", example=example)]
