"""PaiNN: labels, derivatives, training, export to openmm-torch and MD — on tiny models and cells."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import schnetpack.properties as props
import torch

from conftest import build_system
from meltdyn.base.units import EV_TO_KJ_MOL
from meltdyn.hooks.data import AtomicSystem
from meltdyn.plugins.engines.openmm_engine.interface import OpenMMTarget, evaluate, load_openmm, openmm_system
from meltdyn.plugins.labellers.potential_md import sample
from meltdyn.plugins.potentials.painn import PainnParams
from meltdyn.plugins.potentials.painn.model import Architecture, Frame, batch, build_model, training_frames
from meltdyn.plugins.potentials.painn.runtime import Painn, save_model
from meltdyn.plugins.potentials.painn.training import TrainingSettings, loss_terms, train
from meltdyn.plugins.potentials.shik import ShikParams
from meltdyn.plugins.potentials.shik.potential import Shik
from meltdyn.plugins.systems.sodium_silicate import SodiumSilicateParams
from conftest import nve_energy_record
from oracles import numpy_shik

pytestmark = pytest.mark.slow  # its fixtures train a model (~15 s)

mm = load_openmm()
ARCH = Architecture(cutoff_A=4.5, features=16, interactions=2, radial_basis=10)
SHIK_SMALL = dict(short_range_cutoff_A=5.0, coulomb_cutoff_A=5.0)


@pytest.fixture(scope="module")
def frames():
    """SHIK-labelled NS2 and NS4 melts of ~100 atoms at two temperatures: the 'AIMD stand-in'."""
    out = []
    for k, (composition, temperature) in enumerate([("NS2", 3000.0), ("NS4", 3500.0)]):
        system = build_system(SodiumSilicateParams(atoms=100, density_g_cm3=2.3), composition, temperature, seed=k)
        out += sample(system, Shik(ShikParams(**SHIK_SMALL)), temperature, frames=12, every_steps=40, seed=k + 1,
                      equilibration_steps=300)
    return training_frames(out)


def test_labelled_stress_equals_the_pair_virial_of_an_independent_implementation():
    system = build_system(SodiumSilicateParams(atoms=100, density_g_cm3=2.3), "NS2", 3000.0, seed=3)
    pot = Shik(ShikParams(**SHIK_SMALL))
    frame = evaluate(pot, system)
    energy, forces, stress = numpy_shik(system.symbols, system.positions_A, system.cell_A[0, 0],
                                        pot.charges(system.symbols), rc_sr=5.0, rc_c=5.0)
    assert frame.energy_eV == pytest.approx(energy, rel=1e-6)
    np.testing.assert_allclose(frame.forces_eV_A, forces, atol=1e-4 * np.abs(forces).max())
    np.testing.assert_allclose(frame.stress_eV_A3, stress, atol=1e-4 * np.abs(stress).max())


def _predict(model, frame):
    return model(batch([frame.with_neighbours(ARCH.cutoff_A)], torch.float64))


def test_model_forces_and_stress_are_derivatives_of_its_energy(frames):
    model = build_model(ARCH, {8: -5.0, 11: -2.0, 14: -9.0}).double()
    f0 = frames[0]
    out = _predict(model, f0)
    h = 1e-5
    for atom, axis in [(0, 0), (7, 1), (42, 2)]:
        plus, minus = (Frame(f0.numbers, f0.positions.copy(), f0.cell, 0, f0.forces, f0.stress) for _ in range(2))
        plus.positions[atom, axis] += h
        minus.positions[atom, axis] -= h
        grad = (_predict(model, plus)[props.energy] - _predict(model, minus)[props.energy]).item() / (2 * h)
        assert -grad == pytest.approx(out[props.forces][atom, axis].item(), rel=1e-5, abs=1e-7)
    volume = abs(np.linalg.det(f0.cell))
    for a, b in [(0, 0), (1, 2)]:
        eps = np.zeros((3, 3))
        eps[a, b] += h / 2
        eps[b, a] += h / 2
        energies = []
        for sign in (1, -1):
            d = np.eye(3) + sign * eps
            g = Frame(f0.numbers, f0.positions @ d.T, f0.cell @ d.T, 0, f0.forces, f0.stress)
            energies.append(_predict(model, g)[props.energy].item())
        assert (energies[0] - energies[1]) / (2 * h) / volume == pytest.approx(
            out[props.stress][0, a, b].item(), rel=1e-5, abs=1e-9)


@pytest.fixture(scope="module")
def trained(frames, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("painn")
    settings = TrainingSettings(max_epochs=12, batch_size=4, learning_rate=2e-3, seed=1)
    model, outcome = train(frames, ARCH, settings, workdir)
    save_model(workdir, ARCH, outcome, frames)
    return workdir, model, outcome, settings


def test_training_lowers_validation_loss_and_reports_test_errors(trained):
    workdir, _, outcome, _ = trained
    losses = [h["validation_loss"] for h in outcome.history]
    assert min(losses[-3:]) < 0.5 * losses[0]
    assert set(outcome.test_metrics) == {"energy_rmse_meV_per_atom", "force_rmse_meV_per_A", "stress_rmse_GPa"}
    assert all(np.isfinite(v) and v > 0 for v in outcome.test_metrics.values())
    split = outcome.split
    assert not set(split["test"]) & set(split["train"]) and not set(split["validation"]) & set(split["train"])
    meta = json.loads((workdir / "model.json").read_text())
    assert meta["species"] == ["O", "Na", "Si"] and len(meta["training_set_sha256"]) == 64


def test_training_resumes_from_its_checkpoint(trained, frames):
    workdir, _, outcome, settings = trained
    more = TrainingSettings(**{**settings.__dict__, "max_epochs": len(outcome.history) + 2})
    _, resumed = train(frames, ARCH, more, workdir)
    assert [h["epoch"] for h in resumed.history] == list(range(len(outcome.history) + 2))
    assert resumed.history[: len(outcome.history)] == outcome.history
    assert resumed.split == outcome.split


def _symbols(frame):
    return [{8: "O", 11: "Na", 14: "Si"}[int(z)] for z in frame.numbers]


def _openmm_energy_forces(potential, frame):
    system = AtomicSystem(_symbols(frame), frame.positions, frame.cell)
    ctx = mm.Context(openmm_system(system, potential, OpenMMTarget("CPU")), mm.VerletIntegrator(0.001),
                     mm.Platform.getPlatformByName("CPU"))
    ctx.setPositions(frame.positions * 0.1)
    state = ctx.getState(getEnergy=True, getForces=True)
    return state.getPotentialEnergy()._value / EV_TO_KJ_MOL, state.getForces(asNumpy=True)._value / EV_TO_KJ_MOL / 10


def test_python_force_path_equals_the_torchforce_path(trained, frames):
    """openmm.PythonForce calling the eager module = openmm-torch's TorchScript TorchForce, in float64."""
    workdir, _, _, _ = trained
    f = frames[-1]
    paths = {backend: _openmm_energy_forces(Painn(PainnParams(model_dir=workdir, precision="float64",
                                                              backend=backend)), f)
             for backend in ("torchscript", "python")}
    (e_script, f_script), (e_python, f_python) = paths["torchscript"], paths["python"]
    assert e_python == pytest.approx(e_script, rel=1e-12)
    np.testing.assert_allclose(f_python, f_script, rtol=1e-9, atol=1e-9 * np.abs(f_script).max())


