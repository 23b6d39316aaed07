"""A run's thermodynamic log, ``thermo.csv`` in its directory: what ``log.lammps`` gives, for every engine.

One row per report interval of every MD stage and per production frame: the stage, the step within it, the
simulated time since the protocol began, the engine's instantaneous temperature, the potential energy per atom,
the cell volume and the density. A session that resumes from a checkpoint first drops the rows written after that
checkpoint (the steps it is about to redo), so the log, like the trajectory, holds each step once.
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path
from typing import Any

import numpy as np


THERMO = "thermo.csv"
COLUMNS = ("stage", "stage_kind", "step", "time_ps", "temperature_K", "potential_energy_eV_per_atom", "volume_A3",
           "density_g_cm3")
"""The log's columns; units are in the names."""


class StepLog:
    """Appends rows that begin (stage, stage_kind, step, ...) to a CSV file with ``columns``; ``resumes_at`` is the
    (stage, step) of the checkpoint this session continues from: rows after it are dropped, at the first row this
    session records — so a session that fails before it simulates anything (a damaged checkpoint, say) leaves the
    log as it was."""

    def __init__(self, path: Path, columns: tuple[str, ...], resumes_at: tuple[int, int]):
        self.path, self.columns, self.resumes_at = path, columns, resumes_at
        self._file: Any = None
        self._writer: Any = None

    def _open(self) -> Any:
        rows, whole = _read(self.path, len(self.columns))
        kept = [row for row in rows if (int(row[0]), int(row[2])) <= self.resumes_at]
        if not self.path.exists() or len(kept) < len(rows) or not whole:
            tmp = self.path.with_name(self.path.name + ".tmp")
            with open(tmp, "w", newline="") as f:
                writer = csv.writer(f)
                writer.writerow(self.columns)
                writer.writerows(kept)
            os.replace(tmp, self.path)
        self._file = open(self.path, "a", newline="")
        return csv.writer(self._file)

    def write(self, row: list[Any]) -> None:
        if self._writer is None:
            self._writer = self._open()
        self._writer.writerow(row)
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


class ThermoLog(StepLog):
    """A run's ``thermo.csv`` (see the module docstring)."""

    def __init__(self, run_dir: Path, n_atoms: int, mass_g: float, resumes_at: tuple[int, int]):
        super().__init__(run_dir / THERMO, COLUMNS, resumes_at)
        self.n_atoms, self.mass_g = n_atoms, mass_g

    def record(self, stage: int, kind: str, step: int, time_ps: float, temperature_K: float, energy_eV: float,
               cell_A: np.ndarray) -> None:
        volume = abs(float(np.linalg.det(cell_A)))
        density = self.mass_g / (volume * 1e-24) if volume > 0 else math.nan
        self.write([stage, kind, step, f"{time_ps:.6g}", f"{temperature_K:.6g}", f"{energy_eV / self.n_atoms:.8g}",
                    f"{volume:.6g}", f"{density:.6g}"])


def _read(path: Path, width: int) -> tuple[list[list[str]], bool]:
    """The well-formed rows of an existing log, and whether it was whole: a last line without its newline was cut
    short by a crash mid-write and is left out, whatever it holds."""
    if not path.exists():
        return [], True
    text = path.read_text()
    lines = text.split("\n")[:-1]  # what follows the last newline: nothing, or a line cut short
    good = [row for row in csv.reader(lines[1:]) if len(row) == width and row[0].isdigit() and row[2].isdigit()]
    return good, text.endswith("\n")


def read_log(path: Path) -> dict[str, np.ndarray]:
    """A step log as columns by its header (``stage_kind`` as strings, the rest as numbers); empty if none."""
    path = Path(path)
    if not path.exists():
        return {}
    with open(path, newline="") as f:
        header = next(csv.reader(f), [])
    rows, _ = _read(path, len(header))
    columns = {name: [row[k] for row in rows] for k, name in enumerate(header)}
    return {name: np.array(values) if name == "stage_kind" else np.array(values, dtype=float)
            for name, values in columns.items()}


def read_thermo(run_dir: Path) -> dict[str, np.ndarray]:
    """A run's thermodynamic log as columns (``stage_kind`` as strings, the rest as numbers)."""
    log = read_log(Path(run_dir) / THERMO)
    return log or {name: np.array([]) if name == "stage_kind" else np.array([], dtype=float) for name in COLUMNS}
