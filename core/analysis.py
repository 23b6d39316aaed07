"""One pass over a trajectory: stream blocks of atoms through every observable."""

from __future__ import annotations

import resource
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from meltdyn import elements
from meltdyn.contracts import AtomBlock, Observable, ResultArray, TrajectoryInfo
from meltdyn.specs import AnalysisSettings
from meltdyn.trajectory import H5MDReader


def unwrap(positions_A: np.ndarray, boxes_A: np.ndarray) -> np.ndarray:
    """Unwrap positions (frames, atoms, 3) with per-frame cells (frames, 3, 3), triclinic included.

    Each frame-to-frame displacement is reduced to its minimum image in fractional coordinates, which is
    exact while no atom moves more than half a box length between frames.
    """
    inv = np.linalg.inv(boxes_A)
    frac = np.einsum("tai,tij->taj", positions_A, inv)
    step = np.diff(frac, axis=0)
    step -= np.round(step)
    unwrapped = np.concatenate([frac[:1], frac[:1] + np.cumsum(step, axis=0)], axis=0)
    return np.einsum("taj,tjk->tak", unwrapped, boxes_A)


def _blocks(traj: Any, block_atoms: int, drift_A: np.ndarray | None = None) -> Iterator[AtomBlock]:
    """Blocks of atoms over all frames, unwrapped, with ``drift_A`` (frames, 3) subtracted if given."""
    boxes = None if traj.unwrapped else traj.boxes_A()
    for start in range(0, traj.n_atoms, block_atoms):
        stop = min(start + block_atoms, traj.n_atoms)
        pos = traj.positions_A(slice(start, stop))
        if boxes is not None:
            pos = unwrap(pos, boxes)
        if drift_A is not None:
            pos = pos - drift_A[:, None, :]
        yield AtomBlock(np.arange(start, stop), traj.symbols[start:stop], pos)


def com_drift(traj: Any, block_atoms: int) -> np.ndarray:
    """Mass-weighted centre-of-mass displacement of the whole system from the first frame, (frames, 3)."""
    weighted = np.zeros((traj.n_frames, 3))
    total = 0.0
    for block in _blocks(traj, block_atoms):
        m = elements.masses_u(block.symbols)
        weighted += np.einsum("a,tai->ti", m, block.positions_A - block.positions_A[:1])
        total += m.sum()
    return weighted / total


def block_size(n_frames: int, n_atoms: int, memory_budget_MB: float, align: int = 1) -> int:
    """Atoms per block so that a block's positions and the MSD's FFT work space (≈ 8× positions) fit the budget,
    rounded down to a multiple of ``align`` (the file's atoms per chunk) when the budget allows one."""
    per_atom = n_frames * 3 * 8 * 9
    size = int(max(1, min(n_atoms, memory_budget_MB * 2**20 // per_atom)))
    return size - size % align if size >= align else size


@dataclass
class AnalysisCost:
    """What one analysis pass cost: filled in by :func:`analyse` for provenance and the user."""

    seconds: float = 0.0
    block_atoms: int = 0
    peak_rss_MB: float = 0.0

    def as_dict(self) -> dict[str, float]:
        return {"seconds": self.seconds, "block_atoms": self.block_atoms, "peak_rss_MB": self.peak_rss_MB}


def analyse(trajectory: Path | Any, observables: dict[str, Observable],
            settings: AnalysisSettings = AnalysisSettings(), cost: AnalysisCost | None = None,
            block_atoms: int | None = None) -> dict[str, dict[str, ResultArray]]:
    """Run all ``observables`` over a trajectory (an H5MD path or an opened reader), in blocks of atoms.

    Every observable sees the same positions: unwrapped and, for ``reference_frame: centre_of_mass``, relative to
    the system's centre of mass. Positions are read once for that drift and once for the observables, whatever
    their number. The process's peak resident memory afterwards goes into ``cost`` (it includes whatever ran
    before). ``block_atoms`` overrides the block size the memory budget gives (tests stream atom by atom with it).
    """
    started = time.perf_counter()
    with (H5MDReader(trajectory) if isinstance(trajectory, (str, Path)) else trajectory) as traj:
        block_atoms = block_atoms or block_size(traj.n_frames, traj.n_atoms, settings.memory_budget_MB,
                                                getattr(traj, "atom_chunk", 1))
        info = TrajectoryInfo(traj.n_atoms, traj.symbols, traj.steps, traj.times_ps, traj.linear_interval_steps,
                              traj.timestep_ps, traj.boxes_A()[0])
        drift = com_drift(traj, block_atoms) if settings.reference_frame == "centre_of_mass" else None
        for obs in observables.values():
            obs.prepare(info)
        for block in _blocks(traj, block_atoms, drift):
            for obs in observables.values():
                obs.process(block)
    results = {label: obs.conclude() for label, obs in observables.items()}
    if cost is not None:
        cost.seconds = time.perf_counter() - started
        cost.block_atoms = block_atoms
        cost.peak_rss_MB = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return results
