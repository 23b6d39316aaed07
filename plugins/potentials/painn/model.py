"""PaiNN (schnetpack) for oxide melts: model, per-species energy offsets, batching of labelled frames.

Inside the model lengths are Å and energies eV; md_module turns a trained model into OpenMM's TorchForce.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import schnetpack as spk
from ase.data import atomic_numbers as ATOMIC_NUMBER
import schnetpack.properties as props
import torch
from torch import nn

from meltdyn.plugin import LabelledFrame


class SpeciesOffsets(nn.Module):
    """Adds a fixed energy per atom of each species, so the network learns only the interaction energy."""

    def __init__(self, offsets_eV: dict[int, float]):
        super().__init__()
        table = torch.zeros(119, dtype=torch.float64)
        for z, e in offsets_eV.items():
            table[z] = e
        self.register_buffer("table", table)

    def forward(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        energy = inputs[props.energy]
        per_atom = self.table[inputs[props.Z]].to(energy.dtype)
        inputs[props.energy] = energy + torch.zeros_like(energy).index_add(0, inputs[props.idx_m], per_atom)
        return inputs


@dataclass(frozen=True)
class Architecture:
    cutoff_A: float = 5.0
    features: int = 64
    interactions: int = 3
    radial_basis: int = 20


def build_model(arch: Architecture, offsets_eV: dict[int, float]) -> spk.model.NeuralNetworkPotential:
    """Energy, forces and stress (as ∂E/∂ε / V) from schnetpack's PaiNN."""
    representation = spk.representation.PaiNN(
        n_atom_basis=arch.features, n_interactions=arch.interactions,
        radial_basis=spk.nn.GaussianRBF(n_rbf=arch.radial_basis, cutoff=arch.cutoff_A),
        cutoff_fn=spk.nn.CosineCutoff(arch.cutoff_A))
    return spk.model.NeuralNetworkPotential(
        representation=representation,
        input_modules=[spk.atomistic.Strain(), spk.atomistic.PairwiseDistances()],
        output_modules=[spk.atomistic.Atomwise(n_in=arch.features, output_key=props.energy),
                        SpeciesOffsets(offsets_eV),
                        spk.atomistic.Forces(calc_forces=True, calc_stress=True)])


@dataclass
class Frame:
    """One labelled configuration with its neighbour list: Å, eV, eV/Å, eV/Å³ (stress = ∂E/∂ε / V)."""

    numbers: np.ndarray
    positions: np.ndarray
    cell: np.ndarray
    energy: float
    forces: np.ndarray
    stress: np.ndarray
    idx_i: np.ndarray | None = None
    idx_j: np.ndarray | None = None
    shifts: np.ndarray | None = None
    info: dict[str, str | float] = field(default_factory=dict)  # the source's composition, temperature_K, ...

    def with_neighbours(self, cutoff_A: float) -> Frame:
        from vesin import NeighborList

        i, j, s = NeighborList(cutoff=cutoff_A, full_list=True).compute(
            points=self.positions, box=self.cell, periodic=True, quantities="ijS")
        self.idx_i, self.idx_j, self.shifts = i.astype(np.int64), j.astype(np.int64), s.astype(float)
        return self


def training_frames(labelled: list[LabelledFrame]) -> list[Frame]:
    return [Frame(np.array([ATOMIC_NUMBER[s] for s in f.symbols]), f.positions_A, f.cell_A, f.energy_eV,
                  f.forces_eV_A, f.stress_eV_A3, info=dict(f.info)) for f in labelled]


def batch(frames: list[Frame], dtype: torch.dtype = torch.float32, device: str = "cpu") -> dict[str, torch.Tensor]:
    """Concatenate frames into schnetpack's flat batch layout."""
    start = np.cumsum([0] + [len(f.numbers) for f in frames])
    cat = np.concatenate
    t = lambda x, d=dtype: torch.as_tensor(x, dtype=d, device=device)  # noqa: E731
    return {
        props.Z: t(cat([f.numbers for f in frames]), torch.long),
        props.R: t(cat([f.positions for f in frames])),
        props.cell: t(np.stack([f.cell for f in frames])),
        props.pbc: torch.ones(len(frames), 3, dtype=torch.bool, device=device),
        props.idx_m: t(cat([np.full(len(f.numbers), k) for k, f in enumerate(frames)]), torch.long),
        props.n_atoms: t([len(f.numbers) for f in frames], torch.long),
        props.idx_i: t(cat([f.idx_i + s for f, s in zip(frames, start)]), torch.long),
        props.idx_j: t(cat([f.idx_j + s for f, s in zip(frames, start)]), torch.long),
        props.offsets: t(cat([f.shifts @ f.cell for f in frames])),
        props.energy: t([f.energy for f in frames]),
        props.forces: t(cat([f.forces for f in frames])),
        props.stress: t(np.stack([f.stress for f in frames])),
    }
