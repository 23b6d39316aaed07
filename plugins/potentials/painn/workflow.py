"""``meltdyn train TRAIN.yaml``: reference data → PaiNN → a model directory the ``painn`` potential runs."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from pydantic import BaseModel, Field, ValidationError

from meltdyn import errors
from meltdyn.errors import StudyError
from meltdyn.fingerprint import fingerprint, package_versions
from meltdyn.plugins.potentials.painn.dataset import append_batch, complete_batches, load_dataset
from meltdyn.plugins.potentials.painn.model import Architecture, Frame, batch, training_frames
from meltdyn.plugins.potentials.painn.runtime import save_model
from meltdyn.plugins.potentials.painn.training import TrainingSettings, train
from meltdyn.registry import Registry, discover
from meltdyn.results import write_json_atomic
from meltdyn.specs import Spec, plugin_union
from meltdyn.studyfile import read_study_file
from meltdyn.units import EV_A3_TO_GPA

log = logging.getLogger(__name__)


class ArchitectureSpec(Spec):
    cutoff_A: float = Field(5.0, gt=0, description="Neighbour cutoff; 5 Å suits oxides.")
    features: int = Field(64, ge=1)
    interactions: int = Field(3, ge=1)
    radial_basis: int = Field(20, ge=1)


class TrainingSpec(Spec):
    weight_energy: float = Field(1.0, ge=0, description="Weight of MSE(energy per atom).")
    weight_forces: float = Field(10.0, ge=0, description="Weight of MSE(force components).")
    weight_stress: float = Field(100.0, ge=0, description="Weight of MSE(stress components).")
    learning_rate: float = Field(5e-4, gt=0)
    batch_size: int = Field(4, ge=1)
    max_epochs: int = Field(200, ge=1)
    patience_epochs: int = Field(20, ge=1, description="Early stopping on the validation loss.")
    lr_factor: float = Field(0.5, gt=0, lt=1)
    lr_patience_epochs: int = Field(5, ge=1)
    validation_fraction: float = Field(0.1, gt=0, lt=0.5)
    test_fraction: float = Field(0.1, gt=0, lt=0.5)
    seed: int = Field(0, ge=0, le=2**63 - 1, description="Root of the split, the weight initialisation and the "
                      "batch order.")
    deterministic: bool = Field(False, description="torch's deterministic algorithms (bit-identical retraining on "
                                "the same GPU; on the CPU training is deterministic either way).")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto: CUDA when torch sees a GPU.")


def resolve_device(requested: str) -> str:
    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cuda" and not torch.cuda.is_available():
        raise StudyError("training.device: 'cuda' requested but torch sees no CUDA device; allowed: auto, cpu, cuda "
                         "(auto falls back to the CPU)")
    return requested


RESUMABLE_CHANGES = ("device", "max_epochs", "patience_epochs")


def _identity(resolved: dict[str, Any]) -> dict[str, Any]:
    """What a model is. Where it trains and for how long are not: a run may resume on another device, and
    more epochs continue the same seeded sequence of updates that a longer run would have made."""
    return {**resolved, "training": {k: v for k, v in resolved["training"].items() if k not in RESUMABLE_CHANGES}}


def train_model_spec(registry: Registry) -> type[BaseModel]:
    labeller = plugin_union(registry, "labeller")

    class TrainSpec(Spec):
        """Reference data, a PaiNN architecture and training settings; the model goes to output_dir."""

        name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
        output_dir: str
        reference_data: labeller  # type: ignore[valid-type]
        model: ArchitectureSpec = ArchitectureSpec()
        training: TrainingSpec = TrainingSpec()

    return TrainSpec


def _parity_plot(model: Any, frames: list[Frame], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = model(batch(frames))
    n = np.array([len(f.numbers) for f in frames])
    pairs = [("energy per atom (eV)", np.array([f.energy for f in frames]) / n, out["energy"].detach().numpy() / n),
             ("force component (eV/Å)", np.concatenate([f.forces.ravel() for f in frames]),
              out["forces"].detach().numpy().ravel()),
             ("stress component (GPa)", np.concatenate([f.stress.ravel() for f in frames]) * EV_A3_TO_GPA,
              out["stress"].detach().numpy().ravel() * EV_A3_TO_GPA)]
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.6), layout="constrained")
    for ax, (label, ref, pred) in zip(axes, pairs):
        known = np.isfinite(ref)  # imported frames may lack a stress
        ref, pred = ref[known], pred[known]
        if not known.any():
            ax.set(title=f"test set: no reference {label.split(' (')[0]}")
            continue
        ax.plot(ref, pred, ".", ms=2)
        lim = [min(ref.min(), pred.min()), max(ref.max(), pred.max())]
        ax.plot(lim, lim, "k-", lw=0.5)
        ax.set(xlabel=f"reference {label}", ylabel=f"PaiNN {label}", title="test set")
    for suffix in ("png", "pdf"):
        fig.savefig(path.with_suffix(f".{suffix}"), dpi=150)
    plt.close(fig)


def _label(labeller: Any, registry: Registry, out: Path, provenance: dict[str, Any]) -> None:
    """Build dataset.db batch by batch in dataset.partial.db; a restart keeps every batch already labelled."""
    partial, dataset = out / "dataset.partial.db", out / "dataset.db"
    done = complete_batches(partial)
    if done:
        log.info("reference data: keeping %d labelled batch(es) from %s", done, partial)
    for index, frames in enumerate(labeller.batches(registry, skip=done), start=done):
        if frames:
            append_batch(partial, frames, index, provenance)
    if not partial.exists():
        raise StudyError("reference_data: the labeller produced no frames")
    os.replace(partial, dataset)


def train_from_spec(source: str | Path | dict[str, Any], registry: Registry | None = None) -> dict[str, Any]:
    """Run a training spec; resume an interrupted one in the same output_dir; refuse a different one there."""
    registry = registry or discover()
    data = dict(source) if isinstance(source, dict) else read_study_file(source, "training file")
    model_cls = train_model_spec(registry)
    try:
        spec = model_cls.model_validate(data)
    except ValidationError as exc:
        raise StudyError("invalid training spec:\n  " + "\n  ".join(errors.describe(exc, model_cls))) from None
    device = resolve_device(spec.training.device)
    out = Path(spec.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    resolved = spec.model_dump(mode="json")
    spec_path = out / "spec.json"
    if spec_path.exists() and _identity(json.loads(spec_path.read_text())) != _identity(resolved):
        raise StudyError(f"{out} holds a model trained from a different spec; meltdyn never overwrites it")
    write_json_atomic(spec_path, resolved)
    dataset = out / "dataset.db"
    versions = package_versions()
    data_fingerprint = fingerprint({"reference_data": resolved["reference_data"]}, {}, versions)
    if not dataset.exists():
        _label(registry.build("labeller", spec.reference_data), registry, out,
               {"reference_data": resolved["reference_data"], "fingerprint": data_fingerprint, "packages": versions})
    labelled, _ = load_dataset(dataset)
    frames = training_frames(labelled)
    arch = Architecture(**spec.model.model_dump())
    settings = TrainingSettings(**{**spec.training.model_dump(), "device": device})
    model, outcome = train(frames, arch, settings, out)
    recipe = _identity(resolved)
    del recipe["output_dir"], recipe["name"]  # where it goes and what it is called change no number
    save_model(out, arch, outcome, frames, provenance={
        "fingerprint": fingerprint(recipe, {"training": spec.training.seed}, versions), "packages": versions,
        "dataset_fingerprint": data_fingerprint})
    _parity_plot(model, [frames[i] for i in outcome.split["test"]], out / "parity")
    return {"model_dir": str(out), "frames": len(frames), "epochs": len(outcome.history),
            "test_metrics": outcome.test_metrics, "architecture": asdict(arch)}
