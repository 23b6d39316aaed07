"""The ``painn`` potential: a PaiNN (schnetpack) model trained by ``meltdyn train``. OpenMM runs it through
openmm-torch's TorchScript ``TorchForce`` or, with any torch, an ``openmm.PythonForce``; torch-native engines run its
batched module. This plugin also adds the ``meltdyn train`` command (reference data → PaiNN).

Registration stays light: torch and schnetpack are imported only when a study builds this potential or a training
starts; validation reads only the model's ``model.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from meltdyn.plugin import Command, PluginDef, PluginParams, PotentialOutline, StudyError, StudyOutline, hookimpl

MODEL_JSON = "model.json"
WEIGHTS = "best.pt"


class TrustParams(PluginParams):
    """A committee's own check of the configurations MD reaches (:mod:`meltdyn.engine.trust`)."""

    stop_at_eV_A: float = Field(gt=0, le=100, description="Stop the MD at a checked configuration whose max atomic "
                                "force deviation among the members (DP-GEN's model deviation) reaches this. In "
                                "production the run ends there and is analysed as it stands, flagged; earlier it "
                                "fails. A few times the model_deviation observable's trust_hi: beyond it the "
                                "committee extrapolates.")
    check_interval_ps: float = Field(0.5, gt=0, le=1e6, description="Simulated time between checks (in production "
                                     "at its frames: the first, then the first at or after each interval). Each check "
                                     "evaluates every member once in float64 on the CPU, as the model_deviation "
                                     "observable does, so the two give the same number for the same configuration.")


class PainnParams(PluginParams):
    model_dir: Path = Field(description="A trained model: model.json and best.pt, as meltdyn's training writes them.")
    precision: Literal["float32", "float64"] = Field("float32", description="Arithmetic of the module OpenMM runs "
                                                     "(torch-native engines set their own).")
    backend: Literal["auto", "torchscript", "python"] = Field(
        "auto", description="How OpenMM runs the model: torchscript (openmm-torch's TorchForce), python (an "
        "openmm.PythonForce calling the eager module: any torch), auto (torchscript where openmm-torch loads).")
    keep_freed_memory: bool = Field(
        True, description="On glibc, serve all memory from the heap and keep what is freed, so each MD step reuses "
                          "its pair tensors' memory instead of page-faulting it afresh (about 2x faster on the CPU "
                          "at 3,000 atoms). Process-wide; the heap stays at its high-water mark (1.5x the "
                          "peak memory at 3,000 atoms).")
    trust: TrustParams | None = Field(None, description="A committee only: check its max atomic force deviation "
                                      "during the MD, record it per check in the run's checks.csv, and stop where "
                                      "it reaches stop_at_eV_A. Default: no check during MD (the model_deviation "
                                      "observable measures it afterwards, on the frames written).")


MAX_FEATURES = 4096
MAX_INTERACTIONS = 32
MAX_RADIAL_BASIS = 1024
MAX_CUTOFF_A = 20.0
MAX_PARAMETERS = 50_000_000
MAX_COMMITTEE = 32
"""Bounds on a PaiNN architecture, in training specs and model.json alike. Weights and their Adam moments take 16
bytes a parameter: 50 million is 800 MB before any activation, and each MD step's pair tensors grow with features
× interactions × pairs (pairs with the cube of the cutoff; 20 Å is four times any oxide cutoff)."""


def parameter_estimate(features: int, interactions: int, radial_basis: int) -> int:
    """PaiNN's weights, near enough to bound them: per interaction a context net (F→F→3F), a filter block
    ((rbf+1)→3F) and a mixing block (F→2F, 2F→F→3F); an atomwise output (F→F/2→1)."""
    f = features
    return interactions * (4 * f * f + 3 * f * (radial_basis + 1) + 2 * f * f + 6 * f * f) + f * f // 2 + 100 * f


def _shown(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)[:40]


