"""χ4 against a plain NumPy estimate over every time origin, and against its meaning: particles that move in rigid
groups of m have χ4 = m × the single-particle variance of w, independent ones (m = 1) the variance itself."""

from __future__ import annotations

import numpy as np
import pytest

from meltdyn.plugin import AtomBlock, TrajectoryInfo, estimate_at, select
from meltdyn.plugins.observables.chi4 import Chi4, Chi4Params

DT = 0.01


def run_direct(obs: Chi4, x: np.ndarray, symbols: list[str]) -> dict:
    frames, n = x.shape[:2]
    steps = np.arange(frames)
    obs.prepare(TrajectoryInfo(n, symbols, steps, steps * DT, 1, DT, np.eye(3) * 50.0))
    obs.process(AtomBlock(np.arange(n), symbols, x))
    return obs.conclude()


def grouped_walk(seed: int, frames: int, groups: int, size: int, d: float) -> np.ndarray:
    """Brownian groups of ``size`` atoms that move as one (each atom keeps its own offset in the group)."""
    rng = np.random.default_rng(seed)
    steps = rng.normal(scale=np.sqrt(2 * d * DT), size=(frames, groups, 3))
    paths = np.cumsum(steps, axis=0) - steps[:1]
    return np.repeat(paths, size, axis=1) + rng.random((1, groups * size, 3)) * 40


def test_chi4_equals_the_variance_over_every_origin_by_numpy():
    x = grouped_walk(1, 300, 40, 3, 0.2)
    symbols = ["Na"] * 60 + ["O"] * 60
    obs = Chi4(Chi4Params(overlap_A=[0.4], q_per_A=[2.0], max_origins=10**6))
    res = run_direct(obs, x, symbols)
    assert all(len(sample.origins) == 300 - sample.lag_steps for sample in obs.samples)  # every origin
    for s in ("Na", "O"):
        mask = np.array(symbols) == s
        for k, lag in enumerate(np.rint(res["lag"].values / DT).astype(int)):
            r = np.linalg.norm(x[lag:, mask] - x[:len(x) - lag, mask], axis=-1)  # (origins, atoms)
            for name, axis, value, w in (("overlap", "a", 0.4, r < 0.4), ("fs", "q", 2.0, np.sinc(2.0 * r / np.pi))):
                q = w.mean(axis=1)
                assert select(res, f"Q_{name}", species=s, **{axis: value})[k] == pytest.approx(q.mean(), abs=1e-12)
                assert select(res, f"chi4_{name}", species=s, **{axis: value})[k] == pytest.approx(
                    mask.sum() * q.var(), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("size", [1, 8])
def test_particles_moving_in_groups_of_m_have_chi4_m_times_the_single_particle_variance(size):
    """χ4 = N var(Q) = m (⟨w²⟩ − ⟨w⟩²) for N/m independent rigid groups of m atoms; measured as the ratio at the lags
    where ⟨Q⟩ is between 0.2 and 0.8, averaged, within 20 % (the variance over ~400 origins of 200 groups: a
    relative error of a few per cent a lag, correlated between lags)."""
    x = grouped_walk(2, 3000, 1600 // size, size, 0.05)
    obs = Chi4(Chi4Params(overlap_A=[1.0], q_per_A=[], max_origins=400))
    res = run_direct(obs, x, ["O"] * 1600)
    q = select(res, "Q_overlap", species="O", a=1.0)
    chi = select(res, "chi4_overlap", species="O", a=1.0)
    middle = (q > 0.2) & (q < 0.8)
    assert middle.sum() >= 5
    assert np.mean(chi[middle] / (q[middle] * (1 - q[middle]))) == pytest.approx(size, rel=0.2)
    height = estimate_at(res, "chi4_overlap_peak_height", species="O", a=1.0)
    assert height.kind in ("value", "lower_bound")


@pytest.mark.slow
def test_chi4_equals_atooms_pp_on_the_same_trajectory(tmp_path, monkeypatch):
    """atooms-pp's Chi4SelfOverlap (Coslovich's post-processing for glassy dynamics) over every origin."""
    monkeypatch.chdir(tmp_path)  # atooms compiles its kernels into the working directory
    pp = pytest.importorskip("atooms.postprocessing")
    from atooms.trajectory import TrajectoryXYZ

    x = grouped_walk(3, 200, 20, 3, 0.2)
    with open("t.xyz", "w") as f:
        for k, frame in enumerate(x):
            f.write(f"{len(frame)}\nstep:{k} cell:50.0,50.0,50.0 columns:species,position\n")
            f.writelines(f"A {p[0]:.10f} {p[1]:.10f} {p[2]:.10f}\n" for p in frame)
    res = run_direct(Chi4(Chi4Params(overlap_A=[0.5], q_per_A=[], max_origins=10**6)), x, ["Na"] * len(x[0]))
    lags = res["lag"].values[[2, 8, 14]]
    trajectory = TrajectoryXYZ("t.xyz")
    trajectory.timestep = DT
    theirs = pp.Chi4SelfOverlap(trajectory, tgrid=list(lags), a=0.5, norigins=-1)
    theirs.compute()
    ours = select(res, "chi4_overlap", species="Na", a=0.5)[[2, 8, 14]]
    np.testing.assert_allclose(ours, theirs.value, rtol=1e-7)
