"""SHIK as a torch module of the energy of a batch of systems (Wolf Coulomb), for the ``torch_model`` interface.

Either form's closed form, term for term as :mod:`.potential` writes it in NumPy: smoothed (form authors: shifted,
then smoothed) Buckingham + r^-24 to the short-range cutoff, the shifted-force Wolf sum (form authors: smoothed by
the same factor at its cutoff, no self term; meltdyn_v1: with its self term), and each system's oxygen charge from
its own neutrality, so the systems of a batch may differ in composition.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from torch import nn

from meltdyn.plugin import COULOMB_EV_A, elements
from meltdyn.plugins.engines.torchsim_engine.interface import periodic_pairs

if TYPE_CHECKING:
    from meltdyn.plugins.potentials.shik.potential import Shik

OXYGEN = 8


class ShikEnergy(nn.Module):
    def __init__(self, shik: Shik, dtype: torch.dtype, device: str):
        super().__init__()
        from vesin_torch import NeighborList

        p = shik.params
        species = sorted({s for key in shik.pairs for s in key.split("-")})
        index = torch.full((119,), -1, dtype=torch.long)
        for k, s in enumerate(species):
            index[elements.atomic_number(s)] = k
        tables = {name: torch.zeros(len(species), len(species), dtype=dtype) for name in "ABCD"}
        for key, values in shik.pairs.items():
            a, b = (species.index(s) for s in key.split("-"))
            for name in "ABCD":
                tables[name][a, b] = tables[name][b, a] = values[name]
        charge = torch.zeros(119, dtype=dtype)
        for s, q in shik.table["charges"].items():
            charge[elements.atomic_number(s)] = q
        self.register_buffer("species_index", index)
        self.register_buffer("charge", charge)
        for name, table in tables.items():
            self.register_buffer(name, table)
        self.rc_short, self.gamma = p.short_range_cutoff_A, p.smoothing_gamma_A
        self.rc_coulomb, self.alpha = p.coulomb_cutoff_A, p.wolf_alpha_per_A
        self.authors = p.form == "authors"
        # Form authors shifts the short range by its value at the cutoff, one number per species pair.
        at_cutoff = self.bare(slice(None), slice(None), torch.tensor(self.rc_short, dtype=dtype))
        self.register_buffer("at_cutoff", at_cutoff if self.authors else torch.zeros_like(at_cutoff))
        rc, a = self.rc_coulomb, self.alpha
        self.shift = math.erfc(a * rc) / rc
        self.slope = math.erfc(a * rc) / rc**2 + 2 * a / math.sqrt(math.pi) * math.exp(-((a * rc) ** 2)) / rc
        self.self_factor = 0.0 if self.authors else COULOMB_EV_A * (math.erfc(a * rc) / (2 * rc)
                                                                    + a / math.sqrt(math.pi))
        self.neighbours = NeighborList(cutoff=max(self.rc_short, self.rc_coulomb), full_list=False)
        self.to(device=device, dtype=dtype)

    def charges(self, numbers: torch.Tensor, system_idx: torch.Tensor, n_systems: int) -> torch.Tensor:
        """Per-atom charges; each system's oxygen charge makes that system neutral."""
        q = self.charge[numbers]
        oxygen = numbers == OXYGEN
        others = torch.zeros(n_systems, dtype=q.dtype, device=q.device).index_add(0, system_idx, q * ~oxygen)
        n_oxygen = torch.zeros(n_systems, dtype=q.dtype, device=q.device).index_add(0, system_idx,
                                                                                     oxygen.to(q.dtype))
        return torch.where(oxygen, -(others / n_oxygen)[system_idx], q)

    def bare(self, a: torch.Tensor | slice, b: torch.Tensor | slice, r: torch.Tensor) -> torch.Tensor:
        """Buckingham + r^-24 of species-index pairs (a, b) at distances r, untruncated."""
        return self.A[a, b] * torch.exp(-self.B[a, b] * r) - self.C[a, b] / r**6 + self.D[a, b] / r**24

    def forward(self, positions: torch.Tensor, cells: torch.Tensor, system_idx: torch.Tensor,
                numbers: torch.Tensor) -> torch.Tensor:
        n_systems = cells.shape[0]
        i, j, r_ij = periodic_pairs(self.neighbours, positions, cells, system_idx)
        r = torch.linalg.norm(r_ij, dim=1)
        a, b = self.species_index[numbers[i]], self.species_index[numbers[j]]
        q = self.charges(numbers, system_idx, n_systems)

        inside = r < self.rc_short
        rr = torch.where(inside, r, torch.full_like(r, self.rc_short / 2))  # keeps gradients finite outside
        short = self.bare(a, b, rr) - self.at_cutoff[a, b]
        if self.gamma > 0:
            short = short * torch.exp(-(self.gamma**2) / (rr - self.rc_short) ** 2)
        short = torch.where(inside, short, torch.zeros_like(short))
        inside_c = r < self.rc_coulomb
        rq = torch.where(inside_c, r, torch.full_like(r, self.rc_coulomb / 2))  # finite gradients of the smoothing
        kernel = torch.erfc(self.alpha * rq) / rq - self.shift + self.slope * (rq - self.rc_coulomb)
        if self.authors and self.gamma > 0:
            kernel = kernel * torch.exp(-(self.gamma**2) / (rq - self.rc_coulomb) ** 2)
        coulomb = torch.where(inside_c, COULOMB_EV_A * q[i] * q[j] * kernel, torch.zeros_like(r))
        energy = torch.zeros(n_systems, dtype=r.dtype, device=r.device).index_add(0, system_idx[i], short + coulomb)
        self_energy = torch.zeros(n_systems, dtype=r.dtype, device=r.device).index_add(0, system_idx, q * q)
        return energy - self.self_factor * self_energy
