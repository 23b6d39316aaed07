"""The per-run thermodynamic log (thermo.csv): a row per report interval of every MD stage and per production
frame, with the numbers the trajectory and the system hold, and each step once after a resume."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import meltdyn
from conftest import TINY_STUDY
from meltdyn.base import elements
from meltdyn.base.units import AVOGADRO, KJ_MOL_TO_EV
from meltdyn.engine.thermo import COLUMNS, THERMO, ThermoLog, read_thermo
from meltdyn.trajectory.h5md import H5MDReader


@pytest.mark.slow
def test_a_runs_log_covers_every_md_stage_and_agrees_with_its_trajectory(tmp_path, registry):
    study = copy.deepcopy(TINY_STUDY)
    study["engine"]["report_interval_steps"] = 10
    (run,) = meltdyn.load_study(study, registry, output_dir=tmp_path / "runs").run(progress=False)
    log = read_thermo(run.dir)
    stages = study["protocol"]["stages"]
    assert sorted(set(log["stage"].astype(int))) == [1, 2]  # nvt and production; the minimisation has no time
    nvt = log["stage"] == 1
    nvt_steps = round(stages[1]["duration_ps"] * 1000 / study["protocol"]["timestep_fs"])
    np.testing.assert_array_equal(log["step"][nvt], np.arange(10, nvt_steps + 1, 10))  # every report interval
    assert np.all(np.diff(log["time_ps"]) >= 0) and set(log["stage_kind"]) == {"nvt", "production"}
    production = log["stage"] == 2
    with H5MDReader(run.trajectory) as traj:
        np.testing.assert_array_equal(log["step"][production], traj.steps)
        np.testing.assert_allclose(log["time_ps"][production], stages[1]["duration_ps"] + traj.times_ps, rtol=1e-5)
        np.testing.assert_allclose(log["temperature_K"][production], traj.observable("temperature"), rtol=1e-5)
        per_atom = traj.observable("potential_energy") * KJ_MOL_TO_EV / traj.n_atoms
        np.testing.assert_allclose(log["potential_energy_eV_per_atom"][production], per_atom, rtol=1e-6)
        volume = abs(np.linalg.det(traj.boxes_A()[0]))
        density = float(elements.masses_u(traj.symbols).sum()) / AVOGADRO / (volume * 1e-24)
    np.testing.assert_allclose(log["volume_A3"], volume, rtol=1e-5)
    np.testing.assert_allclose(log["density_g_cm3"], density, rtol=1e-5)


def test_a_resumed_session_drops_the_rows_after_its_checkpoint_and_a_line_cut_short(tmp_path):
    """The steps after the checkpoint are about to be redone, so their rows go; so does a half-written line. Until
    the session records its first row the file is left as it was (a session that fails first changes nothing)."""
    path = tmp_path / THERMO
    rows = [f"{stage},nvt,{step},{step * 0.001},3000,-7.1,1000,2.2" for stage, step in
            [(1, 10), (1, 20), (2, 0), (2, 10), (2, 20)]]
    # the last line was cut short mid-number by a crash, yet parses: it goes, as the newline never came
    path.write_text(",".join(COLUMNS) + "\n" + "\n".join(rows) + "\n2,nvt,30,0.03,3000,-7.1,1000,2")
    before = path.read_bytes()
    ThermoLog(tmp_path, 10, 1e-21, (2, 10)).close()
    assert path.read_bytes() == before
    log = ThermoLog(tmp_path, 10, 1e-21, (2, 10))
    log.record(2, "nvt", 20, 0.02, 2999.0, -71.0, np.eye(3) * 10)
    log.close()
    kept = read_thermo(tmp_path)
    assert list(zip(kept["stage"], kept["step"])) == [(1, 10), (1, 20), (2, 0), (2, 10), (2, 20)]
    assert kept["temperature_K"][-1] == 2999.0 and kept["potential_energy_eV_per_atom"][-1] == -7.1
    assert kept["density_g_cm3"][-1] == pytest.approx(1e-21 / 1e-21)
