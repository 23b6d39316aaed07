"""Reference datasets stored as schnetpack ASEAtomsData, with units and provenance in its metadata."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from meltdyn.contracts import LabelledFrame

UNITS = {"energy": "eV", "forces": "eV/Ang", "stress": "eV/Ang/Ang/Ang"}


def save_dataset(path: Path, frames: list[LabelledFrame], provenance: dict[str, Any]) -> None:
    """Write a new dataset; an existing file is never touched."""
    import ase
    from schnetpack.data import ASEAtomsData

    if path.exists():
        raise FileExistsError(f"{path} exists; meltdyn never overwrites a dataset")
    data = ASEAtomsData.create(str(path), distance_unit="Ang", property_unit_dict=UNITS)
    data.add_systems(
        property_list=[{"energy": np.array([f.energy_eV]), "forces": f.forces_eV_A, "stress": f.stress_eV_A3[None]}
                       for f in frames],
        atoms_list=[ase.Atoms(f.symbols, positions=f.positions_A, cell=f.cell_A, pbc=True) for f in frames])
    data.update_metadata(meltdyn=provenance)


def load_dataset(path: Path) -> tuple[list[LabelledFrame], dict[str, Any]]:
    from ase.data import chemical_symbols
    from schnetpack.data import ASEAtomsData

    data = ASEAtomsData(str(path), load_properties=list(UNITS))
    units = data.metadata["_property_unit_dict"]
    if units != UNITS:
        raise ValueError(f"dataset {path}: units {units}, expected {UNITS}")
    frames = []
    for k in range(len(data)):
        row = data[k]
        frames.append(LabelledFrame(
            [chemical_symbols[int(z)] for z in row["_atomic_numbers"]], row["_positions"].numpy().astype(float),
            row["_cell"].numpy().reshape(3, 3).astype(float), float(row["energy"][0]),
            row["forces"].numpy().astype(float), row["stress"].numpy().reshape(3, 3).astype(float)))
    return frames, data.metadata.get("meltdyn", {})
