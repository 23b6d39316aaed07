"""Training PaiNN on energies, forces and stresses: seeded split, checkpoints, resume, early stopping."""

from __future__ import annotations

import copy
import json
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import schnetpack.properties as props
import torch

from meltdyn.plugin import EV_A3_TO_GPA, default_threads, derive_seed
from meltdyn.plugins.potentials.painn.energy_reference import energy_reference
from meltdyn.plugins.potentials.painn.model import Architecture, Frame, batch, build_model

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingSettings:
    weight_energy: float = 1.0
    weight_forces: float = 10.0
    weight_stress: float = 100.0
    learning_rate: float = 5e-4
    batch_size: int = 4
    max_epochs: int = 200
    patience_epochs: int = 20
    lr_factor: float = 0.5
    lr_patience_epochs: int = 5
    validation_fraction: float = 0.1
    test_fraction: float = 0.1
    seed: int = 0
    device: str = "cpu"
    deterministic: bool = False
    atomic_energies_eV: dict[str, float] | None = None
    ema_decay: float | None = None
    threads: int | None = None
    member: int = 0  # of a committee: its weights and batch order come from a seed of their own; the split does not
    initial_weights: str | None = None  # fine-tuning: the weights to start from instead of random ones

    @property
    def member_seed(self) -> int:
        """Member 0 (a single model) uses the training seed itself; member k a seed derived from it."""
        return self.seed if self.member == 0 else derive_seed(self.seed, "committee member", self.member)


@dataclass
class TrainingOutcome:
    history: list[dict[str, float]] = field(default_factory=list)
    test_metrics: dict[str, float] = field(default_factory=dict)
    split: dict[str, list[int]] = field(default_factory=dict)
    offsets_eV: dict[int, float] = field(default_factory=dict)
    energy_reference: dict = field(default_factory=dict)


def _split_sizes(n: int, validation: float, test: float) -> tuple[int, int]:
    return max(1, round(n * test)), max(1, round(n * validation))


def split_problem(n: int, validation: float, test: float) -> str | None:
    """Why ``n`` frames cannot be split into training, validation and test sets, each non-empty; None if they can.
    The validation and test sets get at least one frame each; the training set must get at least one frame by its
    own share, 1 - validation - test, as well as what the others leave."""
    n_test, n_val = _split_sizes(n, validation, test)
    train_share = (1.0 - validation - test) * n
    if n < 3 or n_test + n_val >= n or train_share < 1:
        return (f"training.validation_fraction={validation:g}, training.test_fraction={test:g}: the reference data "
                f"hold {n} frame(s), and the training set would get {max(n - n_test - n_val, 0)} by the split "
                f"({train_share:.3g} by its share, 1 - validation - test), the validation set {n_val} and the test "
                f"set {n_test}; each needs at least one frame: give more frames or smaller fractions")
    return None


def split_indices(n: int, validation: float, test: float, seed: int) -> dict[str, list[int]]:
    order = np.random.default_rng(seed).permutation(n)
    n_test, n_val = _split_sizes(n, validation, test)
    if problem := split_problem(n, validation, test):
        raise ValueError(problem)
    return {"test": sorted(order[:n_test].tolist()), "validation": sorted(order[n_test:n_test + n_val].tolist()),
            "train": sorted(order[n_test + n_val:].tolist())}


def loss_terms(model: torch.nn.Module, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Mean squared errors: energy per atom (eV²), force components (eV²/Å²), stress components (eV²/Å⁶).

    Frames imported without a stress carry NaN there; they add nothing to the stress term.
    """
    out = model(dict(inputs))
    n = inputs[props.n_atoms].to(out[props.energy].dtype)
    reference = inputs[props.stress]
    known = torch.isfinite(reference)
    stress_error = torch.where(known, out[props.stress] - reference.nan_to_num(), torch.zeros_like(reference))
    return {"energy": torch.mean(((out[props.energy] - inputs[props.energy]) / n) ** 2),
            "forces": torch.mean((out[props.forces] - inputs[props.forces]) ** 2),
            "stress": (stress_error ** 2).sum() / known.sum().clamp(min=1)}


def _weighted(terms: dict[str, torch.Tensor], s: TrainingSettings) -> torch.Tensor:
    return s.weight_energy * terms["energy"] + s.weight_forces * terms["forces"] + s.weight_stress * terms["stress"]


def evaluate(model: torch.nn.Module, frames: list[Frame], batch_size: int, device: str = "cpu") -> dict[str, float]:
    """Mean squared errors over ``frames``: per frame, per force component, per known stress component (NaN if
    no frame has a stress)."""
    model.eval()
    sums, counts = {"energy": 0.0, "forces": 0.0, "stress": 0.0}, {"energy": 0, "forces": 0, "stress": 0}
    for k in range(0, len(frames), batch_size):
        chunk = frames[k:k + batch_size]
        terms = loss_terms(model, batch(chunk, device=device))
        sizes = {"energy": len(chunk), "forces": sum(f.forces.size for f in chunk),
                 "stress": sum(int(np.isfinite(f.stress).sum()) for f in chunk)}
        for key in sums:
            sums[key] += float(terms[key].detach()) * sizes[key]
            counts[key] += sizes[key]
    return {key: sums[key] / counts[key] if counts[key] else float("nan") for key in sums}


def rmse_report(mse: dict[str, float]) -> dict[str, float | None]:
    """RMSEs in the units papers report; None where the data hold no label to compare with."""
    def rmse(key: str, scale: float) -> float | None:
        return None if np.isnan(mse[key]) else float(np.sqrt(mse[key]) * scale)

    return {"energy_rmse_meV_per_atom": rmse("energy", 1e3), "force_rmse_meV_per_A": rmse("forces", 1e3),
            "stress_rmse_GPa": rmse("stress", EV_A3_TO_GPA)}


@contextmanager
def _deterministic_algorithms(on: bool) -> Iterator[None]:
    """torch's deterministic kernels for the duration (CUDA's cuBLAS needs a fixed workspace for them); the CPU
    kernels training uses are deterministic already, so on the CPU this changes nothing but guards the promise."""
    before = torch.are_deterministic_algorithms_enabled()
    if on:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(on or before)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before)


@contextmanager
def _threads(n: int | None) -> Iterator[None]:
    """torch's intra-op threads for the duration: ``n``, else the cores this process may use (OMP_NUM_THREADS,
    affinity), not the machine's count torch takes by default."""
    before = torch.get_num_threads()
    torch.set_num_threads(n or default_threads())
    try:
        yield
    finally:
        torch.set_num_threads(before)


