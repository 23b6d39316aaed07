"""A run's results: named arrays with units in HDF5, and a JSON summary of the scalars."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from meltdyn.contracts import ResultArray

Results = dict[str, dict[str, ResultArray]]
"""Observable label → result name → array."""


def write_json_atomic(path: Path, data: Any) -> None:
    """Write strict JSON (NaN and infinities become null) via a temporary file, so a crash never leaves a
    half-written file behind; a write that fails (a full disk, a size limit) removes its temporary file."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    text = json.dumps(strict(data), indent=2, sort_keys=True, allow_nan=False) + "\n"
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read_json(path: Path, what: str, remedy: str = "restore it, or remove it and run the command again") -> Any:
    """A JSON state file meltdyn wrote, or a :class:`~meltdyn.errors.StudyError` that names the file, says what
    is wrong and what to do (never a traceback): unreadable, not UTF-8, not JSON."""
    from meltdyn.errors import StudyError

    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except OSError as exc:
        raise StudyError(f"{path} ({what}) cannot be read: {exc.strerror or exc}; {remedy}") from None
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        reason = "it is empty" if path.stat().st_size == 0 else f"it is not JSON ({str(exc)[:80]})"
        raise StudyError(f"{path} ({what}) is damaged: {reason}; {remedy}") from None


def strict(obj: Any) -> Any:
    """``obj`` with NumPy values made plain, paths made strings, and non-finite numbers made None (JSON's null)."""
    if isinstance(obj, dict):
        return {str(k): strict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return strict(obj.tolist())
    if isinstance(obj, np.generic):
        return strict(obj.item())
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Path):
        return str(obj)
    if obj is None or isinstance(obj, (str, int, bool)):
        return obj
    raise TypeError(f"cannot write {type(obj).__name__} to JSON")


def save_results(path: Path, results: Results, reference_frame: str) -> None:
    """Write results atomically; the file says in which frame of reference the displacements were taken."""
    tmp = path.with_suffix(".h5.tmp")
    try:
        _write_results(tmp, results, reference_frame)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _write_results(tmp: Path, results: Results, reference_frame: str) -> None:
    with h5py.File(tmp, "w") as f:
        f.attrs["reference_frame"] = reference_frame
        for label, arrays in results.items():
            group = f.create_group(label)
            for name, arr in arrays.items():
                values = np.asarray(arr.values)
                if values.dtype.kind == "U":  # estimate kinds and notes: HDF5 stores UTF-8 strings
                    values = values.astype(object)
                    ds = group.create_dataset(name, data=values, dtype=h5py.string_dtype())
                else:
                    ds = group.create_dataset(name, data=values)
                ds.attrs.update({"unit": arr.unit, "dims": list(arr.dims), "description": arr.description})


def load_results(path: Path, remedy: str = "restore it, or analyse the trajectory again") -> Results:
    """A results.h5 meltdyn wrote; a missing, empty, truncated or foreign file is a
    :class:`~meltdyn.errors.StudyError` naming the file and what is wrong."""
    from meltdyn.errors import StudyError

    if not path.is_file():
        raise StudyError(f"{path} is missing; {remedy}")
    size = path.stat().st_size
    out: Results = {}
    try:
        with h5py.File(path, "r") as f:
            for label, group in f.items():
                if not isinstance(group, h5py.Group):
                    raise KeyError(f"{label!r} is not a group of arrays")
                out[label] = {name: ResultArray(_read(ds), str(ds.attrs["unit"]),
                                                tuple(str(d) for d in ds.attrs["dims"]), str(ds.attrs["description"]))
                              for name, ds in group.items()}
    except Exception as exc:  # OSError from HDF5 (not HDF5, truncated), a missing attribute, a foreign layout
        reason = "it is empty (0 bytes)" if size == 0 else f"it cannot be read as meltdyn's results ({exc})"
        raise StudyError(f"{path} is damaged: {reason}; {remedy}") from None
    return out


def _read(ds: h5py.Dataset) -> np.ndarray:
    """A dataset's values; strings come back as a NumPy string array, as they were given."""
    if h5py.check_string_dtype(ds.dtype) is not None:
        return np.asarray(ds.asstr()[()], dtype=str)
    return ds[()]
