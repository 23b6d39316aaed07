"""What the ``torchsim`` engine needs from a potential: a torch module of the energy of a batch of systems.

A potential runs on TorchSim when it implements :class:`TorchEnergy` and lists ``"torch_model"`` in its outline.
Forces and stress are derivatives of that one energy, taken here by autograd for every engine and check that needs
them (:func:`energy_forces_stress`), so a potential gives one function and gets consistent forces and stress.
Light to import: torch is imported when called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from meltdyn.plugin import AtomicSystem, Interface, LabelledFrame, elements

if TYPE_CHECKING:
    import torch


@runtime_checkable
class TorchEnergy(Protocol):
    def torch_model(self, device: str, dtype: torch.dtype) -> torch.nn.Module:
        """A module with ``forward(positions_A, cells_A, system_idx, numbers) -> energy_eV``.

        Positions (N, 3) in Å, cells (S, 3, 3) with rows a, b, c in Å, the system of each atom (N,) sorted, atomic
        numbers (N,); energies (S,) in eV, differentiable in positions and cells. The module builds its own
        neighbour lists; positions need not be wrapped into the cell.
        """


def periodic_pairs(neighbours: Any, positions: torch.Tensor, cells: torch.Tensor, system_idx: torch.Tensor
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pairs (i, j) within a vesin-torch ``NeighborList``'s cutoff in each system of a batch, and their vectors
    r_j - r_i + shift (Å), differentiable in positions and cells. Atoms of a system are contiguous."""
    import torch

    counts = torch.bincount(system_idx, minlength=cells.shape[0]).tolist()
    first, second, vectors = [], [], []
    start = 0
    for s, n in enumerate(counts):
        x, cell = positions[start:start + n], cells[s]
        i, j, shifts = neighbours.compute(points=x.detach(), box=cell.detach(), periodic=True, quantities="ijS")
        i, j = i.to(torch.long), j.to(torch.long)
        vectors.append(x.index_select(0, j) - x.index_select(0, i) + shifts.to(x.dtype) @ cell)
        first.append(i + start)
        second.append(j + start)
        start += n
    return torch.cat(first), torch.cat(second), torch.cat(vectors)


def energy_forces_stress(model: Any, positions_A: torch.Tensor, cells_A: torch.Tensor, system_idx: torch.Tensor,
                         numbers: torch.Tensor, stress: bool = True
                         ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Energies (S,) eV, forces (N, 3) eV/Å and, if asked, stress ∂E/∂ε / V (S, 3, 3) eV/Å³, all detached.

    The stress is the derivative with respect to a symmetric strain ε applied to positions and cells alike (the
    convention of schnetpack's Strain and ASE), taken in the same backward pass as the forces.
    """
    import torch

    positions = positions_A.detach().requires_grad_(True)
    inputs = [positions]
    cells = cells_A.detach()
    if stress:
        strain = torch.zeros_like(cells, requires_grad=True)
        symmetric = 0.5 * (strain + strain.transpose(1, 2))
        deformed = positions + torch.einsum("ni,nij->nj", positions, symmetric[system_idx])
        cells = cells + cells @ symmetric
        inputs.append(strain)
    else:
        deformed = positions
    energy = model(deformed, cells, system_idx, numbers)
    grads = torch.autograd.grad(energy.sum(), inputs)
    sigma = None
    if stress:
        volume = torch.linalg.det(cells_A.detach()).abs()
        sigma = grads[1] / volume[:, None, None]
    return energy.detach(), -grads[0], sigma


def evaluate(potential: TorchEnergy, system: AtomicSystem, stress: bool = True) -> LabelledFrame:
    """Energy, forces and stress of one configuration through the potential's torch module, in float64 on the CPU."""
    import torch

    model = potential.torch_model("cpu", torch.float64)
    positions = torch.as_tensor(system.positions_A, dtype=torch.float64)
    cells = torch.as_tensor(system.cell_A, dtype=torch.float64)[None]
    system_idx = torch.zeros(system.n_atoms, dtype=torch.long)
    numbers = torch.as_tensor([elements.atomic_number(s) for s in system.symbols], dtype=torch.long)
    energy, forces, sigma = energy_forces_stress(model, positions, cells, system_idx, numbers, stress)
    return LabelledFrame(list(system.symbols), system.positions_A.copy(), system.cell_A.copy(), float(energy[0]),
                         forces.numpy(), sigma[0].numpy() if sigma is not None else np.full((3, 3), np.nan))


TORCH_MODEL = Interface("torch_model", "is a torch module of the energy of a batch of systems (torch_model(device, "
                        "dtype))", TorchEnergy, evaluate)
