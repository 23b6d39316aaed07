"""``meltdyn train TRAIN.yaml``: reference data → PaiNN → a model directory the ``painn`` potential runs."""

from __future__ import annotations

import json
import logging
import math
import os
import socket
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from meltdyn.plugin import (
    InputError, Registry, Spec, StudyError, check_labelled, claim, discover, fingerprint, invalid,
    kind_of, package_versions, plugin_union, read_study_file, warn_if_oversubscribed, write_json_atomic,
)
from meltdyn.plugins.potentials.painn import (
    MAX_COMMITTEE, MAX_CUTOFF_A, MAX_FEATURES, MAX_INTERACTIONS, MAX_RADIAL_BASIS, architecture_problems,
)
from meltdyn.plugins.potentials.painn.dataset import append_batch, complete_batches, load_dataset
from meltdyn.plugins.potentials.painn.energy_reference import element_symbol_problems
from meltdyn.plugins.potentials.painn.figures import learning_curve, parity_plot
from meltdyn.plugins.potentials.painn.metrics import committee_mean, committee_spread, predict, report
from meltdyn.plugins.potentials.painn.model import Architecture, training_frames
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
    deterministic: bool = Field(False, description="torch's deterministic algorithms (retraining on the same GPU "
                                "repeats; on the CPU it does either way, to float32 rounding: the last bits of "
                                "matrix products can depend on memory alignment).")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto: CUDA when torch sees a GPU.")
    threads: int | None = Field(None, ge=1, le=4096, description="torch's CPU threads. Default: OMP_NUM_THREADS, "
                                "else the cores this process may use (not the machine's count: an epoch took 17x "
                                "longer when another job held one of two cores). A given count retrains "
                                "bit-identically; another changes the sums' rounding.")
    atomic_energies_eV: dict[str, float] | None = Field(
        None, description="Energy of each element's reference (isolated atoms computed with the reference method, "
        "or any reference), subtracted before training, e.g. {Na: -4.9, Si: -39.6, O: -105.1} (whatever the "
        "reference code gives). Default: fitted by least squares to the training set — rank-deficient on a join such "
        "as Na2O-SiO2 (O = Na/2 + 2 Si), which the training reports and resolves by the minimum-norm solution.")
    committee: int = Field(1, ge=1, le=MAX_COMMITTEE, description="Train this many models on the same split, each "
                           "from its own seed (weights and batch order), and run their mean: their spread is the "
                           "model deviation (DP-GEN) that the model_deviation observable records and `meltdyn "
                           "learn` selects frames by. Member 0 is the model a committee of 1 would be.")
    initial_model_dir: str | None = Field(
        None, description="Fine-tune: start from this trained model's weights instead of random ones (member k of a "
        "committee from its member k, or from its last member where it has fewer), with its per-element energies "
        "and architecture; `meltdyn learn` retrains each iteration this way.")
    ema_decay: float | None = Field(None, gt=0, lt=1, description="Keep an exponential moving average of the "
                                    "weights with this decay per optimisation step (e.g. 0.99) and validate, keep "
                                    "and report it instead of the raw weights. Default: off (measured: 0.99 cut "
                                    "held-out force and stress errors by 5 %, 0.999 doubled the energy error where "
                                    "training ran 4,000 steps; the decay must average over far fewer steps than the "
                                    "training takes).")

    @field_validator("atomic_energies_eV")
    @classmethod
    def _elements(cls, v: dict[str, float] | None) -> dict[str, float] | None:
        if v is not None:
            bad = element_symbol_problems(v)
            if bad:
                raise ValueError(f"{bad[:5]} are not element symbols (e.g. Na, Si, O)")
            infinite = [k for k, e in v.items() if not math.isfinite(e)]
            if infinite:
                raise ValueError(f"the energies of {infinite[:5]} are not finite numbers")
        return v


def resolve_device(requested: str) -> str:
    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cuda" and not torch.cuda.is_available():
        raise StudyError("training.device: 'cuda' requested but torch sees no CUDA device; allowed: auto, cpu, cuda "
                         "(auto falls back to the CPU)")
    return requested


RESUMABLE_CHANGES = ("device", "threads", "max_epochs", "patience_epochs", "committee")


def _identity(resolved: dict[str, Any]) -> dict[str, Any]:
    """What a model is. Where it trains and for how long are not: a run may resume on another device or
    executor, and more epochs continue the same seeded sequence of updates that a longer run would have made; nor
    how many members a committee has: each trains on its own, so more members add to those already trained."""
    return {**{k: v for k, v in resolved.items() if k != "executor"},
            "training": {k: v for k, v in resolved["training"].items() if k not in RESUMABLE_CHANGES}}


