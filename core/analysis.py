"""One pass over a trajectory: stream blocks of atoms through every observable."""

from __future__ import annotations

import resource
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from meltdyn import elements
from meltdyn.contracts import AtomBlock, Observable, ResultArray, TrajectoryInfo
from meltdyn.errors import InputError
from meltdyn.specs import AnalysisSettings
from meltdyn.trajectory import H5MDReader

PLANNED_FRACTION = 0.9
"""Blocks are sized to this fraction of the budget: the rest is for what no estimate counts (Python objects, index
arrays made while planning lags, small temporaries)."""

UNWRAP_COPIES = 5
"""Positions plus the fractional coordinates, steps and running sums that unwrapping a block holds at its peak."""


def unwrap(positions_A: np.ndarray, boxes_A: np.ndarray) -> np.ndarray:
    """Unwrap positions (frames, atoms, 3) with per-frame cells (frames, 3, 3), triclinic included.

    Each frame-to-frame displacement is reduced to its minimum image in fractional coordinates, which is
    exact while no atom moves more than half a box length between frames.
    """
    frac = np.einsum("tai,tij->taj", positions_A, np.linalg.inv(boxes_A))
    step = np.diff(frac, axis=0)
    step -= np.round(step)
    np.cumsum(step, axis=0, out=step)
    frac[1:] = frac[:1] + step
    del step
    return np.einsum("taj,tjk->tak", frac, boxes_A)


def _blocks(traj: Any, block_atoms: int, drift_A: np.ndarray | None = None) -> Iterator[AtomBlock]:
    """Blocks of atoms over all frames, unwrapped, with ``drift_A`` (frames, 3) subtracted if given."""
    boxes = None if traj.unwrapped else traj.boxes_A()
    for start in range(0, traj.n_atoms, block_atoms):
        stop = min(start + block_atoms, traj.n_atoms)
        pos = traj.positions_A(slice(start, stop))
        if boxes is not None:
            pos = unwrap(pos, boxes)
        if drift_A is not None:
            pos -= drift_A[:, None, :]
        yield AtomBlock(np.arange(start, stop), traj.symbols[start:stop], pos)
        del pos  # before the next block is read: two blocks at once would break the memory plan


def com_drift(traj: Any, block_atoms: int) -> np.ndarray:
    """Mass-weighted centre-of-mass displacement of the whole system from the first frame, (frames, 3)."""
    weighted = np.zeros((traj.n_frames, 3))
    total = 0.0
    for block in _blocks(traj, block_atoms):
        m = elements.masses_u(block.symbols)
        x = block.positions_A
        x -= x[:1].copy()
        weighted += np.einsum("a,tai->ti", m, x)
        total += m.sum()
        del block, x  # before the next block is read
    return weighted / total


@dataclass(frozen=True)
class MemoryPlan:
    """How the analysis fits its budget: bytes held whatever the block size, bytes per atom of a block, and the
    block size that results."""

    fixed_bytes: int
    per_atom_bytes: int
    block_atoms: int

    @property
    def estimate_MB(self) -> float:
        return (self.fixed_bytes + self.per_atom_bytes * self.block_atoms) / 2**20