def architecture_problems(arch: Any, where: str) -> list[str]:
    """What is wrong with an architecture mapping (from model.json or a training spec); empty if nothing. ``where``
    prefixes each key (``"architecture."``; empty where the caller names the section itself)."""
    if not isinstance(arch, dict):
        return [f"{where}{type(arch).__name__} {str(arch)[:60]!r}, expected a mapping with cutoff_A, features, "
                "interactions, radial_basis"]
    problems = []
    why = "weights and pair tensors grow with it, and more cannot be allocated on any machine meltdyn runs on"
    for key, low, high in (("features", 1, MAX_FEATURES), ("interactions", 1, MAX_INTERACTIONS),
                           ("radial_basis", 1, MAX_RADIAL_BASIS)):
        value = arch.get(key)
        if key not in arch:
            problems.append(f"{where}{key}: missing")
        elif isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            problems.append(f"{where}{key}: {_shown(value)}; expected an integer from {low} to {high} ({why})")
    cutoff = arch.get("cutoff_A")
    if "cutoff_A" not in arch:
        problems.append(f"{where}cutoff_A: missing")
    elif isinstance(cutoff, bool) or not isinstance(cutoff, (int, float)) or not 0 < cutoff <= MAX_CUTOFF_A:
        problems.append(f"{where}cutoff_A: {_shown(cutoff)}; expected a number above 0 and at most "
                        f"{MAX_CUTOFF_A:g} Å (pairs grow with its cube; 20 Å is four times any oxide cutoff)")
    unknown = sorted(set(arch) - {"features", "interactions", "radial_basis", "cutoff_A"})
    if unknown:
        problems.append(f"{where.rstrip('.') or 'model'}: unknown keys {unknown[:5]}")
    if not problems:
        n = parameter_estimate(arch["features"], arch["interactions"], arch["radial_basis"])
        if n > MAX_PARAMETERS:
            problems.append(f"{where}features={arch['features']}, interactions={arch['interactions']} make about "
                            f"{n:.3g} weights, more than {MAX_PARAMETERS:,} (16 bytes each in training with Adam: "
                            f"{16 * n / 1e9:.3g} GB before any pair tensor); use fewer features or interactions")
    return problems


def _model_problems(meta: Any) -> list[str]:
    from meltdyn.plugin import elements

    if not isinstance(meta, dict):
        return [f"holds a {type(meta).__name__}, not a mapping"]
    problems = [f"{key}: missing" for key in ("architecture", "species", "offsets_eV") if key not in meta]
    if "architecture" in meta:
        problems += architecture_problems(meta["architecture"], "architecture.")
    species = meta.get("species")
    if "species" in meta:
        if not isinstance(species, list) or not species or not all(isinstance(s, str) for s in species):
            problems.append(f"species: {str(species)[:60]!r}; expected a non-empty list of element symbols")
        else:
            unknown = [s for s in species if not elements.is_element(s)]
            if unknown:
                problems.append(f"species: {unknown[:5]} are not element symbols")
    committee = meta.get("committee")
    if committee is not None:
        if not isinstance(committee, list) or not committee or not all(isinstance(m, dict) for m in committee):
            problems.append(f"committee: {str(committee)[:60]!r}; expected a non-empty list of members")
        else:
            for k, member in enumerate(committee[:MAX_COMMITTEE + 1]):
                weights = member.get("weights")
                if not isinstance(weights, str) or weights.startswith("/") or ".." in Path(weights).parts:
                    problems.append(f"committee[{k}].weights: {str(weights)[:60]!r}; expected a path inside the "
                                    "model directory")
                    break
            if len(committee) > MAX_COMMITTEE:
                problems.append(f"committee: {len(committee)} members, more than {MAX_COMMITTEE}")
    offsets = meta.get("offsets_eV")
    if "offsets_eV" in meta:
        if not isinstance(offsets, dict):
            problems.append(f"offsets_eV: {str(offsets)[:60]!r}; expected a mapping of atomic number to eV")
        else:
            for k, v in list(offsets.items())[:200]:
                if not (isinstance(k, str) and k.isdigit() and 0 < int(k) < 119):
                    problems.append(f"offsets_eV: key {k[:20]!r} is not an atomic number")
                    break
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                    problems.append(f"offsets_eV[{k}]: {str(v)[:40]!r} is not a finite number")
                    break
    return problems


def read_model_meta(model_dir: Path) -> dict[str, Any]:
    """A trained model's model.json, checked; a clear error naming the file and key if it cannot be used."""
    path = model_dir / MODEL_JSON
    if not model_dir.is_dir():
        raise ValueError(f"model_dir: {str(model_dir)!r} does not exist; train a model first (meltdyn train "
                         "TRAIN.yaml writes model.json and best.pt there)")
    missing = [name for name in (MODEL_JSON, WEIGHTS) if not (model_dir / name).is_file()]
    if missing:
        raise ValueError(f"model_dir: {str(model_dir)!r} holds no {' or '.join(missing)}; train a model first "
                         "(meltdyn train writes model.json and best.pt)")
    try:
        if path.stat().st_size > 10_000_000:
            raise ValueError(f"{path.stat().st_size:,} bytes; meltdyn writes a few kB")
        meta = json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError) as exc:
        raise ValueError(f"model_dir: {str(path)!r} cannot be read as JSON ({str(exc)[:200]}); restore the file, "
                         "or train the model again (meltdyn train)") from None
    problems = _model_problems(meta)
    if problems:
        raise ValueError(f"model_dir: {str(path)!r} is not a meltdyn model description: {'; '.join(problems[:5])}; "
                         "restore the file, or train the model again (meltdyn train)")
    absent = [m["weights"] for m in meta.get("committee") or [] if not (model_dir / m["weights"]).is_file()]
    if absent:
        raise ValueError(f"model_dir: {str(model_dir)!r} is a committee of {len(meta['committee'])}, but its members' "
                         f"weights {absent[:3]} are missing; restore them, or train the committee again")
    return meta


