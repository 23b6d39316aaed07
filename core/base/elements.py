"""Element symbols, numbers and masses for every element, from ASE's tables."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from ase.data import atomic_masses, atomic_numbers, chemical_symbols

__all__ = ["atomic_number", "is_element", "mass_u", "masses_u", "symbol"]


def is_element(name: str) -> bool:
    return name in atomic_numbers and name != "X"


def atomic_number(name: str) -> int:
    if not is_element(name):
        raise ValueError(f"{name!r} is not a chemical element symbol (e.g. Na, Si, O)")
    return int(atomic_numbers[name])


def symbol(number: int) -> str:
    if not 0 < int(number) < len(chemical_symbols):
        raise ValueError(f"{number} is not an atomic number")
    return chemical_symbols[int(number)]


def mass_u(name: str) -> float:
    """Standard atomic weight in u (IUPAC, as tabulated by ASE)."""
    return float(atomic_masses[atomic_number(name)])


def masses_u(names: Iterable[str]) -> np.ndarray:
    table = {name: mass_u(name) for name in set(names)}
    return np.array([table[name] for name in names])
