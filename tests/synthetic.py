"""Synthetic trajectories with known statistics, written through meltdyn's own H5MD writer."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from meltdyn.trajectory import H5MDWriter, Snapshot, TrajectoryHeader


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