_CHECKED: dict[tuple[Any, ...], None] = {}


def check_weights(model_dir: Path, meta: dict[str, Any]) -> None:
    """Load best.pt as the potential will (tensors only, never pickled code) and fit it to model.json's
    architecture; a clear error naming the file if it is garbage, cut short or of another model."""
    path = model_dir / WEIGHTS
    try:
        stat = path.stat()
        key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, json.dumps(meta, sort_keys=True))
    except OSError as exc:
        raise ValueError(f"model_dir: {str(path)!r} cannot be read ({exc.strerror})") from None
    if key in _CHECKED:
        return
    from meltdyn.plugins.potentials.painn.runtime import load_members

    load_members(model_dir, meta)
    _CHECKED[key] = None


def outline(params: PainnParams) -> PotentialOutline:
    meta = read_model_meta(params.model_dir)
    check_weights(params.model_dir, meta)
    return PotentialOutline(frozenset({"openmm_forces", "torch_model"}), frozenset(meta["species"]),
                            float(meta["architecture"]["cutoff_A"]))


def torchforce_loads() -> bool:
    """Whether openmm-torch's TorchForce can be used in this environment (its binary matches this torch)."""
    try:
        import torch  # noqa: F401  (openmm-torch's library needs torch's loaded first)
        import openmmtorch  # noqa: F401
    except (ImportError, OSError):
        return False
    return True


def check(params: PainnParams, study: StudyOutline) -> list[str]:
    problems = []
    if params.backend == "torchscript" and study.local and study.spec.engine.plugin == "openmm" \
            and not torchforce_loads():
        problems.append("backend: 'torchscript' needs openmm-torch, which does not load beside this torch; use "
                        "backend python (an openmm.PythonForce) or auto")
    if params.trust is not None:
        from meltdyn.plugins.potentials.painn.deviation import committee_problems

        problems += [f"trust: checks a committee's deviation, and {problem}"
                     for problem in committee_problems(params.model_dir)]
    return problems


def _build(params: PainnParams) -> Any:
    from meltdyn.plugins.potentials.painn.runtime import Painn

    return Painn(params)


def _example(workdir: Path) -> dict[str, Any]:
    """An untrained tiny model: enough for the conformance kit, which checks derivatives, not accuracy."""
    from meltdyn.plugins.potentials.painn.runtime import save_untrained

    save_untrained(workdir / "painn-untrained", ["Na", "Si", "O"])
    return {"model_dir": str(workdir / "painn-untrained"), "precision": "float64", "keep_freed_memory": False}


def _train_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", help="training file (YAML): reference_data, model, training, output_dir")
    parser.add_argument("-q", "--quiet", action="store_true", help="no per-state and per-epoch lines")
    parser.add_argument("--label-only", action="store_true", help="make the reference data (dataset.db) and stop; "
                        "the same file trains from it later without labelling again")


def _train(args: argparse.Namespace) -> int:
    from meltdyn.plugins.potentials.painn.workflow import train_from_spec

    if not args.quiet:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    print(json.dumps(train_from_spec(args.spec, label_only=args.label_only), indent=2, ensure_ascii=False))
    return 0


@hookimpl
def meltdyn_potentials() -> list[PluginDef]:
    return [PluginDef("painn", "potential", PainnParams, _build,
                      "PaiNN (schnetpack) MLIP trained by meltdyn: OpenMM (TorchForce or PythonForce), torch engines",
                      outline=outline, check=check, example=_example)]


def _learn_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", help="learning file (YAML): reference, initial_data, model, training, explore, "
                        "selection, stop, output_dir")
    parser.add_argument("-q", "--quiet", action="store_true", help="no per-iteration, per-state and per-epoch lines")


