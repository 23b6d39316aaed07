"""One pass over a trajectory: stream blocks of atoms through every observable."""

from __future__ import annotations

import resource
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

import numpy as np

from meltdyn.base import elements
from meltdyn.base.errors import InputError
from meltdyn.hooks.contracts import BaseObservable, FrameObservable, Observable
from meltdyn.hooks.data import AtomBlock, FrameBatch, ResultArray, TrajectoryInfo
from meltdyn.spec.models import AnalysisSettings
from meltdyn.trajectory.h5md import H5MDReader

PLANNED_FRACTION = 0.9
"""Blocks are sized to this fraction of the budget: the rest is for what no estimate counts (Python objects, index
arrays made while planning lags, small temporaries)."""

UNWRAP_COPIES = 5
"""Positions plus the fractional coordinates, steps and running sums that unwrapping a block holds at its peak."""


class TrajectorySource(Protocol):
    """What planning the analysis' memory reads of a trajectory (an opened one, or one yet to be written)."""

    @property
    def n_atoms(self) -> int: ...

    @property
    def n_frames(self) -> int: ...

    @property
    def unwrapped(self) -> bool: ...


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


def _blocks(traj: H5MDReader, block_atoms: int, drift_A: np.ndarray | None = None) -> Iterator[AtomBlock]:
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


def com_drift(traj: H5MDReader, block_atoms: int) -> np.ndarray:
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
    """How the analysis fits its budget: bytes held whatever the chunk sizes; bytes per atom of a block and the
    block size (atom-major observables and the centre-of-mass drift); bytes per frame of a batch and the batch size
    (whole-frame observables); and whether the batches are cut from a block of all atoms (one read of the
    trajectory for both kinds) or read on their own."""

    fixed_bytes: int
    per_atom_bytes: int
    block_atoms: int
    per_frame_bytes: int = 0
    batch_frames: int = 0
    frames_from_block: bool = False

    @property
    def estimate_MB(self) -> float:
        blocks, batches = self.per_atom_bytes * self.block_atoms, self.per_frame_bytes * self.batch_frames
        return (self.fixed_bytes + (blocks + batches if self.frames_from_block else max(blocks, batches))) / 2**20


def _refusal(settings: AnalysisSettings, what: str, parts: list[str], needed: int, or_else: str) -> InputError:
    return InputError(f"memory_budget_MB: {settings.memory_budget_MB:g} MB cannot hold {what} ({'; '.join(parts)}); "
                      f"it needs at least {needed / PLANNED_FRACTION / 2**20:.1f} MB, or {or_else}")