def test_without_openmm_torch_the_auto_backend_is_the_python_force(trained, frames, monkeypatch):
    """openmm-torch is an extra: where it is missing (or built for another torch), ``backend: auto`` runs the same
    model through openmm.PythonForce, with the TorchForce's energy and forces."""
    workdir, _, _, _ = trained
    e_script, f_script = _openmm_energy_forces(Painn(PainnParams(model_dir=workdir, precision="float64",
                                                                 backend="torchscript")), frames[-1])
    monkeypatch.setitem(sys.modules, "openmmtorch", None)  # import openmmtorch now raises ImportError
    potential = Painn(PainnParams(model_dir=workdir, precision="float64"))
    assert potential.backend == "python" and potential.describe()["openmm_backend"] == "python"
    e_auto, f_auto = _openmm_energy_forces(potential, frames[-1])
    assert e_auto == pytest.approx(e_script, rel=1e-12)
    np.testing.assert_allclose(f_auto, f_script, rtol=1e-9, atol=1e-9 * np.abs(f_script).max())


OPENMM_FIRST = """
import sys
import numpy as np
import openmm  # before torch, as MDAnalysis' import does: openmm-torch's kernels then fail to load at first
from meltdyn.hooks.data import AtomicSystem
from meltdyn.plugins.engines.openmm_engine.interface import OpenMMTarget, openmm_system
from meltdyn.plugins.potentials.painn import PainnParams
from meltdyn.plugins.potentials.painn.runtime import Painn
data = np.load(sys.argv[2])
system = AtomicSystem(list(data["symbols"]), data["positions"], data["cell"])
potential = Painn(PainnParams(model_dir=sys.argv[1], precision="float64", backend="torchscript"))
ctx = openmm.Context(openmm_system(system, potential, OpenMMTarget("Reference")), openmm.VerletIntegrator(0.001),
                     openmm.Platform.getPlatformByName("Reference"))
ctx.setPositions(data["positions"] * 0.1)
print(ctx.getState(getEnergy=True).getPotentialEnergy()._value)
"""


