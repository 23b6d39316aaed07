"""MSD against brute force, Brownian motion, MDAnalysis, wrapped input and centre-of-mass drift."""

from __future__ import annotations

import numpy as np
import pytest

from meltdyn.analysis.streaming import analyse
from meltdyn.engine.schedule import frame_steps
from meltdyn.plugin import select
from meltdyn.plugins.observables.msd import MSD, MSDParams, msd_fft
from meltdyn.spec.models import AnalysisSettings, SamplingSpec
from synthetic import brownian, write_h5md

DT = 0.002  # ps
BOX_FRAME = AnalysisSettings(reference_frame="box")  # as stored: the brute-force references see no drift removed


def brute_force_msd(x: np.ndarray, lag: int) -> np.ndarray:
    """Per-atom MSD at one lag (in frames), averaged over every origin with a plain loop."""
    d = [x[t + lag] - x[t] for t in range(len(x) - lag)]
    return np.mean([np.sum(v * v, axis=-1) for v in d], axis=0)


def test_fft_msd_equals_a_multi_origin_loop():
    x = np.cumsum(np.random.default_rng(0).normal(size=(200, 7, 3)), axis=0) + 50.0
    fast = msd_fft(x)
    for lag in (0, 1, 2, 17, 100, 199):
        np.testing.assert_allclose(fast[lag], brute_force_msd(x, lag), rtol=1e-9, atol=1e-9)


def _schedule(duration_ps=20.0, interval_ps=0.2, n_log=8):
    return frame_steps(SamplingSpec(interval_ps=interval_ps, log_frames_per_interval=n_log), DT, duration_ps)


def test_log_spaced_lags_are_exact_averages_over_their_frame_pairs(tmp_path):
    steps, interval = _schedule(duration_ps=2.0)
    rng = np.random.default_rng(1)
    x = brownian(rng, steps, 5, 0.5, DT)
    path = write_h5md(tmp_path / "t.h5", ["O"] * 5, steps, x, 30.0, DT, interval)
    res = analyse(path, {"msd": MSD(MSDParams())}, BOX_FRAME)["msd"]
    lags = np.rint(res["lag"].values / DT).astype(int)
    index = {int(s): i for i, s in enumerate(steps)}
    for lag, value in zip(lags, select(res, "msd", species="O")):
        origins = [i for i, s in enumerate(steps) if s % interval == 0 and int(s) + lag in index]
        expected = np.mean([np.sum((x[index[int(steps[i]) + lag]] - x[i]) ** 2, axis=-1) for i in origins])
        assert value == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert lags[0] == 0 and np.all(np.diff(lags) > 0)
    short = lags[(lags > 0) & (lags < interval)]
    assert len(short) == 8 and short[0] == 1 and short[-1] >= interval / 2  # one step up to the interval
    assert np.all(np.diff(np.log(short[2:])) == pytest.approx(np.log(interval) / 8, abs=0.3))  # geometric


def test_brownian_msd_is_6Dt_and_the_fit_recovers_D(tmp_path):
    steps, interval = _schedule()
    d_true, n = 0.35, 2000
    x = brownian(np.random.default_rng(2), steps, n, d_true, DT)
    path = write_h5md(tmp_path / "b.h5", ["Na"] * n, steps, x, 40.0, DT, interval)
    res = analyse(path, {"msd": MSD(MSDParams())}, BOX_FRAME)["msd"]
    t, msd = res["lag"].values[1:], select(res, "msd", species="Na")[1:]
    # Each lag's estimate averages n atoms (and many origins); its relative sd is at most sqrt(2/(3n)).
    np.testing.assert_allclose(msd, 6 * d_true * t, rtol=5 * np.sqrt(2 / (3 * n)))
    assert float(select(res, "D", species="Na")) == pytest.approx(d_true, rel=0.05)
    # Its standard error: within 3.9 σ of the truth fails a right σ with probability 1e-4.
    stderr = float(select(res, "D_stderr", species="Na"))
    assert abs(float(select(res, "D", species="Na")) - d_true) < 3.9 * stderr < 0.05 * d_true
    assert select(res, "D_kind", species="Na") == "value"
    assert float(select(res, "diffusive_exponent", species="Na")) == pytest.approx(1.0, abs=0.05)
    lo, hi = res["fit_window"].values
    assert 0 < lo < hi <= t[-1] / 2


def test_equal_to_mdanalysis_einstein_msd_fft():
    mda = pytest.importorskip("MDAnalysis")
    from MDAnalysis.analysis.msd import EinsteinMSD
    from MDAnalysis.coordinates.memory import MemoryReader

    x = brownian(np.random.default_rng(3), np.arange(500), 60, 0.2, DT).astype(np.float32).astype(float)
    u = mda.Universe.empty(60, trajectory=True)
    u.load_new(x.astype(np.float32), format=MemoryReader, dt=DT)
    ref = EinsteinMSD(u, select="all", msd_type="xyz", fft=True).run().results.timeseries
    ours = msd_fft(x.astype(np.float32).astype(float)).mean(axis=1)
    np.testing.assert_allclose(ours[1:], ref[1:], rtol=1e-6)


def test_wrapped_input_gives_the_unwrapped_result(tmp_path):
    steps, interval = _schedule(duration_ps=4.0, n_log=4)
    box = 12.0
    x = brownian(np.random.default_rng(4), steps, 40, 1.0, DT)
    symbols = ["Si"] * 20 + ["O"] * 20
    unwrapped = write_h5md(tmp_path / "u.h5", symbols, steps, x, box, DT, interval)
    wrapped = write_h5md(tmp_path / "w.h5", symbols, steps, np.mod(x, box), box, DT, interval, unwrapped=False)
    assert np.abs(np.diff(np.mod(x, box), axis=0)).max() > box / 2  # atoms really crossed the boundaries
    a = analyse(unwrapped, {"msd": MSD(MSDParams())})["msd"]
    b = analyse(wrapped, {"msd": MSD(MSDParams())})["msd"]
    np.testing.assert_allclose(a["msd"].values, b["msd"].values, rtol=1e-9, atol=1e-9)  # (species, lag)


def test_centre_of_mass_drift_is_removed(tmp_path):
    steps, interval = _schedule(duration_ps=4.0, n_log=4)
    x = brownian(np.random.default_rng(5), steps, 50, 0.3, DT)
    x -= x.mean(axis=1, keepdims=True) - x[:1].mean(axis=1, keepdims=True)  # no drift of its own
    drifting = x + (steps * DT)[:, None, None] * np.array([2.0, -1.0, 0.5])
    still = analyse(write_h5md(tmp_path / "a.h5", ["O"] * 50, steps, x, 30.0, DT, interval),
                    {"m": MSD(MSDParams())})["m"]
    moved = analyse(write_h5md(tmp_path / "b.h5", ["O"] * 50, steps, drifting, 30.0, DT, interval),
                    {"m": MSD(MSDParams())})["m"]
    raw = analyse(tmp_path / "b.h5", {"m": MSD(MSDParams())}, BOX_FRAME)["m"]
    np.testing.assert_allclose(select(moved, "msd", species="O"), select(still, "msd", species="O"), rtol=1e-9,
                               atol=1e-9)
    assert select(raw, "msd", species="O")[-1] > 10 * select(still, "msd", species="O")[-1]
