"""Per-element reference energies, subtracted so the network learns only the interaction (cohesive) energy.

Given (isolated atoms, or any reference a user trusts) or fitted by least squares to the training set. On a
compositional join the fit is rank-deficient: every Na2O–SiO2 frame has O = Na/2 + 2 Si, so adding t·(1, 4, −2) eV
to the Na, Si, O energies changes no frame's fitted energy. The fit then says so (a warning and model.json's
``energy_reference``) and takes the minimum-norm solution (numpy's SVD least squares: reproducible, and the
smallest offsets that fit); energies along the join are unaffected, off it (another composition, an isolated
atom) they are arbitrary unless ``atomic_energies_eV`` are given.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from ase.data import atomic_numbers, chemical_symbols

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EnergyReference:
    """What was subtracted per element (eV) and how it was found."""

    offsets_eV: dict[int, float]
    method: str  # "given" or "least_squares"
    rank: int
    elements: int
    undetermined: list[dict[str, float]] = field(default_factory=list)  # directions the data leave free, per element

    @property
    def note(self) -> str:
        if self.method == "given":
            return "per-element energies given by the training file (atomic_energies_eV)"
        if not self.undetermined:
            return "per-element energies fitted by least squares to the training set (full rank)"
        directions = " and ".join("t·(" + ", ".join(f"{s} {v:+.3g}" for s, v in d.items() if abs(v) > 1e-9) + ") eV"
                                  for d in self.undetermined)
        return (f"per-element energies fitted by least squares are rank-deficient: the training set's compositions "
                f"have rank {self.rank} for {self.elements} elements, so adding {directions} to the fitted energies "
                "fits every frame equally; the minimum-norm solution was taken — energies of these compositions are "
                "unaffected, of any composition outside their span arbitrary; give training.atomic_energies_eV "
                "(isolated atoms, or any reference) to fix them")

    def record(self) -> dict[str, Any]:
        return {**asdict(self), "offsets_eV": {chemical_symbols[z]: e for z, e in self.offsets_eV.items()},
                "note": self.note}


def energy_reference(numbers: list[np.ndarray], energies: np.ndarray,
                     given_eV: dict[str, float] | None = None, warn: bool = True) -> EnergyReference:
    """The per-element energies for frames of these atomic numbers and total energies (see the module docstring).
    ``given_eV`` must name every element present (ValueError naming those missing). ``warn``: log a
    rank-deficient fit (once per committee, not once per member)."""
    elements = sorted({int(z) for n in numbers for z in n})
    counts = np.array([[np.sum(n == z) for z in elements] for n in numbers], dtype=float)
    rank = int(np.linalg.matrix_rank(counts))
    if given_eV is not None:
        missing = [chemical_symbols[z] for z in elements if chemical_symbols[z] not in given_eV]
        if missing:
            raise ValueError(f"training.atomic_energies_eV: no energy for {missing}, present in the reference data; "
                             f"give one for each of {[chemical_symbols[z] for z in elements]}")
        return EnergyReference({z: float(given_eV[chemical_symbols[z]]) for z in elements}, "given", rank,
                               len(elements))
    solution, *_ = np.linalg.lstsq(counts, energies, rcond=None)  # minimum norm where rank-deficient
    _, singular, vt = np.linalg.svd(counts)
    free = vt[rank:]
    undetermined = []
    for direction in free:
        direction = direction / direction[np.argmax(np.abs(direction))]  # largest component 1: readable, unique
        undetermined.append({chemical_symbols[z]: round(float(v), 12) for z, v in zip(elements, direction)})
    reference = EnergyReference(dict(zip(elements, solution.tolist())), "least_squares", rank, len(elements),
                                undetermined)
    if undetermined and warn:
        log.warning("energy reference: %s", reference.note)
    return reference


def element_symbol_problems(energies: dict[str, float]) -> list[str]:
    """Keys of an ``atomic_energies_eV`` mapping that are not element symbols."""
    return [k for k in energies if k not in atomic_numbers or k == "X"]