def train_model_spec(registry: Registry) -> type[BaseModel]:
    labeller = plugin_union(registry, "labeller")
    executor_union = plugin_union(registry, "executor")  # not "executor": the field's default would shadow it

    class TrainSpec(Spec):
        """Reference data, a PaiNN architecture and training settings; the model goes to output_dir."""

        name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", description="The model's name (letters, "
                          "digits, . _ -).")
        output_dir: str = Field(description="Where the reference data, checkpoints and the model go "
                                "(relative to the current directory); never overwritten, resumed if interrupted.")
        reference_data: labeller  # type: ignore[valid-type]
        model: ArchitectureSpec = ArchitectureSpec()
        training: TrainingSpec = TrainingSpec()
        executor: executor_union | None = Field(  # type: ignore[valid-type]
            None, description="Where a committee's members train, in parallel: an executor section as a study's "
            "(dask: one task per member on a LocalCluster, SLURM/PBS jobs or a scheduler, each worker's "
            "threads_per_worker its torch threads, a GPU each with gpus_per_worker: 1). Default: here, one after "
            "another. The members are the same either way (each from its own seed); `meltdyn learn` passes its "
            "exploration's executor.")

    return TrainSpec


def _label(labeller: Any, registry: Registry, out: Path, provenance: dict[str, Any]) -> None:
    """Build dataset.db batch by batch in dataset.partial.db; a restart keeps every batch already labelled."""
    partial, dataset = out / "dataset.partial.db", out / "dataset.db"
    done = complete_batches(partial)
    if done:
        log.info("reference data: keeping %d labelled batch(es) from %s", done, partial)
        resume = getattr(labeller, "resume", None)  # a labeller that does not subclass Labeller has none
        if resume is not None:
            resume(load_dataset(partial)[0])
    for index, frames in enumerate(labeller.batches(registry, skip=done), start=done):
        frames = [check_labelled(f, f"reference_data: batch {index}, frame {k}", allow_missing_stress=True)
                  for k, f in enumerate(frames)]
        if frames:
            append_batch(partial, frames, index, provenance)
    if not partial.exists():
        raise StudyError("reference_data: the labeller produced no frames")
    os.replace(partial, dataset)


def member_directory(member: int) -> Path:
    """Where a committee member trains, inside output_dir: member 0 in output_dir itself (so a committee's
    directory is also its first member's model), the others under committee/."""
    return Path(".") if member == 0 else Path("committee") / f"member-{member}"


TRAINING_FILES = {"committee", "spec.json", "dataset.db", "dataset.partial.db", "checkpoint.pt", "best.pt",
                  "training.json", "model.json", "parity.png", "parity.pdf", "learning_curve.png", "learning_curve.pdf"}


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


def train_from_spec(source: str | Path | dict[str, Any], registry: Registry | None = None,
                    label_only: bool = False) -> dict[str, Any]:
    """Run a training spec; resume an interrupted one in the same output_dir; refuse a different one there.
    ``label_only``: make the reference data (dataset.db) and stop, as for a held-out set or labels paid for now
    and trained on later (the same file trains from them, nothing labelled again).

    Everything is checked before anything is written: the spec, the device, the reference data (every file and
    frame, for labellers that can be checked before labelling), the split; then output_dir is claimed
    (:func:`meltdyn.base.ownership.claim`: new, empty, or meltdyn's training directory)."""
    try:
        return _train_from_spec(source, registry, label_only)
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
    warn_if_oversubscribed(spec.training.threads, "training.threads")
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


