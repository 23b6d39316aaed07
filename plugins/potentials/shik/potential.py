"""SHIK itself: parameters, charges, the pair energy and the Wolf kernel of either form, in NumPy (Å, eV).

Engines get it through their interfaces, each encoded in its own module.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from meltdyn.plugin import COULOMB_EV_A, AtomicSystem, Potential
from meltdyn.plugins.potentials.shik import ShikParams, parameter_table


def pair_key(a: str, b: str) -> str:
    return "-".join(sorted((a, b)))


def smoothing(r_A: np.ndarray, cutoff_A: float, gamma_A: float) -> np.ndarray:
    """exp(-γ²/(r - r_c)²) for r < r_c: near 1 well inside, zero with every derivative at r_c; 1 for γ = 0."""
    if gamma_A == 0:
        return np.ones_like(r_A, dtype=float)
    return np.exp(-(gamma_A**2) / (r_A - cutoff_A) ** 2)


class Shik(Potential):
    def __init__(self, params: ShikParams):
        self.params = params
        self.table = parameter_table(params)
        self.pairs = {key: {k: float(v) for k, v in p.items()} for key, p in self.table["pairs"].items()}

    def charges(self, symbols: list[str]) -> dict[str, float]:
        """Charges per element; oxygen's from charge neutrality of this composition."""
        q = dict(self.table["charges"])
        n = {s: symbols.count(s) for s in set(symbols)}
        if n.get("O", 0) == 0:
            raise ValueError("SHIK needs oxygen: its charge follows from charge neutrality")
        q["O"] = -sum(q[s] * c for s, c in n.items() if s != "O") / n["O"]
        return q

    def short_range_eV(self, a: str, b: str, r_A: np.ndarray) -> np.ndarray:
        """Buckingham + r^-24 between elements a and b in eV, smoothed to zero at the cutoff and zero beyond; form
        authors first subtracts its value at the cutoff, as their pair style does."""
        p = self.pairs[pair_key(a, b)]
        rc, gamma = self.params.short_range_cutoff_A, self.params.smoothing_gamma_A

        def bare(x: np.ndarray | float) -> np.ndarray:
            return p["A"] * np.exp(-p["B"] * x) - p["C"] / x**6 + p["D"] / x**24

        r = np.asarray(r_A, dtype=float)
        inside = r < rc
        rr = np.where(inside, r, rc / 2)
        v = bare(rr) - bare(rc) if self.params.form == "authors" else bare(rr)
        return np.where(inside, v * smoothing(rr, rc, gamma), 0.0)

    def wolf_kernel_per_A(self, r_A: np.ndarray) -> np.ndarray:
        """Coulomb kernel φ(r) in 1/Å, E = q_i q_j k_e φ(r): the shifted-force (damped) Wolf kernel, which form
        authors multiplies by the short range's smoothing factor taken at the Coulomb cutoff."""
        a, rc = self.params.wolf_alpha_per_A, self.params.coulomb_cutoff_A
        r = np.asarray(r_A, dtype=float)
        inside = r < rc
        rr = np.where(inside, r, rc / 2)
        erfc = np.vectorize(math.erfc)
        shift = math.erfc(a * rc) / rc
        slope = math.erfc(a * rc) / rc**2 + 2 * a / math.sqrt(math.pi) * math.exp(-((a * rc) ** 2)) / rc
        phi = erfc(a * rr) / rr - shift + (rr - rc) * slope
        if self.params.form == "authors":
            phi = phi * smoothing(rr, rc, self.params.smoothing_gamma_A)
        return np.where(inside, phi, 0.0)

    def wolf_self_energy_eV(self, q: np.ndarray) -> float:
        """The Wolf sum's constant self term; form authors has none (their pair style sums pairs only)."""
        if self.params.form == "authors":
            return 0.0
        a, rc = self.params.wolf_alpha_per_A, self.params.coulomb_cutoff_A
        return -COULOMB_EV_A * (math.erfc(a * rc) / (2 * rc) + a / math.sqrt(math.pi)) * float(np.sum(q**2))

    # -- interfaces (see this plugin's outline) -------------------------------------------------------------------

    def openmm_forces(self, system: AtomicSystem, target: Any) -> list[Any]:
        from meltdyn.plugins.potentials.shik.for_openmm import openmm_forces

        return openmm_forces(self, system)

    def lammps_commands(self, system: AtomicSystem, species: list[str], workdir: Path) -> tuple[list[str], float]:
        from meltdyn.plugins.potentials.shik.for_lammps import lammps_commands

        return lammps_commands(self, system, species, workdir)

    def torch_model(self, device: str, dtype: Any) -> Any:
        from meltdyn.plugins.potentials.shik.for_torch import ShikEnergy

        if self.params.coulomb != "wolf":
            raise ValueError("coulomb: the torch encoding of SHIK has the Wolf sum only; use engine openmm for PME")
        return ShikEnergy(self, dtype, device)

    def describe(self) -> dict[str, Any]:
        return {"name": "shik", "citations": self.table.get("citations", []), "charges": self.table["charges"],
                "settings": self.params.model_dump(mode="json")}
