"""PaiNN potential plugin: a trained meltdyn PaiNN model run by OpenMM through openmm-torch's TorchForce.

Registration stays light: torch and schnetpack are imported only when a study builds this potential.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from meltdyn.hookspecs import hookimpl
from meltdyn.plugin import PluginDef, PluginParams


class PainnParams(PluginParams):
    model_dir: Path = Field(description="A trained model: model.json and best.pt, as meltdyn's training writes them.")
    precision: Literal["float32", "float64"] = Field("float32", description="Arithmetic of the exported module.")
    keep_freed_memory: bool = Field(
        True, description="On glibc, serve all memory from the heap and keep what is freed, so each MD step reuses "
                          "its pair tensors' memory instead of page-faulting it afresh (about 2x faster on the CPU "
                          "at 3,000 atoms). Process-wide; the heap stays at its high-water mark (1.5x the "
                          "peak memory at 3,000 atoms).")


def _build(params: PainnParams) -> Any:
    from meltdyn.plugins.potentials.painn_runtime import Painn

    return Painn(params)


@hookimpl
def meltdyn_potentials() -> list[PluginDef]:
    return [PluginDef("painn", "potential", PainnParams, _build,
                      "PaiNN (schnetpack) MLIP trained by meltdyn, run through openmm-torch TorchForce")]
