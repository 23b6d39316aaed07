"""Synthetic trajectories with known statistics, written through meltdyn's own H5MD writer."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from meltdyn.trajectory.h5md import H5MDWriter, Snapshot, TrajectoryHeader


def brownian(rng: np.random.Generator, steps: np.ndarray, n_atoms: int, d_A2_ps: float, dt_ps: float) -> np.ndarray:
    """Unwrapped Brownian positions (frames, atoms, 3) sampled exactly at the given steps."""
    gaps = np.diff(steps, prepend=steps[0]) * dt_ps
    kicks = rng.normal(size=(len(steps), n_atoms, 3)) * np.sqrt(2 * d_A2_ps * gaps)[:, None, None]
    return rng.random((1, n_atoms, 3)) * 20.0 + np.cumsum(kicks, axis=0)


def write_h5md(path: Path, symbols: list[str], steps: np.ndarray, positions_A: np.ndarray,
               box_A: float | np.ndarray, dt_ps: float, interval_steps: int, unwrapped: bool = True) -> Path:
    """An H5MD file of the given frames; ``box_A`` is a cube's edge or the cell's rows a, b, c."""
    cell = np.eye(3) * box_A if np.isscalar(box_A) else np.asarray(box_A)
    header = TrajectoryHeader(symbols, dt_ps, interval_steps, unwrapped)
    writer = H5MDWriter(path, header, chunk_frames=16, velocities=False)
    for step, pos in zip(steps, positions_A):
        writer.append(int(step), step * dt_ps, Snapshot(pos, cell, 0.0, 0.0))
    writer.close()
    return path


def assert_same_results(actual: dict, expected: dict, rtol: float, atol: float) -> None:
    """Every array of two analyses' results agrees: numbers within the tolerances (NaN where NaN), the text arrays
    that say what an estimate is (its kind, its note) exactly."""
    for label in expected:
        for key in expected[label]:
            got, want = actual[label][key].values, expected[label][key].values
            if np.asarray(want).dtype.kind in "US":
                np.testing.assert_array_equal(got, want, err_msg=f"{label}/{key}")
            else:
                np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=f"{label}/{key}")


def hopping(rng, n, frames, p_hop, a, sigma):
    """Particles on a cubic lattice (spacing a) hopping to a random neighbour with probability p_hop per frame,
    vibrating with Gaussian noise sigma per axis around their site."""
    axis = rng.integers(0, 3, size=(frames, n))
    sign = rng.choice([-1.0, 1.0], size=(frames, n))
    jump = (rng.random((frames, n)) < p_hop)[..., None] * np.eye(3)[axis] * sign[..., None] * a
    jump[0] = 0
    sites = rng.integers(0, 10, size=(1, n, 3)) * a + np.cumsum(jump, axis=0)
    return sites + rng.normal(scale=sigma, size=sites.shape)


def whole_frames(observable, x: np.ndarray, symbols: list[str], cell_A: np.ndarray, dt_ps: float = 0.1) -> dict:
    """prepare → process → conclude of a whole-frame observable over frames (frames, atoms, 3) in one cell, as one
    batch: the code path the analysis drives, without a file."""
    from meltdyn.plugin import FrameBatch, TrajectoryInfo

    frames = len(x)
    steps = np.arange(frames)
    observable.prepare(TrajectoryInfo(len(symbols), symbols, steps, steps * dt_ps, 1, dt_ps, cell_A))
    observable.process(FrameBatch(steps, steps, steps * dt_ps, symbols, np.broadcast_to(cell_A, (frames, 3, 3)), x))
    return observable.conclude()
