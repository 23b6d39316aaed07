"""SHIK for OpenMM: the short range as one cubic-spline table over (pair type, r), Coulomb as its own force.

Two forces rather than one table to the Coulomb cutoff: the table (costly per pair) then covers only the 8 Å short
range, and the Wolf sum is a cheap closed-form expression of the charges — 1.45× faster on the CPU platform for
1,000 atoms than folding both into one table (benchmarks/README.md).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from meltdyn.plugin import A_TO_NM, COULOMB_EV_A, EV_TO_KJ_MOL, AtomicSystem
from meltdyn.plugins.engines.openmm_engine.interface import load_openmm

if TYPE_CHECKING:
    from meltdyn.plugins.potentials.shik.potential import Shik


def openmm_forces(shik: Shik, system: AtomicSystem) -> list[Any]:
    mm = load_openmm()
    p = shik.params
    q = shik.charges(system.symbols)
    species = system.species
    ns = len(species)
    system.require_width(max(p.short_range_cutoff_A, p.coulomb_cutoff_A))
    r = np.arange(p.table_start_A, p.short_range_cutoff_A + p.table_spacing_A, p.table_spacing_A)
    rows = [shik.short_range_eV(a, b, r) * EV_TO_KJ_MOL for a in species for b in species]
    if ns * ns < 2:  # a 2D table needs two rows
        rows.append(rows[0])
    table = np.array(rows)  # (pair index, r)
    # Below the table OpenMM's function is zero, and the Coulomb attraction would fuse Si-O pairs without any
    # energy rising. Continue instead with the table's slope at its start: a steep wall, C1-continuous.
    r0 = r[0] * A_TO_NM
    slopes = [(shik.short_range_eV(a, b, r[:1] + 1e-6)[0] - shik.short_range_eV(a, b, r[:1] - 1e-6)[0]) / 2e-6
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
    return [pair, *(_wolf(mm, shik, charges) if p.coulomb == "wolf" else [_pme(mm, shik, charges)])]


def _wolf(mm: Any, shik: Shik, charges: np.ndarray) -> list[Any]:
    p = shik.params
    a, rc = p.wolf_alpha_per_A / A_TO_NM, p.coulomb_cutoff_A * A_TO_NM
    shift = math.erfc(a * rc) / rc
    slope = math.erfc(a * rc) / rc**2 + 2 * a / math.sqrt(math.pi) * math.exp(-((a * rc) ** 2)) / rc
    kernel = "1/r" if a == 0 else f"erfc({a}*r)/r"
    smooth = ""
    if p.form == "authors" and p.smoothing_gamma_A > 0:
        # exp(-γ²/(r - rc)²) with r - rc held at most -γ/8, where the factor is already e^-64 (1.6e-28): OpenMM's
        # CPU, CUDA and OpenCL platforms evaluate it in single precision, where a pair inside the cutoff test can
        # have r - rc round to exactly 0, and the factor's derivative 2γ²/(r - rc)³·exp(-γ²/(r - rc)²) is then
        # ∞·0 = NaN (a 90-atom melt at 4.5 Å cutoffs met such a pair within one minimisation in 2 of 16 seeds).
        gamma = p.smoothing_gamma_A * A_TO_NM
        smooth = f"*exp(-{gamma ** 2}/min(r - {rc}, {-gamma / 8})^2)"
    coulomb = mm.CustomNonbondedForce(
        f"{COULOMB_EV_A * EV_TO_KJ_MOL * A_TO_NM}*q1*q2*({kernel} - {shift} + {slope}*(r - {rc})){smooth}")
    coulomb.addPerParticleParameter("q")
    for qi in charges:
        coulomb.addParticle([float(qi)])
    coulomb.setNonbondedMethod(mm.CustomNonbondedForce.CutoffPeriodic)
    coulomb.setCutoffDistance(rc)
    coulomb.setName("SHIK Wolf Coulomb")
    if p.form == "authors":
        return [coulomb]  # their pair style has no self term
    # The self term is constant for fixed charges; it keeps energies those of the Fennell–Gezelter form.
    self_term = mm.CustomExternalForce("e")
    self_term.addPerParticleParameter("e")
    e_self = shik.wolf_self_energy_eV(charges) * EV_TO_KJ_MOL / len(charges)
    for i in range(len(charges)):
        self_term.addParticle(i, [e_self])
    self_term.setName("SHIK Wolf self energy")
    return [coulomb, self_term]


def _pme(mm: Any, shik: Shik, charges: np.ndarray) -> Any:
    coulomb = mm.NonbondedForce()
    coulomb.setNonbondedMethod(mm.NonbondedForce.PME)
    coulomb.setCutoffDistance(shik.params.coulomb_cutoff_A * A_TO_NM)
    coulomb.setEwaldErrorTolerance(shik.params.pme_tolerance)
    for qi in charges:
        coulomb.addParticle(float(qi), 1.0, 0.0)
    coulomb.setName("SHIK PME Coulomb")
    return coulomb
