"""Import reference data users already have: extxyz, VASP (vasprun.xml, OUTCAR) and anything ASE reads.

Every file is checked as it is read, and every frame as it is kept (:func:`meltdyn.plugin.
checked_frame`): a pattern matching nothing, an empty file, a directory, a file ASE cannot parse, an extxyz frame
declaring more atoms than the file holds, a frame without an energy or forces, with labels of the wrong shape, or
with a NaN or infinite label is refused with the file, the frame and the field named.
"""

from __future__ import annotations

import glob
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from pydantic import Field

from meltdyn.plugin import (
    InputError, LabelledFrame, Labeller, PluginDef, PluginParams, Registry, checked_frame, hookimpl,
)

MAX_FILES = 100_000


class ASEFileParams(PluginParams):
    paths: list[str] = Field(min_length=1, max_length=1000,
                             description="Files or glob patterns (extxyz, vasprun.xml, OUTCAR, ...).")
    index: str = Field(":", max_length=100, description="ASE frame selection in each file.")
    format: str | None = Field(None, max_length=100, description="ASE format name when the suffix does not tell.")
    require_stress: bool = Field(True, description="Frames without a stress are an error; if false they are kept and "
                                 "left out of the stress term of the loss.")


def _files(patterns: list[str]) -> list[str]:
    files: set[str] = set()
    for k, pattern in enumerate(patterns):
        if "\0" in pattern:
            raise InputError(f"reference_data.paths[{k}]: {pattern!r} holds a NUL byte; a path cannot")
        try:
            matched = glob.glob(pattern)
        except (OSError, ValueError) as exc:
            raise InputError(f"reference_data.paths[{k}]: {pattern!r} cannot be searched ({exc})") from None
        if not matched:
            raise InputError(f"reference_data.paths[{k}]: {pattern!r} matches no file (relative paths are relative "
                             "to the current directory)")
        for path in matched:
            p = Path(path)
            if p.is_dir():
                raise InputError(f"reference_data.paths[{k}]: {path!r} is a directory; name the files in it "
                                 f"(e.g. '{path.rstrip('/')}/*.extxyz')")
            if not p.is_file():
                raise InputError(f"reference_data.paths[{k}]: {path!r} is not a regular file")
            if p.stat().st_size == 0:
                raise InputError(f"reference_data.paths[{k}]: {path!r} is empty (0 bytes)")
        files.update(matched)
        if len(files) > MAX_FILES:
            raise InputError(f"reference_data.paths: more than {MAX_FILES:,} files match; merge them first")
    return sorted(files)


def _frames(path: str, index: str, fmt: str | None, what: str) -> list[Any]:
    """Every selected frame of one file; an error naming the file and the frame ASE could not parse."""
    import ase.io

    images: list[Any] = []
    try:
        for atoms in ase.io.iread(path, index=index, format=fmt):
            images.append(atoms)
    except Exception as exc:  # ASE's parsers raise every kind of exception on a malformed file
        where = f"{what}, frame {len(images)}" if images or _is_frame_error(exc) else what
        raise InputError(f"{where} cannot be read{f' as {fmt}' if fmt else ''} (index {index!r}): "
                         f"{type(exc).__name__}: {str(exc)[:300]}") from None
    if not images:
        raise InputError(f"{what}: index {index!r} selects no frame")
    return images


def _is_frame_error(exc: Exception) -> bool:
    return "info item" in str(exc) or "Properties" in str(exc)


class ASEFile(Labeller):
    def __init__(self, params: ASEFileParams):
        self.params = params
        self._frames: list[LabelledFrame] | None = None

    def _read(self) -> list[LabelledFrame]:
        from meltdyn.plugin import check_xyz_counts, is_xyz

        if self._frames is not None:
            return self._frames
        p = self.params
        out, missing = [], []
        for path in _files(p.paths):
            what = f"reference_data file {path!r}"
            if is_xyz(Path(path), p.format):
                check_xyz_counts(Path(path), "reference_data file")
            images = _frames(path, p.index, p.format, what)
            for k, atoms in enumerate(images):
                where = f"{what}, frame {k}"
                calc = atoms.calc
                have = set(calc.results) if calc is not None else set()
                needed = {"energy", "forces"} | ({"stress"} if p.require_stress else set())
                if not needed <= have:
                    missing.append(f"{path}[{k}]: no {sorted(needed - have)}")
                    continue
                stress = calc.results["stress"] if "stress" in have else np.full((3, 3), np.nan)
                try:
                    symbols = atoms.get_chemical_symbols()
                except Exception as exc:
                    raise InputError(f"{where}: species cannot be read ({exc})") from None
                out.append(LabelledFrame(*checked_frame(
                    symbols, atoms.positions, np.asarray(atoms.cell), calc.results["energy"],
                    calc.results["forces"], stress, where, allow_missing_stress="stress" not in have)))
        if missing:
            shown = "; ".join(missing[:5]) + (f"; and {len(missing) - 5} more" if len(missing) > 5 else "")
            raise InputError(f"reference_data: {len(missing)} frame(s) lack labels: {shown}")
        self._frames = out
        return out

    def validate(self, registry: Registry) -> int:
        """Read and check every file now; the number of frames."""
        return len(self._read())

    def batches(self, registry: Registry, skip: int = 0) -> Iterator[list[LabelledFrame]]:
        """One batch: reading files is cheap, and all of them are checked before any frame is kept."""
        if skip:
            return
        yield self._read()


def _example(workdir: Path) -> dict[str, Any]:
    from meltdyn.plugin import write_labelled_frames

    return {"paths": [str(write_labelled_frames(workdir / "labelled.extxyz"))]}


@hookimpl
def meltdyn_labellers() -> list[PluginDef]:
    return [PluginDef("ase_file", "labeller", ASEFileParams, ASEFile,
                      "import labelled frames (energy, forces, stress) from extxyz, VASP or any ASE-readable file",
                      example=_example)]
