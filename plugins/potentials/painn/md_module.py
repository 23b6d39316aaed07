"""The TorchForce module: a trained schnetpack PaiNN in OpenMM's units, arranged for MD rather than training.

It speaks OpenMM's units (nm in, kJ/mol out) and builds its own periodic neighbour list with vesin-torch, so it
runs as an openmm-torch ``TorchForce`` on any box at least twice the cutoff wide, triclinic included. It computes
the same function of the same weights as the schnetpack model (tested to 1e-9 in float64) with about half the
work per step, because an MD step needs only ∂E/∂positions and the pair tensors (pairs × features, ~100 MB at
3,000 atoms) are what costs:

- the parameters are frozen: openmm-torch calls ``energy.backward()``, which would otherwise also compute and
  accumulate the gradient of every weight at every step;
- the filter network's bias and the cosine cutoff are folded into one small matrix product per interaction and
  channel on the basis [rbf·f_cut, f_cut], so no (pairs, 3·features·interactions) filter tensor is built,
  multiplied by the cutoff, sliced and, in the backward pass, re-assembled from zero-filled slice gradients;
- the first interaction's vector messages are skipped where they multiply μ_j, which is still zero there;
- neighbour features are gathered with ``index_select`` (its backward is an ``index_add``);
- the per-species energy offsets are one constant for a fixed set of atoms.
"""

from __future__ import annotations

import copy

import numpy as np
import schnetpack as spk
import torch
from torch import nn

EV_TO_KJ_MOL = 96.48533212


class InferencePaiNN(nn.Module):
    """schnetpack's PaiNN representation, same weights and function, returning scalar features (atoms, F)."""

    def __init__(self, painn: spk.representation.PaiNN):
        super().__init__()
        if painn.share_filters or len(painn.electronic_embeddings) > 0:
            raise ValueError("PaiNN with shared filters or electronic embeddings is not supported for export")
        f = painn.n_atom_basis
        self.features = f
        self.radial_basis = painn.radial_basis
        self.cutoff_fn = painn.cutoff_fn
        self.embedding = painn.embedding
        self.interactions = painn.interactions
        self.mixing = painn.mixing
        # filter_net(rbf)·f_cut = [rbf·f_cut, f_cut] @ [Wᵀ; b]: one (rbf + 1, F) block per interaction and channel
        # (scalar, radial-vector, vector-vector), in filter_net's output order.
        net = painn.filter_net
        augmented = torch.cat([net.weight.detach(), net.bias.detach()[:, None]], dim=1).t()
        blocks = augmented.reshape(augmented.shape[0], 3 * len(painn.interactions), f).transpose(0, 1)
        self.register_buffer("filter_blocks", blocks.contiguous())

    def forward(self, numbers: torch.Tensor, r_ij: torch.Tensor, idx_i: torch.Tensor, idx_j: torch.Tensor
                ) -> torch.Tensor:
        f = self.features
        d_ij = torch.norm(r_ij, dim=1)
        dir_ij = (r_ij / d_ij[:, None]).unsqueeze(-1)
        f_cut = self.cutoff_fn(d_ij)[:, None]
        basis = torch.cat([self.radial_basis(d_ij) * f_cut, f_cut], dim=1)
        q = self.embedding(numbers).unsqueeze(1)
        n_atoms = q.shape[0]
        mu = torch.zeros((n_atoms, 3, f), dtype=q.dtype, device=q.device)
        k = 0
        for interaction, mixing in zip(self.interactions, self.mixing):
            ctx_q, ctx_r, ctx_mu = torch.split(interaction.interatomic_context_net(q).squeeze(1), f, dim=-1)
            dq = ctx_q.index_select(0, idx_j) * (basis @ self.filter_blocks[3 * k])
            dmu = (ctx_r.index_select(0, idx_j) * (basis @ self.filter_blocks[3 * k + 1])).unsqueeze(1) * dir_ij
            if k > 0:
                w_mu = ctx_mu.index_select(0, idx_j) * (basis @ self.filter_blocks[3 * k + 2])
                dmu = dmu + w_mu.unsqueeze(1) * mu.index_select(0, idx_j)
            q = q + torch.zeros((n_atoms, f), dtype=q.dtype, device=q.device).index_add(0, idx_i, dq).unsqueeze(1)
            mu = mu + torch.zeros_like(mu).index_add(0, idx_i, dmu)
            q, mu = mixing(q, mu)
            k += 1
        return q.squeeze(1)


class MemberEnergy(nn.Module):
    """One trained model's atomic energies without offsets (eV), from pair vectors: a member of a committee."""

    def __init__(self, model: spk.model.NeuralNetworkPotential):
        super().__init__()
        atomwise = model.output_modules[0]
        if atomwise.aggregation_mode != "sum":
            raise ValueError(f"energy output must sum atomic contributions, not {atomwise.aggregation_mode!r}")
        # copies: casting a module to the MD precision must not change the model it came from
        self.representation = InferencePaiNN(copy.deepcopy(model.representation))
        self.atomic_energy = copy.deepcopy(atomwise.outnet)

    def forward(self, numbers: torch.Tensor, r_ij: torch.Tensor, idx_i: torch.Tensor, idx_j: torch.Tensor
                ) -> torch.Tensor:
        return self.atomic_energy(self.representation(numbers, r_ij, idx_i, idx_j)).squeeze(-1)


