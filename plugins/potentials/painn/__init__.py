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
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from meltdyn.contracts import PotentialOutline, StudyOutline
from meltdyn.hookspecs import hookimpl
from meltdyn.plugin import Command, PluginDef, PluginParams

MODEL_JSON = "model.json"
WEIGHTS = "best.pt"


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


def read_model_meta(model_dir: Path) -> dict[str, Any]:
    """A trained model's model.json; a clear error naming ``model_dir`` if there is no trained model there."""
    path = model_dir / MODEL_JSON
    if not model_dir.is_dir():
        raise ValueError(f"model_dir: {str(model_dir)!r} does not exist; train a model first (meltdyn train "
                         "TRAIN.yaml writes model.json and best.pt there)")
    missing = [name for name in (MODEL_JSON, WEIGHTS) if not (model_dir / name).is_file()]
    if missing:
        raise ValueError(f"model_dir: {str(model_dir)!r} holds no {' or '.join(missing)}; train a model first "
                         "(meltdyn train writes model.json and best.pt)")
    try:
        return json.loads(path.read_text())
    except ValueError as exc:
        raise ValueError(f"model_dir: {str(path)!r} is not valid JSON: {exc}") from None


def outline(params: PainnParams) -> PotentialOutline:
    meta = read_model_meta(params.model_dir)
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
    if params.backend == "torchscript" and study.local and study.spec.engine.plugin == "openmm" \
            and not torchforce_loads():
        return ["backend: 'torchscript' needs openmm-torch, which does not load beside this torch; use backend "
                "python (an openmm.PythonForce) or auto"]
    return []


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


def _train(args: argparse.Namespace) -> int:
    from meltdyn.plugins.potentials.painn.workflow import train_from_spec

    if not args.quiet:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    print(json.dumps(train_from_spec(args.spec), indent=2))
    return 0


@hookimpl
def meltdyn_potentials() -> list[PluginDef]:
    return [PluginDef("painn", "potential", PainnParams, _build,
                      "PaiNN (schnetpack) MLIP trained by meltdyn: OpenMM (TorchForce or PythonForce), torch engines",
                      outline=outline, check=check, example=_example)]


@hookimpl
def meltdyn_commands() -> list[Command]:
    return [Command("train", "make reference data and train a PaiNN potential (resumes if interrupted)",
                    _train_arguments, _train)]