def plan_memory(traj: TrajectorySource, observables: dict[str, BaseObservable],
                settings: AnalysisSettings) -> MemoryPlan:
    """The largest block of atoms (and batch of frames, for whole-frame observables) whose positions, unwrapping and
    every observable's work space fit ``memory_budget_MB`` (blocks aligned to the file's atom chunks when the budget
    allows); a budget that cannot hold one atom, or one frame, is refused with the size that would.

    Observables process a chunk one after another and release their work space in between, so a chunk needs its
    positions plus the largest observable's work space; the centre-of-mass pass needs a second copy of positions.
    When one block holds every atom, whole-frame batches are cut from it (views: only the wrapped copy is new), so
    both kinds are fed from one read of the trajectory; otherwise the batches are read in a pass of their own.
    """
    needs = {label: obs.memory() for label, obs in observables.items()}
    atom_kind = [label for label, obs in observables.items() if not isinstance(obs, FrameObservable)]
    frame_kind = [label for label, obs in observables.items() if isinstance(obs, FrameObservable)]
    centre_of_mass = settings.reference_frame == "centre_of_mass"
    budget = int(PLANNED_FRACTION * settings.memory_budget_MB * 2**20)
    # Per frame: cells, centre-of-mass drift, steps and times.
    fixed = traj.n_frames * (9 + 3 + 2) * 8 + sum(held for held, _ in needs.values())

    positions = traj.n_frames * 3 * 8
    reading = positions * (1 if traj.unwrapped else UNWRAP_COPIES)
    work = max((needs[label][1] for label in atom_kind), default=0)
    per_atom = max(reading, 2 * positions if centre_of_mass else 0, positions + work) if atom_kind or centre_of_mass \
        else 0
    if per_atom and fixed + per_atom > budget:
        largest = max(atom_kind, key=lambda label: needs[label][1], default=None)
        parts = [f"positions over {traj.n_frames} frames {positions / 2**20:.2f} MB per atom"
                 + ("" if traj.unwrapped else f" (x{UNWRAP_COPIES} while unwrapping)")]
        if largest is not None:
            parts.append(f"{largest!r} {needs[largest][1] / 2**20:.2f} MB per atom and {needs[largest][0] / 2**20:.2f} "
                         "MB held")
        raise _refusal(settings, "one atom's analysis", parts, fixed + per_atom,
                       "fewer frames, origins (max_origins) or q vectors")
    size = int(min(traj.n_atoms, (budget - fixed) // per_atom)) if per_atom else 0
    align = getattr(traj, "atom_chunk", 1)
    block = size - size % align if size >= align else size
    if not frame_kind:
        return MemoryPlan(fixed, per_atom, block)

    # A whole frame: its unwrapped positions, the wrapped copy, the fractional coordinates wrapping makes, and the
    # largest whole-frame observable's work.
    frame = traj.n_atoms * 3 * 8
    frame_work = max(needs[label][1] for label in frame_kind)
    cut = 2 * frame + frame_work
    if atom_kind and block == traj.n_atoms and budget - fixed - per_atom * block >= cut:
        batch = int(min(traj.n_frames, (budget - fixed - per_atom * block) // cut))
        return MemoryPlan(fixed, per_atom, block, cut, batch, frames_from_block=True)
    per_frame = max(frame + cut, frame * UNWRAP_COPIES if not traj.unwrapped else 0)
    if fixed + per_frame > budget:
        largest = max(frame_kind, key=lambda label: needs[label][1])
        parts = [f"{traj.n_atoms} atoms' positions {3 * frame / 2**20:.2f} MB per frame (unwrapped, wrapped, "
                 "fractional)", f"{largest!r} {needs[largest][1] / 2**20:.2f} MB per frame and "
                 f"{needs[largest][0] / 2**20:.2f} MB held"]
        raise _refusal(settings, "one frame's analysis", parts, fixed + per_frame,
                       f"less work per frame from {largest!r}, or fewer atoms")
    return MemoryPlan(fixed, per_atom, block, per_frame, int(min(traj.n_frames, (budget - fixed) // per_frame)))


@dataclass(frozen=True)
class PlannedTrajectory:
    """What :func:`plan_memory` reads of a trajectory, for one that is not written yet (a study's production, at
    ``meltdyn validate``): meltdyn's own trajectories are stored unwrapped."""

    n_atoms: int
    n_frames: int
    unwrapped: bool = True


def plan_before_production(info: TrajectoryInfo, observables: dict[str, BaseObservable],
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
    batch_frames: int = 0
    estimate_MB: float = 0.0
    peak_rss_MB: float = 0.0

    def as_dict(self) -> dict[str, float]:
        return {"seconds": self.seconds, "conversion_seconds": self.conversion_seconds,
                "block_atoms": self.block_atoms, "batch_frames": self.batch_frames, "estimate_MB": self.estimate_MB,
                "peak_rss_MB": self.peak_rss_MB}


def analyse(trajectory: Path | H5MDReader, observables: dict[str, BaseObservable],
            settings: AnalysisSettings = AnalysisSettings(), cost: AnalysisCost | None = None,
            block_atoms: int | None = None, batch_frames: int | None = None) -> dict[str, dict[str, ResultArray]]:
    """Run all ``observables`` over a trajectory (an H5MD path or an opened reader): atom-major ones in blocks of
    atoms, whole-frame ones in batches of frames.

    Every observable sees the same positions: unwrapped and, for ``reference_frame: centre_of_mass``, relative to
    the system's centre of mass. Positions are read once for that drift and once for the observables, whatever
    their number (twice when whole-frame observables run beside atom-major ones and all atoms do not fit the
    budget at once). The process's peak resident memory afterwards goes into ``cost`` (it includes whatever ran
    before). ``block_atoms`` and ``batch_frames`` override the sizes the memory budget gives (tests stream atom by
    atom, or frame by frame, with them).
    """
    started = time.perf_counter()
    with (H5MDReader(trajectory) if isinstance(trajectory, (str, Path)) else trajectory) as traj:
        info = TrajectoryInfo(traj.n_atoms, traj.symbols, traj.steps, traj.times_ps, traj.linear_interval_steps,
                              traj.timestep_ps, traj.boxes_A()[0])
        for obs in observables.values():
            obs.prepare(info)
        plan = plan_memory(traj, observables, settings)
        if block_atoms is not None:
            plan = replace(plan, block_atoms=block_atoms, frames_from_block=plan.frames_from_block and
                           block_atoms >= traj.n_atoms)
        if batch_frames is not None:
            plan = replace(plan, batch_frames=batch_frames)
        drift = com_drift(traj, plan.block_atoms) if settings.reference_frame == "centre_of_mass" else None
        _stream(traj, plan, drift, observables)
    results = {label: obs.conclude() for label, obs in observables.items()}
    if cost is not None:
        cost.seconds = time.perf_counter() - started
        cost.block_atoms = plan.block_atoms
        cost.batch_frames = plan.batch_frames
        cost.estimate_MB = plan.estimate_MB
        cost.peak_rss_MB = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return results


def _read_only(array: np.ndarray) -> np.ndarray:
    view = array.view()
    view.flags.writeable = False
    return view


def _batch(traj: H5MDReader, start: int, unwrapped_A: np.ndarray, boxes_A: np.ndarray) -> FrameBatch:
    stop = start + len(unwrapped_A)
    return FrameBatch(np.arange(start, stop), traj.steps[start:stop], traj.times_ps[start:stop], traj.symbols,
                      boxes_A[start:stop], _read_only(unwrapped_A))


def frame_batches(traj: H5MDReader, batch_frames: int, drift_A: np.ndarray | None) -> Iterator[FrameBatch]:
    """Batches of consecutive whole frames read on their own, unwrapped across batch boundaries."""
    boxes = traj.boxes_A()
    previous = None  # the batch before's last frame, unwrapped: where unwrapping this batch continues from
    for start in range(0, traj.n_frames, batch_frames):
        stop = min(start + batch_frames, traj.n_frames)
        pos = traj.positions_A(slice(None), slice(start, stop))
        if not traj.unwrapped:
            pos = unwrap(pos, boxes[start:stop]) if previous is None else \
                unwrap(np.concatenate([previous, pos]), boxes[start - 1:stop])[1:]
            previous = pos[-1:].copy()
        if drift_A is not None:
            pos -= drift_A[start:stop, None, :]
        yield _batch(traj, start, pos, boxes)
        del pos  # before the next batch is read


def _stream(traj: H5MDReader, plan: MemoryPlan, drift: np.ndarray | None,
            observables: dict[str, BaseObservable]) -> None:
    # A function of its own so that the last block is released before the observables conclude.
    atom_kind = [obs for obs in observables.values() if isinstance(obs, Observable)]
    frame_kind = [obs for obs in observables.values() if isinstance(obs, FrameObservable)]
    boxes = traj.boxes_A() if plan.frames_from_block else None
    if atom_kind:
        for block in _blocks(traj, plan.block_atoms, drift):
            for obs in atom_kind:
                obs.process(block)
            if boxes is not None:  # the block holds every atom: whole frames are cut from it, not read again
                for start in range(0, traj.n_frames, plan.batch_frames):
                    batch = _batch(traj, start, block.positions_A[start:start + plan.batch_frames], boxes)
                    for frame_obs in frame_kind:
                        frame_obs.process(batch)
                    del batch
            del block  # before the next block is read
    if frame_kind and boxes is None:
        for batch in frame_batches(traj, plan.batch_frames, drift):
            for frame_obs in frame_kind:
                frame_obs.process(batch)
            del batch
