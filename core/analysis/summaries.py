"""A run's summary.json: each observable's headline quantities, labelled by their axes, and read back as estimates.

An observable declares its headline quantities (:class:`~meltdyn.hooks.data.Summary`); :func:`summary_entry` writes
them into the run's summary with their unit, dims, coordinates, method and trend, one estimate per entry, nested
as the dims. ``meltdyn results`` and ``meltdyn report`` read every summary through :func:`quantities`, so a bound
prints as a bound and a missing number with its reason, and a third-party observable's quantities are tabulated,
fitted and drawn as ours are.

The entry of one observable::

    "msd": {"quantities": {"D": {"unit": "angstrom^2/ps", "dims": ["species"], "description": "...",
                                 "method": "...", "trend": "rate", "estimates": [{...}, {...}, {...}]}},
            "coords": {"species": {"values": ["Na", "Si", "O"], "unit": ""}},
            "flags": ["..."]}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from meltdyn.analysis.dimensions import check_dimensions, coordinates, estimates_of, label_of
from meltdyn.analysis.estimates import Estimate, is_estimate
from meltdyn.analysis.state_point import STATE_POINT
from meltdyn.hooks.contracts import BaseObservable
from meltdyn.hooks.data import ResultArray, Summary

LAYOUT = 2
"""summary.json's layout. 1 (meltdyn before 0.3) encoded species and q in key strings (``D_Na``, ``tau_alpha_O``);
2 labels them as axes."""

META = ("layout", "arrays")
"""Summary entries that describe the results rather than hold quantities."""

STATE_POINT_UNITS = {"temperature_K": "K", "temperature_first_half_K": "K", "temperature_second_half_K": "K",
                     "target_temperature_K": "K", "potential_energy_eV_per_atom": "eV/atom", "density_g_cm3": "g/cm^3",
                     "pressure_bar": "bar", "frames": "1"}


def _nested(grid: np.ndarray | Estimate) -> Any:
    """An object array of estimates as nested lists of their JSON form."""
    if isinstance(grid, Estimate):
        return grid.as_json()
    if grid.ndim == 0:
        return grid[()].as_json()
    return [_nested(sub) for sub in grid]


def summary_entry(results: Mapping[str, ResultArray], summary: Summary, where: str) -> dict[str, Any]:
    """An observable's entry in summary.json: its declared quantities with their labels, and its flags. A ValueError
    naming ``where`` (the observable) when a quantity is not among the results or an axis of one has no coordinate."""
    if not isinstance(summary, Summary):
        raise TypeError(f"{where}: summary() returned {type(summary).__name__}, not a meltdyn Summary")
    check_dimensions(results, where)
    coords = coordinates(results)
    entries: dict[str, Any] = {}
    used: dict[str, ResultArray] = {}
    for name, reported in summary.quantities.items():
        if name not in results:
            raise ValueError(f"{where}: summary reports {name!r}, which is not among its results "
                             f"({', '.join(sorted(results))})")
        arr = results[name]
        unlabelled = [d for d in arr.dims if d not in coords]
        if unlabelled:
            raise ValueError(f"{where}: {name!r} has axes {unlabelled} without a coordinate; a headline quantity's "
                             f"entries must be labelled (add a result named like each axis, with dims (axis,))")
        used |= {d: coords[d] for d in arr.dims}
        entries[name] = {"unit": arr.unit, "dims": list(arr.dims), "description": arr.description,
                         "method": reported.method, "trend": reported.trend,
                         "estimates": _nested(estimates_of(results, name, reported.method))}
    entry: dict[str, Any] = {"quantities": entries,
                             "coords": {d: {"values": [label_of(v) for v in c.values.tolist()], "unit": c.unit}
                                        for d, c in used.items()}}
    if summary.flags:
        entry["flags"] = [str(f) for f in summary.flags]
    return entry


@dataclass(frozen=True)
class Quantity:
    """One summary number: the observable's label, the quantity's name, the coordinates of its entry (in dims
    order), its estimate, unit and trend."""

    observable: str
    name: str
    coords: tuple[tuple[str, Any], ...]
    estimate: Estimate
    unit: str
    trend: str | None = None

    @property
    def key(self) -> str:
        """``msd.D[species=Na]``, ``isf.tau_alpha[species=O, q=1.7]``: unique within a run's summary."""
        return f"{self.observable}.{self.name}" + (f"[{label_text(self.coords)}]" if self.coords else "")

    @property
    def series(self) -> tuple[str, str]:
        """(observable, name): what the report draws as one family of curves, one per entry."""
        return self.observable, self.name


