"""`meltdyn validate` says what each run will cost — MD steps, simulated time, frames, a lower bound on the
trajectory's size — and a run then costs that."""

from __future__ import annotations

import copy
import re

import pytest
import yaml

import meltdyn
from conftest import TINY_STUDY
from meltdyn.cli.dispatch import main
from meltdyn.trajectory.h5md import H5MDReader


@pytest.mark.slow
def test_the_cost_validate_prints_is_the_cost_a_run_has(tmp_path, capsys):
    study = {**copy.deepcopy(TINY_STUDY), "output_dir": str(tmp_path / "runs")}
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(study))
    assert main(["validate", str(tmp_path / "s.yaml")]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if "NS2_T3000K_r0: pending" in line)
    steps, ps, frames, mb = re.search(r"([\d,]+) MD steps \(([\d.]+) ps\), ([\d,]+) frames, trajectory ≥ ([\d.]+) MB",
                                      line).groups()
    stages = study["protocol"]["stages"]
    simulated = sum(s.get("duration_ps", 0.0) for s in stages)
    assert float(ps) == pytest.approx(simulated)
    assert int(steps.replace(",", "")) == round(simulated * 1000 / study["protocol"]["timestep_fs"])
    (run,) = meltdyn.load_study(tmp_path / "s.yaml").run(progress=False)
    with H5MDReader(run.trajectory) as traj:
        assert traj.n_frames == int(frames.replace(",", ""))
    assert run.trajectory.stat().st_size >= float(mb) * 1e6
