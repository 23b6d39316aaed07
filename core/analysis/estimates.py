"""What a reported number is: a value with its standard error, a bound, or nothing with the reason why.

Every headline number meltdyn stores in a summary (D, τα, the α2 peak, the achieved temperature, a hop fraction)
is an :class:`Estimate`. In summary.json it is an object ``{"value", "stderr", "kind", "bound", "note", "method"}``
(JSON null for what is not a number); in results.h5 the value sits in its own array and the others beside it
(``<name>_stderr``, ``<name>_kind``, ``<name>_bound``, ``<name>_note``), one entry per value. Tables, the report and
``meltdyn results`` read them back with :meth:`Estimate.from_json` and print them with :meth:`Estimate.text`, so
a bound is never shown as a value and a missing number always says why.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

Kind = Literal["value", "upper_bound", "lower_bound", "undefined"]
KINDS: tuple[str, ...] = ("value", "upper_bound", "lower_bound", "undefined")

NAN = float("nan")


@dataclass(frozen=True)
class Estimate:
    """A reported number and what it is.

    ``kind`` is ``value`` (``value`` ± ``stderr``, one standard error; NaN stderr when unknown), ``upper_bound`` (the
    true number lies below ``bound``), ``lower_bound`` (it lies above ``bound``) or ``undefined`` (no number; ``note``
    says why). ``note`` also carries a caution on a value; ``method`` says how ``stderr`` was obtained.
    """

    value: float = NAN
    stderr: float = NAN
    kind: Kind = "value"
    bound: float = NAN
    note: str = ""
    method: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"Estimate.kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.kind == "value" and not math.isfinite(self.value) and not self.note:
            raise ValueError("an Estimate without a finite value must be a bound or undefined, with a note saying why")

    @classmethod
    def undefined(cls, note: str) -> Estimate:
        return cls(kind="undefined", note=note)

    @classmethod
    def upper(cls, bound: float, note: str) -> Estimate:
        return cls(kind="upper_bound", bound=float(bound), note=note)

    @classmethod
    def lower(cls, bound: float, note: str) -> Estimate:
        return cls(kind="lower_bound", bound=float(bound), note=note)

    @property
    def is_value(self) -> bool:
        return self.kind == "value" and math.isfinite(self.value)

    def as_json(self) -> dict[str, Any]:
        """The summary.json form; non-finite numbers become null when written."""
        return {"value": float(self.value), "stderr": float(self.stderr), "kind": self.kind,
                "bound": float(self.bound), "note": self.note, "method": self.method}

    @classmethod
    def from_json(cls, data: Any) -> Estimate:
        """Read an estimate back from summary.json; a bare number (older summaries) is a value without an error."""
        if isinstance(data, Mapping) and "kind" in data:
            def num(key: str) -> float:
                v = data.get(key)
                return NAN if v is None else float(v)
            return cls(num("value"), num("stderr"), data["kind"], num("bound"), str(data.get("note", "")),
                       str(data.get("method", "")))
        if data is None:
            return cls.undefined("not a number in the summary")
        value = float(data)
        return cls(value) if math.isfinite(value) else cls.undefined("not a number in the summary")

    def text(self, digits: int = 3) -> str:
        """``1.23 ± 0.04``, ``< 0.1``, ``> 50``, ``≈1.23`` (a value whose error could not be estimated: its note says
        why) or ``n/a``: never a bound or a missing number shown as a value, nor a value without its error shown as
        if it had one."""
        if self.kind == "upper_bound":
            return f"< {self.bound:.{digits}g}"
        if self.kind == "lower_bound":
            return f"> {self.bound:.{digits}g}"
        if not self.is_value:
            return "n/a"
        if math.isfinite(self.stderr):
            return f"{self.value:.{digits}g} ± {self.stderr:.2g}"
        return f"≈{self.value:.{digits}g}"


def is_estimate(data: Any) -> bool:
    """Whether a summary entry is an estimate's JSON form."""
    return isinstance(data, Mapping) and "kind" in data and "value" in data


def estimate_arrays(name: str, estimates: Any, unit: str, dims: tuple[str, ...],
                    description: str) -> dict[str, Any]:
    """The result arrays that store estimates under ``name`` in results.h5: the value and, beside it, the standard
    error, kind, bound and note of each entry. ``estimates`` is one :class:`Estimate`, or a (nested) list or object
    array of them shaped like ``dims``. Returns name → :class:`meltdyn.hooks.data.ResultArray`."""
    from meltdyn.hooks.data import ResultArray  # contracts imports nothing of this module; keep it so

    grid = np.empty((), dtype=object)
    if isinstance(estimates, Estimate):
        grid[()] = estimates
    else:
        grid = np.array(estimates, dtype=object)
    if grid.ndim != len(dims):
        raise ValueError(f"{name}: {grid.ndim}-dimensional estimates for dims {dims}")
    items = list(grid.flat)
    if not all(isinstance(e, Estimate) for e in items):
        raise TypeError(f"{name}: estimate_arrays takes Estimates, got {sorted({type(e).__name__ for e in items})}")

    def shaped(values: list[Any], dtype: Any) -> np.ndarray:
        return np.array(values, dtype=dtype).reshape(grid.shape)

    method = next((e.method for e in items if e.method), "")
    return {
        name: ResultArray(shaped([e.value for e in items], float), unit, dims, description),
        f"{name}_stderr": ResultArray(shaped([e.stderr for e in items], float), unit, dims,
                                      f"standard error of {name} ({method or 'see the summary'})"),
        f"{name}_kind": ResultArray(shaped([e.kind for e in items], str), "", dims,
                                    f"what {name} is: {', '.join(KINDS)}"),
        f"{name}_bound": ResultArray(shaped([e.bound for e in items], float), unit, dims,
                                     f"the bound on {name} where its kind is a bound"),
        f"{name}_note": ResultArray(shaped([e.note for e in items], str), "", dims,
                                    f"why {name} is a bound or undefined, or a caution"),
    }


def estimates_from_arrays(results: Mapping[str, Any], name: str, method: str = "") -> list[Estimate]:
    """The estimates :func:`estimate_arrays` stored under ``name``, read back from the result arrays (one per entry,
    in C order, a scalar as a list of one); ``method`` is not stored per entry, so the observable that wrote them
    passes it."""
    suffixes = ("", "_stderr", "_kind", "_bound", "_note")
    arrays = [np.ravel(results[f"{name}{suffix}"].values) for suffix in suffixes]
    return [Estimate(float(v), float(e), str(k), float(b), str(n), method if str(k) == "value" else "")
            for v, e, k, b, n in zip(*arrays)]


__all__ = ["Estimate", "KINDS", "estimate_arrays", "estimates_from_arrays", "is_estimate"]
