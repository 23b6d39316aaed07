"""Reference datasets stored as schnetpack ASEAtomsData, with units and provenance in its metadata."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from meltdyn.plugin import LabelledFrame

UNITS = {"energy": "eV", "forces": "eV/Ang", "stress": "eV/Ang/Ang/Ang"}


def append_batch(path: Path, frames: list[LabelledFrame], index: int, provenance: dict[str, Any]) -> None:
    """Add one labeller batch to a dataset being built; each row records its batch and that batch's size."""
    import ase
    from schnetpack.data import ASEAtomsData

    if path.exists():
        data = ASEAtomsData(str(path))
    else:
        data = ASEAtomsData.create(str(path), distance_unit="Ang", property_unit_dict=UNITS)
        data.update_metadata(meltdyn=provenance)
    data.add_systems(
        property_list=[{"energy": np.array([f.energy_eV]), "forces": f.forces_eV_A, "stress": f.stress_eV_A3[None]}
                       for f in frames],
        atoms_list=[ase.Atoms(f.symbols, positions=f.positions_A, cell=f.cell_A, pbc=True) for f in frames],
        atoms_metadata_list=[{"batch": index, "batch_size": len(frames)}] * len(frames))


def complete_batches(path: Path) -> int:
    """How many batches a dataset being built holds in full; rows of a batch cut short are removed."""
    from ase.db import connect

    if not path.exists():
        return 0
    db = connect(str(path), use_lock_file=False)
    rows = [(row.id, row.batch, row.batch_size) for row in db.select()]
    counts: dict[int, int] = {}
    for _, batch, _ in rows:
        counts[batch] = counts.get(batch, 0) + 1
    cut_short = [row_id for row_id, batch, size in rows if counts[batch] < size]
    if cut_short:
        db.delete(cut_short)
    full = [batch for _, batch, size in rows if counts[batch] == size]
    return max(full) + 1 if full else 0


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
