"""SHIK: Buckingham + r^-24 wall + Wolf Coulomb for Na–Si–O, with composition-dependent oxygen charge."""

from __future__ import annotations

import json
import math
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field, model_validator

from meltdyn.contracts import AtomicSystem, Potential
from meltdyn.hookspecs import hookimpl
from meltdyn.plugin import PluginDef, PluginParams

COULOMB_EV_A = 14.399645478  # e^2 / (4 pi eps0) in eV Å
EV_TO_KJ_MOL = 96.48533212
A_TO_NM = 0.1


class ShikParams(PluginParams):
    coulomb: Literal["wolf", "pme"] = Field("wolf", description="Wolf shifted-force sum as published, or PME.")
    coulomb_cutoff_A: float = Field(10.17, gt=0, description="Real-space Coulomb cutoff.")
    wolf_alpha_per_A: float = Field(0.0, ge=0, description="Wolf damping; 0 is the published undamped form.")
    short_range_cutoff_A: float = Field(8.0, gt=0, description="Buckingham + r^-24 cutoff (published: 8 Å).")
    smoothing_gamma_A: float = Field(0.2, ge=0, description="Width of exp(-γ²/(r-rc)²); 0 truncates sharply.")
    table_spacing_A: float = Field(0.002, gt=0, le=0.05, description="Spacing of the OpenMM pair table.")
    table_start_A: float = Field(0.8, gt=0, description="Closest tabulated distance; closer pairs feel a linear wall "
                                 "with the slope the potential has there.")
    pme_tolerance: float = Field(5e-4, gt=0, description="OpenMM Ewald error tolerance, coulomb: pme only.")
    parameters_file: Path | None = Field(None, description="JSON with the same layout as the built-in table.")

    @model_validator(mode="after")
    def _cutoffs(self) -> ShikParams:
        if self.table_start_A >= min(self.short_range_cutoff_A, self.coulomb_cutoff_A):
            raise ValueError(f"table_start_A={self.table_start_A} must lie below both cutoffs")
        return self


def _pair_key(a: str, b: str) -> str:
    return "-".join(sorted((a, b)))