def _learn(args: argparse.Namespace) -> int:
    from meltdyn.plugins.potentials.painn.learn import learn

    if not args.quiet:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    report = learn(args.spec)
    print(Path(report["report"]).read_text(), end="")
    return 0


def _evaluate_arguments(parser: argparse.ArgumentParser) -> None:
    from meltdyn.plugins.potentials.painn.evaluate import BLOCKS

    parser.add_argument("model_dir", help="a trained model or committee (meltdyn train's output_dir)")
    parser.add_argument("data", nargs="+", help="held-out labelled frames: meltdyn's dataset.db (meltdyn train "
                        "--label-only makes one), extxyz or anything ASE reads")
    parser.add_argument("--blocks", type=int, default=BLOCKS, help="consecutive blocks of frames behind each "
                        f"standard error (default {BLOCKS})")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def _evaluate(args: argparse.Namespace) -> int:
    from meltdyn.plugins.potentials.painn.evaluate import evaluate_model, read_frames, table

    if args.blocks < 2:
        raise StudyError(f"--blocks: {args.blocks}; give 2 or more (a standard error needs two blocks)")
    try:
        result = evaluate_model(args.model_dir, read_frames(args.data), blocks=args.blocks)
    except ValueError as exc:
        raise StudyError(str(exc)) from None
    print(json.dumps(result, indent=2, ensure_ascii=False) if args.json else table(result))
    return 0


@hookimpl
def meltdyn_commands() -> list[Command]:
    return [Command("train", "make reference data and train a PaiNN potential (resumes if interrupted)",
                    _train_arguments, _train, files=_training_file, check=_check_training_file),
            Command("learn", "active learning of a PaiNN committee: train, explore by MD, label the uncertain "
                    "frames, fine-tune, until the committee agrees (resumes if interrupted)",
                    _learn_arguments, _learn, files=_learning_file, check=_check_learning_file),
            Command("evaluate", "errors of a trained model or committee on held-out labelled frames, with standard "
                    "errors and the committee's spread", _evaluate_arguments, _evaluate)]


def _check_learning_file(data: dict[str, Any], path: Path, registry: Any) -> str | None:
    """``meltdyn validate LEARN.yaml``: what ``meltdyn learn`` checks before writing anything."""
    if "initial_data" not in data or "sweep" in data:
        return None
    from meltdyn.plugins.potentials.painn.learn import check_learning

    spec = check_learning(data, registry)
    reference = spec.reference.calculator or spec.reference.potential["plugin"]
    return (f"{path}: valid learning file {spec.name!r}: a committee of {spec.training.committee}, reference "
            f"{reference}, at most {spec.stop.max_iterations} iterations of at most "
            f"{spec.selection.max_frames_per_iteration} new frames; output_dir {spec.output_dir!r}")


def _learning_file(registry: Any) -> list[tuple[str, type]]:
    from meltdyn.plugins.potentials.painn.learn import (
        FineTuneSpec, ReferenceSpec, SelectionSpec, StopSpec, learn_model_spec,
    )

    return [("learning file (`meltdyn learn`): top level", learn_model_spec(registry)),
            ("learning file: `reference`", ReferenceSpec), ("learning file: `fine_tune`", FineTuneSpec),
            ("learning file: `selection`", SelectionSpec), ("learning file: `stop`", StopSpec)]


def _check_training_file(data: dict[str, Any], path: Path, registry: Any) -> str | None:
    """``meltdyn validate TRAINING.yaml``: what ``meltdyn train`` would check before writing anything."""
    if "reference_data" not in data or "sweep" in data:
        return None
    from meltdyn.plugins.potentials.painn.workflow import check_training

    checked = check_training(data, registry)
    spec = checked.spec
    frames = (f"{checked.frames} reference frames" if checked.frames is not None
              else f"reference frames to be made by {spec.reference_data.plugin}")
    state = "resumes the training there" if checked.resuming else "a new training"
    return (f"{path}: valid training file {spec.name!r}: {frames}; PaiNN {spec.model.features} features x "
            f"{spec.model.interactions} interactions, cutoff {spec.model.cutoff_A:g} A, on {checked.device}; "
            f"output_dir {spec.output_dir!r}: {state}")


def _training_file(registry: Any) -> list[tuple[str, type]]:
    from meltdyn.plugins.potentials.painn.workflow import ArchitectureSpec, TrainingSpec, train_model_spec

    return [("training file (`meltdyn train`): top level", train_model_spec(registry)),
            ("training file: `model` (the PaiNN architecture)", ArchitectureSpec),
            ("training file: `training`", TrainingSpec)]
