"""``meltdyn export``: a run's structures in the formats other codes read (extxyz, LAMMPS data, POSCAR, CIF).

The frames come from the run's production trajectory (or an analysis file's), wrapped into the cell, with the
species and the cell as stored; velocities are not exported. Written through ASE, into a directory meltdyn makes
for them (never over a user's files).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from meltdyn.base.errors import StudyError

FORMATS = {"extxyz": ("extxyz", ".extxyz"), "xyz": ("xyz", ".xyz"), "lammps-data": ("lammps-data", ".data"),
           "vasp": ("vasp", ".vasp"), "cif": ("cif", ".cif")}
"""``--format`` → (ASE's format name, file suffix)."""
MANY_FRAMES = ("extxyz", "xyz")
"""The formats that hold several frames in one file."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("study", help="study file or analysis file (YAML)")
    parser.add_argument("--to", type=Path, required=True, help="a new directory for the files (one per run)")
    parser.add_argument("--format", choices=sorted(FORMATS), default="extxyz", help="file format (default extxyz)")
    parser.add_argument("--frames", default="last",
                        help="last (default), all (extxyz and xyz only), or a frame index (0 the first, -1 the last)")
    parser.add_argument("--output-dir", help="override the file's output_dir")
    parser.add_argument("--only", nargs="+", metavar="RUN_ID", help="export only these runs")


def _frames(choice: str, n_frames: int, fmt: str) -> list[int]:
    if choice == "last":
        return [n_frames - 1]
    if choice == "all":
        if fmt not in MANY_FRAMES:
            raise StudyError(f"--frames: 'all' needs a format holding several frames ({', '.join(MANY_FRAMES)}); "
                             f"--format {fmt} holds one. Give a frame index, or --format extxyz")
        return list(range(n_frames))
    try:
        index = int(choice)
    except ValueError:
        raise StudyError(f"--frames: {choice!r}; allowed: last, all, or a frame index") from None
    if not -n_frames <= index < n_frames:
        raise StudyError(f"--frames: {index} is outside the trajectory's {n_frames} frames (0 to {n_frames - 1}, "
                         "or -1 for the last)")
    return [index % n_frames]


def structures(trajectory: Path, frames: str, fmt: str) -> list[Any]:
    """ASE ``Atoms`` of the chosen frames of a meltdyn H5MD trajectory, wrapped into their cells."""
    from ase import Atoms

    from meltdyn.trajectory.h5md import H5MDReader

    with H5MDReader(trajectory) as reader:
        if reader.n_frames == 0:
            raise StudyError(f"{trajectory}: the trajectory holds no frame yet")
        chosen = _frames(frames, reader.n_frames, fmt)
        boxes = reader.boxes_A()
        images = []
        for k in chosen:
            positions = reader.positions_A(frames=slice(k, k + 1))[0]
            atoms = Atoms(symbols=reader.symbols, positions=positions, cell=boxes[k], pbc=True)
            atoms.wrap()
            atoms.info.update(step=int(reader.steps[k]), time_ps=float(reader.times_ps[k]))
            images.append(atoms)
    return images


def write(images: list[Any], path: Path, fmt: str) -> None:
    import ase.io

    name, _ = FORMATS[fmt]
    options: dict[str, Any] = {}
    if fmt == "lammps-data":
        # Types in the order of sorted species, with their masses: a data file a LAMMPS input can name types by.
        options = {"specorder": sorted(set(images[0].get_chemical_symbols())), "masses": True}
    ase.io.write(path, images if fmt in MANY_FRAMES else images[0], format=name, **options)