def _train_from_spec(source: str | Path | dict[str, Any], registry: Registry | None, label_only: bool
                     ) -> dict[str, Any]:
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
    if label_only:
        return {"dataset": str(dataset), "frames": len(labelled), "trained": False}
    if problem := split_problem(len(labelled), t.validation_fraction, t.test_fraction):
        raise StudyError(problem)
    arch = Architecture(**spec.model.model_dump())
    start, energies = _initial_members(t, arch, t.committee)
    if energies is not None:
        present = sorted({s for f in labelled for s in f.symbols})
        missing = [s for s in present if s not in energies]
        if missing:
            where = "training.initial_model_dir" if t.initial_model_dir else "training.atomic_energies_eV"
            raise StudyError(f"{where}: no energy for {missing}, present in the reference data; "
                             f"give one for each of {present}")
    frames = training_frames(labelled)
    if t.committee > 1 and spec.executor is not None:
        log.info("training the committee's %d members with the %s executor", t.committee, spec.executor.plugin)
        tasks = [MemberTask(str(dataset.resolve()), asdict(arch), t.device, str((out / member_directory(k)).resolve()),
                            replace(_member_settings(t, device, k, start, energies), initial_weights=None if
                                    start[k] is None else str(Path(start[k]).resolve())))
                 for k in range(t.committee)]
        registry.build("executor", spec.executor).map(train_member, tasks)
    members = []
    for member in range(t.committee):  # each trained already by the executor is read back from its checkpoint
        settings = _member_settings(t, device, member, start, energies)
        if t.committee > 1:
            log.info("committee member %d of %d (seed %d)", member + 1, t.committee, settings.member_seed)
        try:
            members.append((settings, *train(frames, arch, settings, out / member_directory(member))))
        except CheckpointError as exc:
            raise StudyError(str(exc)) from None
    _, model, outcome = members[0]
    recipe = _identity(resolved)
    del recipe["output_dir"], recipe["name"]  # where it goes and what it is called change no number
    predictions = [predict(m, frames, t.batch_size) for _, m, _ in members]
    predicted = committee_mean(predictions)
    metrics = report(frames, predicted, outcome.split)
    committee = None
    if t.committee > 1:
        for name, indices in outcome.split.items():
            metrics[name]["committee"] = committee_spread(predictions, indices)
        committee = [{"member": s.member, "seed": s.member_seed,
                      "weights": str(member_directory(s.member) / "best.pt"), "test_metrics": dict(o.test_metrics)}
                     for s, _, o in members]
        test = metrics["test"]
        outcome.test_metrics = {"energy_rmse_meV_per_atom": test["energy_rmse_meV_per_atom"],
                                "force_rmse_meV_per_A": test["force_rmse_meV_per_A"],
                                "stress_rmse_GPa": test["stress_rmse_GPa"]}  # of the mean, which MD runs
    save_model(out, arch, outcome, frames, metrics, provenance={
        "fingerprint": fingerprint(recipe, {"training": spec.training.seed}, versions), "packages": versions,
        "dataset_fingerprint": data_fingerprint, "ema_decay": t.ema_decay}, committee=committee)
    parity_plot(frames, predicted, outcome.split, outcome.offsets_eV, out / "parity")
    learning_curve(outcome.history, out / "learning_curve")
    return {"model_dir": str(out), "frames": len(frames), "epochs": len(outcome.history),
            "trained_on_frames": len(outcome.split["train"]), "test_metrics": outcome.test_metrics,
            "metrics": {name: _headline(m) for name, m in metrics.items()},
            "energy_reference": outcome.energy_reference["note"], "architecture": asdict(arch)}


def _member_settings(t: TrainingSpec, device: str, member: int, start: list[str | None],
                     energies: dict[str, float] | None) -> TrainingSettings:
    return TrainingSettings(**{**t.model_dump(exclude={"committee", "initial_model_dir"}), "device": device,
                               "member": member, "initial_weights": start[member], "atomic_energies_eV": energies})


@dataclass(frozen=True)
class MemberTask:
    """One committee member to train, with absolute paths: a worker may start in another directory."""

    dataset: str
    architecture: dict[str, Any]
    device: str  # as the training file asks: resolved where the task runs, which may see a GPU the client does not
    workdir: str
    settings: TrainingSettings


def train_member(task: MemberTask) -> dict[str, Any]:
    """Train (or resume) one committee member into its directory: a task an executor runs, perhaps in another
    process or on another machine that sees the training's output_dir. Returns where it ran."""
    labelled, _ = load_dataset(Path(task.dataset))
    settings = replace(task.settings, device=resolve_device(task.device))
    try:
        _, outcome = train(training_frames(labelled), Architecture(**task.architecture), settings, Path(task.workdir))
    except CheckpointError as exc:
        raise StudyError(str(exc)) from None
    return {"member": settings.member, "epochs": len(outcome.history), "host": socket.gethostname(),
            "pid": os.getpid()}


def _initial_members(t: TrainingSpec, arch: Architecture, members: int
                     ) -> tuple[list[str | None], dict[str, float] | None]:
    """For fine-tuning (``initial_model_dir``): each member's starting weights and the per-element energies they
    were trained against; otherwise no weights and the training file's own energies."""
    if t.initial_model_dir is None:
        return [None] * members, t.atomic_energies_eV
    from ase.data import chemical_symbols

    from meltdyn.plugins.potentials.painn import read_model_meta
    from meltdyn.plugins.potentials.painn.runtime import member_weights

    directory = Path(t.initial_model_dir)
    try:
        meta = read_model_meta(directory)
    except ValueError as exc:
        raise StudyError(f"training.initial_model_dir: {exc}") from None
    if meta["architecture"] != asdict(arch):
        raise StudyError(f"training.initial_model_dir: {str(directory)!r} has the architecture "
                         f"{meta['architecture']}, and this training's model is {asdict(arch)}; fine-tuning keeps "
                         "the architecture: copy its model section")
    energies = {chemical_symbols[int(z)]: float(e) for z, e in meta["offsets_eV"].items()}
    if t.atomic_energies_eV is not None and t.atomic_energies_eV != energies:
        raise StudyError(f"training.atomic_energies_eV: {t.atomic_energies_eV} differ from those the initial model "
                         f"was trained against ({energies}); its weights fit only those: leave atomic_energies_eV out")
    weights = member_weights(meta)
    return [str(directory / weights[min(k, len(weights) - 1)]) for k in range(members)], energies


def _headline(errors: dict[str, Any]) -> dict[str, Any]:
    """A set's errors without the breakdowns (those are in model.json and training.json)."""
    return {k: v for k, v in errors.items() if not k.startswith(("by_", "force_by"))}
