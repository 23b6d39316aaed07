"""Reference data → dataset → PaiNN training → a study that runs the trained model."""

from __future__ import annotations

import json

import ase
import ase.io
import numpy as np
import pytest
import torch
from ase.calculators.singlepoint import SinglePointCalculator

import meltdyn
from meltdyn.base.errors import StudyError
from meltdyn.plugin import select
from meltdyn.plugins.potentials.painn.dataset import append_batch, complete_batches, load_dataset
from meltdyn.plugins.potentials.painn.workflow import train_from_spec

pytestmark = pytest.mark.slow  # the module's fixtures train a model and run MD with it

SHIK_SMALL = {"plugin": "shik", "short_range_cutoff_A": 5.0, "coulomb_cutoff_A": 5.0}


def _spec(out, **training):
    return {"name": "tiny", "output_dir": str(out),
            "reference_data": {"plugin": "potential_md", "potential": SHIK_SMALL, "compositions": ["NS2"],
                               "system": {"plugin": "sodium_silicate", "atoms": 100},
                               "temperatures_K": [3000], "densities_g_cm3": [2.1, 2.4],
                               "frames_per_state": 7, "every_steps": 30,
                               "equilibration_steps": 200},
            "model": {"cutoff_A": 4.5, "features": 8, "interactions": 1, "radial_basis": 6},
            "training": {"max_epochs": 3, "batch_size": 4, **training}}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("model")
    report = train_from_spec(_spec(out))
    assert report["epochs"] == 3 and report["frames"] == 14
    return out


def test_dataset_is_schnetpack_data_with_units_and_provenance(model_dir):
    frames, provenance = load_dataset(model_dir / "dataset.db")
    assert len(frames) == 14 and provenance["reference_data"]["plugin"] == "potential_md"
    assert frames[0].forces_eV_A.shape == (len(frames[0].symbols), 3) and frames[0].stress_eV_A3.shape == (3, 3)
    from schnetpack.data import ASEAtomsData

    assert ASEAtomsData(str(model_dir / "dataset.db")).units["forces"] == "eV/Ang"


def test_reference_cells_come_at_each_requested_density(model_dir):
    from ase.data import atomic_masses, atomic_numbers

    frames, _ = load_dataset(model_dir / "dataset.db")
    g_per_cm3 = [sum(atomic_masses[atomic_numbers[s]] for s in f.symbols) / 6.02214076e23
                    / abs(np.linalg.det(f.cell_A)) * 1e24 for f in frames]
    assert np.allclose(g_per_cm3[:7], 2.1, rtol=1e-4) and np.allclose(g_per_cm3[7:], 2.4, rtol=1e-4)


def test_training_again_resumes_and_a_different_spec_is_refused(model_dir):
    before = json.loads((model_dir / "training.json").read_text())["history"]
    dataset = (model_dir / "dataset.db").read_bytes()
    again = train_from_spec(_spec(model_dir, device="cpu"))  # where it runs is not part of what it is
    assert again["epochs"] == 3
    assert json.loads((model_dir / "training.json").read_text())["history"] == before
    longer = train_from_spec(_spec(model_dir, max_epochs=4))  # nor how long: more epochs continue it
    assert longer["epochs"] == 4
    assert json.loads((model_dir / "training.json").read_text())["history"][:3] == before
    with pytest.raises(StudyError, match="trained from a different spec; meltdyn never overwrites it"):
        train_from_spec(_spec(model_dir, learning_rate=0.1))
    assert (model_dir / "dataset.db").read_bytes() == dataset  # labelled once, never rewritten
    assert (model_dir / "parity.png").exists() and (model_dir / "parity.pdf").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without CUDA")
def test_cuda_training_without_a_gpu_is_refused_before_anything_is_written(tmp_path):
    with pytest.raises(StudyError, match="training.device: 'cuda' requested but torch sees no CUDA device"):
        train_from_spec(_spec(tmp_path / "m", device="cuda"))
    assert not (tmp_path / "m").exists()


def test_bad_potential_inside_the_labeller_is_named(tmp_path):
    spec = _spec(tmp_path / "m")
    spec["reference_data"]["potential"] = {"plugin": "shik", "coulomb": "ewald"}
    with pytest.raises(StudyError, match="potential.coulomb: Input should be 'wolf' or 'pme' \\(got 'ewald'\\)"):
        train_from_spec(spec)


