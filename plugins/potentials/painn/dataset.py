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
        atoms_list=[_atoms(f) for f in frames],
        atoms_metadata_list=[{"batch": index, "batch_size": len(frames),
                              **{INFO_PREFIX + k: v for k, v in f.info.items()}} for f in frames])


INFO_PREFIX = "info_"
"""A frame's ``info`` keys are stored with this prefix, apart from the database's own keys (batch, energy, ...)."""


def _atoms(frame: LabelledFrame) -> Any:
    import ase
    from ase import units

    atoms = ase.Atoms(frame.symbols, positions=frame.positions_A, cell=frame.cell_A, pbc=True)
    if frame.velocities_A_fs is not None:  # stored as ASE's momenta: any ASE tool reads them
        atoms.set_velocities(frame.velocities_A_fs / units.fs)
    return atoms


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
    """The frames in the order they were labelled, with their velocities (to ASE's rounding of momenta) and info;
    and the provenance the labelling recorded. Rows are read by the database's order, not by schnetpack's index,
    which assumes ids without gaps (a batch cut short and removed leaves one)."""
    from ase import units
    from ase.db import connect

    db = connect(str(path), use_lock_file=False)
    units_held = db.metadata.get("_property_unit_dict")
    if units_held != UNITS:
        raise ValueError(f"dataset {path}: units {units_held}, expected {UNITS}")
    frames = []
    for row in db.select(sort="id"):
        atoms = row.toatoms()
        velocities = atoms.get_velocities() * units.fs if "momenta" in row else None
        info = {key.removeprefix(INFO_PREFIX): value for key, value in row.key_value_pairs.items()
                if key.startswith(INFO_PREFIX)}
        frames.append(LabelledFrame(
            atoms.get_chemical_symbols(), np.asarray(row.positions, dtype=float),
            np.asarray(row.cell, dtype=float).reshape(3, 3), float(np.asarray(row.data["energy"]).reshape(-1)[0]),
            np.asarray(row.data["forces"], dtype=float), np.asarray(row.data["stress"], dtype=float).reshape(3, 3),
            velocities, info))
    return frames, db.metadata.get("meltdyn", {})
