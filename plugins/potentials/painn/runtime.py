"""The PaiNN potential at run time: a trained model turned into an openmm-torch TorchForce per system."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from ase.data import chemical_symbols

from meltdyn.contracts import AtomicSystem, Potential
from meltdyn.plugins.potentials.painn import MODEL_JSON, WEIGHTS, PainnParams, read_model_meta
from meltdyn.plugins.potentials.painn.heap import keep_freed_memory
from meltdyn.plugins.potentials.painn.md_module import OpenMMPaiNN
from meltdyn.plugins.potentials.painn.model import ATOMIC_NUMBER, Architecture, Frame, build_model
from meltdyn.plugins.potentials.painn.training import TrainingOutcome
from meltdyn.results import write_json_atomic


UNITS = {"inside": "angstrom, eV", "torchforce": "nm in, kJ/mol out"}


def dataset_hash(frames: list[Frame]) -> str:
    h = hashlib.sha256()
    for f in frames:
        for a in (f.numbers, f.positions, f.cell, np.array([f.energy]), f.forces, f.stress):
            h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def save_model(directory: Path, arch: Architecture, outcome: TrainingOutcome, frames: list[Frame]) -> None:
    """Write model.json beside the best weights: what a run needs to rebuild, and what produced it."""
    species = sorted({int(z) for f in frames for z in f.numbers})
    meta = {"architecture": asdict(arch), "offsets_eV": {str(k): v for k, v in outcome.offsets_eV.items()},
            "species": [chemical_symbols[z] for z in species], "units": UNITS,
            "training_set_sha256": dataset_hash(frames), "training_frames": len(frames),
            "test_metrics": outcome.test_metrics}
    write_json_atomic(directory / MODEL_JSON, meta)


def save_untrained(directory: Path, species: list[str], arch: Architecture = Architecture(
        cutoff_A=4.0, features=8, interactions=2, radial_basis=6)) -> None:
    """A model with seeded random weights: a valid model directory for tests of the machinery, not of physics."""
    directory.mkdir(parents=True, exist_ok=True)
    offsets = {ATOMIC_NUMBER[s]: -3.0 for s in species}
    torch.manual_seed(0)
    torch.save(build_model(arch, offsets).state_dict(), directory / WEIGHTS)
    write_json_atomic(directory / MODEL_JSON, {"architecture": asdict(arch), "species": sorted(species),
                                               "offsets_eV": {str(k): v for k, v in offsets.items()}, "units": UNITS,
                                               "training_set_sha256": None, "training_frames": 0,
                                               "test_metrics": {}})


class Painn(Potential):
    def __init__(self, params: PainnParams):
        self.params = params
        self.meta = read_model_meta(params.model_dir)
        self.arch = Architecture(**self.meta["architecture"])
        self.model = build_model(self.arch, {int(k): v for k, v in self.meta["offsets_eV"].items()})
        self.model.load_state_dict(torch.load(params.model_dir / WEIGHTS, map_location="cpu"))
        self.model.eval()

    def torchforce_module(self, symbols: list[str]) -> torch.jit.ScriptModule:
        dtype = torch.float64 if self.params.precision == "float64" else torch.float32
        numbers = np.array([ATOMIC_NUMBER[s] for s in symbols])
        return torch.jit.script(OpenMMPaiNN(self.model, numbers, self.arch.cutoff_A, dtype))

    def export(self, symbols: list[str], path: Path) -> None:
        """Save the TorchForce module for these atoms, with this model's metadata inside the file."""
        extra = {"meltdyn.json": json.dumps({**self.meta, "precision": self.params.precision, "symbols": symbols})}
        torch.jit.save(self.torchforce_module(symbols), str(path), _extra_files=extra)

    def openmm_forces(self, system: AtomicSystem, target: Any) -> list[Any]:
        import vesin_torch  # noqa: F401  (registers the neighbour list's TorchScript class)
        from openmmtorch import TorchForce

        system.require_width(self.arch.cutoff_A)
        if self.params.keep_freed_memory:
            keep_freed_memory()
        force = TorchForce(self.torchforce_module(system.symbols))
        force.setUsesPeriodicBoundaryConditions(True)
        force.setName("PaiNN")
        return [force]

    def describe(self) -> dict[str, Any]:
        return {"name": "painn", "model_dir": str(self.params.model_dir), **self.meta}