def test_ase_file_labeller_imports_labels_and_reports_missing_ones(model_dir, tmp_path, registry):
    frames, _ = load_dataset(model_dir / "dataset.db")
    _write_labelled(frames[:3], tmp_path / "ref.extxyz")
    labeller = registry.build("labeller", _labeller_spec(registry, {"plugin": "ase_file",
                                                                     "paths": [str(tmp_path / "*.extxyz")]}))
    got = _all_frames(labeller, registry)
    assert len(got) == 3
    np.testing.assert_allclose(got[1].forces_eV_A, frames[1].forces_eV_A, rtol=1e-6, atol=1e-7)  # extxyz text
    np.testing.assert_allclose(got[1].stress_eV_A3, frames[1].stress_eV_A3, rtol=1e-6, atol=1e-9)
    bare = ase.Atoms(frames[0].symbols, positions=frames[0].positions_A, cell=frames[0].cell_A, pbc=True)
    ase.io.write(tmp_path / "unlabelled.extxyz", [bare])
    labeller = registry.build("labeller", _labeller_spec(registry, {"plugin": "ase_file",
                                                                     "paths": [str(tmp_path / "unlabelled.extxyz")]}))
    with pytest.raises(ValueError, match=r"1 frame\(s\) lack labels: .*unlabelled.extxyz\[0\]: no \['energy', 'forces', 'stress'\]"):
        _all_frames(labeller, registry)


def _all_frames(labeller, registry):
    return [f for batch in labeller.batches(registry) for f in batch]


def _write_labelled(frames, path):
    images = []
    for f in frames:
        atoms = ase.Atoms(f.symbols, positions=f.positions_A, cell=f.cell_A, pbc=True)
        atoms.calc = SinglePointCalculator(atoms, energy=f.energy_eV, forces=f.forces_eV_A,
                                           stress=f.stress_eV_A3.ravel()[[0, 4, 8, 5, 2, 1]])
        images.append(atoms)
    ase.io.write(path, images)


def test_imported_frames_without_a_stress_train_and_report_no_stress_error(model_dir, tmp_path):
    frames, _ = load_dataset(model_dir / "dataset.db")
    images = []
    for f in frames[:6]:
        atoms = ase.Atoms(f.symbols, positions=f.positions_A, cell=f.cell_A, pbc=True)
        atoms.calc = SinglePointCalculator(atoms, energy=f.energy_eV, forces=f.forces_eV_A)
        images.append(atoms)
    ase.io.write(tmp_path / "no-stress.extxyz", images)
    spec = {**_spec(tmp_path / "m"), "reference_data": {"plugin": "ase_file", "require_stress": False,
                                                        "paths": [str(tmp_path / "no-stress.extxyz")]}}
    spec["training"]["max_epochs"] = 1
    report = train_from_spec(spec)
    assert report["test_metrics"]["stress_rmse_GPa"] is None
    assert report["test_metrics"]["force_rmse_meV_per_A"] > 0


def test_interrupted_labelling_keeps_every_finished_calculation(model_dir, tmp_path):
    from ase.calculators.lj import LennardJones
    from calculators import CountingLJ

    source, _ = load_dataset(model_dir / "dataset.db")
    _write_labelled(source[:5], tmp_path / "configs.extxyz")
    lj = {"sigma": 2.0, "epsilon": 0.01, "rc": 4.5}
    out = tmp_path / "relabelled"
    spec = {**_spec(out), "reference_data": {
        "plugin": "ase_calculator", "calculator": "calculators:CountingLJ",
        "calculator_kwargs": {"fail_at": CountingLJ.calculations + 3, **lj},
        "frames_from": {"plugin": "ase_file", "paths": [str(tmp_path / "configs.extxyz")]}}}
    spec["training"]["max_epochs"] = 1
    with pytest.raises(RuntimeError, match="simulated crash of the reference code"):
        train_from_spec(spec)
    assert not (out / "dataset.db").exists() and complete_batches(out / "dataset.partial.db") == 2
    before = CountingLJ.calculations
    train_from_spec(spec)
    assert CountingLJ.calculations - before == 3  # only the three configurations not yet labelled
    labelled, _ = load_dataset(out / "dataset.db")
    assert not (out / "dataset.partial.db").exists()
    for got, config in zip(labelled, source[:5], strict=True):
        np.testing.assert_allclose(got.positions_A, config.positions_A, atol=1e-6)  # same order, via extxyz text
        atoms = ase.Atoms(got.symbols, positions=got.positions_A, cell=got.cell_A, pbc=True)
        atoms.calc = LennardJones(**lj)
        assert got.energy_eV == pytest.approx(atoms.get_potential_energy(), rel=1e-9)
        np.testing.assert_allclose(got.forces_eV_A, atoms.get_forces(), rtol=1e-9, atol=1e-12)


