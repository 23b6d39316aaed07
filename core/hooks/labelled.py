"""The check every labelled frame passes before it is kept: :func:`checked_frame` (from raw arrays) and
:func:`check_labelled` (a :class:`~meltdyn.hooks.data.LabelledFrame`), whatever labeller made it.

Checked: known
element symbols, finite positions and a finite, non-singular cell, a finite energy, forces of shape (atoms, 3) and
finite, and a stress of 6 (Voigt) or 3x3 components, finite (or NaN throughout where a file has none and the
labeller allows that). The message names the file or labeller, the frame, the field and the value.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from meltdyn.base import elements
from meltdyn.base.errors import InputError
from meltdyn.hooks.data import LabelledFrame

MAX_STRESS_EV_A3 = 1.0
"""No stress component of a condensed-phase reference reaches 1 eV/Å³ (160 GPa): larger ones were written in
another unit than the one declared (GPa read as eV/Å³ is 160 times too large, kbar 1602 times), or the
configuration is unphysical (atoms pushed into each other)."""

MAX_ATOMS_PER_FRAME = 1_000_000
"""A reference frame (DFT, a potential's small cell) holds hundreds of atoms; a million is far beyond any."""


def _shown(value: Any) -> str:
    text = np.array2string(np.asarray(value), threshold=6, precision=6) if not isinstance(value, str) else value
    return text if len(text) <= 80 else text[:77] + "..."


def _array(value: Any, where: str, field: str) -> np.ndarray:
    try:
        return np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise InputError(f"{where}: {field} {_shown(str(value))!r} is not numbers") from None


def _finite(array: np.ndarray, where: str, field: str) -> None:
    bad = ~np.isfinite(array)
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        at = f"[{', '.join(map(str, index))}]" if index else ""
        raise InputError(f"{where}: {field}{at} is {array[index] if index else float(array)}; labels must be "
                         "finite numbers (a failed or diverged calculation?) — remove the frame or relabel it")


def voigt_to_matrix(stress: np.ndarray) -> np.ndarray:
    """ASE's Voigt order xx, yy, zz, yz, xz, xy as a symmetric 3x3 matrix."""
    xx, yy, zz, yz, xz, xy = stress
    return np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]])


def checked_frame(symbols: Any, positions: Any, cell: Any, energy: Any, forces: Any, stress: Any, where: str,
                  allow_missing_stress: bool = False) -> tuple[list[str], np.ndarray, np.ndarray, float, np.ndarray,
                                                               np.ndarray]:
    """The labels of one frame, checked (see the module docstring); the stress comes back as 3x3."""
    symbols = [str(s) for s in symbols]
    n = len(symbols)
    if n == 0:
        raise InputError(f"{where}: the frame holds no atoms")
    if n > MAX_ATOMS_PER_FRAME:
        raise InputError(f"{where}: {n:,} atoms, more than {MAX_ATOMS_PER_FRAME:,} in one reference frame")
    unknown = sorted({s for s in symbols if not elements.is_element(s)})
    if unknown:
        raise InputError(f"{where}: species {unknown[:5]} are not chemical element symbols (e.g. Na, Si, O)")
    positions = _array(positions, where, "positions")
    if positions.shape != (n, 3):
        raise InputError(f"{where}: positions have shape {positions.shape}, expected ({n}, 3)")
    _finite(positions, where, "positions")
    cell = _array(cell, where, "cell")
    if cell.shape != (3, 3):
        raise InputError(f"{where}: cell has shape {cell.shape}, expected (3, 3)")
    _finite(cell, where, "cell")
    lengths = np.linalg.norm(cell, axis=1)
    if np.any(lengths == 0) or abs(np.linalg.det(cell)) < 1e-6 * float(np.prod(lengths)):
        raise InputError(f"{where}: cell {_shown(cell)} is zero or singular; a periodic reference frame needs "
                         "three independent lattice vectors (Lattice= in extxyz)")
    energy_array = _array(energy, where, "energy")
    if energy_array.size != 1:
        raise InputError(f"{where}: energy has {energy_array.size} values, expected one")
    energy_value = float(energy_array.reshape(()))
    _finite(np.asarray(energy_value), where, "energy")
    forces = _array(forces, where, "forces")
    if forces.shape != (n, 3):
        raise InputError(f"{where}: forces have shape {forces.shape}, expected ({n}, 3) for {n} atoms")
    _finite(forces, where, "forces")
    stress = _array(stress, where, "stress")
    if stress.shape == (6,):
        stress = voigt_to_matrix(stress)
    elif stress.shape == (9,):
        stress = stress.reshape(3, 3)
    elif stress.shape != (3, 3):
        raise InputError(f"{where}: stress has {stress.size} values (shape {stress.shape}): {_shown(stress)}; "
                         "expected 6 (Voigt xx yy zz yz xz xy) or 9 (3x3)")
    if not (allow_missing_stress and np.isnan(stress).all()):
        _finite(stress, where, "stress")
    return symbols, positions, cell, energy_value, forces, stress


def check_labelled(frame: LabelledFrame, where: str, allow_missing_stress: bool = False) -> LabelledFrame:
    """A :class:`~meltdyn.hooks.data.LabelledFrame`, checked (its stress as 3x3; velocities, where given, of shape
    (atoms, 3) and finite; ``info`` a mapping of names to numbers or text)."""
    checked = checked_frame(frame.symbols, frame.positions_A, frame.cell_A, frame.energy_eV, frame.forces_eV_A,
                            frame.stress_eV_A3, where, allow_missing_stress)
    velocities = frame.velocities_A_fs
    if velocities is not None:
        velocities = _array(velocities, where, "velocities")
        if velocities.shape != (len(checked[0]), 3):
            raise InputError(f"{where}: velocities have shape {velocities.shape}, expected ({len(checked[0])}, 3)")
        _finite(velocities, where, "velocities")
    info = dict(frame.info)
    for key, value in info.items():
        if not (isinstance(key, str) and key.isidentifier()) or isinstance(value, bool) \
                or not isinstance(value, (str, int, float)):
            raise InputError(f"{where}: info {str(key)[:40]!r}: {_shown(str(value))!r}; info maps names (letters, "
                             "digits, _) to numbers or text")
    return LabelledFrame(*checked, velocities_A_fs=velocities, info=info)
