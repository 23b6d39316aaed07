"""The state point a production reached: block-averaged errors that hold for correlated series, the kinetic
temperature from stored velocities, and flags for a missed target or a drift."""

from __future__ import annotations

import math

import numpy as np
import pytest

from meltdyn.analysis.state_point import block_standard_error, measure
from meltdyn.base import elements
from meltdyn.base.units import BOLTZMANN_EV_K, U_A2_PS2_TO_EV
from meltdyn.trajectory.h5md import H5MDReader, H5MDWriter, Snapshot, TrajectoryHeader


def ar1(rng: np.random.Generator, n: int, phi: float) -> np.ndarray:
    """A stationary AR(1) series of unit variance: correlation time (1 + φ)/(1 − φ) samples."""
    x = np.empty(n)
    x[0] = rng.normal()
    noise = rng.normal(size=n) * math.sqrt(1 - phi**2)
    for k in range(1, n):
        x[k] = phi * x[k - 1] + noise[k]
    return x


@pytest.mark.slow
def test_the_correlation_aware_error_covers_the_true_mean_of_a_correlated_series():
    """200 AR(1) series of 8192 samples (φ = 0.9, τ = 19 samples: the naive error is 4.4 times too small). The
    ±1.96 SE interval must cover the true mean (0) in 88–99 % of them. A windowed autocorrelation estimate is a few
    per cent low at this length and itself uncertain, so its coverage is ~0.93, not 0.95; the window 0.88 leaves
    that a failure probability ~0.3 % (binomial), while the naive error (coverage ~42 %) and an error 30 % too
    small (~82 %) fail it."""
    rng = np.random.default_rng(2)
    covered, ratios = 0, []
    n = 8192
    exact = math.sqrt((1 + 0.9) / (1 - 0.9) / n)
    for _ in range(200):
        x = ar1(rng, n, 0.9)
        se, converged = block_standard_error(x)
        assert converged
        covered += abs(x.mean()) < 1.96 * se
        ratios.append(se / exact)
    assert 0.88 <= covered / 200 <= 0.99
    assert np.median(ratios) == pytest.approx(1.0, abs=0.1)


def test_a_short_correlated_series_is_not_given_too_small_an_error():
    """300 AR(1) series of 200 samples (τ = 19: ten correlation times, a 10 ps production at Langevin 1/ps). The
    mean-corrected estimate covers the true mean in ~89 % of them; without the correction for the series' own mean
    the windowed estimate is 30 % low and covers ~77 %. The bound 0.84 sits 2.8 binomial σ below the first (a
    false failure ~0.3 %) and well above the second; most of these series must also be flagged as too short."""
    rng = np.random.default_rng(5)
    covered = flagged = 0
    for _ in range(300):
        x = ar1(rng, 200, 0.9)
        se, converged = block_standard_error(x)
        covered += abs(x.mean()) < 1.96 * se
        flagged += not converged
    assert covered / 300 >= 0.84
    assert flagged / 300 >= 0.5


def test_an_uncorrelated_series_gets_the_plain_standard_error():
    x = np.random.default_rng(3).normal(size=2048)
    se, converged = block_standard_error(x)
    assert converged and se == pytest.approx(x.std(ddof=1) / math.sqrt(len(x)), rel=0.25)


def test_a_series_too_short_for_its_correlation_time_says_so():
    """Eight samples of a slowly varying series: no plateau can be seen, and the result says it is not converged."""
    _, converged = block_standard_error(ar1(np.random.default_rng(4), 12, 0.99))
    assert not converged


def _production(path, temperatures_K, n_atoms=60, seed=0, log_frames=0, box=12.0):
    """A trajectory whose velocities are Maxwell–Boltzmann at the given temperature per linear frame (zero total
    momentum), with ``log_frames`` frames between linear ones at a different temperature (which must not count)."""
    rng = np.random.default_rng(seed)
    symbols = (["Na", "O", "Si"] * n_atoms)[:n_atoms]
    masses = elements.masses_u(symbols)
    interval = 10
    header = TrajectoryHeader(symbols, 0.001, interval)
    writer = H5MDWriter(path, header, chunk_frames=16, velocities=True)
    positions = rng.random((n_atoms, 3)) * box

    def velocities(t):
        v = rng.normal(size=(n_atoms, 3)) * np.sqrt(BOLTZMANN_EV_K * t / (masses * U_A2_PS2_TO_EV))[:, None]
        return v - (masses[:, None] * v).sum(0) / masses.sum()

    step = 0
    for t in temperatures_K:
        writer.append(step, step * 0.001, Snapshot(positions, np.eye(3) * box, -7.0 * n_atoms, t, velocities(t)))
        for k in range(1, log_frames + 1):
            writer.append(step + k, (step + k) * 0.001, Snapshot(positions, np.eye(3) * box, 0.0, 0.0,
                                                               velocities(10 * t)))
        step += interval
    writer.close()
    return path


def test_the_kinetic_temperature_from_velocities_is_the_one_they_were_drawn_at(tmp_path):
    """Velocities drawn at 3000 K, 60 atoms, 400 frames: the mean is 3000 K within its error; the log-spaced frames
    in between (drawn ten times hotter) are left out; density and energy per atom as written."""
    path = _production(tmp_path / "t.h5", [3000.0] * 400, log_frames=3)
    with H5MDReader(path) as reader:
        point = measure(reader, 3000.0)
    t = point.temperature_K
    assert point.frames == 400 and "velocities" in point.temperature_source
    assert abs(t.value - 3000.0) < 3 * t.stderr and t.stderr < 40
    assert point.flags == []
    assert point.potential_energy_eV_atom.value == pytest.approx(-7.0)
    mass = elements.masses_u((["Na", "O", "Si"] * 20)[:60]).sum()
    assert point.density_g_cm3 == pytest.approx(mass * 1.66053906660 / 12.0**3)
    assert point.pressure_bar.kind == "undefined" and point.pressure_bar.note


def test_a_run_that_missed_its_target_or_drifted_is_flagged(tmp_path):
    cold = _production(tmp_path / "cold.h5", [2764.0] * 400)
    with H5MDReader(cold) as reader:
        point = measure(reader, 3000.0)
    assert any("missed the target 3000 K by -" in f for f in point.flags), point.flags
    drifting = _production(tmp_path / "drift.h5", list(np.linspace(2616.0, 2283.0, 400)))
    with H5MDReader(drifting) as reader:
        point = measure(reader, 2450.0)
    assert point.drift_K == pytest.approx(-333.0 / 2, abs=20) and any("drifted" in f for f in point.flags)