def test_label_only_makes_the_reference_data_and_the_same_file_later_trains_without_labelling_again(
        model_dir, tmp_path):
    from calculators import CountingLJ

    source, _ = load_dataset(model_dir / "dataset.db")
    _write_labelled(source[:10], tmp_path / "configs.extxyz")
    out = tmp_path / "labels"
    spec = {**_spec(out), "reference_data": {
        "plugin": "ase_calculator", "calculator": "calculators:CountingLJ",
        "calculator_kwargs": {"sigma": 2.0, "epsilon": 0.01, "rc": 4.5},
        "frames_from": {"plugin": "ase_file", "paths": [str(tmp_path / "configs.extxyz")]}}}
    spec["training"]["max_epochs"] = 1
    before = CountingLJ.calculations
    assert train_from_spec(spec, label_only=True) == {"dataset": str(out / "dataset.db"), "frames": 10,
                                                      "trained": False}
    assert CountingLJ.calculations - before == 10
    assert (out / "dataset.db").exists() and not (out / "model.json").exists() and not (out / "best.pt").exists()
    labelled = (out / "dataset.db").read_bytes()
    report = train_from_spec(spec)
    assert CountingLJ.calculations - before == 10  # trained on the labels made before, none computed again
    assert report["frames"] == 10 and (out / "model.json").exists()
    assert (out / "dataset.db").read_bytes() == labelled


def test_a_batch_cut_short_is_dropped_and_labelled_again(tmp_path, model_dir):
    from ase.db import connect

    frames, _ = load_dataset(model_dir / "dataset.db")
    path = tmp_path / "partial.db"
    append_batch(path, frames[:2], 0, {"reference_data": {}})
    append_batch(path, frames[2:4], 1, {"reference_data": {}})
    db = connect(str(path), use_lock_file=False)
    db.delete([max(row.id for row in db.select())])  # as if killed between the two rows of batch 1
    assert complete_batches(path) == 1
    assert [row.batch for row in connect(str(path), use_lock_file=False).select()] == [0, 0]


def _labeller_spec(registry, mapping):
    from meltdyn.hooks.sections import validate_section

    return validate_section(registry, "labeller", mapping, "reference_data")


def test_a_study_runs_md_with_the_trained_painn(model_dir, tiny_study, registry):
    tiny_study["potential"] = {"plugin": "painn", "model_dir": str(model_dir)}
    tiny_study["engine"]["platform"] = "CPU"
    tiny_study["system"] = {"plugin": "sodium_silicate", "atoms": 100, "density_g_cm3": 2.3}
    tiny_study["seed"] = 2
    (run,) = meltdyn.load_study(tiny_study, registry).run(progress=False)
    msd = run.results()["msd"]
    assert np.all(select(msd, "msd", species="Na")[1:] > 0)
    prov = json.loads((run.dir / "provenance.json").read_text())
    assert prov["potential"]["name"] == "painn" and len(prov["potential"]["training_set_sha256"]) == 64


def test_reanalysing_a_painn_run_does_not_load_its_model(model_dir, tiny_study, registry, monkeypatch):
    from meltdyn.plugins.potentials.painn import runtime

    tiny_study["potential"] = {"plugin": "painn", "model_dir": str(model_dir)}
    tiny_study["engine"]["platform"] = "CPU"
    tiny_study["system"] = {"plugin": "sodium_silicate", "atoms": 100, "density_g_cm3": 2.3}
    tiny_study["seed"] = 2
    study = meltdyn.load_study(tiny_study, registry)
    (run,) = study.run(progress=False)

    def no_model(*args, **kwargs):
        raise AssertionError("the reanalysis loaded the PaiNN model")

    monkeypatch.setattr(runtime, "load_weights", no_model)
    reanalysed, skipped = study.reanalyse()
    assert [r.id for r in reanalysed] == [run.id] and skipped == []
    assert json.loads((run.dir / "provenance.json").read_text())["potential"]["name"] == "painn"


