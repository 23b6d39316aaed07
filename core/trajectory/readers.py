"""Trajectories from elsewhere, frame by frame: LAMMPS dumps, extxyz and other ASE formats, DCD (MDAnalysis).

A reader yields :class:`Frame` objects one at a time, so memory holds one frame whatever the file's length; the
analysis converts them once into meltdyn's atom-chunked H5MD (:mod:`meltdyn.trajectory.convert`). Each reader gives what the file
itself says: element symbols, the step of each frame where the file has one, image flags where it has them.

Every reader checks the file as it reads it and names the file, the frame (0-based, with its step where the file
has one), the line where the format has lines, the field and the value: a count is checked against the bytes left
in the file before anything is allocated for it, atom ids must be unique and the same in every frame, each atom
keeps its species, and numbers must be finite and in range. :func:`checked_frame` holds the checks every format
shares (finite positions near a finite, non-degenerate cell).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from meltdyn.base import elements
from meltdyn.base.errors import InputError

FORMATS = ("auto", "h5md", "ase", "lammpsdump", "dcd")

MAX_STEP = 2**53
"""Steps become times in float64 (exact to 2**53) and int64 step counts in the H5MD file."""
MAX_CELL_LENGTH_A = 1e6
"""100 µm: far beyond any MD cell; a longer one is a corrupted or unit-confused file."""
MAX_CELLS_AWAY = 1e6
"""A coordinate this many cell lengths from the cell is no atom of a melt (an unwrapped atom would have to diffuse
millimetres), but a corrupted number such as 1e300, which would overflow the unwrapping."""
MIN_NORMALISED_VOLUME = 1e-6
"""|det(cell)| over the product of its row lengths: 1 for a cube, 0 for a flat or singular cell."""
MAX_LINE_BYTES = 65536
"""No line of a text trajectory is this long; a longer one is not read into memory whole."""


@dataclass
class Frame:
    """One frame as a file holds it: positions (Å) and cell rows a, b, c (Å); the file's step and time where it has
    them; image flags where it has them; and whether its positions are already unwrapped (LAMMPS' xu columns).
    ``where`` names the frame in messages (``frame 3 (step 300)``)."""

    positions_A: np.ndarray
    cell_A: np.ndarray
    step: int | None = None
    time_ps: float | None = None
    images: np.ndarray | None = None
    unwrapped: bool = False
    where: str = field(default="", compare=False)


def element_symbols(labels: list[str], type_elements: dict[str, str] | None, what: str) -> list[str]:
    """Element symbols for a file's atom labels: mapped by ``type_elements``, else the labels themselves if they are
    element symbols; anything else is an error that says how to map them."""
    if type_elements:
        missing = sorted(set(labels) - set(type_elements), key=str)
        if missing:
            raise InputError(f"type_elements: no element for {what} {missing[:8]}; it maps {type_elements}")
        for symbol in set(type_elements.values()):
            elements.atomic_number(symbol)
        return [type_elements[label] for label in labels]
    unknown = sorted({label for label in labels if not elements.is_element(label)}, key=str)
    if unknown:
        raise InputError(f"type_elements: the file names {what} {unknown[:8]}, which are not element symbols; map "
                         f"them, e.g. type_elements: {{{', '.join(f'{u!r}: Na' for u in unknown[:2])}}}")
    return labels


def checked_step(value: Any, where: str) -> int:
    """A frame's step as an integer in 0..MAX_STEP."""
    try:
        step = int(value)
        exact = step == value if not isinstance(value, str) else True
    except (TypeError, ValueError, OverflowError):
        raise InputError(f"{where}: step {str(value)[:40]!r} is not an integer") from None
    if not exact:
        raise InputError(f"{where}: step {value} is not an integer")
    if not 0 <= step <= MAX_STEP:
        raise InputError(f"{where}: step {str(step)[:40]} is out of range; allowed 0 to 2**53")
    return step


def checked_frame(frame: Frame, n_atoms: int) -> Frame:
    """The checks every format shares: ``n_atoms`` finite positions, a finite non-degenerate cell of lengths in
    (0, MAX_CELL_LENGTH_A], coordinates within MAX_CELLS_AWAY cell lengths, finite integer image flags."""
    where = frame.where
    cell = np.asarray(frame.cell_A, dtype=float)
    if cell.shape != (3, 3) or not np.isfinite(cell).all():
        raise InputError(f"{where}: the cell {cell.tolist()} is not three finite vectors")
    lengths = np.abs(cell).max(axis=1)  # within √3 of each vector's length, and never overflows
    bad = (lengths <= 0) | (lengths > MAX_CELL_LENGTH_A)
    if bad.any():
        i = int(np.argmax(bad))
        raise InputError(f"{where}: cell vector {'abc'[i]} = {cell[i].tolist()} Å; allowed a non-zero vector of "
                         f"components up to {MAX_CELL_LENGTH_A:g} Å (the trajectory must be periodic in all three "
                         "directions)")
    normalised = abs(float(np.linalg.det(cell))) / float(np.prod(np.linalg.norm(cell, axis=1)))
    if normalised < MIN_NORMALISED_VOLUME:
        raise InputError(f"{where}: the cell {cell.tolist()} is flat or singular (volume "
                         f"{abs(float(np.linalg.det(cell))):.3g} Å³); its three vectors must span space")
    positions = np.asarray(frame.positions_A, dtype=float)
    if positions.shape != (n_atoms, 3):
        raise InputError(f"{where}: {len(positions)} atoms, the first frame has {n_atoms}")
    _check_coordinates(positions, MAX_CELLS_AWAY * float(lengths.max()), "position", where)
    if frame.images is not None:
        _check_coordinates(frame.images, MAX_CELLS_AWAY, "image flag", where)
    if frame.time_ps is not None and not np.isfinite(frame.time_ps):
        raise InputError(f"{where}: time {frame.time_ps} ps is not finite")
    return frame


def _check_coordinates(values: np.ndarray, limit: float, what: str, where: str) -> None:
    bad = ~np.isfinite(values) | (np.abs(values) > limit)
    if bad.any():
        atom, axis = (int(i) for i in np.argwhere(bad)[0])
        unit = " Å" if what == "position" else ""
        raise InputError(f"{where}: atom {atom} (0-based, sorted as the frame is) has {what} {'xyz'[axis]} = "
                         f"{float(values[atom, axis])!r}; allowed finite values within {limit:.3g}{unit} of the "
                         f"cell ({int(bad.sum())} such value(s) in this frame)")


class _Lines:
    """A text file read line by line in binary mode: the line number and the bytes left are always known, and no
    line longer than MAX_LINE_BYTES is read whole."""

    def __init__(self, f: BinaryIO, path: Path):
        self.f, self.path, self.number = f, path, 0
        self.size = path.stat().st_size

    def next(self) -> str | None:
        raw = self.f.readline(MAX_LINE_BYTES)
        if not raw:
            return None
        self.number += 1
        if len(raw) == MAX_LINE_BYTES and not raw.endswith(b"\n"):
            raise InputError(f"trajectory {str(self.path)!r}, line {self.number}: longer than {MAX_LINE_BYTES} "
                             "bytes; not a text trajectory of this format")
        return raw.decode("utf-8", errors="replace")

    @property
    def bytes_left(self) -> int:
        return self.size - self.f.tell()


@dataclass
class _DumpFrame:
    """One dump frame's text: its header values and its atom rows (with the line number of the first)."""

    k: int
    step: int
    box_header: str
    box: list[str]
    box_line: int
    columns: list[str]
    atoms: list[str]
    first_atom_line: int

    @property
    def where(self) -> str:
        return f"frame {self.k} (step {self.step})"


_COORDINATES = ((("xu", "yu", "zu"), False), (("x", "y", "z"), False), (("xsu", "ysu", "zsu"), True),
                (("xs", "ys", "zs"), True))


class LammpsDump:
    """A LAMMPS text dump (``dump atom`` or ``custom``): id, type or element, x y z or xu/xs/xsu, optional ix iy iz;
    atoms sorted by id; positions in double precision. Other columns are read past, not parsed."""

    def __init__(self, path: Path, type_elements: dict[str, str] | None = None):
        self.path = path
        self.name = f"trajectory {str(path)!r}"
        with open(path, "rb") as f:
            first = self._frame_text(_Lines(f, path), 0)
        if first is None:
            raise InputError(f"{self.name} holds no LAMMPS dump frame (the file is empty)")
        self.columns = columns = first.columns
        self.label = "element" if "element" in columns else "type"
        if "id" not in columns or self.label not in columns:
            raise InputError(f"{self.name}, line {first.first_atom_line - 1}: dump columns {columns} need 'id' and "
                             "'type' or 'element'")
        self.coordinates = next(((names, scaled) for names, scaled in _COORDINATES
                                 if all(n in columns for n in names)), None)
        if self.coordinates is None:
            raise InputError(f"{self.name}, line {first.first_atom_line - 1}: dump columns {columns} have no "
                             "coordinates; allowed x y z, xu yu zu, xs ys zs or xsu ysu zsu")
        _, self.ids, self.labels = self._ids_and_labels(first, self._table(first))
        self.symbols = element_symbols(self.labels.tolist(), type_elements,
                                       "atom types" if self.label == "type" else "elements")
        self.n_atoms = len(self.symbols)

    def _error(self, line: int, message: str) -> InputError:
        return InputError(f"{self.name}, line {line}: {message}")

    def _header(self, lines: _Lines, item: str, where: str) -> str:
        line = lines.next()
        if line is None:
            raise InputError(f"{self.name}: the file ends inside {where}, before 'ITEM: {item}'")
        if not line.startswith(f"ITEM: {item}"):
            raise self._error(lines.number, f"{where}: expected 'ITEM: {item}', found {line.strip()[:40]!r}")
        return line

    def _integer_line(self, lines: _Lines, what: str, where: str) -> int:
        line = lines.next()
        if line is None:
            raise InputError(f"{self.name}: the file ends inside {where}, before {what}")
        try:
            return int(line)
        except ValueError:
            raise self._error(lines.number, f"{where}: {what} {line.strip()[:40]!r} is not an integer") from None

    def _frame_text(self, lines: _Lines, k: int) -> _DumpFrame | None:
        line = lines.next()
        if line is None or (k > 0 and not line.strip() and lines.bytes_left == 0):
            return None
        if not line.startswith("ITEM: TIMESTEP"):
            raise self._error(lines.number, f"frame {k}: expected 'ITEM: TIMESTEP', found {line.strip()[:40]!r}; "
                              "not a LAMMPS text dump")
        where = f"frame {k}"
        step = checked_step(self._integer_line(lines, "the step after ITEM: TIMESTEP", where),
                            f"{self.name}, line {lines.number}, {where}")
        where = f"frame {k} (step {step})"
        self._header(lines, "NUMBER OF ATOMS", where)
        n = self._integer_line(lines, "NUMBER OF ATOMS", where)
        count_line = lines.number
        box_header = self._header(lines, "BOX BOUNDS", where)
        box_line = lines.number + 1
        box = [lines.next() or "" for _ in range(3)]
        columns = self._header(lines, "ATOMS", where).split()[2:]
        if len(set(columns)) != len(columns) or not columns:
            raise self._error(lines.number, f"{where}: ITEM: ATOMS names columns {columns}; each once, at least id, "
                              "type and x y z")
        # Each atom row holds a value and a separator per column at least: a count beyond the bytes left in the file
        # is refused before a single row is read (a 1 kB file cannot hold 2,000,000,000 atoms).
        fits = lines.bytes_left // (2 * len(columns))
        if not 1 <= n <= fits:
            raise self._error(count_line, f"{where}: NUMBER OF ATOMS is {n}; allowed 1 to {fits}, as many rows as "
                              f"the {lines.bytes_left} bytes left in the file can hold")
        first_atom_line = lines.number + 1
        atoms = []
        for read in range(n):
            row = lines.next()
            if row is None:
                raise InputError(f"{self.name}: the file ends in {where} after {read} of its {n} atom rows")
            atoms.append(row)
        return _DumpFrame(k, step, box_header, box, box_line, columns, atoms, first_atom_line)

    def frames(self) -> Iterator[Frame]:
        with open(self.path, "rb") as f:
            lines = _Lines(f, self.path)
            k = 0
            while (text := self._frame_text(lines, k)) is not None:
                yield self._frame(text)
                k += 1

    def _table(self, text: _DumpFrame) -> np.ndarray:
        """The atom rows as an (atoms, columns) array of strings; a row with another number of values is named."""
        rows = [line.split() for line in text.atoms]
        width = len(text.columns)
        for i, row in enumerate(rows):
            if len(row) != width:
                raise self._error(text.first_atom_line + i, f"{text.where}: {len(row)} values {row[:8]}, but ITEM: "
                                  f"ATOMS names {width} columns ({' '.join(text.columns)})")
        return np.array(rows, dtype=str).reshape(len(rows), width)

    def _column(self, text: _DumpFrame, table: np.ndarray, name: str, kind: type) -> np.ndarray:
        """One column as integers or finite-or-not floats; a value that is not one is named with its line."""
        values = table[:, text.columns.index(name)]
        try:
            return values.astype(np.int64 if kind is int else float)
        except (ValueError, OverflowError):
            for i, value in enumerate(values):
                try:
                    np.array([value]).astype(np.int64 if kind is int else float)
                except (ValueError, OverflowError):
                    allowed = "an integer" if kind is int else "a number"
                    raise self._error(text.first_atom_line + i, f"{text.where}: {name} {value[:40]!r} is not "
                                      f"{allowed}") from None
            raise

    def _ids_and_labels(self, text: _DumpFrame, table: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The rows' order by atom id, the ids in that order (each once) and the type or element of each."""
        ids = self._column(text, table, "id", int)
        order = np.argsort(ids, kind="stable")
        ids = ids[order]
        repeated = np.flatnonzero(ids[1:] == ids[:-1])
        if len(repeated):
            twice = order[repeated[0]: repeated[0] + 2] + text.first_atom_line
            raise self._error(int(twice.max()), f"{text.where}: atom id {ids[repeated[0]]} appears again (first on "
                              f"line {int(twice.min())}); each atom's id must appear once per frame")
        return order, ids, table[order, text.columns.index(self.label)]

    def _same_atoms(self, text: _DumpFrame, order: np.ndarray, ids: np.ndarray, labels: np.ndarray) -> None:
        """Atoms may not appear, vanish or change species between frames: the analysis follows each one."""
        if len(ids) != len(self.ids) or (ids != self.ids).any():
            gone = np.setdiff1d(self.ids, ids)[:3].tolist()
            new = np.setdiff1d(ids, self.ids)[:3].tolist()
            raise self._error(text.first_atom_line, f"{text.where}: atom ids differ from frame 0's ({len(ids)} atoms, "
                              f"frame 0 {len(self.ids)}; ids missing {gone}, new {new}); every frame must hold the "
                              "same atoms")
        changed = np.flatnonzero(labels != self.labels)
        if len(changed):
            i = int(changed[0])
            raise self._error(text.first_atom_line + int(order[i]), f"{text.where}: atom id {ids[i]} has "
                              f"{self.label} {str(labels[i])!r}, {str(self.labels[i])!r} in frame 0 ({len(changed)} "
                              "atom(s) changed species); an atom keeps its species")

    def _cell(self, text: _DumpFrame) -> tuple[np.ndarray, np.ndarray]:
        """Cell rows and origin from the BOX BOUNDS lines: 'lo hi' a line, or 'lo hi tilt' with 'xy xz yz'."""
        header = text.box_header.split()[3:]
        if "abc" in header:
            raise self._error(text.box_line - 1, f"{text.where}: BOX BOUNDS {' '.join(header)} (LAMMPS' general "
                              "triclinic form) is not read; dump with the restricted triclinic form (xy xz yz)")
        triclinic = "xy" in header
        width = 3 if triclinic else 2
        bounds = []
        for i, line in enumerate(text.box):
            values = line.split()
            try:
                numbers = [float(v) for v in values]
            except ValueError:
                numbers = []
            if len(numbers) != width or not np.isfinite(numbers).all() or max(map(abs, numbers)) > MAX_CELL_LENGTH_A:
                form = "lo hi tilt (the header names xy xz yz)" if triclinic else "lo hi"
                raise self._error(text.box_line + i, f"{text.where}: BOX BOUNDS line {values[:6]}; allowed "
                                  f"{width} finite numbers, {form}, within {MAX_CELL_LENGTH_A:g} Å")
            bounds.append(numbers)
        cell, origin = _dump_cell(np.array(bounds), triclinic)
        lengths = np.diag(cell)
        if (lengths <= 0).any():
            axis = int(np.argmax(lengths <= 0))
            raise self._error(text.box_line + axis, f"{text.where}: BOX BOUNDS give the {'xyz'[axis]} length "
                              f"{float(lengths[axis])!r} Å; hi must exceed lo (by more than the tilts)")
        return cell, origin

    def _frame(self, text: _DumpFrame) -> Frame:
        """One frame's atoms, sorted by id, in Å, with the cell and origin from its box bounds."""
        if text.columns != self.columns:
            raise self._error(text.first_atom_line - 1, f"{text.where}: ITEM: ATOMS names columns {text.columns}, "
                              f"frame 0 {self.columns}; every frame must have the same columns")
        table = self._table(text)
        order, ids, labels = self._ids_and_labels(text, table)
        self._same_atoms(text, order, ids, labels)
        cell, origin = self._cell(text)
        names, scaled = self.coordinates
        xyz = np.stack([self._column(text, table, n, float) for n in names], axis=1)[order]
        if scaled:
            _check_coordinates(xyz, MAX_CELLS_AWAY, "scaled coordinate", f"{self.name}, {text.where}")
        positions = xyz @ cell if scaled else xyz - origin
        unwrapped = names[0].endswith("u")
        images = None
        if not unwrapped and all(n in text.columns for n in ("ix", "iy", "iz")):
            images = np.stack([self._column(text, table, n, int) for n in ("ix", "iy", "iz")], axis=1)[order]
        frame = Frame(positions, cell, text.step, None, images, unwrapped, f"{self.name}, {text.where}")
        return checked_frame(frame, self.n_atoms)


def _dump_cell(bounds: np.ndarray, triclinic: bool) -> tuple[np.ndarray, np.ndarray]:
    """Cell rows and origin from a dump's box bounds (orthogonal or LAMMPS' restricted triclinic form)."""
    if not triclinic:
        lo, hi = bounds[:, 0], bounds[:, 1]
        return np.diag(hi - lo), lo
    xy, xz, yz = bounds[:, 2]
    xlo = bounds[0, 0] - min(0.0, xy, xz, xy + xz)
    xhi = bounds[0, 1] - max(0.0, xy, xz, xy + xz)
    ylo, yhi = bounds[1, 0] - min(0.0, yz), bounds[1, 1] - max(0.0, yz)
    zlo, zhi = bounds[2, :2]
    return np.array([[xhi - xlo, 0, 0], [xy, yhi - ylo, 0], [xz, yz, zhi - zlo]]), np.array([xlo, ylo, zlo])


def check_xyz_counts(path: Path, what: str = "trajectory") -> None:
    """Walk an (ext)xyz file's frame headers as ASE's reader does before it reads a frame, but with each declared
    atom count checked against the lines left: ASE's own walk would call readline() two billion times at the end of
    a 1 kB file declaring 2,000,000,000 atoms."""
    with open(path, "rb") as f:
        lines = _Lines(f, path)
        k = 0
        while (line := lines.next()) is not None and line.strip():
            try:
                n = int(line)
            except ValueError:
                raise InputError(f"{what} {str(path)!r}, line {lines.number}: frame {k}'s atom count "
                                 f"{line.strip()[:40]!r} is not an integer") from None
            fits = lines.bytes_left // 8  # "X 0 0 0\n": the shortest atom line
            if not 1 <= n <= fits:
                raise InputError(f"{what} {str(path)!r}, line {lines.number}: frame {k} declares {n} atoms; allowed "
                                 f"1 to {fits}, as many as the {lines.bytes_left} bytes left in the file can hold")
            for read in range(n + 1):
                if lines.next() is None:
                    raise InputError(f"{what} {str(path)!r}: the file ends in frame {k} after {max(read - 1, 0)} "
                                     f"of its {n} atom lines")
            k += 1


def is_xyz(path: Path, fmt: str | None = None) -> bool:
    """Whether ASE will read ``path`` as (ext)xyz."""
    if fmt is not None:
        return fmt in ("xyz", "extxyz")
    from ase.io.formats import filetype

    try:
        return filetype(str(path), guess=True) in ("xyz", "extxyz")
    except Exception:  # ASE's guess raises many kinds for files it does not know; then ASE will say so itself
        return False


class ASEFile:
    """Any format ASE reads (extxyz, ...); a frame's step and time come from its info (``step``/``timestep``,
    ``time`` in ps) where the file stores them."""

    def __init__(self, path: Path, type_elements: dict[str, str] | None = None):
        self.path = path
        self.name = f"trajectory {str(path)!r}"
        if is_xyz(path):
            check_xyz_counts(path)
        first = next(self._read(), None)
        if first is None:
            raise InputError(f"{self.name} holds no frame")
        self.file_symbols = first.get_chemical_symbols()
        self.symbols = element_symbols(self.file_symbols, type_elements, "elements")
        self.n_atoms = len(self.symbols)

    def _read(self) -> Iterator[Any]:
        import ase.io

        try:
            yield from ase.io.iread(str(self.path), index=":")
        except InputError:
            raise
        except Exception as exc:  # ASE's readers raise many kinds; all mean the same thing here
            raise InputError(f"{self.name}: ASE cannot read it ({type(exc).__name__}: {str(exc)[:200]}); give "
                             "its format (format: lammpsdump, dcd, h5md) if the suffix misleads") from None

    def frames(self) -> Iterator[Frame]:
        for k, atoms in enumerate(self._read()):
            yield self._frame(atoms, k)

    def _frame(self, atoms: Any, k: int) -> Frame:
        info = atoms.info
        step = info.get("step", info.get("timestep"))
        where = f"{self.name}, frame {k}" + (f" (step {step})" if step is not None else "")
        if not atoms.pbc.all():
            raise InputError(f"{where}: not periodic in all directions (pbc {atoms.pbc.tolist()}); give a Lattice")
        symbols = atoms.get_chemical_symbols()
        if len(symbols) != self.n_atoms:
            raise InputError(f"{where}: {len(symbols)} atoms, frame 0 has {self.n_atoms}; every frame must hold the "
                             "same atoms")
        changed = [i for i, (a, b) in enumerate(zip(symbols, self.file_symbols)) if a != b]
        if changed:
            i = changed[0]
            raise InputError(f"{where}: atom {i} is {symbols[i]!r}, {self.file_symbols[i]!r} in frame 0 "
                             f"({len(changed)} atom(s) changed species); an atom keeps its species and its place")
        time = info.get("time")
        try:
            time_ps = float(time) if time is not None else None
        except (TypeError, ValueError):
            raise InputError(f"{where}: time {str(time)[:40]!r} is not a number") from None
        frame = Frame(atoms.positions.copy(), np.asarray(atoms.cell, dtype=float),
                      checked_step(step, where) if step is not None else None, time_ps, where=where)
        return checked_frame(frame, self.n_atoms)


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
        if not topology.is_file():
            raise InputError(f"topology: {str(topology)!r} is not a file")
        self.path = path
        self.name = f"trajectory {str(path)!r}"
        is_dcd, declared = _dcd_header(path)
        if not is_dcd:  # refused here: MDAnalysis' reader, failing half-built, raises again when it is collected
            raise InputError(f"{self.name}: not a DCD file (it does not begin with the 84-byte header record "
                             "holding 'CORD'); check the file and its format")
        try:
            self.universe = mda.Universe(str(topology), str(path), format="DCD")
        except Exception as exc:  # MDAnalysis raises many kinds for unreadable files; all mean the same here
            raise InputError(f"{self.name} with topology {str(topology)!r}: MDAnalysis cannot read them as DCD "
                             f"({type(exc).__name__}: {str(exc)[:200]})") from None
        held = len(self.universe.trajectory)
        if declared is not None and declared > held:
            raise InputError(f"{self.name}: its header declares {declared} frames, the file holds {held} whole "
                             "ones; it was cut short (copy it again, or write its frames anew)")
        self.symbols = element_symbols([str(n) for n in self.universe.atoms.names], type_elements, "atom names")
        self.n_atoms = len(self.symbols)

    def frames(self) -> Iterator[Frame]:
        from MDAnalysis.lib.mdamath import triclinic_vectors

        header = getattr(self.universe.trajectory, "_file", None)
        header = getattr(header, "header", {}) if header is not None else {}
        first, stride = header.get("istart"), header.get("nsavc")
        trajectory = iter(self.universe.trajectory)
        for k in range(len(self.universe.trajectory)):
            where = f"{self.name}, frame {k}"
            try:
                ts = next(trajectory)
            except Exception as exc:  # a truncated or corrupted frame: libdcd raises IOError, StopIteration, ...
                raise InputError(f"{where}: MDAnalysis cannot read it ({type(exc).__name__}: {str(exc)[:200]})"
                                 ) from None
            if ts.dimensions is None:
                raise InputError(f"{where}: the file stores no unit cell; the analysis needs a periodic box")
            step = checked_step(first + k * stride, where) if first is not None and stride else None
            yield checked_frame(Frame(ts.positions.astype(float), triclinic_vectors(ts.dimensions).astype(float),
                                      step, where=where if step is None else f"{where} (step {step})"),
                                self.n_atoms)


def _dcd_header(path: Path) -> tuple[bool, int | None]:
    """Whether ``path`` begins as a DCD file does, and the frame count its header declares (NSET; None where the
    writer left it 0, as some do while a run goes). The header is three Fortran records, each framed by its length:
    84 bytes beginning 'CORD', the title lines (4 + 80 k bytes), the atom count (4 bytes); either byte order."""
    import struct

    with open(path, "rb") as f:
        head = f.read(4096)
    for order in "<>":
        def record(at: int) -> int | None:
            if len(head) < at + 4:
                return None
            (size,) = struct.unpack_from(f"{order}i", head, at)
            end = at + 4 + size
            if size <= 0 or len(head) < end + 4 or struct.unpack_from(f"{order}i", head, end)[0] != size:
                return None
            return size

        if record(0) != 84 or head[4:8] != b"CORD":
            continue
        title = record(92)
        if title is None or (title - 4) % 80 or record(100 + title) != 4:
            return False, None
        (atoms,) = struct.unpack_from(f"{order}i", head, 104 + title)
        (declared,) = struct.unpack_from(f"{order}i", head, 8)
        return atoms > 0, declared if declared > 0 else None
    return False, None


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
