"""Trajectories from elsewhere: extxyz and other ASE formats, LAMMPS dumps and DCD through MDAnalysis.

All readers offer what the analysis needs: symbols, steps, times, the linear sampling interval, positions of
a block of atoms over all frames in Å, per-frame cells, and whether positions are already unwrapped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from meltdyn.trajectory import H5MDReader

FORMATS = ("auto", "h5md", "ase", "lammpsdump", "dcd")


class ArrayTrajectory:
    """A trajectory held in memory, for formats without random access by atom."""

    def __init__(self, symbols: list[str], positions_A: np.ndarray, boxes_A: np.ndarray, timestep_ps: float,
                 frame_interval_steps: int, unwrapped: bool):
        self.symbols = list(symbols)
        self._pos = np.asarray(positions_A, dtype=float)
        self._boxes = np.asarray(boxes_A, dtype=float)
        self.steps = np.arange(len(self._pos), dtype=np.int64) * frame_interval_steps
        self.timestep_ps = timestep_ps
        self.times_ps = self.steps * timestep_ps
        self.linear_interval_steps = frame_interval_steps
        self.unwrapped = unwrapped

    @property
    def n_frames(self) -> int:
        return self._pos.shape[0]

    @property
    def n_atoms(self) -> int:
        return self._pos.shape[1]

    def positions_A(self, atoms: slice | np.ndarray = slice(None)) -> np.ndarray:
        return self._pos[:, atoms, :]

    def boxes_A(self) -> np.ndarray:
        return self._boxes

    def close(self) -> None:
        pass

    def __enter__(self) -> ArrayTrajectory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _read_ase(path: Path, timestep_ps: float, interval: int, unwrapped: bool) -> ArrayTrajectory:
    import ase.io

    frames = ase.io.read(str(path), index=":")
    if any(not f.pbc.all() for f in frames):
        raise ValueError(f"trajectory {str(path)!r}: every frame needs a periodic cell (pbc in all directions)")
    return ArrayTrajectory(frames[0].get_chemical_symbols(), np.stack([f.positions for f in frames]),
                           np.stack([np.asarray(f.cell) for f in frames]), timestep_ps, interval, unwrapped)


def _read_mdanalysis(path: Path, fmt: str, timestep_ps: float, interval: int, unwrapped: bool,
                     topology: Path | None, type_elements: dict[str, str] | None) -> ArrayTrajectory:
    try:
        import MDAnalysis as mda
    except ImportError:
        raise ValueError(f"format {fmt!r} needs MDAnalysis: pip install MDAnalysis") from None
    if fmt == "lammpsdump":
        kwargs: dict[str, Any] = {"lammps_coordinate_convention": "unwrapped" if unwrapped else "auto"}
        u = mda.Universe(str(path), format="LAMMPSDUMP", **kwargs)
    else:
        if topology is None:
            raise ValueError("format 'dcd' needs topology: a file with the atoms' names or elements (PDB, PSF, ...)")
        u = mda.Universe(str(topology), str(path))
    labels = [str(t) for t in (u.atoms.types if fmt == "lammpsdump" else u.atoms.names)]
    if type_elements:
        missing = sorted(set(labels) - set(type_elements))
        if missing:
            raise ValueError(f"type_elements has no element for atom type(s) {missing}; it maps {type_elements}")
        labels = [type_elements[t] for t in labels]
    positions, boxes = [], []
    for ts in u.trajectory:
        positions.append(u.atoms.positions.astype(float))
        boxes.append(mda.lib.mdamath.triclinic_vectors(ts.dimensions))
    return ArrayTrajectory(labels, np.stack(positions), np.stack(boxes), timestep_ps, interval, unwrapped)


def open_trajectory(path: str | Path, fmt: str = "auto", timestep_ps: float | None = None,
                    frame_interval_steps: int = 1, unwrapped: bool = False, topology: str | Path | None = None,
                    type_elements: dict[str, str] | None = None) -> Any:
    """Open any supported trajectory. Formats other than H5MD carry no times, so ``timestep_ps`` is needed."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"trajectory {str(path)!r} does not exist")
    if fmt == "auto":
        suffix = path.suffix.lower()
        fmt = {".h5": "h5md", ".h5md": "h5md", ".dcd": "dcd", ".lammpstrj": "lammpsdump", ".dump": "lammpsdump"
               }.get(suffix, "ase")
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r} is not one of {FORMATS}")
    if fmt == "h5md":
        return H5MDReader(path)
    if timestep_ps is None:
        raise ValueError(f"format {fmt!r} carries no times: give timestep_ps (and frame_interval_steps)")
    if fmt == "ase":
        return _read_ase(path, timestep_ps, frame_interval_steps, unwrapped)
    return _read_mdanalysis(path, fmt, timestep_ps, frame_interval_steps, unwrapped,
                            Path(topology) if topology else None, type_elements)
