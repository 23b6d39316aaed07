"""The standard error ``meltdyn evaluate`` gives an RMSE, against the scatter of that RMSE over many independent
synthetic sets of held-out frames (Monte Carlo): frames independent, and frames correlated in time as consecutive
frames of one MD trajectory are."""

from __future__ import annotations

import numpy as np

from meltdyn.plugins.potentials.painn.evaluate import _rmse_with_error

SETS = 400
"""Synthetic sets: the Monte-Carlo sd of the RMSE is then known to ±3.5 % (1/sqrt(2·399)) and the mean of the
estimated standard errors to ±1.5 %, so the 20 % tolerance below sits beyond 5 combined standard deviations; the
test fails for an estimator that ignores correlation (it reads ≈ 0.35 of the truth in the correlated case)."""


def _ar1(rng: np.random.Generator, n: int, rho: float) -> np.ndarray:
    x = np.empty(n)
    x[0] = rng.normal()
    for t in range(1, n):
        x[t] = rho * x[t - 1] + np.sqrt(1 - rho ** 2) * rng.normal()
    return x


def _coverage(rho: float, frames: int) -> tuple[float, float, float]:
    """Monte-Carlo sd of the RMSE, the mean block standard error, and the mean naive (independent-frames) one."""
    rng = np.random.default_rng(7)
    rmse, block, naive = [], [], []
    for _ in range(SETS):
        per_frame_mse = np.exp(0.5 * _ar1(rng, frames, rho))  # positive, fluctuating from frame to frame
        got = _rmse_with_error(per_frame_mse, np.ones(frames), blocks=10, scale=1.0)
        rmse.append(got["rmse"])
        block.append(got["stderr"])
        naive.append(per_frame_mse.std(ddof=1) / np.sqrt(frames) / (2 * got["rmse"]))
    return float(np.std(rmse, ddof=1)), float(np.mean(block)), float(np.mean(naive))


def test_the_rmse_error_of_independent_frames_matches_its_monte_carlo_scatter():
    truth, block, _ = _coverage(rho=0.0, frames=40)
    assert abs(block / truth - 1) < 0.2


def test_the_rmse_error_of_correlated_frames_matches_its_scatter_where_an_independent_one_does_not():
    # correlation time (1 + rho) / (1 - rho) = 9 frames, blocks of 40: the blocks' means are nearly independent
    # (measured 0.90 of the truth; blocks shorter against the correlation time read lower, as any block method does)
    truth, block, naive = _coverage(rho=0.8, frames=400)
    assert abs(block / truth - 1) < 0.2
    assert naive / truth < 0.6


def test_too_few_frames_for_two_blocks_give_no_error_rather_than_a_made_up_one():
    got = _rmse_with_error(np.array([4.0]), np.ones(1), blocks=10, scale=1e3)
    assert got == {"rmse": 2000.0, "stderr": None, "blocks": 1}
