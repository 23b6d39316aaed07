"""Trajectories from elsewhere, frame by frame: LAMMPS dumps, extxyz and other ASE formats, DCD (MDAnalysis).

A reader yields :class:`Frame` objects one at a time, so memory holds one frame whatever the file's length; the
analysis converts them once into meltdyn's atom-chunked H5MD (:mod:`meltdyn.convert`). Each reader gives what the file
itself says: element symbols, the step of each frame where the file has one, image flags where it has them.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from meltdyn import elements
from meltdyn.errors import InputError

FORMATS = ("auto", "h5md", "ase", "lammpsdump", "dcd")


@dataclass
class Frame:
    """One frame as a file holds it: positions (Å) and cell rows a, b, c (Å); the file's step and time where it has
    them; image flags where it has them; and whether its positions are already unwrapped (LAMMPS' xu columns)."""

    positions_A: np.ndarray
    cell_A: np.ndarray
    step: int | None = None
    time_ps: float | None = None
    images: np.ndarray | None = None
    unwrapped: bool = False


def element_symbols(labels: list[str], type_elements: dict[str, str] | None, what: str) -> list[str]:
    """Element symbols for a file's atom labels: mapped by ``type_elements``, else the labels themselves if they are
    element symbols; anything else is an error that says how to map them."""
    if type_elements:
        missing = sorted(set(labels) - set(type_elements), key=str)
        if missing:
            raise InputError(f"type_elements: no element for {what} {missing}; it maps {type_elements}")
        for symbol in set(type_elements.values()):
            elements.atomic_number(symbol)
        return [type_elements[label] for label in labels]
    unknown = sorted({label for label in labels if not elements.is_element(label)}, key=str)
    if unknown:
        raise InputError(f"type_elements: the file names {what} {unknown[:8]}, which are not element symbols; map "
                         f"them, e.g. type_elements: {{{', '.join(f'{u!r}: Na' for u in unknown[:2])}}}")
    return labels


def _integer(line: str, what: str) -> int:
    try:
        return int(line)
    except ValueError:
        raise InputError(f"not a LAMMPS dump: expected {what}, found {line.strip()[:40]!r}") from None


def _dump_cell(lines: list[str], header: str) -> tuple[np.ndarray, np.ndarray]:
    """Cell rows and origin from a dump's BOX BOUNDS lines (orthogonal or LAMMPS' triclinic form)."""
    bounds = np.array([[float(v) for v in line.split()] for line in lines])
    if "xy" not in header:
        lo, hi = bounds[:, 0], bounds[:, 1]
        return np.diag(hi - lo), lo
    xy, xz, yz = bounds[:, 2]
    xlo = bounds[0, 0] - min(0.0, xy, xz, xy + xz)
    xhi = bounds[0, 1] - max(0.0, xy, xz, xy + xz)
    ylo, yhi = bounds[1, 0] - min(0.0, yz), bounds[1, 1] - max(0.0, yz)
    zlo, zhi = bounds[2, :2]
    return np.array([[xhi - xlo, 0, 0], [xy, yhi - ylo, 0], [xz, yz, zhi - zlo]]), np.array([xlo, ylo, zlo])


class LammpsDump:
    """A LAMMPS text dump (``dump atom`` or ``custom``): id, type or element, x y z or xu/xs/xsu, optional ix iy iz;
    atoms sorted by id; positions in double precision."""

    def __init__(self, path: Path, type_elements: dict[str, str] | None = None):
        self.path = path
        with open(path) as f:
            first = self._frame_text(f)
        if first is None:
            raise InputError(f"trajectory {str(path)!r} holds no LAMMPS dump frame")
        columns = first["columns"]
        for needed in ("id",):
            if needed not in columns:
                raise InputError(f"trajectory {str(path)!r}: dump columns {columns} have no {needed!r}")
        label = "element" if "element" in columns else "type"
        if label not in columns:
            raise InputError(f"trajectory {str(path)!r}: dump columns {columns} have neither 'type' nor 'element'")
        rows = [line.split() for line in first["atoms"]]
        order = np.argsort([int(r[columns.index("id")]) for r in rows])
        labels = [rows[k][columns.index(label)] for k in order]
        self.symbols = element_symbols(labels, type_elements, "atom types" if label == "type" else "elements")
        self.n_atoms = len(self.symbols)

    @staticmethod
    def _frame_text(f: Any) -> dict[str, Any] | None:
        line = f.readline()
        if not line:
            return None
        if not line.startswith("ITEM: TIMESTEP"):
            raise InputError(f"not a LAMMPS dump: expected 'ITEM: TIMESTEP', found {line.strip()[:40]!r}")
        step = _integer(f.readline(), "the step after ITEM: TIMESTEP")
        f.readline()  # ITEM: NUMBER OF ATOMS
        n = _integer(f.readline(), f"the number of atoms at step {step}")
        box_header = f.readline()
        box = [f.readline() for _ in range(3)]
        columns = f.readline().split()[2:]
        atoms = [f.readline() for _ in range(n)]
        if atoms and not atoms[-1]:
            raise InputError(f"the dump ends in the middle of the frame at step {step}")
        return {"step": step, "box_header": box_header, "box": box, "columns": columns, "atoms": atoms}

    def frames(self) -> Iterator[Frame]:
        with open(self.path) as f:
            while (text := self._frame_text(f)) is not None:
                try:
                    yield self._frame(text)
                except ValueError as exc:  # unparsable numbers, ragged rows
                    if isinstance(exc, InputError):
                        raise
                    raise InputError(f"trajectory {str(self.path)!r}: the frame at step {text['step']} cannot be "
                                     f"read ({exc})") from None

    def _frame(self, text: dict[str, Any]) -> Frame:
        """One frame's atoms, sorted by id, in Å, with the cell and origin from its box bounds."""
        columns = text["columns"]
        numeric = [k for k, c in enumerate(columns) if c != "element"]
        if len(numeric) == len(columns):
            data = np.array("".join(text["atoms"]).split(), dtype=float).reshape(len(text["atoms"]), -1)
        else:
            data = np.loadtxt(io.StringIO("".join(text["atoms"])), usecols=numeric, ndmin=2)
        col = {c: numeric.index(k) for k, c in enumerate(columns) if c != "element"}
        data = data[np.argsort(data[:, col["id"]])]
        cell, origin = _dump_cell(text["box"], text["box_header"])
        for names, scaled in ((("xu", "yu", "zu"), False), (("x", "y", "z"), False),
                              (("xsu", "ysu", "zsu"), True), (("xs", "ys", "zs"), True)):
            if all(n in col for n in names):
                xyz = data[:, [col[n] for n in names]]
                positions = xyz @ cell if scaled else xyz - origin
                unwrapped = names[0].endswith("u")
                break
        else:
            raise InputError(f"trajectory {str(self.path)!r}: dump columns {columns} have no coordinates")
        images = None
        if not unwrapped and all(n in col for n in ("ix", "iy", "iz")):
            images = data[:, [col["ix"], col["iy"], col["iz"]]].astype(np.int64)
        if len(data) != self.n_atoms:
            raise InputError(f"trajectory {str(self.path)!r}: step {text['step']} has {len(data)} atoms, the "
                             f"first frame {self.n_atoms}")
        return Frame(positions, cell, text["step"], None, images, unwrapped)


class ASEFile:
    """Any format ASE reads (extxyz, ...); a frame's step and time come from its info (``step``/``timestep``,
    ``time`` in ps) where the file stores them."""

    def __init__(self, path: Path, type_elements: dict[str, str] | None = None):
        self.path = path
        first = next(self._read(), None)
        if first is None:
            raise InputError(f"trajectory {str(path)!r} holds no frame")
        self.symbols = element_symbols(first.get_chemical_symbols(), type_elements, "elements")
        self.n_atoms = len(self.symbols)

    def _read(self) -> Iterator[Any]:
        import ase.io

        try:
            yield from ase.io.iread(str(self.path), index=":")
        except Exception as exc:  # ASE's readers raise many kinds; all mean the same thing here
            raise InputError(f"trajectory {str(self.path)!r}: ASE cannot read it ({type(exc).__name__}: {exc}); give "
                             "its format (format: lammpsdump, dcd, h5md) if the suffix misleads") from None

    def frames(self) -> Iterator[Frame]:
        for k, atoms in enumerate(self._read()):
            if not atoms.pbc.all():
                raise InputError(f"trajectory {str(self.path)!r}: frame {k} is not periodic in all directions")
            info = atoms.info
            step = info.get("step", info.get("timestep"))
            time = info.get("time")
            yield Frame(atoms.positions.copy(), np.asarray(atoms.cell, dtype=float),
                        int(step) if step is not None else None, float(time) if time is not None else None)


class DCDFile:
    """DCD through MDAnalysis, with a topology file that names the atoms; the header's first step and stride give
    each frame's step where it records them."""

    def __init__(self, path: Path, topology: Path | None, type_elements: dict[str, str] | None = None):
        try:
            import MDAnalysis as mda
        except ImportError:
            raise InputError("format 'dcd' needs MDAnalysis: pip install MDAnalysis") from None
        if topology is None:
            raise InputError("topology: format 'dcd' needs a file with the atoms' names or elements (PDB, PSF, ...)")
        self.universe = mda.Universe(str(topology), str(path))
        self.path = path
        self.symbols = element_symbols([str(n) for n in self.universe.atoms.names], type_elements, "atom names")
        self.n_atoms = len(self.symbols)

    def frames(self) -> Iterator[Frame]:
        from MDAnalysis.lib.mdamath import triclinic_vectors

        header = getattr(self.universe.trajectory, "_file", None)
        header = getattr(header, "header", {}) if header is not None else {}
        first, stride = header.get("istart"), header.get("nsavc")
        for k, ts in enumerate(self.universe.trajectory):
            step = first + k * stride if first is not None and stride else None
            yield Frame(ts.positions.astype(float), triclinic_vectors(ts.dimensions).astype(float), step)


def detect_format(path: Path, fmt: str) -> str:
    if fmt != "auto":
        return fmt
    return {".h5": "h5md", ".h5md": "h5md", ".dcd": "dcd", ".lammpstrj": "lammpsdump", ".dump": "lammpsdump"
            }.get(path.suffix.lower(), "ase")


def open_frames(path: Path, fmt: str, topology: Path | None = None,
                type_elements: dict[str, str] | None = None) -> Any:
    """A frame reader for a foreign trajectory (not H5MD)."""
    if fmt == "lammpsdump":
        return LammpsDump(path, type_elements)
    if fmt == "dcd":
        return DCDFile(path, topology, type_elements)
    return ASEFile(path, type_elements)