def train(frames: list[Frame], arch: Architecture, settings: TrainingSettings, workdir: Path
          ) -> tuple[torch.nn.Module, TrainingOutcome]:
    """Train, checkpointing every epoch in ``workdir``; calling again on the same workdir resumes."""
    with _deterministic_algorithms(settings.deterministic), _threads(settings.threads):
        return _train(frames, arch, settings, workdir)


class _Averaged:
    """An exponential moving average of the weights (``decay`` per optimisation step), the copy validated, kept
    as best.pt and reported; or, without a decay, the model itself."""

    def __init__(self, model: torch.nn.Module, decay: float | None):
        self.decay = decay
        self.model = copy.deepcopy(model) if decay is not None else model

    def update(self, model: torch.nn.Module) -> None:
        if self.decay is None:
            return
        with torch.no_grad():
            for average, current in zip(self.model.parameters(), model.parameters()):
                average.lerp_(current, 1.0 - self.decay)


class CheckpointError(ValueError):
    """A training's own checkpoint.pt or best.pt cannot be used; the message says which and what to do."""


_CHECKPOINT_ADVICE = ("output_dir: {path!r} is damaged; remove it (and best.pt) to train again from the labelled "
                      "data, which are kept")


def _read_checkpoint(path: Path, device: str) -> tuple[dict, TrainingOutcome]:
    """The state an interrupted training left; tensors and plain values only (``weights_only``: no code runs)."""
    try:
        state = torch.load(path, weights_only=True, map_location=device)
        outcome = TrainingOutcome(**state["outcome"])
        outcome.offsets_eV = {int(k): float(v) for k, v in outcome.offsets_eV.items()}
        if not isinstance(state["model"], dict) or set(outcome.split) != {"train", "validation", "test"}:
            raise ValueError("unexpected contents")
    except Exception as exc:  # torch raises many kinds on garbage or a truncated file
        raise CheckpointError(f"{_CHECKPOINT_ADVICE.format(path=str(path))} ({type(exc).__name__}: "
                         f"{' '.join(str(exc).split())[:200]})") from None
    return state, outcome


