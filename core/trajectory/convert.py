"""A foreign trajectory into meltdyn's H5MD, once, frame by frame: a checked time axis and unwrapped positions.

Memory holds one frame and one chunk of frames, whatever the file's length; the analysis then streams blocks of atoms
from the result like any meltdyn trajectory. Steps come from the file where it has them (refused if they repeat or
go back: a restart that wrote a frame twice, frames out of order), else from ``frame_interval_steps``. Positions are
unwrapped from image flags where the file has them, taken as they are where it stores them unwrapped, and otherwise
unwrapped frame to frame by the minimum image, which is exact only while no atom moves half a cell between frames:
atom-frames that move more than :data:`JUMP_FRACTION` of the cell are counted and reported.
"""

from __future__ import annotations

import itertools
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from meltdyn.base.errors import InputError
from meltdyn.hooks.data import min_width_A
from meltdyn.trajectory.h5md import H5MDWriter, Snapshot, TrajectoryHeader
from meltdyn.trajectory.readers import Frame, checked_step

JUMP_FRACTION = 0.3
"""Frame-to-frame moves beyond this fraction of the cell's smallest width make minimum-image unwrapping unsafe."""


@dataclass
class ConversionReport:
    frames: int
    atoms: int
    steps_from: str
    timestep_ps: float
    linear_interval_steps: int
    unwrapped_by: str
    large_jumps: int
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def warnings(self) -> list[str]:
        if self.large_jumps == 0:
            return []
        return [f"{self.large_jumps} atom-frame(s) moved more than {JUMP_FRACTION:.0%} of the cell between frames: "
                "frames this far apart cannot be unwrapped reliably by the minimum image, and displacements may "
                "be wrong; write frames more often, or image flags (ix iy iz) or unwrapped coordinates (xu yu zu)"]


def _checked_steps(previous: int | None, step: int, k: int, name: str) -> None:
    if previous is not None and step <= previous:
        kind = "repeats" if step == previous else "goes back to"
        raise InputError(f"{name}: frame {k} {kind} step {step} after frame {k - 1}'s step {previous} (a restart "
                         "that wrote a frame twice, or frames out of order); steps must increase, so remove such "
                         "frames from the file")


class _TimeAxis:
    """Each frame's step: the file's own step, else its time over the timestep, else its index times the interval;
    whichever is used, every frame must have it, steps must increase, and a given interval must match the file."""

    def __init__(self, first: Frame, timestep_ps: float | None, frame_interval_steps: int | None, name: str):
        self.name = name
        if timestep_ps is None:
            raise InputError("timestep_ps: give the MD timestep in ps (the file's steps need it to become times)")
        self.source = "step" if first.step is not None else "time" if first.time_ps is not None else "index"
        if self.source == "index" and frame_interval_steps is None:
            raise InputError("frame_interval_steps: the file records neither steps nor times, so give the MD steps "
                             "between frames (and timestep_ps)")
        self.dt, self.interval = timestep_ps, frame_interval_steps
        self.previous: int | None = None
        self.smallest_gap: int | None = None

    def step(self, frame: Frame, k: int) -> int:
        if self.source == "index":
            step = k * self.interval
        elif self.source == "step":
            if frame.step is None:
                raise InputError(f"{self.name}: frame {k} has no step number while frame 0 has one")
            step = frame.step
        else:
            if frame.time_ps is None:
                raise InputError(f"{self.name}: frame {k} has no time while frame 0 has one")
            step = checked_step(round(frame.time_ps / self.dt), f"{self.name}, frame {k} (time {frame.time_ps} ps)")
            if abs(step * self.dt - frame.time_ps) > 1e-6 * max(self.dt, abs(frame.time_ps)):
                raise InputError(f"timestep_ps: frame {k}'s time {frame.time_ps} ps is not a whole number of "
                                 f"timesteps of {self.dt} ps")
        _checked_steps(self.previous, step, k, self.name)
        if self.previous is not None:
            gap = step - self.previous
            self.smallest_gap = gap if self.smallest_gap is None else min(self.smallest_gap, gap)
        self.previous = step
        return step

    def linear_interval(self) -> int:
        if self.smallest_gap is None:
            raise InputError(f"{self.name}: the file holds one frame; dynamics need at least two")
        if self.source != "index" and self.interval is not None and self.interval != self.smallest_gap:
            raise InputError(f"frame_interval_steps: {self.interval}, but the file's own {self.source}s put its "
                             f"frames {self.smallest_gap} steps apart; leave frame_interval_steps out (the file's "
                             f"{self.source}s are used) or check timestep_ps")
        return self.smallest_gap


def convert(reader: Any, out: Path, timestep_ps: float | None, frame_interval_steps: int | None,
            unwrapped: bool) -> ConversionReport:
    """Write ``reader``'s frames to ``out`` (via ``out.partial``, renamed when complete)."""
    started = time.perf_counter()
    partial = out.with_name(out.name + ".partial")
    partial.unlink(missing_ok=True)  # a conversion cut short: derived data of this analysis only
    name = getattr(reader, "name", "trajectory")
    frames = reader.frames()
    first = next(frames, None)
    if first is None:
        raise InputError(f"{name}: the file holds no frame")
    axis = _TimeAxis(first, timestep_ps, frame_interval_steps, name)
    method = ("as stored (unwrapped)" if unwrapped or first.unwrapped else
              "image flags" if first.images is not None else "frame to frame (minimum image)")
    writer = H5MDWriter(partial, TrajectoryHeader(list(reader.symbols), timestep_ps, 1), chunk_frames=32,
                        velocities=False)
    step0: int | None = None
    previous_fractional = unwrapped_fractional = None
    jumps, k = 0, 0
    try:
        for k, frame in enumerate(itertools.chain([first], frames)):
            step = axis.step(frame, k)
            step0 = step if step0 is None else step0
            if method == "image flags":
                if frame.images is None:
                    raise InputError(f"{name}: frame {k} has no image flags while frame 0 has them")
                positions = frame.positions_A + frame.images @ frame.cell_A
            elif method == "as stored (unwrapped)":
                positions = frame.positions_A
            else:
                fractional = frame.positions_A @ np.linalg.inv(frame.cell_A)
                if previous_fractional is None:
                    unwrapped_fractional = fractional
                else:
                    move = fractional - previous_fractional
                    move -= np.round(move)
                    unwrapped_fractional = unwrapped_fractional + move
                    jumps += int(np.sum(np.linalg.norm(move @ frame.cell_A, axis=1)
                                        > JUMP_FRACTION * min_width_A(frame.cell_A)))
                previous_fractional = fractional
                positions = unwrapped_fractional @ frame.cell_A
            writer.append(step - step0, (step - step0) * timestep_ps, Snapshot(positions, frame.cell_A, float("nan"),
                                                                               float("nan")))
            if writer.pending == writer.chunk_frames:
                writer.flush()
        writer.set_linear_interval(axis.linear_interval())
        writer.close()
    except BaseException:
        writer.close()
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, out)
    return ConversionReport(k + 1, len(reader.symbols), axis.source, timestep_ps, axis.linear_interval(), method,
                            jumps, time.perf_counter() - started)
