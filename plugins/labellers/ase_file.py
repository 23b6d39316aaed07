"""Import reference data users already have: extxyz, VASP (vasprun.xml, OUTCAR) and anything ASE reads.

Every file is checked as it is read, and every frame as it is kept (:func:`meltdyn.plugin.
checked_frame`): a pattern matching nothing, an empty file, a directory, a file ASE cannot parse, an extxyz frame
declaring more atoms than the file holds, a frame without an energy or forces, with labels of the wrong shape, or
with a NaN or infinite label is refused with the file, the frame and the field named.
"""

from __future__ import annotations

import glob
from pathlib import Path
from typing import Any, Iterator, Literal

import numpy as np
from pydantic import Field

from meltdyn.plugin import (
    EV_A3_TO_GPA, MAX_STRESS_EV_A3, InputError, LabelledFrame, Labeller, PluginDef, PluginParams, Registry,
    checked_frame, hookimpl, voigt_to_matrix,
)

MAX_FILES = 100_000
STRESS_UNITS_EV_A3 = {"eV/A^3": 1.0, "GPa": 1.0 / EV_A3_TO_GPA, "kbar": 0.1 / EV_A3_TO_GPA}
"""One declared stress unit in eV/Å³, the unit meltdyn trains on."""


class ASEFileParams(PluginParams):
    paths: list[str] = Field(min_length=1, max_length=1000,
                             description="Files or glob patterns (extxyz, vasprun.xml, OUTCAR, ...).")
    index: str = Field(":", max_length=100, description="ASE frame selection in each file.")
    format: str | None = Field(None, max_length=100, description="ASE format name when the suffix does not tell.")
    require_stress: bool = Field(True, description="Frames without a stress are an error; if false they are kept and "
                                 "left out of the stress term of the loss.")
    energy_key: str | None = Field(None, max_length=100, description="extxyz info key of the energy (e.g. "
                                   "REF_energy, as MACE and nequip write it); default: what ASE reads as energy.")
    forces_key: str | None = Field(None, max_length=100, description="extxyz per-atom array of the forces (e.g. "
                                   "REF_forces); default: what ASE reads as forces.")
    stress_key: str | None = Field(None, max_length=100, description="extxyz info key of the stress (e.g. "
                                   "REF_stress); default: what ASE reads as stress.")
    virial_key: str = Field("virial", max_length=100, description="extxyz info key of a virial W (eV), read where a "
                            "frame has no stress: stress = -W / V.")
    stress_unit: Literal["eV/A^3", "GPa", "kbar"] = Field(
        "eV/A^3", description="Unit of the stress in the file (ASE's readers of VASP and most codes give eV/A^3 "
        "already); a stress that cannot be physical in it is refused with what it would be in the others.")
    stress_sign: Literal["ase", "vasp"] = Field(
        "ase", description="ase: positive under tension (∂E/∂ε / V, meltdyn's); vasp: positive under compression, "
        "as VASP's OUTCAR prints it (the sign is flipped on import).")


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
                labels = self._labels(atoms, where)
                needed = {"energy", "forces"} | ({"stress"} if p.require_stress else set())
                if not needed <= set(labels):
                    missing.append(f"{path}[{k}]: no {sorted(needed - set(labels))}")
                    continue
                stress = labels.get("stress", np.full((3, 3), np.nan))
                try:
                    symbols = atoms.get_chemical_symbols()
                except Exception as exc:
                    raise InputError(f"{where}: species cannot be read ({exc})") from None
                frame = LabelledFrame(*checked_frame(
                    symbols, atoms.positions, np.asarray(atoms.cell), labels["energy"], labels["forces"], stress,
                    where, allow_missing_stress="stress" not in labels))
                if "stress" in labels:
                    frame.stress_eV_A3 = self._in_ev_a3(frame.stress_eV_A3, where, labels["stress_from"])
                frame.info = _state_info(atoms.info)
                out.append(frame)
        if missing:
            shown = "; ".join(missing[:5]) + (f"; and {len(missing) - 5} more" if len(missing) > 5 else "")
            raise InputError(f"reference_data: {len(missing)} frame(s) lack labels: {shown}")
        self._frames = out
        return out

    def _labels(self, atoms: Any, where: str) -> dict[str, Any]:
        """A frame's energy, forces and stress as the file holds them, under the keys the params name; a virial
        becomes a stress (``stress_from`` says where the stress came from)."""
        p = self.params
        results = dict(atoms.calc.results) if atoms.calc is not None else {}
        found: dict[str, Any] = {}
        for label, key, store in (("energy", p.energy_key, atoms.info), ("forces", p.forces_key, atoms.arrays),
                                  ("stress", p.stress_key, atoms.info)):
            if key is None:
                if label in results:
                    found[label] = results[label]
            elif key in store:
                found[label] = store[key]
            elif key in results:  # ASE moved it into its calculator's results (energy, forces, stress keys)
                found[label] = results[key]
        found["stress_from"] = "stress"
        if "stress" not in found and p.virial_key in atoms.info:
            virial = np.asarray(atoms.info[p.virial_key], dtype=float)
            if virial.size not in (6, 9):
                raise InputError(f"{where}: {p.virial_key} has {virial.size} values; a virial has 9 (or 6, Voigt)")
            matrix = virial.reshape(3, 3) if virial.size == 9 else voigt_to_matrix(virial)
            volume = abs(float(np.linalg.det(np.asarray(atoms.cell))))
            if volume <= 0:
                raise InputError(f"{where}: a virial needs a cell to turn into a stress; the frame has none")
            # W = -dE/dε (eV), so ∂E/∂ε / V = -W / V: meltdyn's sign, in eV/Å³ whatever stress_unit says
            found["stress"], found["stress_from"] = -matrix / volume, "virial"
        return found

    def _in_ev_a3(self, stress: np.ndarray, where: str, source: str) -> np.ndarray:
        """A stress in the declared unit and sign, in eV/Å³ and meltdyn's sign (one from a virial is so already);
        refused if it cannot be physical."""
        p = self.params
        if source == "virial":
            if np.abs(stress).max() > MAX_STRESS_EV_A3:
                raise InputError(f"{where}: its {p.virial_key} (eV) gives a stress of "
                                 f"{np.abs(stress).max() * EV_A3_TO_GPA:.4g} GPa, beyond any condensed-phase "
                                 f"reference ({MAX_STRESS_EV_A3 * EV_A3_TO_GPA:.0f} GPa): is it in eV?")
            return stress
        converted = stress * STRESS_UNITS_EV_A3[p.stress_unit] * (-1.0 if p.stress_sign == "vasp" else 1.0)
        largest = float(np.abs(converted).max())
        if largest > MAX_STRESS_EV_A3:
            raw = float(np.abs(stress).max())
            readings = ", ".join(f"{raw * STRESS_UNITS_EV_A3[u] * EV_A3_TO_GPA:.4g} GPa if {u}"
                                 for u in STRESS_UNITS_EV_A3)
            raise InputError(f"{where}: stress component {raw:.4g} in the declared stress_unit {p.stress_unit!r} is "
                             f"{largest * EV_A3_TO_GPA:.4g} GPa, beyond any condensed-phase reference "
                             f"({MAX_STRESS_EV_A3 * EV_A3_TO_GPA:.0f} GPa); it reads as {readings}: set "
                             "reference_data.stress_unit to the file's unit")
        return converted

    def validate(self, registry: Registry) -> int:
        """Read and check every file now; the number of frames."""
        return len(self._read())

    def batches(self, registry: Registry, skip: int = 0) -> Iterator[list[LabelledFrame]]:
        """One batch: reading files is cheap, and all of them are checked before any frame is kept."""
        if skip:
            return
        yield self._read()


STATE_KEYS = {"composition": str, "temperature_K": float}
"""extxyz info keys carried into the frame's info, so training reports can break errors down by them."""


def _state_info(info: dict[str, Any]) -> dict[str, str | float]:
    out: dict[str, str | float] = {}
    for key, kind in STATE_KEYS.items():
        if key in info:
            try:
                out[key] = kind(info[key])
            except (TypeError, ValueError):
                pass  # not a state label meltdyn can read; the frame's labels are all that matter
    return out


def _example(workdir: Path) -> dict[str, Any]:
    from meltdyn.plugin import write_labelled_frames

    return {"paths": [str(write_labelled_frames(workdir / "labelled.extxyz"))]}


@hookimpl
def meltdyn_labellers() -> list[PluginDef]:
    return [PluginDef("ase_file", "labeller", ASEFileParams, ASEFile,
                      "import labelled frames (energy, forces, stress) from extxyz, VASP or any ASE-readable file",
                      example=_example)]
