"""The engine kit's trust guard (meltdyn.engine.trust): a potential that judges the configurations MD reaches, and
stops a run where it says so.

Oracle: the same run without checks. A check reads the configuration and changes nothing, so a checked run's
frames are the unchecked run's, up to and including the frame it stopped at; the checks fall where the schedule
says; a stop before production fails the run; a stop in production ends it there, analysed and flagged.
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from types import SimpleNamespace

import numpy as np
import pytest

import meltdyn
from meltdyn.engine.checkpoints import load_facts
from meltdyn.engine.thermo import read_log
from meltdyn.engine.trust import CHECKS, TRUST_STOP
from meltdyn.plugin import FrameCheck, PluginDef, StudyError, hookimpl
from meltdyn.plugins.potentials.shik import ShikParams, outline
from meltdyn.plugins.potentials.shik.potential import Shik
from meltdyn.trajectory.h5md import H5MDReader

pytestmark = pytest.mark.slow  # several tiny MD runs (~40 s)


class CheckingParams(ShikParams):
    check_interval_ps: float = 0.04
    stop_at_check: int = 3
    only_with_na: int | None = None  # in a batch, stop only the run with this many Na atoms


class StopsAtCheck(Shik):
    """SHIK, with a check that counts itself per run (by the run's Na count) and stops at the n-th."""

    def __init__(self, params: CheckingParams):
        super().__init__(params)
        self.check_interval_ps = params.check_interval_ps
        self.checks: Counter[int] = Counter()

    def check_frame(self, system):
        na = system.symbols.count("Na")
        self.checks[na] += 1
        n = self.checks[na]
        stops = n >= self.params.stop_at_check and self.params.only_with_na in (None, na)
        return FrameCheck({"check": n, "volume_A3": system.volume_A3}, f"check {n} says stop" if stops else None)


@hookimpl
def meltdyn_potentials():
    return [PluginDef("checking_shik", "potential", CheckingParams, StopsAtCheck, "SHIK that stops at a check",
                      outline=outline)]


@pytest.fixture
def checking(registry):
    registry = copy.copy(registry)
    registry.entries = {kind: dict(entries) for kind, entries in registry.entries.items()}
    registry.register(SimpleNamespace(meltdyn_potentials=meltdyn_potentials), source="test_trust")
    assert registry.problems == []
    return registry


def _study(tiny_study, **check):
    study = copy.deepcopy(tiny_study)
    study["potential"] = {**study["potential"], "plugin": "checking_shik", **check}
    return study


def _frames(path):
    with H5MDReader(path) as traj:
        return traj.steps, traj.positions_A()


def test_a_stop_in_production_ends_the_run_at_that_frame_analysed_and_flagged(tiny_study, checking, tmp_path):
    plain = meltdyn.load_study(tiny_study, checking, output_dir=tmp_path / "plain").run(progress=False)[0]
    study = _study(tiny_study, check_interval_ps=0.04, stop_at_check=3)
    (run,) = meltdyn.load_study(study, checking, output_dir=tmp_path / "checked").run(progress=False)
    # nvt (50 steps): a check at step 40; production: its first frame, then the first at or after 40 steps, the third
    log = read_log(run.dir / CHECKS)
    assert list(zip(log["stage"], log["stage_kind"], log["step"], log["check"])) == [
        (1, "nvt", 40, 1), (2, "production", 0, 2), (2, "production", 40, 3)]
    np.testing.assert_allclose(log["time_ps"], [0.04, 0.05, 0.09], rtol=1e-6)
    steps, positions = _frames(run.trajectory)
    all_steps, all_positions = _frames(plain.trajectory)
    kept = all_steps <= 40
    np.testing.assert_array_equal(steps, all_steps[kept])  # up to and including the frame it stopped at
    np.testing.assert_array_equal(positions, all_positions[kept])  # the checks changed nothing
    status = run.status
    assert status["state"] == "completed" and "production stopped at 0.04 ps of the 0.2 ps" in status["message"]
    point = json.loads((run.dir / "summary.json").read_text())["state_point"]
    assert point[TRUST_STOP]["step"] == 40 and point[TRUST_STOP]["reason"] == "check 3 says stop"
    assert any("production stopped at 0.04 ps" in flag and "check 3 says stop" in flag for flag in point["flags"])
    with H5MDReader(run.trajectory) as traj:
        assert point["frames"] <= traj.n_frames
    # a second `meltdyn run` leaves it as it is; a reanalysis keeps the flag
    meltdyn.load_study(study, checking, output_dir=tmp_path / "checked").run(progress=False)
    np.testing.assert_array_equal(_frames(run.trajectory)[0], steps)
    done, skipped = meltdyn.load_study(study, checking, output_dir=tmp_path / "checked").reanalyse()
    assert len(done) == 1 and not skipped
    again = json.loads((run.dir / "summary.json").read_text())["state_point"]
    assert again[TRUST_STOP] == point[TRUST_STOP] and any("check 3 says stop" in f for f in again["flags"])


def test_a_stop_before_production_fails_the_run_and_keeps_its_checkpoint(tiny_study, checking, tmp_path):
    study = _study(tiny_study, check_interval_ps=0.02, stop_at_check=2)
    with pytest.raises(StudyError, match=r"left its potential's trust region at step 40 of stage 1 \(nvt\).*"
                                         r"check 2 says stop.*last checkpoint"):
        meltdyn.load_study(study, checking, output_dir=tmp_path / "out").run(progress=False)
    run = meltdyn.load_study(study, checking, output_dir=tmp_path / "out").runs[0]
    assert run.status["state"] == "failed" and "LeftTrustRegion" in run.status["message"]
    assert not run.trajectory.exists() and run.checkpoint().stage == 1
    assert list(read_log(run.dir / CHECKS)["step"]) == [20, 40]


def test_a_stop_at_productions_first_frame_leaves_too_little_to_analyse(tiny_study, checking, tmp_path):
    study = _study(tiny_study, check_interval_ps=0.04, stop_at_check=2)
    with pytest.raises(StudyError, match=r"stopped at its frame 1 .*check 2 says stop.*too few to analyse"):
        meltdyn.load_study(study, checking, output_dir=tmp_path / "out").run(progress=False)
    run = meltdyn.load_study(study, checking, output_dir=tmp_path / "out").runs[0]
    assert run.status["state"] == "failed" and _frames(run.trajectory)[0].tolist() == [0]
    assert load_facts(run.dir / "checkpoints")[TRUST_STOP]["step"] == 0


def test_in_a_batch_a_stopped_run_ends_and_the_others_go_on_as_alone(tiny_study, checking, tmp_path):
    pytest.importorskip("torch_sim")
    study = _study(tiny_study, check_interval_ps=0.04, stop_at_check=3, only_with_na=34)  # NS2's 34 of 153 atoms
    study["sweep"] = {"compositions": ["NS2", "NS4"], "temperatures_K": [3000.0]}
    study["engine"] = {"plugin": "torchsim", "device": "cpu", "precision": "float64", "max_batch": 2,
                       "report_interval_steps": 25}
    batch = meltdyn.load_study(study, checking, output_dir=tmp_path / "batch")
    assert [len(b) for b in batch.batches(batch.runs)] == [2]
    ns2, ns4 = batch.run(progress=False)
    study["potential"]["stop_at_check"] = 10**6
    free_ns2, free_ns4 = meltdyn.load_study(study, checking, output_dir=tmp_path / "free").run(progress=False)
    assert ns2.status["message"].startswith("production stopped at 0.04 ps") and "message" not in ns4.status
    steps, positions = _frames(ns2.trajectory)
    all_steps, all_positions = _frames(free_ns2.trajectory)
    np.testing.assert_array_equal(steps, all_steps[all_steps <= 40])
    np.testing.assert_allclose(positions, all_positions[all_steps <= 40], rtol=0, atol=1e-9)
    for got, want in zip(_frames(ns4.trajectory), _frames(free_ns4.trajectory)):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)  # its batch-mate's stop changed nothing of it
