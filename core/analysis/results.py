"""A run's results: named arrays with units in HDF5, and a JSON summary of the scalars."""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np

from meltdyn.hooks.data import ResultArray

Results = dict[str, dict[str, ResultArray]]
"""Observable label → result name → array."""

LAYOUT = 2
"""results.h5's layout: 1 (meltdyn before 0.3) encoded species and q in array names (``msd_Na``); 2 labels them as
axes, each with its coordinate array (:mod:`meltdyn.analysis.dimensions`)."""


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
        f.attrs["layout"] = LAYOUT
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
    :class:`~meltdyn.base.errors.StudyError` naming the file and what is wrong."""
    from meltdyn.base.errors import StudyError

    if not path.is_file():
        raise StudyError(f"{path} is missing; {remedy}")
    size = path.stat().st_size
    out: Results = {}
    try:
        with h5py.File(path, "r") as f:
            layout = f.attrs.get("layout", 1 if "reference_frame" in f.attrs else None)
            if layout is not None and layout != LAYOUT:
                raise StudyError(f"{path} has layout {layout}, this meltdyn reads layout {LAYOUT} (species and q as "
                                 f"labelled axes, not in names like msd_Na); {remedy}")
            for label, group in f.items():
                if not isinstance(group, h5py.Group):
                    raise KeyError(f"{label!r} is not a group of arrays")
                out[label] = {name: ResultArray(_read(ds), str(ds.attrs["unit"]),
                                                tuple(str(d) for d in ds.attrs["dims"]), str(ds.attrs["description"]))
                              for name, ds in group.items()}
    except StudyError:
        raise
    except Exception as exc:  # OSError from HDF5 (not HDF5, truncated), a missing attribute, a foreign layout
        reason = "it is empty (0 bytes)" if size == 0 else f"it cannot be read as meltdyn's results ({exc})"
        raise StudyError(f"{path} is damaged: {reason}; {remedy}") from None
    return out


def _read(ds: h5py.Dataset) -> np.ndarray:
    """A dataset's values; strings come back as a NumPy string array, as they were given."""
    if h5py.check_string_dtype(ds.dtype) is not None:
        return np.asarray(ds.asstr()[()], dtype=str)
    return ds[()]
