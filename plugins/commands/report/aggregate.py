"""A study's runs as numbers: every summary scalar per state point (replica mean ± standard error), Arrhenius fits.

Generic over observables: whatever scalars an observable's ``summary`` gives are aggregated, with units from the
run's results; list values (one per wavenumber, say) become one column each.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from meltdyn.units import BOLTZMANN_EV_K, EV_TO_KJ_MOL


@dataclass
class StatePoint:
    """The replicas of one composition and temperature: each quantity's values, mean and standard error."""

    composition: str | float
    temperature_K: float
    values: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))

    def mean(self, key: str) -> float:
        finite = [v for v in self.values.get(key, []) if math.isfinite(v)]
        return float(np.mean(finite)) if finite else float("nan")

    def sem(self, key: str) -> float:
        finite = [v for v in self.values.get(key, []) if math.isfinite(v)]
        return float(np.std(finite, ddof=1) / np.sqrt(len(finite))) if len(finite) > 1 else float("nan")

    def count(self, key: str) -> int:
        return sum(math.isfinite(v) for v in self.values.get(key, []))


def _flatten(label: str, summary: dict[str, Any], extra: dict[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, value in summary.items():
        if key == "flags":
            continue
        name = f"{label}.{key}"
        if isinstance(value, (list, tuple)):
            for k, v in enumerate(value):
                suffix = f"[q={extra['q'][k]:g}]" if "q" in extra and len(extra["q"]) == len(value) else f"[{k}]"
                out[name + suffix] = float("nan") if v is None else float(v)
        elif isinstance(value, (int, float)) or value is None:
            out[name] = float("nan") if value is None else float(value)
    return out


def collect(study: Any) -> tuple[list[StatePoint], dict[str, str], list[dict[str, Any]], list[str]]:
    """State points of the completed runs, the unit of each quantity, the runs not (yet) complete, and the flags
    the observables raised (findings to read with care)."""
    points: dict[tuple[Any, float], StatePoint] = {}
    units: dict[str, str] = {}
    missing, flags = [], []
    for run in study.runs:
        if not run.completed:
            missing.append({"run": run.id, "state": run.status["state"], "message": run.status.get("message", "")})
            continue
        summary = run.summary()
        arrays = summary.get("arrays", {})
        point = points.setdefault((run.composition, run.temperature_K), StatePoint(run.composition,
                                                                                    run.temperature_K))
        results = run.results()
        for label, scalars in summary.items():
            if label == "arrays" or not isinstance(scalars, dict):
                continue
            extra = {"q": results[label]["q"].values.tolist()} if "q" in results.get(label, {}) else {}
            for key, value in _flatten(label, scalars, extra).items():
                point.values[key].append(value)
                base = key.split("[")[0].split(".", 1)[1]
                unit_of = arrays.get(label, {}).get(base, {}) or arrays.get(label, {}).get(base.removeprefix(
                    "mean_"), {})
                units.setdefault(key, unit_of.get("unit", ""))
            flags += [f"{run.id}: {flag}" for flag in scalars.get("flags", [])]
    ordered = sorted(points.values(), key=lambda p: (str(p.composition), p.temperature_K))
    return ordered, units, missing, flags


@dataclass(frozen=True)
class Arrhenius:
    """ln y = ln y0 − E_a / (k_B T), fitted to the state points' means weighted by their standard errors."""

    activation_eV: float
    activation_sigma_eV: float
    prefactor: float
    points: int

    @property
    def activation_kJ_mol(self) -> float:
        return self.activation_eV * EV_TO_KJ_MOL

    @property
    def activation_sigma_kJ_mol(self) -> float:
        return self.activation_sigma_eV * EV_TO_KJ_MOL

    def at(self, temperatures_K: np.ndarray) -> np.ndarray:
        """The fitted y at the given temperatures."""
        return self.prefactor * np.exp(-self.activation_eV / (BOLTZMANN_EV_K * np.asarray(temperatures_K)))


def arrhenius(temperatures_K: list[float], means: list[float], sems: list[float]) -> Arrhenius | None:
    """Weighted least squares of ln y on 1/(k_B T); the uncertainty from the fit's covariance, scaled by the reduced
    chi-square when the points scatter more than their error bars say (as with few replicas they often do)."""
    keep = [(t, m, s) for t, m, s in zip(temperatures_K, means, sems) if math.isfinite(m) and m > 0]
    if len(keep) < 2:
        return None
    x = np.array([1.0 / (BOLTZMANN_EV_K * t) for t, _, _ in keep])
    y = np.log([m for _, m, _ in keep])
    errors = np.array([s / m if math.isfinite(s) and s > 0 else np.nan for _, m, s in keep])
    # One replica per point: no error bars, so equal weights and the uncertainty from the scatter alone.
    weighted = not np.isnan(errors).any()
    w = 1.0 / errors**2 if weighted else np.ones_like(y)
    design = np.stack([np.ones_like(x), x], axis=1)
    cov = np.linalg.inv(design.T @ (design * w[:, None]))
    intercept, slope = cov @ (design.T @ (w * y))
    dof = len(keep) - 2
    if dof > 0:
        chi2 = float(np.sum(w * (y - intercept - slope * x) ** 2)) / dof
        cov = cov * (max(chi2, 1.0) if weighted else chi2)
    sigma = float(np.sqrt(cov[1, 1])) if dof > 0 or weighted else float("nan")
    return Arrhenius(-float(slope), sigma, float(np.exp(intercept)), len(keep))