def test_dataset_round_trip_keeps_any_element_in_batch_order(tmp_path):
    from meltdyn.hooks.data import LabelledFrame

    rng = np.random.default_rng(0)
    frames = [LabelledFrame(["Ca", "Al", "O", "O"], rng.random((4, 3)) * 5, np.eye(3) * 5, -10.0 - k,
                            rng.normal(size=(4, 3)), rng.normal(size=(3, 3))) for k in range(3)]
    append_batch(tmp_path / "d.db", frames[:1], 0, {"source": "test"})
    append_batch(tmp_path / "d.db", frames[1:], 1, {"source": "ignored: a dataset's provenance is its first"})
    assert complete_batches(tmp_path / "d.db") == 2
    back, provenance = load_dataset(tmp_path / "d.db")
    assert provenance == {"source": "test"} and [f.symbols for f in back] == [f.symbols for f in frames]
    for a, b in zip(frames, back):
        assert b.energy_eV == a.energy_eV
        np.testing.assert_allclose(b.forces_eV_A, a.forces_eV_A)
        np.testing.assert_allclose(b.stress_eV_A3, a.stress_eV_A3)


def test_model_json_says_what_was_trained_on_and_its_errors_match_an_independent_evaluation(model_dir):
    """The reported errors, recomputed through the path MD takes (the painn potential's batched module, forces by
    autograd of its energy) rather than through the training's own evaluation."""
    from meltdyn.plugins.potentials.painn import PainnParams
    from meltdyn.plugins.potentials.painn.runtime import Painn

    meta = json.loads((model_dir / "model.json").read_text())
    training = json.loads((model_dir / "training.json").read_text())
    split = training["split"]
    assert meta["reference_frames"] == 14 and meta["training_frames"] == len(split["train"]) < 14
    assert meta["training_frames"] + meta["validation_frames"] + meta["test_frames"] == 14
    assert meta["training_compositions"] == {"NS2": meta["training_frames"]}
    assert meta["training_temperatures_K"] == [3000.0]
    # one composition: the per-element energies have rank 1 for three elements, and model.json says so
    assert meta["energy_reference"]["rank"] == 1 and len(meta["energy_reference"]["undetermined"]) == 2
    frames, _ = load_dataset(model_dir / "dataset.db")
    module = Painn(PainnParams(model_dir=model_dir, precision="float64")).torch_model("cpu", torch.float64)
    numbers = {"Na": 11, "Si": 14, "O": 8}
    for name in ("train", "test"):
        force_errors, energy_errors, sodium = [], [], []
        for i in split[name]:
            f = frames[i]
            positions = torch.tensor(f.positions_A, requires_grad=True)
            z = torch.tensor([numbers[s] for s in f.symbols])
            energy = module(positions, torch.tensor(f.cell_A)[None], torch.zeros(len(z), dtype=torch.long), z)
            (grad,) = torch.autograd.grad(energy.sum(), positions)
            force_errors.append(-grad.numpy() - f.forces_eV_A)
            energy_errors.append((float(energy.detach()) - f.energy_eV) / len(z))
            sodium.append(force_errors[-1][np.array(f.symbols) == "Na"])
        got = meta["metrics"][name]
        assert got["frames"] == len(split[name])
        assert got["force_rmse_meV_per_A"] == pytest.approx(1e3 * np.sqrt(np.mean(np.concatenate(force_errors) ** 2)),
                                                            rel=1e-4)
        assert got["force_mae_meV_per_A"] == pytest.approx(1e3 * np.mean(np.abs(np.concatenate(force_errors))),
                                                           rel=1e-4)
        assert got["energy_mae_meV_per_atom"] == pytest.approx(1e3 * np.mean(np.abs(energy_errors)), rel=1e-3)
        assert got["force_by_species"]["Na"]["force_rmse_meV_per_A"] == pytest.approx(
            1e3 * np.sqrt(np.mean(np.concatenate(sodium) ** 2)), rel=1e-4)
    test = meta["metrics"]["test"]
    assert meta["test_metrics"]["force_rmse_meV_per_A"] == pytest.approx(test["force_rmse_meV_per_A"], rel=1e-5)
    history = training["history"]
    assert all(h["train_loss"] > 0 and h["seconds"] > 0 for h in history)
    for figure in ("parity.png", "learning_curve.png"):
        assert (model_dir / figure).stat().st_size > 10_000
