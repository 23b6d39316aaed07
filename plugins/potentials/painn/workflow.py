"""``meltdyn train TRAIN.yaml``: reference data → PaiNN → a model directory the ``painn`` potential runs."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from pydantic import BaseModel, Field, ValidationError, model_validator

from meltdyn.plugin import (
    EV_A3_TO_GPA, InputError, Registry, Spec, StudyError, check_labelled, claim, discover, fingerprint, invalid,
    kind_of, package_versions, plugin_union, read_study_file, write_json_atomic,
)
from meltdyn.plugins.potentials.painn import (
    MAX_CUTOFF_A, MAX_FEATURES, MAX_INTERACTIONS, MAX_RADIAL_BASIS, architecture_problems,
)
from meltdyn.plugins.potentials.painn.dataset import append_batch, complete_batches, load_dataset
from meltdyn.plugins.potentials.painn.model import Architecture, Frame, batch, training_frames
from meltdyn.plugins.potentials.painn.runtime import save_model
from meltdyn.plugins.potentials.painn.training import CheckpointError, TrainingSettings, split_problem, train

log = logging.getLogger(__name__)


class ArchitectureSpec(Spec):
    cutoff_A: float = Field(5.0, gt=0, description="Neighbour cutoff; 5 Å suits oxides (pairs, and memory, grow "
                            f"with its cube; at most {MAX_CUTOFF_A:g} Å).")
    features: int = Field(64, ge=1, description=f"Width of the atom features (at most {MAX_FEATURES}).")
    interactions: int = Field(3, ge=1, description=f"Message-passing layers (at most {MAX_INTERACTIONS}).")
    radial_basis: int = Field(20, ge=1, description=f"Gaussians of the distance expansion (at most "
                              f"{MAX_RADIAL_BASIS}).")

    @model_validator(mode="after")
    def _allocatable(self) -> ArchitectureSpec:
        problems = architecture_problems(self.model_dump(), "")
        if problems:
            raise ValueError("; ".join(problems))
        return self


class TrainingSpec(Spec):
    weight_energy: float = Field(1.0, ge=0, description="Weight of MSE(energy per atom).")
    weight_forces: float = Field(10.0, ge=0, description="Weight of MSE(force components).")
    weight_stress: float = Field(100.0, ge=0, description="Weight of MSE(stress components).")
    learning_rate: float = Field(5e-4, gt=0, description="Adam's initial learning rate.")
    batch_size: int = Field(4, ge=1, le=100_000, description="Frames per optimisation step.")
    max_epochs: int = Field(200, ge=1, le=1_000_000, description="Upper bound on the epochs (early stopping "
                            "usually ends training sooner).")
    patience_epochs: int = Field(20, ge=1, le=1_000_000, description="Early stopping on the validation loss.")
    lr_factor: float = Field(0.5, gt=0, lt=1, description="The learning rate is multiplied by this when the "
                             "validation loss stalls.")
    lr_patience_epochs: int = Field(5, ge=1, le=1_000_000, description="Epochs without improvement before that.")
    validation_fraction: float = Field(0.1, gt=0, lt=0.5, description="Share of the frames held out for early "
                                       "stopping (at least one frame).")
    test_fraction: float = Field(0.1, gt=0, lt=0.5, description="Share of the frames held out for the test "
                                 "metrics and the parity plot (at least one frame).")
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

        name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", description="The model's name (letters, "
                          "digits, . _ -).")
        output_dir: str = Field(description="Where the reference data, checkpoints and the model go "
                                "(relative to the current directory); never overwritten, resumed if interrupted.")
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
        frames = [check_labelled(f, f"reference_data: batch {index}, frame {k}", allow_missing_stress=True)
                  for k, f in enumerate(frames)]
        if frames:
            append_batch(partial, frames, index, provenance)
    if not partial.exists():
        raise StudyError("reference_data: the labeller produced no frames")
    os.replace(partial, dataset)


TRAINING_FILES = {"spec.json", "dataset.db", "dataset.partial.db", "checkpoint.pt", "best.pt", "training.json",
                  "model.json", "parity.png", "parity.pdf"}


def _made_before_marks(directory: Path, resolved: dict[str, Any]) -> bool:
    """A training of this same spec that meltdyn made before it marked its directories: only its own files, and
    its spec.json the same spec."""
    names = {p.name for p in directory.iterdir()}
    if "spec.json" not in names or not names <= TRAINING_FILES | {n + ".tmp" for n in TRAINING_FILES}:
        return False
    try:
        return _identity(json.loads((directory / "spec.json").read_text())) == _identity(resolved)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


def _resumable(out: Path, resolved: dict[str, Any]) -> bool:
    """Whether ``out`` holds meltdyn's training of this same spec (to resume); refuse a different one there."""
    if kind_of(out) != "training":
        return False
    spec_path = out / "spec.json"
    if not spec_path.exists():
        return False
    try:
        held = json.loads(spec_path.read_text())
        same = _identity(held) == _identity(resolved)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise StudyError(f"output_dir: {str(spec_path)!r} cannot be read ({type(exc).__name__}: {str(exc)[:100]}); "
                         "it is meltdyn's record of what was trained there: restore it, or train into a new "
                         "output_dir") from None
    if not same:
        raise StudyError(f"{out} holds a model trained from a different spec; meltdyn never overwrites it")
    return True


