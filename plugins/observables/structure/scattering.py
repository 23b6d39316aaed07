"""What each element scatters: coherent neutron scattering lengths and X-ray atomic form factors, with sources.

Neutron: bound coherent scattering lengths of the natural isotope mixtures, in fm, from V. F. Sears, "Neutron
scattering lengths and cross sections", Neutron News 3 (1992) 26–37. X-ray: the four-Gaussian fit of the neutral
atoms' form factors, f(s) = Σᵢ aᵢ exp(−bᵢ s²) + c with s = sin θ / λ = q / 4π (Å⁻¹), coefficients of
International Tables for Crystallography Vol. C (2006), Table 6.1.1.4 (Cromer and Mann's fit). Elements not listed
here have no weighted S(q) of that kind: the observable says so rather than guess.
"""

from __future__ import annotations

import numpy as np

NEUTRON_B_FM = {"O": 5.803, "Si": 4.1491, "Na": 3.63, "Li": -1.90, "K": 3.67, "Ca": 4.70, "Mg": 5.375, "Al": 3.449,
                "B": 5.30, "P": 5.13, "Ba": 5.07, "Ti": -3.438, "Zr": 7.16, "Fe": 9.45}
"""Sears (1992); boron's is the real part for the natural mixture (¹⁰B absorbs strongly: an isotope-substituted
sample needs its own value)."""

XRAY_CROMER_MANN = {
    "O": ((3.0485, 2.2868, 1.5463, 0.8670), (13.2771, 5.7011, 0.3239, 32.9089), 0.2508),
    "Si": ((6.2915, 3.0353, 1.9891, 1.5410), (2.4386, 32.3337, 0.6785, 81.6937), 1.1407),
    "Na": ((4.7626, 3.1736, 1.2674, 1.1128), (3.2850, 8.8422, 0.3136, 129.424), 0.6760),
}
"""(a₁..a₄, b₁..b₄ in Å², c) per element, International Tables Vol. C Table 6.1.1.4; f(0) = Σa + c ≈ Z."""

NEUTRON_SOURCE = "Sears, Neutron News 3 (1992) 26"
XRAY_SOURCE = "International Tables for Crystallography Vol. C (2006) Table 6.1.1.4 (Cromer-Mann)"


def form_factor(symbol: str, q_per_A: np.ndarray) -> np.ndarray:
    """The X-ray form factor of a neutral atom at wavenumbers q (electrons)."""
    a, b, c = XRAY_CROMER_MANN[symbol]
    s2 = (np.asarray(q_per_A, dtype=float) / (4 * np.pi)) ** 2
    return sum(ai * np.exp(-bi * s2) for ai, bi in zip(a, b)) + c


def missing(species: list[str], radiation: str) -> list[str]:
    """The species without tabulated scattering of ``radiation`` (neutron or xray)."""
    table = NEUTRON_B_FM if radiation == "neutron" else XRAY_CROMER_MANN
    return [s for s in species if s not in table]


def weights(species: list[str], radiation: str, q_per_A: np.ndarray) -> np.ndarray:
    """(species, q) scattering amplitudes: b (fm) for neutrons, whatever q; f(q) for X-rays."""
    if radiation == "neutron":
        return np.array([[NEUTRON_B_FM[s]] * len(q_per_A) for s in species])
    return np.array([form_factor(s, q_per_A) for s in species])


__all__ = ["NEUTRON_B_FM", "NEUTRON_SOURCE", "XRAY_CROMER_MANN", "XRAY_SOURCE", "form_factor", "missing", "weights"]