@pytest.mark.subprocess
def test_torchforce_works_when_openmm_was_imported_before_torch(trained, frames, tmp_path):
    workdir, _, _, _ = trained
    f = frames[-1]
    np.savez(tmp_path / "frame.npz", symbols=_symbols(f), positions=f.positions, cell=f.cell)
    out = subprocess.run([sys.executable, "-c", OPENMM_FIRST, str(workdir), str(tmp_path / "frame.npz")],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    energy_eV = float(out.stdout.split()[-1]) / EV_TO_KJ_MOL
    python_path, _ = _openmm_energy_forces(Painn(PainnParams(model_dir=workdir, precision="float64",
                                                             backend="python")), f)
    assert energy_eV == pytest.approx(python_path, rel=1e-12)


def test_the_batched_torch_module_matches_the_schnetpack_model(trained, frames):
    """The torch_model interface (what TorchSim runs): energies, forces and stress of several systems at once."""
    from meltdyn.plugins.engines.torchsim_engine.interface import energy_forces_stress

    workdir, _, _, _ = trained
    pot = Painn(PainnParams(model_dir=workdir))
    reference = pot.model.double()
    chosen = [frames[0], frames[13], frames[-1]]  # NS2 and NS4 cells of different sizes in one batch
    module = pot.torch_model("cpu", torch.float64)
    energy, forces, stress = energy_forces_stress(
        module, torch.tensor(np.concatenate([f.positions for f in chosen])),
        torch.tensor(np.stack([f.cell for f in chosen])),
        torch.tensor(np.repeat(np.arange(3), [len(f.numbers) for f in chosen])),
        torch.tensor(np.concatenate([f.numbers for f in chosen])))
    start = 0
    for k, f in enumerate(chosen):
        out = _predict(reference, f)
        n = len(f.numbers)
        assert energy[k].item() == pytest.approx(out[props.energy].item(), rel=1e-12)
        np.testing.assert_allclose(forces[start:start + n].numpy(), out[props.forces].detach().numpy(), atol=1e-10)
        np.testing.assert_allclose(stress[k].numpy(), out[props.stress][0].detach().numpy(), atol=1e-10)
        start += n


@pytest.mark.parametrize("precision, rtol", [("float64", 1e-9), ("float32", 1e-4)])
def test_torchforce_in_openmm_matches_the_schnetpack_model(trained, frames, precision, rtol, tmp_path):
    workdir, _, _, _ = trained
    pot = Painn(PainnParams(model_dir=workdir, precision=precision, backend="torchscript"))
    reference = pot.model.double()
    f = frames[-1]
    symbols = [{8: "O", 11: "Na", 14: "Si"}[int(z)] for z in f.numbers]
    system = AtomicSystem(symbols, f.positions, f.cell)
    ctx = mm.Context(openmm_system(system, pot), mm.VerletIntegrator(0.001), mm.Platform.getPlatformByName("CPU"))
    ctx.setPositions(f.positions * 0.1)
    state = ctx.getState(getEnergy=True, getForces=True)
    out = _predict(reference, f)
    assert state.getPotentialEnergy()._value / 96.48533212 == pytest.approx(out[props.energy].item(), rel=rtol)
    forces = state.getForces(asNumpy=True)._value / 96.48533212 / 10
    np.testing.assert_allclose(forces, out[props.forces].detach().numpy(), rtol=0,
                               atol=rtol * 100 * np.abs(forces).max())
    pot.export(symbols, tmp_path / "model.pt")
    files = {"meltdyn.json": ""}
    torch.jit.load(str(tmp_path / "model.pt"), _extra_files=files)
    assert json.loads(files["meltdyn.json"])["precision"] == precision


def test_frames_without_a_stress_add_nothing_to_the_stress_term(trained, frames):
    import dataclasses

    _, model, _, _ = trained
    labelled = dataclasses.replace(frames[0]).with_neighbours(ARCH.cutoff_A)
    unlabelled = dataclasses.replace(frames[1], stress=np.full((3, 3), np.nan)).with_neighbours(ARCH.cutoff_A)
    both = loss_terms(model, batch([labelled, unlabelled]))["stress"]
    alone = loss_terms(model, batch([labelled]))["stress"].item()
    # float32: batching changes the summation order (≈4e-6); counting the unlabelled frame would halve the mean.
    assert torch.isfinite(both) and both.item() == pytest.approx(alone, rel=1e-4)
    assert loss_terms(model, batch([unlabelled]))["stress"].item() == 0.0


def test_torchforce_backward_differentiates_positions_only(trained, frames):
    """openmm-torch calls energy.backward(): weights must not collect gradients, step after step."""
    import vesin_torch  # noqa: F401

    workdir, _, _, _ = trained
    f = frames[0]
    module = Painn(PainnParams(model_dir=workdir)).torchforce_module([{8: "O", 11: "Na", 14: "Si"}[int(z)]
                                                                      for z in f.numbers])
    positions = torch.tensor(f.positions * 0.1, dtype=torch.float32, requires_grad=True)
    module(positions, torch.tensor(f.cell * 0.1, dtype=torch.float32)).backward()
    assert positions.grad is not None and positions.grad.abs().max() > 0
    assert all(p.grad is None for p in module.parameters())


def test_trained_model_runs_nve_in_openmm_with_small_drift(trained, frames):
    workdir, _, _, _ = trained
    pot = Painn(PainnParams(model_dir=workdir, precision="float64"))
    f = frames[0]
    symbols = [{8: "O", 11: "Na", 14: "Si"}[int(z)] for z in f.numbers]
    system = AtomicSystem(symbols, f.positions, f.cell)
    integrator = mm.VerletIntegrator(0.0005)
    ctx = mm.Context(openmm_system(system, pot), integrator, mm.Platform.getPlatformByName("CPU"))
    ctx.setPositions(f.positions * 0.1)
    ctx.setVelocitiesToTemperature(2000.0, 1)
    totals, kinetic = nve_energy_record(ctx, integrator, blocks=10, steps=20)
    drift = (totals[-1] - totals[0]) / kinetic
    print(f"PaiNN NVE, {len(symbols)} atoms, 0.5 fs, 200 steps: total-energy change {drift:.2e} of the kinetic energy")
    assert abs(drift) < 1e-2


def test_an_ema_training_resumed_ends_where_the_uninterrupted_one_does(frames, tmp_path):
    """The average is part of the checkpoint: stopping after two epochs and resuming to four gives the same kept
    weights and history as four epochs in one go; and the kept weights are the average, not the raw ones."""
    settings = TrainingSettings(max_epochs=4, batch_size=4, learning_rate=2e-3, seed=2, ema_decay=0.9)
    _, whole = train(frames, ARCH, settings, tmp_path / "whole")
    train(frames, ARCH, TrainingSettings(**{**settings.__dict__, "max_epochs": 2}), tmp_path / "resumed")
    _, resumed = train(frames, ARCH, settings, tmp_path / "resumed")
    # to float32 rounding: matrix products' last bits can depend on memory alignment
    assert [h["validation_loss"] for h in resumed.history] == pytest.approx([h["validation_loss"] for h in
                                                                              whole.history], rel=1e-6)
    kept = {d: torch.load(tmp_path / d / "best.pt", weights_only=True) for d in ("whole", "resumed")}
    assert all(torch.allclose(kept["whole"][k], kept["resumed"][k], rtol=1e-5, atol=1e-7) for k in kept["whole"])
    raw = torch.load(tmp_path / "whole" / "checkpoint.pt", weights_only=True)
    best_epoch = int(raw["best_epoch"])  # best.pt is the average at the best epoch, the checkpoint's at the last
    assert all(torch.equal(raw["averaged"][k], kept["whole"][k]) for k in kept["whole"]) \
        == (best_epoch == len(whole.history) - 1)
    differs = [k for k in raw["model"] if raw["model"][k].is_floating_point()
               and not torch.equal(raw["model"][k], raw["averaged"][k])]
    assert differs  # the average is not the raw weights
