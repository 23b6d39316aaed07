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
    half-written file behind."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(strict(data), indent=2, sort_keys=True, allow_nan=False) + "\n")
    os.replace(tmp, path)


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
    os.replace(tmp, path)


def load_results(path: Path) -> Results:
    out: Results = {}
    with h5py.File(path, "r") as f:
        for label, group in f.items():
            out[label] = {name: ResultArray(_read(ds), str(ds.attrs["unit"]), tuple(str(d) for d in ds.attrs["dims"]),
                                            str(ds.attrs["description"])) for name, ds in group.items()}
    return out


def _read(ds: h5py.Dataset) -> np.ndarray:
    """A dataset's values; strings come back as a NumPy string array, as they were given."""
    if h5py.check_string_dtype(ds.dtype) is not None:
        return np.asarray(ds.asstr()[()], dtype=str)
    return ds[()]