class Shik(Potential):
    def __init__(self, params: ShikParams):
        self.params = params
        source = params.parameters_file
        text = source.read_text() if source else resources.files(__package__).joinpath("shik_parameters.json").read_text()
        self.table = json.loads(text)
        self.pairs = {key: {k: float(v) for k, v in p.items()} for key, p in self.table["pairs"].items()}
        self.species = sorted({s for key in self.pairs for s in key.split("-")})

    def supported_species(self) -> set[str]:
        return set(self.species)

    def charges(self, symbols: list[str]) -> dict[str, float]:
        """Charges per element; oxygen's from charge neutrality of this composition."""
        q = dict(self.table["charges"])
        n = {s: symbols.count(s) for s in set(symbols)}
        if n.get("O", 0) == 0:
            raise ValueError("SHIK needs oxygen: its charge follows from charge neutrality")
        q["O"] = -sum(q[s] * c for s, c in n.items() if s != "O") / n["O"]
        return q

    def short_range_eV(self, a: str, b: str, r_A: np.ndarray) -> np.ndarray:
        """Smoothed Buckingham + r^-24 between elements a and b, in eV, zero beyond the cutoff."""
        p = self.pairs[_pair_key(a, b)]
        rc, gamma = self.params.short_range_cutoff_A, self.params.smoothing_gamma_A
        r = np.asarray(r_A, dtype=float)
        inside = r < rc
        rr = np.where(inside, r, rc / 2)
        v = p["A"] * np.exp(-p["B"] * rr) - p["C"] / rr**6 + p["D"] / rr**24
        if gamma > 0:
            v = v * np.exp(-(gamma**2) / (rr - rc) ** 2)
        return np.where(inside, v, 0.0)

    def wolf_kernel_per_A(self, r_A: np.ndarray) -> np.ndarray:
        """Shifted-force (damped) Coulomb kernel φ(r) in 1/Å: E = q_i q_j k_e φ(r)."""
        a, rc = self.params.wolf_alpha_per_A, self.params.coulomb_cutoff_A
        r = np.asarray(r_A, dtype=float)
        erfc = np.vectorize(math.erfc)
        shift = math.erfc(a * rc) / rc
        slope = math.erfc(a * rc) / rc**2 + 2 * a / math.sqrt(math.pi) * math.exp(-((a * rc) ** 2)) / rc
        phi = erfc(a * r) / r - shift + (r - rc) * slope
        return np.where(r < rc, phi, 0.0)

    def wolf_self_energy_eV(self, q: np.ndarray) -> float:
        a, rc = self.params.wolf_alpha_per_A, self.params.coulomb_cutoff_A
        return -COULOMB_EV_A * (math.erfc(a * rc) / (2 * rc) + a / math.sqrt(math.pi)) * float(np.sum(q**2))

    def openmm_forces(self, system: AtomicSystem) -> list[Any]:
        """Short range as one cubic-spline table over (pair type, r); Coulomb as its own force.

        Two forces rather than one table to the Coulomb cutoff: the table (costly per pair) then covers only the
        8 Å short range, and the Wolf sum is a cheap closed-form expression of the charges — 1.45× faster on the
        CPU platform for 1,000 atoms than folding both into one table (benchmarks/README.md).
        """
        from meltdyn.plugins.engines.openmm_loader import load_openmm

        mm = load_openmm()
        p = self.params
        q = self.charges(system.symbols)
        species = system.species
        ns = len(species)
        system.require_width(max(p.short_range_cutoff_A, p.coulomb_cutoff_A))
        r = np.arange(p.table_start_A, p.short_range_cutoff_A + p.table_spacing_A, p.table_spacing_A)
        rows = [self.short_range_eV(a, b, r) * EV_TO_KJ_MOL for a in species for b in species]
        if ns * ns < 2:  # a 2D table needs two rows
            rows.append(rows[0])
        table = np.array(rows)  # (pair index, r)
        # Below the table OpenMM's function is zero, and the Coulomb attraction would fuse Si-O pairs without any
        # energy rising. Continue instead with the table's slope at its start: a steep wall, C1-continuous.
        r0 = r[0] * A_TO_NM
        slopes = [(self.short_range_eV(a, b, r[:1] + 1e-6)[0] - self.short_range_eV(a, b, r[:1] - 1e-6)[0]) / 2e-6
                  * EV_TO_KJ_MOL / A_TO_NM for a in species for b in species]
        slopes += slopes[:1] * (len(rows) - len(slopes))
        pair = mm.CustomNonbondedForce(f"shik(k, max(r, {r0})) + min(0, r - {r0}) * wall(k); k = type1*{ns}+type2")
        pair.addTabulatedFunction("shik", mm.Continuous2DFunction(
            len(rows), len(r), table.T.ravel().tolist(), 0.0, float(len(rows) - 1), r0, r[-1] * A_TO_NM))
        pair.addTabulatedFunction("wall", mm.Discrete1DFunction(slopes))
        pair.addPerParticleParameter("type")
        for s in system.symbols:
            pair.addParticle([float(species.index(s))])
        pair.setNonbondedMethod(mm.CustomNonbondedForce.CutoffPeriodic)
        pair.setCutoffDistance(p.short_range_cutoff_A * A_TO_NM)
        pair.setUseLongRangeCorrection(False)
        pair.setName("SHIK short range")
        charges = np.array([q[s] for s in system.symbols])
        return [pair, *(self._wolf(mm, charges) if p.coulomb == "wolf" else [self._pme(mm, charges)])]

    def lammps_commands(self, system: AtomicSystem, species: list[str], workdir: Path) -> tuple[list[str], float]:
        """One linear `pair_style table` per species pair holding short range and Wolf Coulomb together.

        The table covers the Fennell–Gezelter form exactly (LAMMPS' coul/dsf energy differs by r_c·f_shift
        per pair), so energies match the OpenMM engine's; below the table LAMMPS stops with an error.
        """
        p = self.params
        if p.coulomb != "wolf":
            raise ValueError("engine lammps runs SHIK with coulomb: wolf only; use engine openmm for PME")
        q = self.charges(system.symbols)
        cutoff = max(p.short_range_cutoff_A, p.coulomb_cutoff_A)
        system.require_width(cutoff)
        points = 20000
        r = np.linspace(p.table_start_A, cutoff, points)
        h = 1e-6
        path = workdir / "shik.table"
        commands = [f"pair_style table linear {points}"]
        with open(path, "w") as f:
            for i, a in enumerate(species):
                for j, b in enumerate(species[i:], start=i):
                    def energy(x: np.ndarray) -> np.ndarray:
                        return self.short_range_eV(a, b, x) + COULOMB_EV_A * q[a] * q[b] * self.wolf_kernel_per_A(x)
                    e, force = energy(r), -(energy(r + h) - energy(r - h)) / (2 * h)
                    force[-1] = 0.0  # both parts vanish with their slopes at the cutoff
                    f.write(f"\n{a}_{b}\nN {points} R {r[0]:.17g} {r[-1]:.17g}\n\n")
                    f.writelines(f"{k + 1} {x:.17g} {ek:.17g} {fk:.17g}\n" for k, (x, ek, fk) in enumerate(zip(r, e, force)))
                    commands.append(f"pair_coeff {i + 1} {j + 1} {path} {a}_{b} {cutoff}")
        charges = np.array([q[s] for s in system.symbols])
        return commands, self.wolf_self_energy_eV(charges)

    def _wolf(self, mm: Any, charges: np.ndarray) -> list[Any]:
        a, rc = self.params.wolf_alpha_per_A / A_TO_NM, self.params.coulomb_cutoff_A * A_TO_NM
        shift = math.erfc(a * rc) / rc
        slope = math.erfc(a * rc) / rc**2 + 2 * a / math.sqrt(math.pi) * math.exp(-((a * rc) ** 2)) / rc
        kernel = "1/r" if a == 0 else f"erfc({a}*r)/r"
        coulomb = mm.CustomNonbondedForce(
            f"{COULOMB_EV_A * EV_TO_KJ_MOL * A_TO_NM}*q1*q2*({kernel} - {shift} + {slope}*(r - {rc}))")
        coulomb.addPerParticleParameter("q")
        for qi in charges:
            coulomb.addParticle([float(qi)])
        coulomb.setNonbondedMethod(mm.CustomNonbondedForce.CutoffPeriodic)
        coulomb.setCutoffDistance(rc)
        coulomb.setName("SHIK Wolf Coulomb")
        # The self term is constant for fixed charges; it keeps energies those of the Fennell–Gezelter form.
        self_term = mm.CustomExternalForce("e")
        self_term.addPerParticleParameter("e")
        e_self = self.wolf_self_energy_eV(charges) * EV_TO_KJ_MOL / len(charges)
        for i in range(len(charges)):
            self_term.addParticle(i, [e_self])
        self_term.setName("SHIK Wolf self energy")
        return [coulomb, self_term]

    def _pme(self, mm: Any, charges: np.ndarray) -> Any:
        coulomb = mm.NonbondedForce()
        coulomb.setNonbondedMethod(mm.NonbondedForce.PME)
        coulomb.setCutoffDistance(self.params.coulomb_cutoff_A * A_TO_NM)
        coulomb.setEwaldErrorTolerance(self.params.pme_tolerance)
        for qi in charges:
            coulomb.addParticle(float(qi), 1.0, 0.0)
        coulomb.setName("SHIK PME Coulomb")
        return coulomb

    def describe(self) -> dict[str, Any]:
        return {"name": "shik", "citations": self.table["citations"], "charges": self.table["charges"],
                "settings": self.params.model_dump(mode="json")}


@hookimpl
def meltdyn_potentials() -> list[PluginDef]:
    return [PluginDef("shik", "potential", ShikParams, Shik,
                      "SHIK Buckingham + r^-24 + Wolf/PME Coulomb for Na2O-SiO2 (Sundararaman et al. 2018, 2019)")]
