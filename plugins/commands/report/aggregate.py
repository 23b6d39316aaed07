"""A study's runs as numbers: every summary quantity per state point (replicas combined), Arrhenius fits.

Generic over observables: whatever quantities an observable's ``summary`` declares are aggregated, one per entry of
their labelled axes (``msd.D[species=Na]``, ``isf.tau_alpha[species=O, q=1.7]``), read through
:func:`meltdyn.plugin.quantities` so that bounds stay bounds.
Each state point also carries the temperature its runs reached, measured from their productions, which is what the
fits use.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from meltdyn.plugin import (
    BOLTZMANN_EV_K, EV_TO_KJ_MOL, STATE_POINT, Estimate, Quantity, flags as summary_flags, from_summary, quantities,
)

MIN_FIT_POINTS_FOR_ERROR = 3
"""A line through two points fits them exactly: its slope has no error that the points themselves can tell."""


def combine(estimates: list[Estimate]) -> Estimate:
    """One state point's estimate from its replicas' (each an independent run).

    Values: the replica mean; its standard error the larger of the replicas' scatter (s/√n) and their own errors
    propagated (√Σσ²/n), since two or three replicas' scatter alone often understates it. Bounds of one direction
    mixed with values give a bound on the mean (each true value beyond its bound: the mean beyond the bounds' and
    values' mean). Replicas without a number leave the others' result, with a note of how many gave it.
    """
    n = len(estimates)
    values = [e for e in estimates if e.is_value]
    lower = [e for e in estimates if e.kind == "lower_bound"]
    upper = [e for e in estimates if e.kind == "upper_bound"]
    given = len(values) + len(lower) + len(upper)
    partial = f"{given} of {n} replicas gave it" if 0 < given < n else ""
    if given == 0:
        reasons = sorted({e.note for e in estimates if e.note})
        return Estimate.undefined("; ".join(reasons) or "no replica gave it")
    if lower and upper:
        return Estimate.undefined(f"replicas disagree: {len(lower)} lower and {len(upper)} upper bounds")
    if lower or upper:
        bounds = [e.bound for e in lower + upper] + [e.value for e in values]
        note = (f"{len(lower) + len(upper)} of {given} replicas beyond the sampled range"
                + (f"; {partial}" if partial else ""))
        mean = float(np.mean(bounds))
        return Estimate.lower(mean, note) if lower else Estimate.upper(mean, note)
    x = np.array([e.value for e in values])
    own = [e.stderr for e in values]
    propagated = math.sqrt(sum(s * s for s in own)) / len(own) if all(math.isfinite(s) for s in own) else float("nan")
    scatter = float(np.std(x, ddof=1) / math.sqrt(len(x))) if len(x) > 1 else float("nan")
    stderr = float(np.nanmax([scatter, propagated])) if math.isfinite(scatter) or math.isfinite(propagated) else \
        float("nan")
    # Each replica's note joins its cautions with "; "; the same caution from two replicas is said once.
    cautions = list(dict.fromkeys(c for e in values if e.note for c in e.note.split("; ")))
    note = "; ".join(([partial] if partial else []) + cautions)
    method = "max(replica scatter, propagated errors)" if len(x) > 1 else values[0].method
    return Estimate(float(x.mean()), stderr, note=note, method=method)


@dataclass
class StatePoint:
    """The replicas of one composition and target temperature: each quantity's estimates, one per replica, and the
    temperature each replica's production reached."""

    composition: str | float
    temperature_K: float
    values: dict[str, list[Estimate]] = field(default_factory=lambda: defaultdict(list))
    achieved: list[Estimate] = field(default_factory=list)
    replicas: int = 0

    def estimate(self, key: str) -> Estimate:
        """The replicas combined (:func:`combine`); undefined where no replica has the quantity."""
        found = self.values.get(key, [])
        if len(found) < self.replicas:  # a replica whose summary lacks the key (an older analysis)
            found = found + [Estimate.undefined("not in this replica's summary")] * (self.replicas - len(found))
        return combine(found) if found else Estimate.undefined("no replica gave it")

    def count(self, key: str) -> int:
        """Replicas that gave a value or a bound."""
        return sum(e.kind != "undefined" for e in self.values.get(key, []))

    @property
    def achieved_K(self) -> Estimate:
        """The temperature the replicas reached, combined; undefined where their summaries predate its recording."""
        if len(self.achieved) < self.replicas or not self.achieved:
            return Estimate.undefined("not measured for every replica (analysed before meltdyn recorded it)")
        return combine(self.achieved)

    @property
    def fit_temperature_K(self) -> tuple[float, bool]:
        """The temperature fits place this point at: the achieved one where measured (True), else the target."""
        achieved = self.achieved_K
        return (achieved.value, True) if achieved.is_value else (self.temperature_K, False)


def collect(study: Any) -> tuple[list[StatePoint], dict[str, Quantity], list[dict[str, Any]], list[str]]:
    """State points of the completed runs, the catalogue of their quantities (key → the first run's
    :class:`~meltdyn.plugin.Quantity`: observable, name, coordinates, unit and trend), the runs not (yet) complete,
    and the flags the runs raised (findings to read with care)."""
    points: dict[tuple[Any, float], StatePoint] = {}
    catalog: dict[str, Quantity] = {}
    missing, flags = [], []
    for run in study.runs:
        if not run.completed:
            missing.append({"run": run.id, "state": run.status["state"], "message": run.status.get("message", "")})
            continue
        summary = run.summary()
        run.results()  # every run's results read (and refused if damaged) before anything is made
        point = points.setdefault((run.composition, run.temperature_K), StatePoint(run.composition,
                                                                                    run.temperature_K))
        point.replicas += 1
        for q in quantities(summary):
            if q.observable == STATE_POINT:
                continue
            point.values[q.key].append(q.estimate)
            catalog.setdefault(q.key, q)
        achieved = from_summary(summary)
        if achieved is not None:
            point.achieved.append(achieved)
        flags += [f"{run.id}: {flag}" for _, flag in summary_flags(summary)]
    ordered = sorted(points.values(), key=lambda p: (str(p.composition), p.temperature_K))
    return ordered, catalog, missing, flags


@dataclass(frozen=True)
class Arrhenius:
    """ln y = ln y0 − E_a / (k_B T), fitted to the state points' values weighted by their standard errors."""

    activation_eV: float
    activation_sigma_eV: float
    prefactor: float
    points: int
    note: str = ""

    @property
    def activation_kJ_mol(self) -> float:
        return self.activation_eV * EV_TO_KJ_MOL

    @property
    def activation_sigma_kJ_mol(self) -> float:
        return self.activation_sigma_eV * EV_TO_KJ_MOL

    def at(self, temperatures_K: np.ndarray) -> np.ndarray:
        """The fitted y at the given temperatures."""
        return self.prefactor * np.exp(-self.activation_eV / (BOLTZMANN_EV_K * np.asarray(temperatures_K)))


def arrhenius(temperatures_K: list[float], means: list[float], sems: list[float], note: str = "") -> Arrhenius | None:
    """Weighted least squares of ln y on 1/(k_B T); the uncertainty from the fit's covariance, scaled by the reduced
    chi-square when the points scatter more than their error bars say (as with few replicas they often do). Fewer
    than :data:`MIN_FIT_POINTS_FOR_ERROR` points give an activation energy without an uncertainty."""
    keep = [(t, m, s) for t, m, s in zip(temperatures_K, means, sems) if math.isfinite(m) and m > 0]
    if len(keep) < 2:
        return None
    x = np.array([1.0 / (BOLTZMANN_EV_K * t) for t, _, _ in keep])
    y = np.log([m for _, m, _ in keep])
    errors = np.array([s / m if math.isfinite(s) and s > 0 else np.nan for _, m, s in keep])
    # Without error bars on every point: equal weights and the uncertainty from the scatter alone.
    weighted = not np.isnan(errors).any()
    w = 1.0 / errors**2 if weighted else np.ones_like(y)
    design = np.stack([np.ones_like(x), x], axis=1)
    cov = np.linalg.inv(design.T @ (design * w[:, None]))
    intercept, slope = cov @ (design.T @ (w * y))
    dof = len(keep) - 2
    if dof > 0:
        chi2 = float(np.sum(w * (y - intercept - slope * x) ** 2)) / dof
        cov = cov * (max(chi2, 1.0) if weighted else chi2)
    sigma = float(np.sqrt(cov[1, 1])) if len(keep) >= MIN_FIT_POINTS_FOR_ERROR else float("nan")
    if len(keep) < MIN_FIT_POINTS_FOR_ERROR:
        note = "; ".join(filter(None, [note, f"{len(keep)} state points: no uncertainty"]))
    return Arrhenius(-float(slope), sigma, float(np.exp(intercept)), len(keep), note)


def fit_points(points: list[StatePoint], key: str, transform: str = "identity"
               ) -> tuple[list[float], list[float], list[float], str]:
    """(temperatures, values, errors, note) of the points a fit of ``key`` may use: values over every replica, at the
    temperature each point reached. Bounds, missing numbers and means over only some replicas are left out, and the
    note says which and why; ``transform: inverse`` fits 1/y (rates from times)."""
    temps, values, errors, left_out, at_target = [], [], [], [], []
    for p in points:
        e = p.estimate(key)
        label = f"{p.temperature_K:g} K"
        if not e.is_value or p.count(key) < p.replicas:
            left_out.append(f"{label} ({'bound' if 'bound' in e.kind else 'not every replica'})")
            continue
        t, achieved = p.fit_temperature_K
        if not achieved:
            at_target.append(label)
        value, error = (e.value, e.stderr) if transform == "identity" else (1 / e.value, e.stderr / e.value**2)
        temps.append(t)
        values.append(value)
        errors.append(error)
    note = []
    if left_out:
        note.append("left out: " + ", ".join(left_out))
    if at_target:
        note.append("at the target temperature (achieved one not recorded): " + ", ".join(at_target))
    return temps, values, errors, "; ".join(note)
