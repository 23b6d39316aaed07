"""Errors of a trained model as the best trainers report them: MAE and RMSE of the cohesive energy per atom, force
components (all atoms and per species) and stress components, on each of the training, validation and test sets,
and broken down by composition and temperature where the reference frames say them (``LabelledFrame.info``).

Energy errors per atom are the same whether or not the per-element reference energies are subtracted (both sides
lose the same sum); the parity plot subtracts them, so its axis spans the cohesive energy, not the offsets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from ase.data import chemical_symbols

from meltdyn.plugin import EV_A3_TO_GPA
from meltdyn.plugins.potentials.painn.model import Frame, batch


@dataclass(frozen=True)
class Predictions:
    """A model's energies (eV), forces (eV/Å) and stresses (eV/Å³) for a list of frames, frame by frame."""

    energy: np.ndarray
    forces: list[np.ndarray]
    stress: np.ndarray


def predict(model: torch.nn.Module, frames: list[Frame], batch_size: int, device: str = "cpu") -> Predictions:
    """Evaluate ``model`` on ``frames`` (forces and stress by autograd, as in training)."""
    model.eval()
    energy, forces, stress = [], [], []
    for k in range(0, len(frames), batch_size):
        chunk = frames[k:k + batch_size]
        out = model(batch(chunk, device=device))
        energy.append(out["energy"].detach().cpu().numpy())
        stress.append(out["stress"].detach().cpu().numpy())
        flat = out["forces"].detach().cpu().numpy()
        starts = np.cumsum([0] + [len(f.numbers) for f in chunk])
        forces += [flat[a:b] for a, b in zip(starts[:-1], starts[1:])]
    return Predictions(np.concatenate(energy), forces, np.concatenate(stress))


def composition_of(frame: Frame) -> str:
    """The frame's composition as its source named it, else its reduced formula."""
    if "composition" in frame.info:
        return str(frame.info["composition"])
    from ase.formula import Formula

    return str(Formula.from_list([chemical_symbols[z] for z in frame.numbers]).reduce()[0])


def _pair(errors: np.ndarray, unit_scale: float, unit: str, name: str) -> dict[str, float]:
    return {f"{name}_mae_{unit}": float(np.mean(np.abs(errors)) * unit_scale),
            f"{name}_rmse_{unit}": float(np.sqrt(np.mean(errors ** 2)) * unit_scale)}


def errors(frames: list[Frame], predicted: Predictions, indices: list[int]) -> dict[str, Any]:
    """MAE and RMSE over the frames ``indices``: energy per atom (meV/atom), force components (meV/Å; all and
    per species), stress components (GPa; None where no frame there has a stress), and the counts behind them."""
    if not indices:
        return {"frames": 0}
    n = np.array([len(frames[i].numbers) for i in indices])
    energy = np.array([predicted.energy[i] - frames[i].energy for i in indices]) / n
    force_errors = [predicted.forces[i] - frames[i].forces for i in indices]
    numbers = np.concatenate([frames[i].numbers for i in indices])
    flat = np.concatenate(force_errors)
    stress = np.concatenate([(predicted.stress[i] - frames[i].stress).ravel() for i in indices])
    stress = stress[np.isfinite(stress)]
    out: dict[str, Any] = {"frames": len(indices), "atoms": int(n.sum()), **_pair(energy, 1e3, "meV_per_atom",
                                                                                     "energy"),
                           **_pair(flat, 1e3, "meV_per_A", "force")}
    out["force_by_species"] = {chemical_symbols[z]: {"atoms": int(np.sum(numbers == z)),
                                                     **_pair(flat[numbers == z], 1e3, "meV_per_A", "force")}
                               for z in sorted(set(numbers.tolist()))}
    if stress.size:
        out.update(_pair(stress, EV_A3_TO_GPA, "GPa", "stress"))
    else:
        out.update({"stress_mae_GPa": None, "stress_rmse_GPa": None})
    return out


def _groups(frames: list[Frame], indices: list[int], key: Any) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = {}
    for i in indices:
        label = key(frames[i])
        if label is not None:
            groups.setdefault(label, []).append(i)
    return groups


def report(frames: list[Frame], predicted: Predictions, split: dict[str, list[int]]) -> dict[str, Any]:
    """:func:`errors` for each set, with breakdowns by composition and by temperature (``temperature_K`` in the
    frames' info) where the set holds more than one of them."""
    def temperature(frame: Frame) -> str | None:
        value = frame.info.get("temperature_K")
        return None if value is None else f"{float(value):g} K"

    out = {}
    for name, indices in split.items():
        entry = errors(frames, predicted, indices)
        for label, key in (("by_composition", composition_of), ("by_temperature", temperature)):
            groups = _groups(frames, indices, key)
            if len(groups) > 1:
                entry[label] = {g: {k: v for k, v in errors(frames, predicted, members).items()
                                    if k != "force_by_species"} for g, members in sorted(groups.items())}
        out[name] = entry
    return out


def cohesive_per_atom(frames: list[Frame], energies: np.ndarray, offsets_eV: dict[int, float]) -> np.ndarray:
    """Energy minus the per-element reference energies, per atom (eV/atom)."""
    return np.array([(e - sum(offsets_eV[int(z)] for z in f.numbers)) / len(f.numbers)
                     for f, e in zip(frames, energies)])


def committee_mean(members: list[Predictions]) -> Predictions:
    """What the committee predicts: its members' mean energy, forces and stress."""
    return Predictions(np.mean([p.energy for p in members], axis=0),
                       [np.mean([p.forces[k] for p in members], axis=0) for k in range(len(members[0].forces))],
                       np.mean([p.stress for p in members], axis=0))


def max_force_deviation(forces: np.ndarray) -> float:
    """DP-GEN's model deviation of one frame: the largest over atoms of the members' force spread,
    max_i sqrt(<|F_i - <F_i>|²>), in the forces' unit; ``forces`` is (members, atoms, 3)."""
    return float(np.sqrt(np.mean(np.sum((forces - forces.mean(0)) ** 2, axis=-1), axis=0)).max())


def committee_spread(members: list[Predictions], indices: list[int]) -> dict[str, float]:
    """How far the members disagree on the frames ``indices``: the RMS over force components of their standard
    deviation (meV/Å; set beside the force RMSE, it says whether the spread tracks the error) and the frames'
    mean and largest max atomic force deviation (eV/Å, DP-GEN's model deviation)."""
    stacked = [np.stack([p.forces[i] for p in members]) for i in indices]
    deviations = [max_force_deviation(f) for f in stacked]
    variance = np.concatenate([f.var(axis=0).ravel() for f in stacked])
    return {"members": len(members), "force_spread_rms_meV_per_A": float(np.sqrt(variance.mean()) * 1e3),
            "max_force_deviation_mean_eV_per_A": float(np.mean(deviations)),
            "max_force_deviation_max_eV_per_A": float(np.max(deviations))}
