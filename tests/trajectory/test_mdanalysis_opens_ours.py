"""MDAnalysis opens meltdyn's trajectories after ``import meltdyn.trajectory.mdanalysis``: same atoms, elements, masses,
positions and times as meltdyn's own reader, and dt where the frames are evenly spaced."""

from __future__ import annotations

import numpy as np
import pytest

from meltdyn.base import elements
from meltdyn.trajectory.h5md import H5MDReader
from synthetic import write_h5md

mda = pytest.importorskip("MDAnalysis")
import meltdyn.trajectory.mdanalysis  # noqa: E402,F401  (registers the parser and the .h5 reader)


def _compare(path):
    u = mda.Universe(str(path))
    with H5MDReader(path) as ours:
        assert list(u.atoms.elements) == list(ours.symbols) == list(u.atoms.names)
        np.testing.assert_allclose(u.atoms.masses, elements.masses_u(ours.symbols))
        positions = np.array([ts.positions.copy() for ts in u.trajectory])  # one buffer, refilled per frame
        np.testing.assert_allclose(positions, ours.positions_A(), atol=1e-4)  # MDAnalysis holds float32
        np.testing.assert_allclose([ts.time for ts in u.trajectory], ours.times_ps, rtol=1e-6)
        np.testing.assert_allclose(u.dimensions[:3], np.diag(ours.boxes_A()[0]), rtol=1e-6)
    return u


@pytest.mark.slow
def test_a_study_trajectory_opens_in_mdanalysis(tiny_study, registry):
    import meltdyn

    (run,) = meltdyn.load_study(tiny_study, registry).run(progress=False)
    _compare(run.dir / "trajectory.h5")  # log-spaced frames: no single dt, each frame's time is right


def test_evenly_spaced_frames_give_mdanalysis_their_dt(tmp_path):
    rng = np.random.default_rng(0)
    symbols = ["Si", "O", "O", "Na", "K"]
    x = rng.random((6, len(symbols), 3)) * 10
    path = write_h5md(tmp_path / "t.h5", symbols, np.arange(6) * 50, x, 10.0, 0.002, 50)
    u = _compare(path)
    assert u.trajectory.dt == pytest.approx(0.1)
