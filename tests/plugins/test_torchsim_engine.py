"""The torchsim engine: batching that changes nothing but speed, the ensembles it claims, and what it refuses.

Its conformance (every stage kind, NVE conservation, a SIGKILL during production resumed with every frame once) is
checked with the other engines' in test_conformance.py.
"""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import yaml

import meltdyn
from meltdyn.base.errors import StudyError
from meltdyn.trajectory.h5md import H5MDReader
from conftest import MELTDYN, kill_during_production

pytest.importorskip("torch_sim")

PROTOCOL = {"timestep_fs": 1.0, "stages": [
    {"stage": "minimise", "max_iterations": 30},
    {"stage": "nvt", "duration_ps": 0.05, "friction_per_ps": 5.0},
    {"stage": "production", "duration_ps": 0.2, "friction_per_ps": 5.0,
     "sampling": {"interval_ps": 0.02, "log_frames_per_interval": 2, "chunk_frames": 4, "velocities": True}}]}


@pytest.fixture
def batched(tiny_study):
    """Four runs of two sizes (NS2: 153 atoms, NS4: 150) at two temperatures, on TorchSim in float64."""
    study = copy.deepcopy(tiny_study)
    study["sweep"] = {"compositions": ["NS2", "NS4"], "temperatures_K": [2500.0, 3000.0]}
    study["engine"] = {"plugin": "torchsim", "device": "cpu", "precision": "float64", "max_batch": 4,
                       "report_interval_steps": 25}
    study["protocol"] = copy.deepcopy(PROTOCOL)
    return study


def _trajectories(study) -> dict[str, np.ndarray]:
    out = {}
    for run in study.runs:
        with H5MDReader(run.dir / "trajectory.h5") as traj:
            out[run.id] = traj.positions_A()
    return out


@pytest.mark.slow
def test_a_batch_gives_the_trajectories_of_its_runs_one_by_one(batched, registry, tmp_path):
    together = meltdyn.load_study(batched, registry, output_dir=tmp_path / "batch")
    assert [len(b) for b in together.batches(together.runs)] == [4]
    together.run(progress=False)
    batched["engine"]["max_batch"] = 1
    alone = meltdyn.load_study(batched, registry, output_dir=tmp_path / "alone")
    assert [len(b) for b in alone.batches(alone.runs)] == [1, 1, 1, 1]
    alone.run(progress=False)
    a, b = _trajectories(together), _trajectories(alone)
    for run_id in a:
        # Langevin noise from each run's own stream: a run does not depend on the runs batched with it.
        np.testing.assert_allclose(a[run_id], b[run_id], rtol=0, atol=1e-9, err_msg=run_id)
    facts = json.loads((together.runs[0].dir / "provenance.json").read_text())["engine"]
    assert facts["properties"]["batch"] == 4 and facts["platform"].startswith("TorchSim")


