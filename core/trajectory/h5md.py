"""H5MD trajectories of unwrapped positions, written in chunks so a crash loses at most one chunk.

Layout follows H5MD 1.1 (https://www.nongnu.org/h5md/): ``/particles/all/{position,box/edges,velocity}``
with ``step``/``time``/``value`` and a ``unit`` attribute on each value; element names live in
``/parameters/meltdyn``. Positions are *unwrapped* and say so in ``/parameters/meltdyn@unwrapped``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from meltdyn.base.errors import InputError
from meltdyn.base.storage import METADATA_MARGIN_BYTES, ensure_room
from meltdyn.base.units import EV_TO_KJ_MOL, NM_TO_A
from meltdyn.base.version import __version__

ATOM_CHUNK = 256
"""Atoms per HDF5 chunk: analysis streams blocks of atoms over all frames, so a block reads only its chunks."""


@dataclass(frozen=True)
class TrajectoryHeader:
    symbols: list[str]
    timestep_ps: float
    linear_interval_steps: int
    unwrapped: bool = True
    token: str = ""
    """Identifies the run production that owns the file (see :class:`meltdyn.engine.checkpoints.Checkpoint`)."""


@dataclass
class Snapshot:
    """One frame as an engine reports it: Å, eV, K, Å/ps."""

    positions_A: np.ndarray
    cell_A: np.ndarray
    potential_energy_eV: float
    temperature_K: float
    velocities_A_ps: np.ndarray | None = None


class H5MDWriter:
    """Appends frames to an H5MD file; :meth:`flush` writes buffered frames to disk as one chunk.

    The file uses HDF5's default (oldest compatible) format on purpose: the newer superblock marks a file
    open for writing, and after a crash HDF5 then refuses to reopen it without ``h5clear``.
    """

    def __init__(self, path: Path, header: TrajectoryHeader, chunk_frames: int, velocities: bool):
        self.path = Path(path)
        self.chunk_frames = chunk_frames
        self.velocities = velocities
        self._buffer: list[tuple] = []
        if self.path.exists():
            self._file = h5py.File(self.path, "r+")
        else:
            self._file = h5py.File(self.path, "w")
            self._create(header)

    def _create(self, header: TrajectoryHeader) -> None:
        f, n = self._file, len(header.symbols)
        h5md = f.create_group("h5md")
        h5md.attrs["version"] = np.array([1, 1])
        h5md.create_group("creator").attrs.update({"name": "meltdyn", "version": __version__})
        h5md.create_group("author").attrs["name"] = "meltdyn"
        params = f.create_group("parameters/meltdyn")
        params.attrs.update({"timestep_ps": header.timestep_ps, "linear_interval_steps": header.linear_interval_steps,
                             "unwrapped": header.unwrapped, "token": header.token})
        species = sorted(set(header.symbols))
        params.create_dataset("species_names", data=np.array(species, dtype="S"))
        part = f.create_group("particles/all")
        part.create_dataset("species", data=np.array([species.index(s) for s in header.symbols], dtype=np.int32))
        box = part.create_group("box")
        box.attrs.update({"dimension": 3, "boundary": np.array([b"periodic"] * 3)})
        groups = [("position", part, (n, 3), "nm"), ("edges", box, (3, 3), "nm")]
        if self.velocities:
            groups.append(("velocity", part, (n, 3), "nm ps-1"))
        for name, parent, shape, unit in groups:
            g = parent.create_group(name)
            per_atom = name in ("position", "velocity")
            chunk = (self.chunk_frames, min(n, ATOM_CHUNK), 3) if per_atom else (self.chunk_frames, *shape)
            g.create_dataset("value", shape=(0, *shape), maxshape=(None, *shape), chunks=chunk, dtype="f8"
                             ).attrs["unit"] = unit
            g.create_dataset("step", shape=(0,), maxshape=(None,), chunks=(self.chunk_frames,), dtype="i8")
            g.create_dataset("time", shape=(0,), maxshape=(None,), chunks=(self.chunk_frames,), dtype="f8"
                             ).attrs["unit"] = "ps"
        obs = f.create_group("observables")
        for name, unit in (("potential_energy", "kJ mol-1"), ("temperature", "K")):
            g = obs.create_group(name)
            g.create_dataset("value", shape=(0,), maxshape=(None,), chunks=(self.chunk_frames,), dtype="f8"
                             ).attrs["unit"] = unit
            g.create_dataset("step", shape=(0,), maxshape=(None,), chunks=(self.chunk_frames,), dtype="i8")
            g.create_dataset("time", shape=(0,), maxshape=(None,), chunks=(self.chunk_frames,), dtype="f8"
                             ).attrs["unit"] = "ps"
        f.flush()

    @property
    def n_frames(self) -> int:
        return int(self._file["particles/all/position/step"].shape[0])

    def set_linear_interval(self, steps: int) -> None:
        """The spacing of the linear frames, when it is known only once every frame is written (conversions)."""
        self._file["parameters/meltdyn"].attrs["linear_interval_steps"] = int(steps)

    @property
    def token(self) -> str:
        return str(self._file["parameters/meltdyn"].attrs.get("token", ""))

    def truncate(self, n_frames: int) -> None:
        """Drop frames past ``n_frames`` (written after the checkpoint being resumed from)."""
        for ds in self._datasets():
            ds.resize(n_frames, axis=0)
        self._file.flush()

    def _datasets(self) -> list[h5py.Dataset]:
        f = self._file
        names = ["particles/all/position", "particles/all/box/edges"]
        if "velocity" in f["particles/all"]:
            names.append("particles/all/velocity")
        names += ["observables/potential_energy", "observables/temperature"]
        return [f[f"{g}/{k}"] for g in names for k in ("value", "step", "time")]

    def append(self, step: int, time_ps: float, snapshot: Snapshot) -> None:
        self._buffer.append((step, time_ps, snapshot))

    @property
    def pending(self) -> int:
        """Frames appended but not yet on disk."""
        return len(self._buffer)

    def discard_pending(self) -> None:
        self._buffer.clear()

    def flush(self) -> int:
        """Write buffered frames; return the number of frames on disk."""
        if not self._buffer:
            return self.n_frames
        f, start, k = self._file, self.n_frames, len(self._buffer)
        steps = np.array([b[0] for b in self._buffer])
        times = np.array([b[1] for b in self._buffer])
        frames = [b[2] for b in self._buffer]
        values = {"particles/all/position": np.stack([s.positions_A for s in frames]) / NM_TO_A,
                  "particles/all/box/edges": np.stack([s.cell_A for s in frames]) / NM_TO_A,
                  "observables/potential_energy": np.array([s.potential_energy_eV for s in frames]) * EV_TO_KJ_MOL,
                  "observables/temperature": np.array([s.temperature_K for s in frames])}
        if "velocity" in f["particles/all"]:
            values["particles/all/velocity"] = np.stack([s.velocities_A_ps for s in frames]) / NM_TO_A
        # Checked before writing: a write a full disk or a size limit cuts short leaves HDF5 unable to reopen the file.
        ensure_room(self.path, sum(_chunk_bytes(f[f"{g}/{key}"], start, k) for g in values for key in ("value", "step",
                                                                                                      "time"))
                    + METADATA_MARGIN_BYTES)
        try:
            for group, arr in values.items():
                for key, data in (("value", arr), ("step", steps), ("time", times)):
                    ds = f[f"{group}/{key}"]
                    ds.resize(start + k, axis=0)
                    ds[start:] = data
            f.flush()
        except BaseException:
            self._abandon()
            raise
        self._buffer.clear()
        return start + k

    def _abandon(self) -> None:
        """Close a file a write failed on without writing more: HDF5 would otherwise retry its metadata at every
        object it frees. The next run cuts the file back to its last checkpoint (see meltdyn.base.storage)."""
        self._buffer.clear()
        try:
            self._file.close()
        except Exception:  # the same write failure again; the file is left as the fault left it
            pass

    def close(self) -> None:
        if not self._file:  # abandoned after a failed write
            return
        self.flush()
        self._file.close()


def _chunk_bytes(ds: h5py.Dataset, start: int, k: int) -> int:
    """Bytes of the chunks frames ``start`` to ``start + k`` of ``ds`` occupy: what writing them may allocate."""
    chunks = ds.chunks or ds.shape
    along_time = (start + k - 1) // chunks[0] - start // chunks[0] + 1
    across = int(np.prod([-(-n // c) for n, c in zip(ds.shape[1:], chunks[1:])]))
    return along_time * across * int(np.prod(chunks)) * ds.dtype.itemsize


class H5MDReader:
    """Reads meltdyn's H5MD files (and other H5MD files with the same groups) in Å and ps."""

    def __init__(self, path: Path):
        self.path = Path(path)
        try:
            self._file = h5py.File(self.path, "r")
        except OSError as exc:  # not HDF5, truncated, unreadable: h5py's message names neither file nor remedy
            raise InputError(f"trajectory {str(self.path)!r} cannot be read as HDF5 ({exc})") from None
        pos = self._file["particles/all/position"]
        self._pos = pos["value"]
        self._scale = {"nm": 10.0, "angstrom": 1.0, "Å": 1.0, "A": 1.0}[self._pos.attrs.get("unit", "nm")]
        params = self._file.get("parameters/meltdyn")
        names = [s.decode() for s in params["species_names"][()]] if params is not None else None
        species = self._file["particles/all/species"][()]
        self.symbols = [names[i] for i in species] if names else [str(i) for i in species]
        self.steps = pos["step"][()]
        self.times_ps = pos["time"][()]
        bad = np.flatnonzero(np.diff(self.steps) <= 0)
        if len(bad):
            k = int(bad[0]) + 1
            raise InputError(f"trajectory {str(self.path)!r}: frame {k} is at step {self.steps[k]} after step "
                             f"{self.steps[k - 1]}; steps must increase (a restart that wrote a frame twice?)")
        self.timestep_ps = float(params.attrs["timestep_ps"]) if params is not None else float(
            np.min(np.diff(self.times_ps) / np.diff(self.steps)))
        self.linear_interval_steps = int(params.attrs["linear_interval_steps"]) if params is not None else int(
            np.min(np.diff(self.steps)))
        self.unwrapped = bool(params.attrs.get("unwrapped", False)) if params is not None else False

    @property
    def n_frames(self) -> int:
        return int(self._pos.shape[0])

    @property
    def n_atoms(self) -> int:
        return int(self._pos.shape[1])

    @property
    def atom_chunk(self) -> int:
        """Atoms per storage chunk; blocks aligned to it read each chunk once."""
        return int(self._pos.chunks[1]) if self._pos.chunks else self.n_atoms

    def positions_A(self, atoms: slice | np.ndarray = slice(None), frames: slice = slice(None)) -> np.ndarray:
        """Positions of a block of atoms over a range of frames (all, by default), shape (frames, atoms, 3), in Å."""
        block = self._pos[frames, atoms, :].astype(np.float64, copy=False)
        block *= self._scale  # in place: the block's positions are the analysis' largest array
        return block

    def velocities_A_ps(self) -> np.ndarray:
        """Velocities of all atoms over all frames, (frames, atoms, 3), if the file has them."""
        if "velocity" not in self._file["particles/all"]:
            raise InputError(f"{self.path} holds no velocities (sampling.velocities: true writes them)")
        return self._file["particles/all/velocity/value"][()] * self._scale

    @property
    def has_velocities(self) -> bool:
        return "velocity" in self._file["particles/all"]

    def velocity_frames_A_ps(self, frames: np.ndarray) -> np.ndarray:
        """Velocities of all atoms at the given frames (increasing indices), (frames, atoms, 3), in Å/ps."""
        if not self.has_velocities:
            raise InputError(f"{self.path} holds no velocities (sampling.velocities: true writes them)")
        return self._file["particles/all/velocity/value"][np.asarray(frames, dtype=int)] * self._scale

    def boxes_A(self) -> np.ndarray:
        """Every frame's cell, (frames, 3, 3), rows a, b, c, in Å."""
        return self._file["particles/all/box/edges/value"][()] * self._scale

    def observable(self, name: str) -> np.ndarray:
        return self._file[f"observables/{name}/value"][()]

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> H5MDReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_frame(path: Path, frame: int) -> tuple[list[str], np.ndarray, np.ndarray]:
    """One frame of a meltdyn trajectory: its symbols, positions (Å, as stored) and cell (Å, rows a, b, c)."""
    with H5MDReader(Path(path)) as traj:
        if not 0 <= frame < traj.n_frames:
            raise InputError(f"{path}: frame {frame} does not exist (the trajectory holds {traj.n_frames})")
        return traj.symbols, traj.positions_A(frames=slice(frame, frame + 1))[0], traj.boxes_A()[frame]
