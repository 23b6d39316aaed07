"""A run killed at the very start of production — trajectory opened, no chunk of frames written yet — resumes like
any other interruption, on both CPU engines, and ends with the frames of an uninterrupted run."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import yaml

import meltdyn
from meltdyn.testing import kill_at_production_start
from meltdyn.trajectory.h5md import H5MDReader
from conftest import MELTDYN, TINY_STUDY

ENGINES = {"openmm": {"plugin": "openmm", "platform": "Reference"}, "lammps": {"plugin": "lammps", "threads": 1}}


@pytest.mark.slow
@pytest.mark.subprocess
@pytest.mark.parametrize("engine", ENGINES)
def test_a_run_killed_before_its_first_chunk_resumes(engine, tmp_path, registry):
    if engine == "lammps":
        pytest.importorskip("lammps")
    import subprocess

    study = {**copy.deepcopy(TINY_STUDY), "engine": ENGINES[engine], "output_dir": str(tmp_path / "killed")}
    study["protocol"]["stages"][-1]["sampling"]["chunk_frames"] = 1000  # the only chunk is written at the end
    study_file = tmp_path / "study.yaml"
    study_file.write_text(yaml.safe_dump(study))
    run_dir = tmp_path / "killed" / "NS2_T3000K_r0"
    kill_at_production_start(study_file, run_dir)
    assert (run_dir / "trajectory.h5").exists() and not (run_dir / "results.h5").exists()
    progress = run_dir / "checkpoints" / "progress.json"
    assert not progress.exists() or yaml.safe_load(progress.read_text()).get("frames", 0) == 0

    out = subprocess.run([*MELTDYN, "run", "-q", str(study_file)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    (resumed,) = meltdyn.load_study(study_file, registry).runs
    assert resumed.completed
    (reference,) = meltdyn.load_study({**study, "output_dir": str(tmp_path / "ref")}, registry).run(progress=False)
    with H5MDReader(reference.dir / "trajectory.h5") as full, H5MDReader(resumed.dir / "trajectory.h5") as res:
        np.testing.assert_array_equal(res.steps, full.steps)
        if engine == "openmm":  # the Reference platform repeats itself bit for bit, resumed or not
            np.testing.assert_array_equal(res.positions_A(), full.positions_A())
    if engine == "openmm":  # and so does the thermodynamic log: each step once, with the same numbers
        assert (resumed.dir / "thermo.csv").read_text() == (reference.dir / "thermo.csv").read_text()
