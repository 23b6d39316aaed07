"""A run's summary.json read as quantities: every scalar an :class:`~meltdyn.analysis.estimates.Estimate` with its unit.

``meltdyn results`` and ``meltdyn report`` both read summaries through :func:`quantities`, so a bound prints as a
bound and a missing number with its reason in both, whatever observable wrote it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from meltdyn.analysis.estimates import Estimate, is_estimate
from meltdyn.analysis.state_point import STATE_POINT
from meltdyn.hooks.data import ResultArray

META = ("arrays",)
"""Summary entries that describe the results rather than hold quantities."""

STATE_POINT_UNITS = {"temperature_K": "K", "temperature_first_half_K": "K", "temperature_second_half_K": "K",
                     "target_temperature_K": "K", "potential_energy_eV_per_atom": "eV/atom", "density_g_cm3": "g/cm^3",
                     "pressure_bar": "bar", "frames": "1"}


@dataclass(frozen=True)
class Quantity:
    """One summary scalar: ``label.key`` (with ``[q=…]`` or ``[k]`` for one entry of a list), its estimate, unit."""

    name: str
    estimate: Estimate
    unit: str


def _unit(label: str, key: str, results: dict[str, dict[str, ResultArray]], summary: dict[str, Any]) -> str:
    if label == STATE_POINT:
        return STATE_POINT_UNITS.get(key, "")
    result = results.get(label, {}).get(key) or results.get(label, {}).get(key.removeprefix("mean_"))
    if result is not None:
        return result.unit
    arrays = summary.get("arrays", {}).get(label, {})
    return (arrays.get(key) or arrays.get(key.removeprefix("mean_")) or {}).get("unit", "")


def _estimate(value: Any) -> Estimate | None:
    if is_estimate(value) or value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)):
        return Estimate.from_json(value)
    return None


def quantities(summary: dict[str, Any], results: dict[str, dict[str, ResultArray]] | None = None) -> list[Quantity]:
    """Every scalar of a run's summary, in the summary's order; list entries (one per wavenumber, say) become one
    quantity each, named by their q where the observable's results have one per entry."""
    results = results or {}
    out: list[Quantity] = []
    for label, entry in summary.items():
        if label in META or not isinstance(entry, dict):
            continue
        q = results.get(label, {}).get("q")
        for key, value in entry.items():
            if key == "flags":
                continue
            unit = _unit(label, key, results, summary)
            if isinstance(value, list):
                labels = ([f"q={x:g}" for x in q.values.tolist()] if q is not None and q.values.size == len(value)
                          else [str(k) for k in range(len(value))])
                for tag, item in zip(labels, value):
                    estimate = _estimate(item)
                    if estimate is not None:
                        out.append(Quantity(f"{label}.{key}[{tag}]", estimate, unit))
                continue
            estimate = _estimate(value)
            if estimate is not None:
                out.append(Quantity(f"{label}.{key}", estimate, unit))
    return out


def flags(summary: dict[str, Any]) -> list[tuple[str, str]]:
    """(entry label, flag) for every flag a run's summary raised: findings to read with care."""
    return [(label, flag) for label, entry in summary.items() if isinstance(entry, dict)
            for flag in entry.get("flags", [])]


__all__ = ["Quantity", "flags", "quantities"]
