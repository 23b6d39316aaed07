"""A temperature ramp: the spec's linear profile, a quench from 3000 K to 1000 K on each engine that the NVE
production after it finds at the ramp's end temperature, and a quench killed halfway that resumes where it was."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import numpy as np
import pytest
import yaml
from conftest import MELTDYN

import meltdyn
from meltdyn.base.errors import StudyError
from meltdyn.spec.models import ProtocolSpec, stage_dynamics, stage_temperature
from meltdyn.trajectory.h5md import H5MDReader

PRODUCTION = {"stage": "production", "duration_ps": 0.04, "ensemble": "nve",
              "sampling": {"interval_ps": 0.002, "velocities": True}}


def test_a_ramp_is_linear_in_time_between_its_ends():
    protocol = ProtocolSpec(stages=[{"stage": "ramp", "duration_ps": 2.0, "from_K": "target", "to_K": 1000.0,
                                     "ensemble": "npt", "pressure_bar": 5.0}, PRODUCTION])
    ramp = protocol.stages[0]
    assert [stage_temperature(ramp, 3000.0, f) for f in (0.0, 0.25, 1.0, 2.0)] == [3000.0, 2500.0, 1000.0, 1000.0]
    dynamics = stage_dynamics(ramp)
    assert (dynamics.ensemble, dynamics.thermostat, dynamics.pressure_bar) == ("npt", "langevin", 5.0)
    assert stage_dynamics(ProtocolSpec(stages=[{"stage": "ramp", "duration_ps": 1.0}, PRODUCTION]).stages[0]
                          ).pressure_bar is None


ENGINES = [pytest.param({"plugin": "openmm", "platform": "Reference"}, "langevin", id="openmm-langevin"),
           pytest.param({"plugin": "openmm", "platform": "Reference"}, "nose_hoover", id="openmm-nose_hoover"),
           pytest.param({"plugin": "torchsim", "device": "cpu"}, "nose_hoover", id="torchsim-nose_hoover",
                        marks=pytest.mark.slow),
           pytest.param({"plugin": "torchsim", "device": "cpu"}, "langevin", id="torchsim-langevin",
                        marks=pytest.mark.slow),
           pytest.param({"plugin": "lammps", "threads": 1}, "langevin", id="lammps-langevin", marks=pytest.mark.slow)]


@pytest.mark.parametrize("engine, thermostat", ENGINES)
def test_a_quench_reaches_the_ramps_end_temperature(engine, thermostat, tiny_study, registry):
    """3000 K → 1000 K in 0.4 ps with a thermostat time of 0.02 ps: the bath leads the atoms by about rate × τ =
    100 K at the end; the NVE production that follows holds about that temperature (the 150 atoms' kinetic
    temperature fluctuates by √(2/3N) ≈ 7 %). Without the ramp it would be near 3000 K."""
    if engine["plugin"] == "lammps":
        pytest.importorskip("lammps")
    if engine["plugin"] == "torchsim":
        pytest.importorskip("torch_sim")
    tiny_study["engine"] = engine
    tiny_study["protocol"]["stages"] = [
        {"stage": "minimise", "max_iterations": 50},
        {"stage": "nvt", "duration_ps": 0.05, "friction_per_ps": 50.0, "thermostat": thermostat},
        {"stage": "ramp", "duration_ps": 0.4, "from_K": "target", "to_K": 1000.0, "thermostat": thermostat,
         "friction_per_ps": 50.0}, PRODUCTION]
    tiny_study["observables"] = []
    (run,) = meltdyn.load_study(tiny_study, registry).run(progress=False)
    assert run.completed, run.status
    with H5MDReader(run.dir / "trajectory.h5") as traj:
        temperature = traj.observable("temperature").mean()
    assert 850 < temperature < 1400, temperature


def test_lammps_refuses_a_nose_hoover_ramp_with_what_would_do(tiny_study, registry):
    pytest.importorskip("lammps")
    tiny_study["engine"] = {"plugin": "lammps"}
    tiny_study["protocol"]["stages"].insert(1, {"stage": "ramp", "duration_ps": 0.1, "to_K": 1000.0,
                                                "thermostat": "nose_hoover"})
    with pytest.raises(StudyError, match=r"protocol.stages\[1\] \(ramp\) with thermostat nose_hoover is not carried "
                                         r"by the lammps engine.*Use thermostat: langevin"):
        meltdyn.load_study(tiny_study, registry)


@pytest.mark.slow
@pytest.mark.subprocess
def test_a_quench_killed_halfway_resumes_where_it_was(tiny_study, registry, tmp_path):
    """SIGKILL in the middle of a Nosé–Hoover ramp (deterministic, so a resumed run can be compared bit for bit):
    the rerun starts from the ramp's last checkpoint, at the temperature the profile has there, and ends with the
    trajectory an uninterrupted run gives, frame for frame (OpenMM's Reference platform)."""
    tiny_study["engine"]["checkpoint_interval_ps"] = 0.05
    tiny_study["protocol"]["stages"] = [
        {"stage": "minimise", "max_iterations": 50},
        {"stage": "ramp", "duration_ps": 0.6, "from_K": "target", "to_K": 1000.0, "thermostat": "nose_hoover",
         "friction_per_ps": 50.0}, PRODUCTION]
    tiny_study["observables"] = []
    (whole,) = meltdyn.load_study(tiny_study, registry, output_dir=tmp_path / "whole").run(progress=False)

    study_file = tmp_path / "study.yaml"
    study_file.write_text(yaml.safe_dump(tiny_study))
    out = tmp_path / "killed"
    progress = out / whole.id / "checkpoints" / "progress.json"
    proc = subprocess.Popen([*MELTDYN, "run", "-q", str(study_file), "--output-dir", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    record: dict = {}
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None and not (record.get("stage") == 1 and
                                                                   200 <= record.get("step", 0) < 600):
        try:
            record = json.loads(progress.read_text())
        except (OSError, ValueError):
            record = {}
        time.sleep(0.005)
    assert proc.poll() is None, "the run ended before it could be killed in its ramp"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = json.loads(progress.read_text())
    assert killed_at["stage"] == 1 and 0 < killed_at["step"] < 600, killed_at

    subprocess.run([*MELTDYN, "run", "-q", str(study_file), "--output-dir", str(out)], check=True)
    resumed = meltdyn.load_study(study_file, registry, output_dir=out).runs[0]
    assert resumed.completed
    facts = json.loads((resumed.dir / "checkpoints" / "facts.json").read_text())
    assert [s["from_stage"] for s in facts["sessions"]] == [0, 1]
    with H5MDReader(whole.dir / "trajectory.h5") as a, H5MDReader(resumed.dir / "trajectory.h5") as b:
        np.testing.assert_array_equal(b.steps, a.steps)
        np.testing.assert_array_equal(b.positions_A(), a.positions_A())


@pytest.mark.slow
@pytest.mark.subprocess
def test_ctrl_c_in_a_stage_keeps_the_steps_done_and_a_second_run_continues_from_there(tiny_study, tmp_path):
    """Ctrl-C (SIGINT) in the middle of a 2 ps NVT stage whose periodic checkpoints are 10 ps apart: the run stops
    after the chunk it came in, with a checkpoint at that step (before, the stage went back to its start), says so,
    and the next `meltdyn run` finishes from there."""
    tiny_study["engine"]["checkpoint_interval_ps"] = 10.0
    tiny_study["protocol"]["stages"] = [{"stage": "minimise", "max_iterations": 50},
                                        {"stage": "nvt", "duration_ps": 2.0}, PRODUCTION]
    tiny_study["observables"] = []
    study_file = tmp_path / "study.yaml"
    study_file.write_text(yaml.safe_dump(tiny_study))
    out = tmp_path / "out"
    progress = out / "NS2_T3000K_r0" / "checkpoints" / "progress.json"
    proc = subprocess.Popen([*MELTDYN, "run", str(study_file), "--output-dir", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    record: dict = {}
    while time.time() < deadline and proc.poll() is None and record.get("stage") != 1:
        try:
            record = json.loads(progress.read_text())
        except (OSError, ValueError):
            record = {}
        time.sleep(0.01)
    time.sleep(1.0)  # well into the stage's 2000 steps
    assert proc.poll() is None, "the run ended before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    stopped = json.loads(progress.read_text())
    assert stopped["stage"] == 1 and 0 < stopped["step"] < 2000, stopped
    status = json.loads((out / "NS2_T3000K_r0" / "status.json").read_text())
    assert status["state"] == "interrupted"
    assert f"at step {stopped['step']} of 2000 of stage 1 (nvt)" in status["message"], status
    subprocess.run([*MELTDYN, "run", "-q", str(study_file), "--output-dir", str(out)], check=True)
    facts = json.loads((out / "NS2_T3000K_r0" / "checkpoints" / "facts.json").read_text())
    assert [s["from_stage"] for s in facts["sessions"]] == [0, 1]
    assert f"stage/1/resumed_at/{stopped['step']}" in json.dumps(facts["seeds"])