def train_from_spec(source: str | Path | dict[str, Any], registry: Registry | None = None) -> dict[str, Any]:
    """Run a training spec; resume an interrupted one in the same output_dir; refuse a different one there.

    Everything is checked before anything is written: the spec, the device, the reference data (every file and
    frame, for labellers that can be checked before labelling), the split; then output_dir is claimed
    (:func:`meltdyn.base.ownership.claim`: new, empty, or meltdyn's training directory)."""
    try:
        return _train_from_spec(source, registry)
    except InputError as exc:
        raise StudyError(str(exc)) from None


@dataclass(frozen=True)
class CheckedTraining:
    """A training file checked as ``meltdyn train`` would before writing anything."""

    spec: Any
    resolved: dict[str, Any]
    labeller: Any
    device: str
    resuming: bool
    frames: int | None  # reference frames, where the labeller can count them before labelling (None: made by MD)


def check_training(source: str | Path | dict[str, Any], registry: Registry) -> CheckedTraining:
    """Everything ``meltdyn train`` checks before it writes: the spec, the device, whether it resumes (a different
    spec in the output_dir is refused), the reference data (every file and frame, for labellers that can be
    checked before labelling) and the split."""
    data = dict(source) if isinstance(source, dict) else read_study_file(source, "training file")
    model_cls = train_model_spec(registry)
    try:
        spec = model_cls.model_validate(data)
    except ValidationError as exc:
        raise invalid(exc, model_cls, "training spec") from None
    device = resolve_device(spec.training.device)
    out = Path(spec.output_dir)
    resolved = spec.model_dump(mode="json")
    resuming = _resumable(out, resolved)
    labeller = registry.build("labeller", spec.reference_data)
    t = spec.training
    count = None
    if not (resuming and (out / "dataset.db").exists()):
        check = getattr(labeller, "validate", None)
        try:
            count = check(registry) if check is not None else None
        except ValueError as exc:
            raise StudyError(str(exc)) from None
        if count is not None and (problem := split_problem(count, t.validation_fraction, t.test_fraction)):
            raise StudyError(problem)
    return CheckedTraining(spec, resolved, labeller, device, resuming, count)


def _train_from_spec(source: str | Path | dict[str, Any], registry: Registry | None) -> dict[str, Any]:
    registry = registry or discover()
    checked = check_training(source, registry)
    spec, resolved, labeller, device = checked.spec, checked.resolved, checked.labeller, checked.device
    out = Path(spec.output_dir)
    dataset = out / "dataset.db"
    t = spec.training
    out = claim(out, "training", field="output_dir", adopt=lambda d: _made_before_marks(d, resolved))
    write_json_atomic(out / "spec.json", resolved)
    versions = package_versions()
    data_fingerprint = fingerprint({"reference_data": resolved["reference_data"]}, {}, versions)
    if not dataset.exists():
        try:
            _label(labeller, registry, out, {"reference_data": resolved["reference_data"],
                                             "fingerprint": data_fingerprint, "packages": versions})
        except ValueError as exc:
            raise StudyError(str(exc)) from None
    try:
        labelled, _ = load_dataset(dataset)
    except Exception as exc:  # sqlite, schnetpack and ASE raise their own kinds on a damaged database
        raise StudyError(f"output_dir: {str(dataset)!r} cannot be read ({type(exc).__name__}: {str(exc)[:200]}); "
                         "remove it to label the reference data again") from None
    if problem := split_problem(len(labelled), t.validation_fraction, t.test_fraction):
        raise StudyError(problem)
    frames = training_frames(labelled)
    arch = Architecture(**spec.model.model_dump())
    settings = TrainingSettings(**{**spec.training.model_dump(), "device": device})
    try:
        model, outcome = train(frames, arch, settings, out)
    except CheckpointError as exc:
        raise StudyError(str(exc)) from None
    recipe = _identity(resolved)
    del recipe["output_dir"], recipe["name"]  # where it goes and what it is called change no number
    save_model(out, arch, outcome, frames, provenance={
        "fingerprint": fingerprint(recipe, {"training": spec.training.seed}, versions), "packages": versions,
        "dataset_fingerprint": data_fingerprint})
    _parity_plot(model, [frames[i] for i in outcome.split["test"]], out / "parity")
    return {"model_dir": str(out), "frames": len(frames), "epochs": len(outcome.history),
            "test_metrics": outcome.test_metrics, "architecture": asdict(arch)}
