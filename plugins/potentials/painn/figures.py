"""The training's figures: parity of cohesive energy, forces and stress with the errors written on each panel, and
the learning curve (training and validation loss per epoch)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from meltdyn.plugin import EV_A3_TO_GPA, tidy_axes
from meltdyn.plugins.potentials.painn.metrics import Predictions, cohesive_per_atom, errors
from meltdyn.plugins.potentials.painn.model import Frame


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> None:
    for suffix in ("png", "pdf"):
        fig.savefig(path.with_suffix(f".{suffix}"), dpi=150)
    _pyplot().close(fig)


def parity_plot(frames: list[Frame], predicted: Predictions, split: dict[str, list[int]],
                offsets_eV: dict[int, float], path: Path) -> None:
    """Reference against model for the test set (the training set faint behind it), one panel per label, each
    with the test set's MAE and RMSE and the training set's RMSE."""
    plt = _pyplot()

    def values(indices: list[int]) -> list[tuple[np.ndarray, np.ndarray]]:
        sub = [frames[i] for i in indices]
        return [(cohesive_per_atom(sub, np.array([f.energy for f in sub]), offsets_eV),
                 cohesive_per_atom(sub, predicted.energy[indices], offsets_eV)),
                (np.concatenate([f.forces.ravel() for f in sub]),
                 np.concatenate([predicted.forces[i].ravel() for i in indices])),
                (np.concatenate([f.stress.ravel() for f in sub]) * EV_A3_TO_GPA,
                 predicted.stress[indices].reshape(-1) * EV_A3_TO_GPA)]

    test, train = values(split["test"]), values(split["train"])
    metrics = {name: errors(frames, predicted, split[name]) for name in ("test", "train")}
    panels = [("cohesive energy (eV/atom)", "energy", "meV_per_atom", "meV/atom"),
              ("force component (eV/Å)", "force", "meV_per_A", "meV/Å"),
              ("stress component (GPa)", "stress", "GPa", "GPa")]
    fig, axes = plt.subplots(1, 3, figsize=(12, 4), layout="constrained")
    for ax, (label, key, unit, shown), (ref, pred), (ref_train, pred_train) in zip(axes, panels, test, train):
        known, known_train = np.isfinite(ref), np.isfinite(ref_train)  # imported frames may lack a stress
        if not known.any():
            ax.set(title=f"no reference {label.split(' (')[0]} in the test set")
            continue
        ax.plot(ref_train[known_train], pred_train[known_train], ".", ms=1.5, color="0.75",
                label=f"train ({len(split['train'])} frames)")
        ax.plot(ref[known], pred[known], ".", ms=2.5, color="C0", label=f"test ({len(split['test'])} frames)")
        everything = np.concatenate([ref[known], pred[known], ref_train[known_train], pred_train[known_train]])
        lim = [everything.min(), everything.max()]
        ax.plot(lim, lim, "k-", lw=0.5)
        m, t = metrics["test"], metrics["train"]
        ax.text(0.03, 0.97, f"test MAE {m[f'{key}_mae_{unit}']:.3g} {shown}\ntest RMSE {m[f'{key}_rmse_{unit}']:.3g} "
                f"{shown}\ntrain RMSE {t[f'{key}_rmse_{unit}']:.3g} {shown}", transform=ax.transAxes, va="top",
                fontsize=8, bbox={"facecolor": "white", "alpha": 0.8, "lw": 0})
        ax.set(xlabel=f"reference {label}", ylabel=f"PaiNN {label}")
        ax.legend(loc="lower right", fontsize=7, markerscale=3)
    fig.suptitle("cohesive energy: energy minus the per-element reference energies, per atom")
    _save(fig, path)


def learning_curve(history: list[dict[str, Any]], path: Path) -> None:
    """Training loss (mean over the epoch's batches) and validation loss per epoch, the best epoch marked."""
    plt = _pyplot()
    epochs = np.array([h["epoch"] for h in history]) + 1
    validation = np.array([h["validation_loss"] for h in history])
    train = np.array([np.nan if h.get("train_loss") is None else h["train_loss"] for h in history])
    fig, ax = plt.subplots(figsize=(8, 4), layout="constrained")
    ax.plot(epochs, train, "-", label="training (mean over the epoch)")
    ax.plot(epochs, validation, "-", label="validation (end of epoch)")
    best = int(np.argmin(validation))
    ax.plot(epochs[best], validation[best], "o", color="C1", label=f"best: epoch {epochs[best]} (best.pt)")
    ax.set(xlabel="epoch", ylabel="weighted loss (energy, forces, stress)", yscale="log")
    ax.legend()
    tidy_axes(ax)
    _save(fig, path)
