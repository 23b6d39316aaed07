"""An observable's headline quantities as summary.json, ``meltdyn results`` and the report read them."""

from __future__ import annotations

from typing import Any

from meltdyn.plugin import BaseObservable, Estimate, ResultArray, quantities, summary_entry


def headline(observable: BaseObservable, results: dict[str, ResultArray]) -> dict[str, Estimate]:
    """``{"D[species=Na]": Estimate, ...}``: each declared quantity's entries through the summary's JSON form."""
    entry = summary_entry(results, observable.summary(results), "observable")
    return {q.key.removeprefix("o."): q.estimate for q in quantities({"o": entry})}


def entry(observable: BaseObservable, results: dict[str, ResultArray]) -> dict[str, Any]:
    """The observable's summary.json entry."""
    return summary_entry(results, observable.summary(results), "observable")