@pytest.mark.slow
def test_langevin_holds_each_run_at_its_own_temperature(batched, registry, tmp_path):
    batched["sweep"] = {"compositions": ["NS2"], "temperatures_K": [2000.0, 3500.0]}
    production = batched["protocol"]["stages"][-1]
    production.update(duration_ps=1.0, friction_per_ps=20.0)
    for run in meltdyn.load_study(batched, registry, output_dir=tmp_path).run(progress=False):
        with H5MDReader(run.dir / "trajectory.h5") as traj:
            temperature = traj.observable("temperature")[len(traj.steps) // 2:]
        # The second half of a picosecond at 20/ps (relaxation 0.05 ps): 10 block means of 0.05 ps each are close to
        # independent, so their spread gives the mean's error. 153 atoms fluctuate by T·sqrt(2/(3N)) = 6.6 % a frame;
        # the error is ~1.5 % of T, so the 4σ band (≤ 6 %) fails a thermostat off by 10 % or more.
        blocks = np.array([b.mean() for b in np.array_split(temperature, 10)])
        sigma = blocks.std(ddof=1) / np.sqrt(len(blocks))
        assert sigma < 0.025 * run.temperature_K, f"{run.id}: σ = {sigma:.0f} K, too short to judge"
        assert abs(blocks.mean() - run.temperature_K) < 4 * sigma, (run.id, blocks.mean(), sigma)


@pytest.mark.slow
def test_npt_density_agrees_with_openmm_monte_carlo_barostat(tiny_study, registry, tmp_path):
    """The same melt at 1 GPa: TorchSim's MTK barostat and OpenMM's Monte Carlo one sample the same density."""
    tiny_study["sweep"]["replicas"] = 3
    tiny_study["protocol"] = {"timestep_fs": 1.0, "stages": [
        {"stage": "minimise", "max_iterations": 50},
        {"stage": "nvt", "duration_ps": 0.2, "thermostat": "nose_hoover", "friction_per_ps": 10.0},
        {"stage": "npt", "duration_ps": 1.6, "pressure_bar": 1.0e4, "thermostat": "nose_hoover",
         "friction_per_ps": 10.0},
        {"stage": "production", "duration_ps": 0.01, "sampling": {"interval_ps": 0.01}}]}
    tiny_study["observables"] = []
    tiny_study["deterministic"] = True  # OpenMM's CPU platform on one thread: the same numbers on every run
    densities = {}
    for engine in ({"plugin": "torchsim", "device": "cpu", "report_interval_steps": 20, "barostat_time_ps": 0.2},
                   {"plugin": "openmm", "platform": "CPU", "report_interval_steps": 20, "barostat_interval_steps": 10}):
        tiny_study["engine"] = engine
        runs = meltdyn.load_study(tiny_study, registry, output_dir=tmp_path / engine["plugin"]).run(progress=False)
        densities[engine["plugin"]] = np.array([json.loads((r.dir / "provenance.json").read_text())
                                                ["engine"]["measured"]["2:npt"]["mean_density_g_cm3"] for r in runs])
    ts, omm = densities["torchsim"], densities["openmm"]
    combined = np.sqrt(ts.var(ddof=1) / len(ts) + omm.var(ddof=1) / len(omm))
    print(f"1 GPa, 3000 K, 153 atoms: TorchSim {ts.mean():.4f} ± {ts.std(ddof=1) / 3**0.5:.4f}, "
          f"OpenMM {omm.mean():.4f} ± {omm.std(ddof=1) / 3**0.5:.4f} g/cm³")
    assert abs(ts.mean() - omm.mean()) < max(4 * combined, 0.01 * omm.mean())
    # and the comparison has the power to see a gross error (a pressure off by its units, a barostat that does
    # not couple): three 1.6 ps replicas of 153 atoms give a density to about 3 %
    assert 4 * combined < 0.15 * omm.mean()


@pytest.mark.slow
@pytest.mark.subprocess
def test_a_killed_batch_resumes_every_run_without_losing_or_duplicating_frames(batched, registry, tmp_path):
    batched["sweep"] = {"compositions": ["NS2", "NS4"], "temperatures_K": [3000.0]}
    batched["protocol"]["stages"][-1]["duration_ps"] = 0.6
    reference = meltdyn.load_study(batched, registry, output_dir=tmp_path / "whole")
    reference.run(progress=False)
    study_file = tmp_path / "study.yaml"
    study_file.write_text(yaml.safe_dump(batched))
    out = tmp_path / "killed"
    killed = kill_during_production(study_file, out, min_frames=8)
    assert killed["stage"] == 2 and killed["frames"] > 0
    import subprocess

    subprocess.run([*MELTDYN, "run", "-q", str(study_file), "--output-dir", str(out)], check=True)
    resumed = meltdyn.load_study(study_file, registry, output_dir=out)
    for run, ref in zip(resumed.runs, reference.runs):
        with H5MDReader(run.dir / "trajectory.h5") as a, H5MDReader(ref.dir / "trajectory.h5") as b:
            np.testing.assert_array_equal(a.steps, b.steps)  # every frame once
            # Exact checkpoints (state, thermostat and each run's random stream): the resumed batch continues bit
            # for bit on the CPU.
            np.testing.assert_allclose(a.positions_A(), b.positions_A(), rtol=0, atol=1e-9)


def test_what_torchsim_cannot_carry_is_refused_at_validation(batched, registry):
    batched["protocol"]["stages"].insert(2, {"stage": "npt", "duration_ps": 0.1})
    with pytest.raises(StudyError, match=r"protocol.stages\[2\] \(npt\) with thermostat langevin is not carried by "
                                         r"the torchsim engine.*Use thermostat: nose_hoover"):
        meltdyn.load_study(batched, registry)
    batched["protocol"]["stages"][2]["thermostat"] = "nose_hoover"
    batched["potential"] = {"plugin": "shik", "coulomb": "pme", "coulomb_cutoff_A": 6.0, "short_range_cutoff_A": 5.5}
    with pytest.raises(StudyError, match="engine: 'torchsim' needs a potential that is a torch module"):
        meltdyn.load_study(batched, registry)
