"""Independent implementations used as test oracles."""

from __future__ import annotations

import json
import math
from importlib import resources

import numpy as np

KE = 14.399645478  # e²/(4πε0) in eV Å


SHIK_TABLES = {"authors": "parameters.json", "meltdyn_v1": "parameters_meltdyn_v1.json"}


def numpy_shik(symbols, pos, edge, charges, rc_sr=8.0, rc_c=10.0, gamma=0.2, alpha=0.0, form="authors"):
    """Energy (eV), forces (eV/Å) and stress ∂E/∂ε / V (eV/Å³) by direct summation over minimum-image pairs;
    a second implementation of SHIK, sharing no code with meltdyn's.

    form "authors", as the authors' pair style shik/wolf writes it (undamped only):
      E_ij = [V(r) - V(r_sr)] g(r; r_sr) + k q_i q_j [1/r - 1/r_c + (r - r_c)/r_c²] g(r; r_c), no self term;
    form "meltdyn_v1":
      E_ij = V(r) g(r; r_sr) + k q_i q_j [erfc(αr)/r - erfc(αr_c)/r_c + s (r - r_c)], minus the Wolf self term;
    V = A e^(-Br) - C/r⁶ + D/r²⁴, g(r; x) = exp(-γ²/(r - x)²)."""
    assert form == "meltdyn_v1" or alpha == 0.0, "the authors' form is undamped"
    table = json.loads(resources.files("meltdyn.plugins.potentials.shik").joinpath(SHIK_TABLES[form]).read_text())
    n = len(symbols)
    q = np.array([charges[s] for s in symbols])
    energy, forces, virial = 0.0, np.zeros((n, 3)), np.zeros((3, 3))
    slope = math.erfc(alpha * rc_c) / rc_c**2 + 2 * alpha / math.sqrt(math.pi) * math.exp(-(alpha * rc_c) ** 2) / rc_c

    def smooth(r, cut):
        """g and dg/dr, zero from the cutoff on."""
        inside = r < cut
        x = np.where(inside, r - cut, -1.0)
        g = np.where(inside, np.exp(-gamma**2 / x**2), 0.0)
        return g, np.where(inside, g * 2 * gamma**2 / x**3, 0.0)

    for i in range(n - 1):
        d = pos[i] - pos[i + 1:]
        d -= edge * np.round(d / edge)
        r = np.linalg.norm(d, axis=1)
        p = [table["pairs"]["-".join(sorted((symbols[i], s)))] for s in symbols[i + 1:]]
        A, B, C, D = (np.array([x[k] for x in p]) for k in "ABCD")
        v = A * np.exp(-B * r) - C / r**6 + D / r**24
        dv = -A * B * np.exp(-B * r) + 6 * C / r**7 - 24 * D / r**25
        if form == "authors":
            v = v - (A * np.exp(-B * rc_sr) - C / rc_sr**6 + D / rc_sr**24)
        g, dg = smooth(r, rc_sr)
        qq = KE * q[i] * q[i + 1:]
        inside_c = r < rc_c
        if form == "authors":
            gc, dgc = smooth(r, rc_c)
            phi = 1 / r - 1 / rc_c + (r - rc_c) / rc_c**2
            e_c = np.where(inside_c, qq * phi * gc, 0.0)
            de_c = np.where(inside_c, qq * ((-1 / r**2 + 1 / rc_c**2) * gc + phi * dgc), 0.0)
        else:
            erfc_r = np.array([math.erfc(alpha * x) for x in r])
            e_c = np.where(inside_c, qq * (erfc_r / r - math.erfc(alpha * rc_c) / rc_c + slope * (r - rc_c)), 0.0)
            de_r = -erfc_r / r**2 - 2 * alpha / math.sqrt(math.pi) * np.exp(-(alpha * r) ** 2) / r
            de_c = np.where(inside_c, qq * (de_r + slope), 0.0)
        energy += np.sum(v * g) + np.sum(e_c)
        dedr = dv * g + v * dg + de_c
        f = -dedr[:, None] * d / r[:, None]
        virial += np.einsum("p,pa,pb->ab", dedr / r, d, d)
        forces[i] += f.sum(axis=0)
        forces[i + 1:] -= f
    if form == "meltdyn_v1":
        energy -= KE * (math.erfc(alpha * rc_c) / (2 * rc_c) + alpha / math.sqrt(math.pi)) * np.sum(q**2)
    return energy, forces, virial / edge**3