def _members(models: list[spk.model.NeuralNetworkPotential]) -> tuple[nn.ModuleList, torch.Tensor]:
    """The members' energy networks and the per-element energy offsets (eV) they share (training fits them once
    for the committee; a committee whose members differ there is refused)."""
    offsets = models[0].output_modules[1].table.detach().clone()
    for model in models[1:]:
        if not torch.equal(model.output_modules[1].table, offsets):
            raise ValueError("committee members with different per-element energy offsets cannot be averaged")
    return nn.ModuleList([MemberEnergy(m) for m in models]), offsets


class BatchedPaiNN(nn.Module):
    """The same function for a batch of systems in meltdyn's units (Å in, eV per system out): the ``torch_model``
    interface, for TorchSim and any other torch-native engine. A committee gives its members' mean energy (so
    forces are the mean forces), from one neighbour list."""

    def __init__(self, models: list[spk.model.NeuralNetworkPotential], cutoff_A: float, dtype: torch.dtype,
                 device: str):
        super().__init__()
        from vesin_torch import NeighborList

        self.members, offsets_eV = _members(models)
        self.register_buffer("offsets_eV", offsets_eV)
        self.neighbours = NeighborList(cutoff=cutoff_A, full_list=True)
        self.to(device=device, dtype=dtype)
        self.requires_grad_(False)

    def member_energies(self, positions: torch.Tensor, cells: torch.Tensor, system_idx: torch.Tensor,
                        numbers: torch.Tensor) -> torch.Tensor:
        """Each member's energy per system (members, systems), eV, offsets included."""
        from meltdyn.plugins.engines.torchsim_engine.interface import periodic_pairs

        i, j, r_ij = periodic_pairs(self.neighbours, positions, cells, system_idx)
        offsets = self.offsets_eV[numbers]
        out = []
        for member in self.members:
            atomic = member(numbers, r_ij, i, j) + offsets
            out.append(torch.zeros(cells.shape[0], dtype=atomic.dtype, device=atomic.device).index_add(
                0, system_idx, atomic))
        return torch.stack(out)

    def forward(self, positions: torch.Tensor, cells: torch.Tensor, system_idx: torch.Tensor,
                numbers: torch.Tensor) -> torch.Tensor:
        return self.member_energies(positions, cells, system_idx, numbers).mean(0)

    def member_forces(self, positions: torch.Tensor, cell: torch.Tensor, numbers: torch.Tensor
                      ) -> tuple[torch.Tensor, torch.Tensor]:
        """Each member's energy (members,) eV and forces (members, atoms, 3) eV/Å for one system, in one pass:
        one neighbour list, and one backward through the members' summed energies, each member's energy
        depending on its own copy of the positions, so that the copies' gradients are the members' forces."""
        i, j, shifts = self.neighbours.compute(points=positions.detach(), box=cell.detach(), periodic=True,
                                               quantities="ijS")
        i, j = i.to(torch.long), j.to(torch.long)
        offset = (self.offsets_eV[numbers]).sum()
        copies = positions.detach().expand(len(self.members), -1, -1).clone().requires_grad_(True)
        shift = shifts.to(positions.dtype) @ cell
        energies = torch.stack([member(numbers, x.index_select(0, j) - x.index_select(0, i) + shift, i, j).sum()
                                for member, x in zip(self.members, copies)]) + offset
        (grad,) = torch.autograd.grad(energies.sum(), copies)
        return energies.detach(), -grad


class OpenMMPaiNN(nn.Module):
    """TorchForce module: positions (nm) and box vectors (nm) in, potential energy (kJ/mol, float64) out; a
    committee's mean energy, its members sharing one neighbour list."""

    def __init__(self, models: list[spk.model.NeuralNetworkPotential], numbers: np.ndarray, cutoff_A: float,
                 dtype: torch.dtype):
        super().__init__()
        from vesin_torch import NeighborList

        self.members, offsets_eV = _members(models)
        self.offset_eV = float(offsets_eV[torch.as_tensor(numbers)].sum())
        self.neighbours = NeighborList(cutoff=cutoff_A, full_list=True)
        self.register_buffer("numbers", torch.as_tensor(numbers, dtype=torch.long))
        self.dtype = dtype
        self.kj_mol_per_eV = EV_TO_KJ_MOL
        self.n_members = len(models)
        self.to(dtype)
        self.requires_grad_(False)

    def forward(self, positions: torch.Tensor, box: torch.Tensor) -> torch.Tensor:
        r = positions.to(self.dtype) * 10.0
        cell = box.to(self.dtype) * 10.0
        i, j, s = self.neighbours.compute(points=r.detach(), box=cell.detach(), periodic=True, quantities="ijS")
        i, j = i.to(torch.long), j.to(torch.long)
        r_ij = r.index_select(0, j) - r.index_select(0, i) + s.to(self.dtype) @ cell
        energy = torch.zeros((), dtype=self.dtype, device=r.device)
        for member in self.members:
            energy = energy + member(self.numbers, r_ij, i, j).sum()
        return (energy.to(torch.float64) / self.n_members + self.offset_eV) * self.kj_mol_per_eV