def label_text(coords: tuple[tuple[str, Any], ...]) -> str:
    """``species=Na, q=1.7``: coordinates as a key or a legend reads them."""
    return ", ".join(f"{d}={v:g}" if isinstance(v, float) else f"{d}={v}" for d, v in coords)


def _entries(label: str, name: str, data: Mapping[str, Any], coords: Mapping[str, Any]) -> list[Quantity]:
    dims = list(data["dims"])
    shape = tuple(len(coords[d]["values"]) for d in dims)
    flat: list[Any] = [data["estimates"]]
    for _ in dims:
        flat = [item for sub in flat for item in sub]
    if len(flat) != int(np.prod(shape, dtype=int)):
        raise ValueError(f"{label}.{name}: {len(flat)} estimates for axes {dims} of shape {shape}")
    out = []
    for index, value in zip(np.ndindex(*shape), flat):
        where = tuple((d, coords[d]["values"][k]) for d, k in zip(dims, index))
        out.append(Quantity(label, name, where, Estimate.from_json(value), str(data.get("unit", "")),
                            data.get("trend")))
    return out


def quantities(summary: Mapping[str, Any]) -> list[Quantity]:
    """Every number of a run's summary in the summary's order: each observable's quantities entry by entry, then the
    state point's."""
    out: list[Quantity] = []
    for label, entry in summary.items():
        if label in META or not isinstance(entry, Mapping):
            continue
        if label == STATE_POINT:
            out += [Quantity(STATE_POINT, key, (), Estimate.from_json(value), STATE_POINT_UNITS.get(key, ""))
                    for key, value in entry.items()
                    if is_estimate(value) or (isinstance(value, (int, float)) and not isinstance(value, bool))]
            continue
        coords = entry.get("coords", {})
        for name, data in entry.get("quantities", {}).items():
            out += _entries(label, name, data, coords)
    return out


def run_summary(observables: Mapping[str, BaseObservable], results: Mapping[str, Mapping[str, ResultArray]],
                state_point: dict[str, Any]) -> dict[str, Any]:
    """A run's summary.json: its layout, each observable's entry, the measured state point, and the shape of every
    stored array."""
    summary: dict[str, Any] = {"layout": LAYOUT}
    for label, res in results.items():
        summary[label] = summary_entry(res, observables[label].summary(dict(res)), f"observable {label!r}")
    summary[STATE_POINT] = state_point
    summary["arrays"] = {label: {n: {"unit": a.unit, "dims": list(a.dims), "shape": list(np.shape(a.values))}
                                 for n, a in res.items()} for label, res in results.items()}
    return summary


def flags(summary: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(entry label, flag) for every flag a run's summary raised: findings to read with care."""
    return [(label, flag) for label, entry in summary.items() if isinstance(entry, Mapping)
            for flag in entry.get("flags", [])]


def summary_problem(summary: Any) -> str | None:
    """Why ``summary`` is not a summary.json this meltdyn reads (another layout, a malformed entry), or None."""
    if not isinstance(summary, Mapping):
        return "it is not an object"
    layout = summary.get("layout", 1)
    if layout != LAYOUT:
        return (f"it has layout {layout!r}, this meltdyn reads layout {LAYOUT} (species and q as labelled axes, not "
                "in names like D_Na)")
    point = summary.get(STATE_POINT)
    if point is not None and not isinstance(point, Mapping):
        return f"{STATE_POINT} is not an object"
    if isinstance(point, Mapping):
        for key in ("temperature_K", "potential_energy_eV_per_atom"):
            if key in point:
                try:
                    Estimate.from_json(point[key])
                except (KeyError, TypeError, ValueError) as exc:
                    return f"{STATE_POINT}.{key} is not an estimate meltdyn writes ({exc})"
    for label, entry in summary.items():
        if label in META or label == STATE_POINT:
            continue
        try:
            quantities({label: entry})
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
            reason = f"no {exc}" if isinstance(exc, KeyError) else str(exc)[:200]
            return f"the entry of {label!r} is not one meltdyn writes ({reason})"
    return None


__all__ = ["LAYOUT", "Quantity", "flags", "label_text", "quantities", "run_summary", "summary_entry", "summary_problem"]
