"""The PaiNN potential at run time: a trained model as an OpenMM force (TorchForce or PythonForce) per system, or
as a batched torch module for torch-native engines."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from ase.data import chemical_symbols

from meltdyn.plugin import AtomicSystem, FrameCheck, Potential, write_json_atomic
from meltdyn.plugins.engines.openmm_engine.interface import OpenMMTarget, python_force
from meltdyn.plugins.potentials.painn import MODEL_JSON, WEIGHTS, PainnParams, read_model_meta, torchforce_loads
from meltdyn.plugins.potentials.painn.heap import keep_freed_memory
from meltdyn.plugins.potentials.painn.md_module import BatchedPaiNN, OpenMMPaiNN
from meltdyn.plugins.potentials.painn.model import ATOMIC_NUMBER, Architecture, Frame, build_model
from meltdyn.plugins.potentials.painn.training import TrainingOutcome


UNITS = {"inside": "angstrom, eV", "torchforce": "nm in, kJ/mol out"}


_RETRIED_PLUGINS: set[str] = set()


def _load_torch_kernels() -> None:
    """Load openmm-torch's kernel libraries if ``import openmm`` ran before ``import torch`` (MDAnalysis, for one,
    imports openmm): OpenMM loads its plugins at import, and openmm-torch's fail then for want of torch's CUDA
    libraries, leaving TorchForce without kernels ("does not support all required kernels"). With torch loaded now,
    the same libraries load."""
    import openmm

    for failure in openmm.Platform.getPluginLoadFailures():
        library = failure.removeprefix("Error loading library ").split(": ")[0]
        if "OpenMMTorch" in Path(library).name and library not in _RETRIED_PLUGINS:
            _RETRIED_PLUGINS.add(library)  # once: a library loaded twice registers its kernels twice
            try:
                openmm.Platform.loadPluginLibrary(library)
            except openmm.OpenMMException:
                pass  # a platform this machine lacks (OpenCL, CUDA): its kernels were never going to load


def dataset_hash(frames: list[Frame]) -> str:
    h = hashlib.sha256()
    for f in frames:
        for a in (f.numbers, f.positions, f.cell, np.array([f.energy]), f.forces, f.stress):
            h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def save_model(directory: Path, arch: Architecture, outcome: TrainingOutcome, frames: list[Frame],
               metrics: dict[str, Any] | None = None, provenance: dict[str, Any] | None = None,
               committee: list[dict[str, Any]] | None = None) -> None:
    """Write model.json beside the best weights: what a run needs to rebuild, exactly what it was trained on (the
    frames of the training set, not the reference data as a whole: the validation and test sets are held out) and
    how well it does (``metrics``), and what produced it (``provenance``: the recipe's fingerprint and package
    versions, when a training spec made it)."""
    from meltdyn.plugins.potentials.painn.metrics import composition_of

    species = sorted({int(z) for f in frames for z in f.numbers})
    trained = [frames[i] for i in outcome.split["train"]]
    compositions: dict[str, int] = {}
    for f in trained:
        compositions[composition_of(f)] = compositions.get(composition_of(f), 0) + 1
    temperatures = sorted({float(f.info["temperature_K"]) for f in trained if "temperature_K" in f.info})
    meta = {"architecture": asdict(arch), "offsets_eV": {str(k): v for k, v in outcome.offsets_eV.items()},
            "species": [chemical_symbols[z] for z in species], "units": UNITS,
            "reference_frames": len(frames), "reference_data_sha256": dataset_hash(frames),
            "training_frames": len(trained), "validation_frames": len(outcome.split["validation"]),
            "test_frames": len(outcome.split["test"]), "training_set_sha256": dataset_hash(trained),
            "training_atoms": int(sum(len(f.numbers) for f in trained)),
            "training_compositions": dict(sorted(compositions.items())), "training_temperatures_K": temperatures,
            "energy_reference": outcome.energy_reference, "epochs": len(outcome.history),
            "test_metrics": outcome.test_metrics, "metrics": metrics or {}, **(provenance or {}),
            **({"committee": committee} if committee else {})}
    write_json_atomic(directory / MODEL_JSON, meta)


def save_untrained(directory: Path, species: list[str], arch: Architecture = Architecture(
        cutoff_A=4.0, features=8, interactions=2, radial_basis=6), members: int = 1) -> None:
    """A model with seeded random weights (a committee of them if ``members`` > 1): a valid model directory for
    tests of the machinery, not of physics."""
    directory.mkdir(parents=True, exist_ok=True)
    offsets = {ATOMIC_NUMBER[s]: -3.0 for s in species}
    weights = [WEIGHTS] + [f"committee/member-{k}/{WEIGHTS}" for k in range(1, members)]
    for k, path in enumerate(weights):
        torch.manual_seed(k)
        (directory / path).parent.mkdir(parents=True, exist_ok=True)
        torch.save(build_model(arch, offsets).state_dict(), directory / path)
    write_json_atomic(directory / MODEL_JSON, {
        "architecture": asdict(arch), "species": sorted(species), "offsets_eV": {str(k): v for k, v in offsets.items()},
        "units": UNITS, "training_set_sha256": None, "training_frames": 0, "test_metrics": {},
        **({"committee": [{"member": k, "seed": k, "weights": w} for k, w in enumerate(weights)]}
           if members > 1 else {})})


def member_weights(meta: dict[str, Any]) -> list[str]:
    """The weights files of a model's members, relative to its directory: best.pt alone, or a committee's."""
    return [m["weights"] for m in meta["committee"]] if meta.get("committee") else [WEIGHTS]


def load_members(model_dir: Path, meta: dict[str, Any]) -> list[torch.nn.Module]:
    """Every member of the model (one unless it is a committee), each as :func:`load_weights` loads it."""
    return [load_weights(model_dir, meta, weights) for weights in member_weights(meta)]


def load_weights(model_dir: Path, meta: dict[str, Any], weights: str = WEIGHTS) -> torch.nn.Module:
    """The model model.json describes with the weights in ``weights`` (best.pt, or a committee member's);
    ValueError naming the file if they do not fit. ``torch.load`` reads tensors only (``weights_only``): a weights
    file cannot run code."""
    path = model_dir / weights
    advice = "restore it, or train the model again (meltdyn train)"
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds on garbage, a truncated zip, a pickle it will not run
        raise ValueError(f"model_dir: {str(path)!r} cannot be read as torch weights ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0][:200] if str(exc) else ''}); {advice}") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"model_dir: {str(path)!r} holds a {type(state).__name__}, not a state dict of tensors; "
                         f"{advice}")
    model = build_model(Architecture(**meta["architecture"]), {int(k): v for k, v in meta["offsets_eV"].items()})
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        detail = " ".join(str(exc).split())[:300]
        raise ValueError(f"model_dir: {str(path)!r} does not fit the architecture in model.json "
                         f"{meta['architecture']} ({detail}); {advice}") from None
    bad = [name for name, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise ValueError(f"model_dir: {str(path)!r}: weights {bad[:3]} are not finite; {advice}")
    return model


class Painn(Potential):
    def __init__(self, params: PainnParams):
        self.params = params
        self.meta = read_model_meta(params.model_dir)
        self.arch = Architecture(**self.meta["architecture"])
        self.members = load_members(params.model_dir, self.meta)
        for member in self.members:
            member.eval()
        self.model = self.members[0]
        self._spread_module: BatchedPaiNN | None = None
        self.backend = params.backend if params.backend != "auto" else (
            "torchscript" if torchforce_loads() else "python")
        if params.trust is not None:
            self.check_interval_ps = params.trust.check_interval_ps

    @property
    def dtype(self) -> torch.dtype:
        return torch.float64 if self.params.precision == "float64" else torch.float32

    def md_module(self, symbols: list[str]) -> OpenMMPaiNN:
        """The model arranged for MD in openmm-torch's convention (nm in, kJ/mol out), eager."""
        numbers = np.array([ATOMIC_NUMBER[s] for s in symbols])
        return OpenMMPaiNN(self.members, numbers, self.arch.cutoff_A, self.dtype)

    def torchforce_module(self, symbols: list[str]) -> torch.jit.ScriptModule:
        return torch.jit.script(self.md_module(symbols))

    def export(self, symbols: list[str], path: Path) -> None:
        """Save the TorchForce module for these atoms, with this model's metadata inside the file."""
        extra = {"meltdyn.json": json.dumps({**self.meta, "precision": self.params.precision, "symbols": symbols})}
        torch.jit.save(self.torchforce_module(symbols), str(path), _extra_files=extra)

    def openmm_forces(self, system: AtomicSystem, target: OpenMMTarget) -> list[Any]:
        system.require_width(self.arch.cutoff_A)
        if self.params.keep_freed_memory and target.device == "cpu":
            keep_freed_memory()
        if self.backend == "python":
            return [python_force(self.md_module(system.symbols), target, self.dtype, "PaiNN")]
        import vesin_torch  # noqa: F401  (registers the neighbour list's TorchScript class)
        from openmmtorch import TorchForce

        _load_torch_kernels()
        force = TorchForce(self.torchforce_module(system.symbols))
        force.setUsesPeriodicBoundaryConditions(True)
        force.setName("PaiNN")
        return [force]

    def torch_model(self, device: str, dtype: torch.dtype) -> BatchedPaiNN:
        if self.params.keep_freed_memory and device == "cpu":
            keep_freed_memory()
        return BatchedPaiNN(self.members, self.arch.cutoff_A, dtype, device)

    def member_forces(self, system: AtomicSystem, dtype: torch.dtype = torch.float64) -> tuple[np.ndarray,
                                                                                                np.ndarray]:
        """Each member's energy (members,) in eV and forces (members, atoms, 3) in eV/Å for one configuration:
        the committee's spread, which MD (on the mean) does not compute."""
        from ase.data import atomic_numbers

        if self._spread_module is None or self._spread_module.offsets_eV.dtype != dtype:
            self._spread_module = BatchedPaiNN(self.members, self.arch.cutoff_A, dtype, "cpu")
        energies, forces = self._spread_module.member_forces(
            torch.tensor(system.positions_A, dtype=dtype), torch.tensor(system.cell_A, dtype=dtype),
            torch.tensor([atomic_numbers[s] for s in system.symbols]))
        return energies.numpy(), forces.numpy()

    def check_frame(self, system: AtomicSystem) -> FrameCheck:
        """The committee's max atomic force deviation on ``system`` (as the model_deviation observable computes it);
        stop where it reaches the trust setting's bound."""
        from meltdyn.plugins.potentials.painn.metrics import max_force_deviation

        if self.params.trust is None or len(self.members) < 2:
            raise ValueError("painn: checking frames needs a committee and a trust setting (potential.trust)")
        sigma = max_force_deviation(self.member_forces(system)[1])
        bound = self.params.trust.stop_at_eV_A
        stop = None
        if not sigma < bound:  # NaN stops too
            stop = (f"the committee's max atomic force deviation reached {sigma:.3g} eV/Å, at or beyond "
                    f"trust.stop_at_eV_A = {bound:g} eV/Å: the potential extrapolates there")
        return FrameCheck({"max_force_deviation_eV_A": sigma}, stop)

    def describe(self) -> dict[str, Any]:
        return {"name": "painn", "model_dir": str(self.params.model_dir), "openmm_backend": self.backend, **self.meta}
