"""Na2O–SiO2 starting configurations: whole formula units, a density model, seeded random packing.

Compositions are ``NSk`` (Na2O·k SiO2, e.g. NS2, NS4, NS6) or a Na2O mole fraction in (0, 1).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import Field, model_validator

from meltdyn.plugin import (
    AVOGADRO, AtomicSystem, PluginDef, PluginParams, StudyOutline, SystemBuilder, SystemOutline, elements, hookimpl,
)

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
_NS_RE = re.compile(r"^NS(\d+(?:\.\d+)?)$")
MAX_ATOMS = 1_000_000


def na2o_fraction(composition: str | float) -> float:
    """Mole fraction of Na2O for ``NSk`` (Na2O·k SiO2) or a number in (0, 1)."""
    if isinstance(composition, str):
        m = _NS_RE.match(composition)
        if not m or float(m.group(1)) <= 0:
            raise ValueError(f"composition {composition!r} is not of the form NSk with k > 0 (e.g. NS2, NS4, NS6) "
                             "nor a Na2O mole fraction in (0, 1)")
        return 1.0 / (1.0 + float(m.group(1)))
    if not 0.0 < float(composition) < 1.0:
        raise ValueError(f"composition {composition!r}: a Na2O mole fraction must lie in (0, 1)")
    return float(composition)


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
        return sum(n * elements.mass_u(s) for s, n in self.counts.items())


MAX_UNIT = 50
"""Oxide units per formula unit at most: Na2O fractions are realised to within 1/(2·50²) and lie in [1/50, 49/50]."""
MAX_ATOMS_EXCESS = 1.5
"""A composition whose one formula unit holds more atoms than this times ``atoms`` cannot be made at that size."""


def recipe(composition: str | float, atoms: int) -> Recipe:
    """Whole formula units closest to ``atoms`` atoms for the composition; a composition that would lose one of its
    oxides (x = 1e-300 rounds to pure SiO2) or cannot be made near ``atoms`` atoms is a ValueError saying why."""
    x = na2o_fraction(composition)
    ratio = Fraction(x).limit_denominator(MAX_UNIT)
    per_unit = (ratio.numerator, ratio.denominator - ratio.numerator)  # Na2O, SiO2 per formula unit
    if min(per_unit) == 0:
        raise ValueError(f"composition {composition!r}: a Na2O mole fraction of {x:.3g} rounds to pure "
                         f"{'SiO2' if per_unit[0] == 0 else 'Na2O'} in formula units of at most {MAX_UNIT} oxides; "
                         f"allowed: {1 / MAX_UNIT:g} to {1 - 1 / MAX_UNIT:g} (NSk with k from "
                         f"{1 / (MAX_UNIT - 1):.3g} to {MAX_UNIT - 1})")
    unit_atoms = 3 * (per_unit[0] + per_unit[1])
    if unit_atoms > MAX_ATOMS_EXCESS * atoms:
        raise ValueError(f"composition {composition!r} needs {per_unit[0]} Na2O + {per_unit[1]} SiO2 per formula unit, "
                         f"{unit_atoms} atoms, and system.atoms is {atoms}; give at least {unit_atoms} atoms or a "
                         "composition with a smaller formula unit")
    units = max(1, round(atoms / unit_atoms))
    return Recipe(units * per_unit[0], units * per_unit[1], atoms, x)


class SodiumSilicateParams(PluginParams):
    example_compositions: ClassVar[tuple[str | float, ...]] = ("NS2", "NS6", 0.2)

    atoms: int = Field(gt=0, le=MAX_ATOMS, description="Target atom count; rounded to whole formula units "
                                                       "(reported).")
    density_g_cm3: float | None = Field(None, gt=0.1, le=10, description="Packing density; default from the "
                                                                          "density model.")
    box_A: float | None = Field(None, gt=0, le=1e4, description="Cubic box edge; exclusive with density_g_cm3.")
    min_distance_scale: float = Field(1.0, gt=0, le=1.5, description="Scales the minimum inter-species distances.")

    @model_validator(mode="after")
    def _one_size(self) -> SodiumSilicateParams:
        if self.density_g_cm3 is not None and self.box_A is not None:
            raise ValueError("give density_g_cm3 or box_A, not both")
        return self


def _edge_and_density(params: SodiumSilicateParams, rec: Recipe, temperature_K: float) -> tuple[float, float]:
    if params.box_A is not None:
        return params.box_A, rec.mass_u / AVOGADRO / (params.box_A * 1e-8) ** 3
    density = params.density_g_cm3 or glass_density_g_cm3(rec.x_na2o, temperature_K)
    return (rec.mass_u / AVOGADRO / density) ** (1 / 3) * 1e8, density


def outline(params: SodiumSilicateParams, composition: str | float, temperature_K: float) -> SystemOutline:
    rec = recipe(composition, params.atoms)
    edge, _ = _edge_and_density(params, rec, temperature_K)
    counts = rec.counts
    return SystemOutline(("Na", "Si", "O"), rec.n_atoms, np.eye(3) * edge, tuple(counts[s] for s in ("Na", "Si", "O")))


def check(params: SodiumSilicateParams, study: StudyOutline) -> list[str]:
    problems = []
    fractions: dict[float, Any] = {}
    for composition in study.spec.sweep.compositions:
        x = round(na2o_fraction(composition), 12)
        if x in fractions:
            problems.append(f"sweep.compositions: {composition!r} and {fractions[x]!r} are the same composition")
        fractions[x] = composition
    for run in study.runs:
        rec = recipe(run.composition, params.atoms)
        _, density = _edge_and_density(params, rec, run.temperature_K)
        if density > 4.0:
            problems.append(f"system: run {run.id} would pack {rec.n_atoms} atoms at {density:.2f} g/cm³, denser than "
                            "any Na2O-SiO2 melt (< 3 g/cm³); give a larger box_A or a lower density_g_cm3")
    return problems


class SodiumSilicate(SystemBuilder):
    def __init__(self, params: SodiumSilicateParams, max_tries_per_atom: int = 2000):
        self.params = params
        self.max_tries_per_atom = max_tries_per_atom

    def build(self, composition: str | float, temperature_K: float, seed: int) -> AtomicSystem:
        """Random packing in a cubic box with minimum inter-species distances, reproducible from ``seed``."""
        spec = self.params
        rec = recipe(composition, spec.atoms)
        edge, density = _edge_and_density(spec, rec, temperature_K)
        rng = np.random.default_rng(seed)
        # Place the most constrained species first.
        symbols = [s for s in ("Si", "Na", "O") for _ in range(rec.counts[s])]
        min_d = {k: v * spec.min_distance_scale for k, v in MIN_DISTANCE_A.items()}
        placed = np.empty((len(symbols), 3))
        placed_sym = np.empty(len(symbols), dtype=object)
        for i, sym in enumerate(symbols):
            dmin = np.array([min_d[frozenset({sym, s})] for s in placed_sym[:i]])
            for _ in range(self.max_tries_per_atom):
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
                    f"after {self.max_tries_per_atom} tries; lower density_g_cm3 or min_distance_scale "
                    f"(now {spec.min_distance_scale})")
        order = rng.permutation(len(symbols))  # so atom index carries no information about insertion order
        info = {"composition": composition, "x_na2o": rec.x_na2o, "counts": rec.counts, "requested_atoms": spec.atoms,
                "density_g_cm3": density, "box_A": edge, "seed": seed}
        return AtomicSystem([symbols[j] for j in order], placed[order], np.eye(3) * edge, info)


def _example(workdir: Path) -> dict[str, Any]:
    return {"atoms": 60, "density_g_cm3": 2.3}


@hookimpl
def meltdyn_systems() -> list[PluginDef]:
    return [PluginDef("sodium_silicate", "system", SodiumSilicateParams, SodiumSilicate,
                      "Na2O-SiO2 melts (NSk or Na2O fraction): whole formula units, density model, seeded packing",
                      outline=outline, check=check, example=_example)]