def plan_memory(traj: Any, observables: dict[str, Observable], settings: AnalysisSettings) -> MemoryPlan:
    """The largest block of atoms whose positions, unwrapping and every observable's work space fit
    ``memory_budget_MB`` (aligned to the file's atom chunks when the budget allows); a budget that cannot hold one
    atom is refused with the size that would.

    Observables process a block one after another and release their work space in between, so a block needs its
    positions plus the largest observable's work space; the centre-of-mass pass needs a second copy of positions.
    """
    positions = traj.n_frames * 3 * 8
    reading = positions * (1 if traj.unwrapped else UNWRAP_COPIES)
    needs = {label: obs.memory() for label, obs in observables.items()}
    work = max((per_atom for _, per_atom in needs.values()), default=0)
    drift = 2 * positions if settings.reference_frame == "centre_of_mass" else 0
    per_atom = max(reading, drift, positions + work)
    # Per frame: cells, centre-of-mass drift, steps and times.
    fixed = traj.n_frames * (9 + 3 + 2) * 8 + sum(held for held, _ in needs.values())
    budget = int(PLANNED_FRACTION * settings.memory_budget_MB * 2**20)
    if fixed + per_atom > budget:
        largest = max(needs, key=lambda label: needs[label][1], default=None)
        parts = [f"positions over {traj.n_frames} frames {positions / 2**20:.2f} MB per atom"
                 + ("" if traj.unwrapped else f" (x{UNWRAP_COPIES} while unwrapping)")]
        if largest is not None:
            parts.append(f"{largest!r} {needs[largest][1] / 2**20:.2f} MB per atom and {needs[largest][0] / 2**20:.2f} "
                         "MB held")
        raise InputError(f"memory_budget_MB: {settings.memory_budget_MB:g} MB cannot hold one atom's analysis "
                         f"({'; '.join(parts)}); it needs at least {(fixed + per_atom) / PLANNED_FRACTION / 2**20:.1f} "
                         "MB, or fewer "
                         "frames, origins (max_origins) or q vectors")
    size = int(min(traj.n_atoms, (budget - fixed) // per_atom))
    align = getattr(traj, "atom_chunk", 1)
    return MemoryPlan(fixed, per_atom, size - size % align if size >= align else size)


@dataclass(frozen=True)
class PlannedTrajectory:
    """What :func:`plan_memory` reads of a trajectory, for one that is not written yet (a study's production, at
    ``meltdyn validate``): meltdyn's own trajectories are stored unwrapped."""

    n_atoms: int
    n_frames: int
    unwrapped: bool = True


def plan_before_production(info: TrajectoryInfo, observables: dict[str, Observable],
                           settings: AnalysisSettings) -> MemoryPlan:
    """The memory plan of a production trajectory described by ``info``, before it exists: refuses, as
    :func:`analyse` would after the MD, a budget that cannot hold one atom's analysis."""
    for obs in observables.values():
        obs.prepare(info)
    return plan_memory(PlannedTrajectory(info.n_atoms, len(info.steps)), observables, settings)


@dataclass
class AnalysisCost:
    """What one analysis pass cost: filled in by :func:`analyse` (and the conversion of a foreign file before it) for
    provenance and the user."""

    seconds: float = 0.0
    conversion_seconds: float = 0.0
    block_atoms: int = 0
    estimate_MB: float = 0.0
    peak_rss_MB: float = 0.0

    def as_dict(self) -> dict[str, float]:
        return {"seconds": self.seconds, "conversion_seconds": self.conversion_seconds,
                "block_atoms": self.block_atoms, "estimate_MB": self.estimate_MB, "peak_rss_MB": self.peak_rss_MB}


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
        info = TrajectoryInfo(traj.n_atoms, traj.symbols, traj.steps, traj.times_ps, traj.linear_interval_steps,
                              traj.timestep_ps, traj.boxes_A()[0])
        for obs in observables.values():
            obs.prepare(info)
        plan = plan_memory(traj, observables, settings)
        if block_atoms is not None:
            plan = replace(plan, block_atoms=block_atoms)
        drift = com_drift(traj, plan.block_atoms) if settings.reference_frame == "centre_of_mass" else None
        _stream(traj, plan.block_atoms, drift, observables)
    results = {label: obs.conclude() for label, obs in observables.items()}
    if cost is not None:
        cost.seconds = time.perf_counter() - started
        cost.block_atoms = plan.block_atoms
        cost.estimate_MB = plan.estimate_MB
        cost.peak_rss_MB = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return results


def _stream(traj: Any, block_atoms: int, drift: np.ndarray | None, observables: dict[str, Observable]) -> None:
    # A function of its own so that the last block is released before the observables conclude.
    for block in _blocks(traj, block_atoms, drift):
        for obs in observables.values():
            obs.process(block)
        del block  # before the next block is read
