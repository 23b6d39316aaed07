"""Na2O–SiO2 starting configurations: whole formula units, a density model, seeded random packing."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from meltdyn.contracts import ATOMIC_MASS_U, AtomicSystem
from meltdyn.specs import SystemSpec, na2o_fraction

AVOGADRO = 6.02214076e23

# Closest approach allowed when packing (Å), well inside the first-shell distances of the melt
# (Si–O 1.6, Na–O 2.3, O–O 2.6, Si–Si 3.1 Å) so random packing stays feasible at melt density.
MIN_DISTANCE_A: dict[frozenset[str], float] = {
    frozenset({"Si", "O"}): 1.45,
    frozenset({"Na", "O"}): 1.9,
    frozenset({"O"}): 2.2,
    frozenset({"Si"}): 2.6,
    frozenset({"Na", "Si"}): 2.6,
    frozenset({"Na"}): 2.3,
}


def glass_density_g_cm3(x_na2o: float, temperature_K: float) -> float:
    """Approximate Na2O–SiO2 density for packing; NPT equilibration refines it.

    Room-temperature glass density linear in the Na2O mole fraction through vitreous silica (2.20 g/cm³)
    and NS2 glass (2.49 g/cm³) [Bansal & Doremus, Handbook of Glass Properties, 1986], reduced above a
    glass transition of ~750 K by a volumetric expansion of 1e-4 /K, typical of alkali-silicate melts
    [Bockris et al., Trans. Faraday Soc. 51, 1734 (1955)].
    """
    rho_glass = 2.20 + (2.49 - 2.20) * x_na2o / (1.0 / 3.0)
    excess_T = max(0.0, temperature_K - 750.0)
    return rho_glass / (1.0 + 1.0e-4 * excess_T)


@dataclass(frozen=True)
class Recipe:
    """The realised composition: counts of each element and what was asked for."""

    n_na2o: int
    n_sio2: int
    requested_atoms: int
    requested_x_na2o: float

    @property
    def counts(self) -> dict[str, int]:
        return {"Na": 2 * self.n_na2o, "Si": self.n_sio2, "O": self.n_na2o + 2 * self.n_sio2}

    @property
    def n_atoms(self) -> int:
        return sum(self.counts.values())

    @property
    def x_na2o(self) -> float:
        return self.n_na2o / (self.n_na2o + self.n_sio2)

    @property
    def mass_u(self) -> float:
        return sum(n * ATOMIC_MASS_U[s] for s, n in self.counts.items())


def recipe(composition: str | float, atoms: int) -> Recipe:
    """Whole formula units closest to ``atoms`` atoms for the composition."""
    x = na2o_fraction(composition)
    ratio = Fraction(x).limit_denominator(50)
    per_unit = (ratio.numerator, ratio.denominator - ratio.numerator)  # Na2O, SiO2 per formula unit
    unit_atoms = 3 * (per_unit[0] + per_unit[1])
    units = max(1, round(atoms / unit_atoms))
    return Recipe(units * per_unit[0], units * per_unit[1], atoms, x)


def build_system(spec: SystemSpec, composition: str | float, temperature_K: float, seed: int,
                 max_tries_per_atom: int = 2000) -> AtomicSystem:
    """Random packing in a cubic box with minimum inter-species distances, reproducible from ``seed``."""
    rec = recipe(composition, spec.atoms)
    if spec.box_A is not None:
        edge = spec.box_A
        density = rec.mass_u / AVOGADRO / (edge * 1e-8) ** 3
    else:
        density = spec.density_g_cm3 or glass_density_g_cm3(rec.x_na2o, temperature_K)
        edge = (rec.mass_u / AVOGADRO / density) ** (1 / 3) * 1e8
    rng = np.random.default_rng(seed)
    # Place the most constrained species first.
    symbols = [s for s in ("Si", "Na", "O") for _ in range(rec.counts[s])]
    min_d = {k: v * spec.min_distance_scale for k, v in MIN_DISTANCE_A.items()}
    placed = np.empty((len(symbols), 3))
    placed_sym = np.empty(len(symbols), dtype=object)
    for i, sym in enumerate(symbols):
        dmin = np.array([min_d[frozenset({sym, s})] for s in placed_sym[:i]])
        for _ in range(max_tries_per_atom):
            trial = rng.random(3) * edge
            delta = placed[:i] - trial
            delta -= edge * np.round(delta / edge)
            if i == 0 or np.all(np.einsum("ij,ij->i", delta, delta) >= dmin**2):
                placed[i] = trial
                placed_sym[i] = sym
                break
        else:
            raise ValueError(
                f"system: could not place atom {i} ({sym}) of {len(symbols)} at density {density:.3f} g/cm³ "
                f"after {max_tries_per_atom} tries; lower density_g_cm3 or min_distance_scale "
                f"(now {spec.min_distance_scale})")
    order = rng.permutation(len(symbols))  # so atom index carries no information about insertion order
    info = {"composition": composition, "x_na2o": rec.x_na2o, "counts": rec.counts, "requested_atoms": spec.atoms,
            "density_g_cm3": density, "box_A": edge, "seed": seed}
    return AtomicSystem([symbols[j] for j in order], placed[order], np.eye(3) * edge, info)