def _train(frames: list[Frame], arch: Architecture, settings: TrainingSettings, workdir: Path
           ) -> tuple[torch.nn.Module, TrainingOutcome]:
    workdir.mkdir(parents=True, exist_ok=True)
    frames = [f.with_neighbours(arch.cutoff_A) if f.idx_i is None else f for f in frames]
    checkpoint = workdir / "checkpoint.pt"
    torch.manual_seed(settings.member_seed)
    device = settings.device
    if checkpoint.exists():
        state, outcome = _read_checkpoint(checkpoint, device)
    else:
        state = None
        split = split_indices(len(frames), settings.validation_fraction, settings.test_fraction, settings.seed)
        train_frames = [frames[i] for i in split["train"]]
        reference = energy_reference([f.numbers for f in train_frames], np.array([f.energy for f in train_frames]),
                                     settings.atomic_energies_eV, warn=settings.member == 0)
        outcome = TrainingOutcome(split=split, offsets_eV=reference.offsets_eV, energy_reference=reference.record())
    subsets = {k: [frames[i] for i in v] for k, v in outcome.split.items()}
    model = build_model(arch, outcome.offsets_eV).to(device)
    if state is None and settings.initial_weights is not None:
        try:
            model.load_state_dict(torch.load(settings.initial_weights, map_location=device, weights_only=True))
        except Exception as exc:  # garbage, truncated, or of another architecture
            raise CheckpointError(f"training.initial_model_dir: {settings.initial_weights!r} cannot start this "
                                  f"training ({type(exc).__name__}: {' '.join(str(exc).split())[:200]})") from None
    averaged = _Averaged(model, settings.ema_decay)
    optimiser = torch.optim.Adam(model.parameters(), lr=settings.learning_rate)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimiser, factor=settings.lr_factor,
                                                           patience=settings.lr_patience_epochs)
    best_val, best_epoch, rng = float("inf"), -1, np.random.default_rng(settings.member_seed)
    if state is not None:
        try:
            model.load_state_dict(state["model"])
            if settings.ema_decay is not None:
                averaged.model.load_state_dict(state["averaged"])
            optimiser.load_state_dict(state["optimiser"])
            scheduler.load_state_dict(state["scheduler"])
            best_val, best_epoch = float(state["best_val"]), int(state["best_epoch"])
            rng.bit_generator.state = state["rng"]
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise CheckpointError(f"{_CHECKPOINT_ADVICE.format(path=str(checkpoint))} (it does not fit this training: "
                             f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]})") from None
    for epoch in range(len(outcome.history), settings.max_epochs):
        if epoch - best_epoch > settings.patience_epochs:
            log.info("early stop at epoch %d: no better validation loss for %d epochs (best: epoch %d)", epoch,
                     settings.patience_epochs, best_epoch)
            break
        started = time.perf_counter()
        model.train()
        order = rng.permutation(len(subsets["train"]))
        train_loss, seen = 0.0, 0
        for k in range(0, len(order), settings.batch_size):
            chunk = [subsets["train"][i] for i in order[k:k + settings.batch_size]]
            optimiser.zero_grad()
            loss = _weighted(loss_terms(model, batch(chunk, device=device)), settings)
            loss.backward()
            optimiser.step()
            averaged.update(model)
            train_loss, seen = train_loss + float(loss.detach()) * len(chunk), seen + len(chunk)
        val = evaluate(averaged.model, subsets["validation"], settings.batch_size, device)
        val_loss = float(_weighted({k: torch.tensor(0.0 if np.isnan(v) else v) for k, v in val.items()}, settings))
        scheduler.step(val_loss)
        seconds = time.perf_counter() - started
        outcome.history.append({"epoch": epoch, "train_loss": train_loss / seen, "validation_loss": val_loss,
                                "lr": optimiser.param_groups[0]["lr"], "seconds": seconds,
                                **{f"validation_{k}": None if np.isnan(v) else v for k, v in val.items()}})
        _log_epoch(outcome.history, settings)
        if val_loss < best_val:
            best_val, best_epoch = val_loss, epoch
            torch.save(averaged.model.state_dict(), workdir / "best.pt.tmp")
            os.replace(workdir / "best.pt.tmp", workdir / "best.pt")
        torch.save({"model": model.state_dict(), "optimiser": optimiser.state_dict(),
                    "scheduler": scheduler.state_dict(), "best_val": best_val, "best_epoch": best_epoch,
                    "rng": rng.bit_generator.state, "outcome": asdict(outcome),
                    **({"averaged": averaged.model.state_dict()} if settings.ema_decay is not None else {})},
                   workdir / "checkpoint.pt.tmp")
        os.replace(workdir / "checkpoint.pt.tmp", checkpoint)
    try:
        model.load_state_dict(torch.load(workdir / "best.pt", map_location=device, weights_only=True))
    except Exception as exc:  # garbage, truncated, or of another model
        raise CheckpointError(f"{_CHECKPOINT_ADVICE.format(path=str(workdir / 'best.pt'))} ({type(exc).__name__}: "
                              f"{' '.join(str(exc).split())[:200]})") from None
    outcome.test_metrics = rmse_report(evaluate(model, subsets["test"], settings.batch_size, device))
    (workdir / "training.json").write_text(json.dumps({"architecture": asdict(arch), "settings": asdict(settings),
                                                       **asdict(outcome)}, indent=2))
    return model.cpu(), outcome


def _log_epoch(history: list[dict[str, float]], settings: TrainingSettings) -> None:
    """One line per epoch: losses, validation RMSEs, learning rate, the epoch's time and the time left at most."""
    h = history[-1]
    rmse = rmse_report({k: np.nan if h[f"validation_{k}"] is None else h[f"validation_{k}"]
                        for k in ("energy", "forces", "stress")})
    stress = "no stress labels" if rmse["stress_rmse_GPa"] is None else f"{rmse['stress_rmse_GPa']:.3f} GPa"
    recent = [e["seconds"] for e in history[-5:]]
    left = (settings.max_epochs - h["epoch"] - 1) * float(np.mean(recent))
    log.info("epoch %d/%d: loss train %.4g, validation %.4g; validation RMSE %.1f meV/atom, %.0f meV/Å, %s; "
             "lr %.2g; %.1f s, at most %s left (early stopping may end sooner)", h["epoch"] + 1, settings.max_epochs,
             h["train_loss"], h["validation_loss"], rmse["energy_rmse_meV_per_atom"], rmse["force_rmse_meV_per_A"],
             stress, h["lr"], h["seconds"], _duration(left))


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
