"""Labelled axes of an observable's results: coordinates, the checks that keep them consistent, and selection by label.

An observable's results are named arrays whose axes are named (:class:`~meltdyn.hooks.data.ResultArray`); a
one-dimensional result named like its axis is that axis' coordinate, as in netCDF. ``D`` over ``("species",)``
beside ``species = ["Na", "Si", "O"]`` says which entry is sodium; ``select(results, "Fs", species="O", q=1.7)``
reads it back by label, so nothing needs to parse a name like ``Fs_O``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from meltdyn.analysis.estimates import Estimate, estimates_from_arrays
from meltdyn.hooks.data import ResultArray

Results = Mapping[str, ResultArray]

ESTIMATE_PARTS = ("_stderr", "_kind", "_bound", "_note")
"""What :func:`~meltdyn.analysis.estimates.estimate_arrays` stores beside an estimate's values."""


def coordinate(dim: str, values: Sequence[Any] | np.ndarray, unit: str = "", description: str = "") -> ResultArray:
    """The coordinate of axis ``dim``: a one-dimensional result of that name labelling its entries."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"coordinate {dim!r} must be one-dimensional, got shape {arr.shape}")
    return ResultArray(arr, unit, (dim,), description)


def species_coordinate(species: Sequence[str]) -> ResultArray:
    """The ``species`` axis: element symbols in the order of the results' entries."""
    return coordinate("species", np.array(list(species), dtype=str), "", "element")


def coordinates(results: Results) -> dict[str, ResultArray]:
    """The results that are coordinates: one-dimensional, named like their axis."""
    return {name: arr for name, arr in results.items() if arr.dims == (name,)}


def check_dimensions(results: Results, where: str) -> None:
    """Every array's shape matches its dims, and an axis has one length wherever it appears (its coordinate's);
    a ValueError naming ``where``, the result and the axis otherwise."""
    lengths: dict[str, tuple[int, str]] = {}
    for name, arr in results.items():
        shape = np.shape(arr.values)
        if len(shape) != len(arr.dims):
            raise ValueError(f"{where}: result {name!r} has dims {arr.dims} but {len(shape)} axes (shape {shape})")
        if len(set(arr.dims)) != len(arr.dims):
            raise ValueError(f"{where}: result {name!r} names an axis twice in its dims {arr.dims}")
        for dim, size in zip(arr.dims, shape):
            seen = lengths.setdefault(dim, (size, name))
            if seen[0] != size:
                raise ValueError(f"{where}: axis {dim!r} has {size} entries in {name!r} but {seen[0]} in "
                                 f"{seen[1]!r}; one axis name must mean one set of entries (name the other axis "
                                 "differently)")


def label_of(value: Any) -> Any:
    """A coordinate entry as a plain Python value (str, int or float) for JSON and for keys."""
    return value.item() if isinstance(value, np.generic) else value


def index_of(results: Results, dim: str, value: Any) -> int:
    """The position of ``value`` on axis ``dim``: exact for labels, nearest within 1e-9 relative for numbers."""
    if dim not in coordinates(results):
        raise KeyError(f"axis {dim!r} has no coordinate among the results ({sorted(coordinates(results))})")
    coord = np.asarray(results[dim].values)
    if coord.dtype.kind in "fiu" and not isinstance(value, str):
        hits = np.flatnonzero(np.isclose(coord.astype(float), float(value), rtol=1e-9, atol=0))
    else:
        hits = np.flatnonzero(coord.astype(str) == str(value))
    if not len(hits):
        raise KeyError(f"{dim}={value!r} is not on axis {dim!r} (it has {coord.tolist()})")
    return int(hits[0])


def select(results: Results, name: str, **where: Any) -> np.ndarray:
    """The values of result ``name`` at the given coordinates (``species="Na"``, ``q=1.7``), the other axes kept."""
    arr = results[name]
    index: list[Any] = [slice(None)] * len(arr.dims)
    for dim, value in where.items():
        if dim not in arr.dims:
            raise KeyError(f"result {name!r} has no axis {dim!r} (its dims are {arr.dims})")
        index[arr.dims.index(dim)] = index_of(results, dim, value)
    return np.asarray(arr.values)[tuple(index)]


def estimates_of(results: Results, name: str, method: str = "") -> np.ndarray:
    """Result ``name`` as an object array of :class:`Estimate` shaped like its values: stored estimates read back,
    plain numbers as values without an error (NaN as undefined)."""
    arr = results[name]
    shape = np.shape(arr.values)
    if all(f"{name}{part}" in results for part in ESTIMATE_PARTS):
        flat = estimates_from_arrays(results, name, method)
    else:
        flat = [Estimate.from_json(float(v)) for v in np.ravel(np.asarray(arr.values, dtype=float))]
    out = np.empty(len(flat), dtype=object)
    out[:] = flat
    return out.reshape(shape)


def estimate_at(results: Results, name: str, method: str = "", **where: Any) -> Estimate:
    """The one estimate of result ``name`` at the given coordinates (every axis named)."""
    arr = results[name]
    missing = [d for d in arr.dims if d not in where]
    if missing:
        raise KeyError(f"result {name!r} has axes {arr.dims}; name a coordinate for each (missing {missing})")
    index = tuple(index_of(results, d, where[d]) for d in arr.dims)
    return estimates_of(results, name, method)[index]


__all__ = ["check_dimensions", "coordinate", "coordinates", "estimate_at", "estimates_of", "index_of", "label_of",
           "select", "species_coordinate"]
