"""Import reference data users already have: extxyz, VASP (vasprun.xml, OUTCAR) and anything ASE reads."""

from __future__ import annotations

import glob
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from pydantic import Field

from meltdyn.contracts import LabelledFrame, Labeller
from meltdyn.hookspecs import hookimpl
from meltdyn.plugin import PluginDef, PluginParams


class ASEFileParams(PluginParams):
    paths: list[str] = Field(min_length=1, description="Files or glob patterns (extxyz, vasprun.xml, OUTCAR, ...).")
    index: str = Field(":", description="ASE frame selection in each file.")
    format: str | None = Field(None, description="ASE format name when the suffix does not tell.")
    require_stress: bool = Field(True, description="Frames without a stress are an error; if false they are kept and "
                                 "left out of the stress term of the loss.")


class ASEFile(Labeller):
    def __init__(self, params: ASEFileParams):
        self.params = params

    def batches(self, registry: Any, skip: int = 0) -> Iterator[list[LabelledFrame]]:
        """One batch: reading files is cheap, and all of them are checked before any frame is kept."""
        import ase.io

        if skip:
            return

        files = sorted({f for pattern in self.params.paths for f in glob.glob(pattern)})
        if not files:
            raise ValueError(f"reference_data.paths: nothing matches {self.params.paths}")
        out, missing = [], []
        for path in files:
            for k, atoms in enumerate(ase.io.read(path, index=self.params.index, format=self.params.format)):
                calc = atoms.calc
                have = set(calc.results) if calc is not None else set()
                needed = {"energy", "forces"} | ({"stress"} if self.params.require_stress else set())
                if not needed <= have:
                    missing.append(f"{path}[{k}]: no {sorted(needed - have)}")
                    continue
                stress = atoms.get_stress(voigt=False) if "stress" in have else np.full((3, 3), np.nan)
                out.append(LabelledFrame(atoms.get_chemical_symbols(), atoms.positions.copy(), np.asarray(atoms.cell),
                                         float(atoms.get_potential_energy()), atoms.get_forces().copy(), stress))
        if missing:
            shown = "; ".join(missing[:5]) + (f"; and {len(missing) - 5} more" if len(missing) > 5 else "")
            raise ValueError(f"reference_data: {len(missing)} frame(s) lack labels: {shown}")
        yield out


def _example(workdir: Path) -> dict[str, Any]:
    from meltdyn.testing import write_labelled_frames

    return {"paths": [str(write_labelled_frames(workdir / "labelled.extxyz"))]}


@hookimpl
def meltdyn_labellers() -> list[PluginDef]:
    return [PluginDef("ase_file", "labeller", ASEFileParams, ASEFile,
                      "import labelled frames (energy, forces, stress) from extxyz, VASP or any ASE-readable file",
                      example=_example)]
