"""``meltdyn report``: a study's completed runs as tables, fits, figures and one self-contained HTML page.

Every quantity an observable declares in its summary (ours and third parties') gets a column per entry of its
labelled axes, and its declared trend decides the rest: a ``rate`` (D) or a ``time`` (τ_α) is drawn against 1000/T
with an Arrhenius fit per composition and entry, a ``level`` (the α2 peak height) against T. What the paper derives
from particular observables is read from those plugins by name: sodium's decoupling from the matrix (D_Na/D_O,
D_Na/D_Si, D_Na·τ_α(Si) from msd and isf) and the bimodal self van Hove function of Na (van_hove).
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import math
import time
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from meltdyn.plugins.commands.report.aggregate import (  # noqa: E402
    Arrhenius,
    StatePoint,
    arrhenius,
    collect,
    fit_points,
)
from meltdyn.plugin import (  # noqa: E402
    Quantity, label_text, reached_text, select, tidy_axes, write_json_atomic,
)

FIGURE_FORMATS = ("png", "pdf")
ACTIVATED = ("rate", "time")
"""Trends the report fits with Arrhenius' law: a rate as it is, a time through its inverse."""
UNIT_TEXT = (("angstrom", "Å"), ("^-1", "⁻¹"), ("^2", "²"), ("^3", "³"))


def _labels(study: Any, plugin: str) -> list[str]:
    return [label for label, o in zip(study.spec.observable_labels, study.spec.observables) if o.plugin == plugin]


def unit_text(unit: str) -> str:
    """A result's unit as a table or an axis prints it (``angstrom^2/ps`` → ``Å²/ps``)."""
    for plain, pretty in UNIT_TEXT:
        unit = unit.replace(plain, pretty)
    return unit


def column(q: Quantity) -> str:
    """A headline column: ``msd D Na (Å²/ps)``, ``isf tau_alpha O q=1.7 (ps)``."""
    where = " ".join(str(v) if d in ("species", "hop_species") else f"{d}={v:g}" if isinstance(v, float) else
                     f"{d}={v}" for d, v in q.coords)
    unit = unit_text(q.unit)
    return " ".join(filter(None, [q.observable, q.name, where])) + (f" ({unit})" if unit and unit != "1" else "")


def _cell(mean: float, sem: float, digits: int = 3) -> str:
    if not math.isfinite(mean):
        return "–"
    text = f"{mean:.{digits}g}"
    return text + (f" ± {sem:.2g}" if math.isfinite(sem) else "")


def point_cell(point: StatePoint, key: str) -> str:
    """A quantity over a state point's replicas: value ± standard error, a bound (``< 0.1``, ``> 50``) or ``–``,
    saying how many replicas gave it when some did not (a τ_α beyond the run, no significant hop population): such
    a result is over the others only."""
    e = point.estimate(key)
    if e.kind == "undefined":
        return "–"
    given = point.count(key)
    return e.text() + (f" ({given} of {point.replicas})" if 0 < given < point.replicas else "")


def achieved_cell(point: StatePoint) -> str:
    """The temperature a state point's productions reached, ± its error; ``?`` where not measured."""
    e = point.achieved_K
    return e.text(4) if e.is_value else "?"


def _ratio(point: StatePoint, a: str, b: str, product: bool = False) -> tuple[float, float]:
    """A ratio (or product) of two quantities with its propagated error; NaN unless both are values over every
    replica (a bound or a partial mean would make it a number it is not)."""
    ea, eb = point.estimate(a), point.estimate(b)
    if not (ea.is_value and eb.is_value) or min(point.count(a), point.count(b)) < point.replicas:
        return float("nan"), float("nan")
    ma, mb, sa, sb = ea.value, eb.value, ea.stderr, eb.stderr
    value = ma * mb if product else ma / mb
    relative = math.hypot(sa / ma if math.isfinite(sa) else 0.0, sb / mb if math.isfinite(sb) else 0.0)
    return value, abs(value) * relative if (math.isfinite(sa) or math.isfinite(sb)) else float("nan")


def _series(points: list[StatePoint], key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(T, y, error, kind) of a quantity over state points for a figure, at the temperatures they reached: values
    with their errors, and bounds at their bound (kind −1 upper, +1 lower, 0 value, NaN none)."""
    t, y, err, kind, t_err = [], [], [], [], []
    for p in points:
        e = p.estimate(key)
        achieved = p.achieved_K
        t.append(achieved.value if achieved.is_value else p.temperature_K)
        t_err.append(achieved.stderr if achieved.is_value else np.nan)
        if e.is_value:
            y.append(e.value), err.append(e.stderr), kind.append(0.0)
        elif "bound" in e.kind:
            y.append(e.bound), err.append(np.nan), kind.append(1.0 if e.kind == "lower_bound" else -1.0)
        else:
            y.append(np.nan), err.append(np.nan), kind.append(np.nan)
    return np.array(t), np.array(y), np.array(err), np.array(kind), np.array(t_err)


def _draw(ax: Any, x: np.ndarray, series: tuple[np.ndarray, ...], fmt: str, color: str, label: str,
          x_err: np.ndarray | None = None) -> None:
    """Values with error bars; bounds as open triangles pointing the way the true value lies."""
    _, y, err, kind, _ = series
    values = kind == 0
    ax.errorbar(x[values], y[values], yerr=np.nan_to_num(err[values]),
                xerr=None if x_err is None else np.nan_to_num(x_err[values]), fmt=fmt, color=color, label=label,
                capsize=2)
    for direction, marker in ((1.0, "^"), (-1.0, "v")):
        sel = kind == direction
        if sel.any():
            ax.plot(x[sel], y[sel], marker, mfc="none", color=color)


class Report:
    def __init__(self, study: Any):
        self.study = study
        self.points, self.catalog, self.missing, self.flags = collect(study)
        self.compositions = list(dict.fromkeys(p.composition for p in self.points))
        msd, isf, van_hove, structure, chi4, mobility = (_labels(study, name) for name in
                                                         ("msd", "isf", "van_hove", "structure", "chi4", "mobility"))
        self.msd = msd[0] if msd else None
        self.isf = isf[0] if isf else None
        self.van_hove = van_hove[0] if van_hove else None
        self.structure = structure[0] if structure else None
        self.chi4 = chi4[0] if chi4 else None
        self.mobility = mobility[0] if mobility else None

    def keys(self, observable: str | None, name: str, **where: Any) -> list[str]:
        """Keys of the catalogued quantities of ``observable``'s ``name`` whose coordinates include ``where``."""
        return [k for k, q in self.catalog.items() if (q.observable, q.name) == (observable, name)
                and all(dict(q.coords).get(d) == v for d, v in where.items())]

    def series(self) -> dict[tuple[str, str], list[str]]:
        """Each declared quantity with a trend, (observable, name) → its entries' keys, in the summaries' order."""
        out: dict[tuple[str, str], list[str]] = {}
        for key, q in self.catalog.items():
            if q.trend:
                out.setdefault(q.series, []).append(key)
        return out

    # -- derived quantities ---------------------------------------------------------------------------------------

    def derived(self) -> dict[tuple[Any, float], dict[str, tuple[float, float]]]:
        """Decoupling ratios per state point, from the msd and isf plugins: (value, standard error)."""
        out: dict[tuple[Any, float], dict[str, tuple[float, float]]] = {}
        d_na = self.keys(self.msd, "D", species="Na")
        tau_si = self.keys(self.isf, "tau_alpha", species="Si")  # its first wavenumber
        for p in self.points:
            row: dict[str, tuple[float, float]] = {}
            if d_na:
                for other in ("O", "Si"):
                    d_other = self.keys(self.msd, "D", species=other)
                    if d_other:
                        row[f"D_Na/D_{other}"] = _ratio(p, d_na[0], d_other[0])
                if tau_si:
                    row["D_Na·τα(Si) (Å²)"] = _ratio(p, d_na[0], tau_si[0], product=True)
            out[(p.composition, p.temperature_K)] = row
        return out

    def fits(self) -> dict[str, dict[str, Arrhenius]]:
        """Arrhenius fits per composition of every entry of a quantity declared a rate (fitted as it is) or a time
        (fitted through its inverse), at the temperatures the runs reached, through the points that are values over
        every replica (:func:`fit_points`). Keyed by the quantity's key, ``1/`` before a time's."""
        out: dict[str, dict[str, Arrhenius]] = {}
        for composition in self.compositions:
            pts = [p for p in self.points if p.composition == composition]
            fits: dict[str, Arrhenius] = {}
            for key, q in self.catalog.items():
                if q.trend not in ACTIVATED:
                    continue
                fit = arrhenius(*fit_points(pts, key, "identity" if q.trend == "rate" else "inverse"))
                if fit:
                    fits[key if q.trend == "rate" else f"1/{key}"] = fit
            out[str(composition)] = fits
        return out

    # -- tables ---------------------------------------------------------------------------------------------------

    def long_rows(self) -> list[dict[str, Any]]:
        rows = []
        derived = self.derived()
        for p in self.points:
            achieved = p.achieved_K
            where = {"composition": p.composition, "temperature_K": p.temperature_K,
                     "achieved_temperature_K": achieved.value, "achieved_temperature_sem_K": achieved.stderr}
            for key, q in self.catalog.items():
                e = p.estimate(key)
                rows.append({**where, "quantity": key, "observable": q.observable, "name": q.name,
                             "coords": json.dumps(dict(q.coords)), "unit": q.unit, "kind": e.kind,
                             "mean": e.value, "sem": e.stderr, "bound": e.bound, "replicas": p.count(key),
                             "of_replicas": p.replicas, "note": e.note})
            d_na = self.keys(self.msd, "D", species="Na")
            for key, (value, sem) in derived[(p.composition, p.temperature_K)].items():
                rows.append({**where, "quantity": key, "observable": "", "name": key, "coords": "{}",
                             "unit": "Å²" if "τα" in key else "1",
                             "kind": "value" if math.isfinite(value) else "undefined", "mean": value, "sem": sem,
                             "bound": float("nan"), "replicas": p.count(d_na[0]) if d_na else 0,
                             "of_replicas": p.replicas,
                             "note": "" if math.isfinite(value) else "needs values of both over every replica"})
        return rows

    def headline(self) -> tuple[list[str], list[list[str]]]:
        """One row per state point: every declared quantity's entries, then the decoupling ratios."""
        header = ["composition", "T target (K)", "T reached (K)", "replicas"]
        header += [column(q) for q in self.catalog.values()]
        derived = self.derived()
        ratio_keys = sorted({k for row in derived.values() for k in row})
        header += ratio_keys
        rows = []
        for p in self.points:
            row = [str(p.composition), f"{p.temperature_K:g}", achieved_cell(p), str(p.replicas)]
            row += [point_cell(p, k) for k in self.catalog]
            row += [_cell(*derived[(p.composition, p.temperature_K)].get(k, (float("nan"), float("nan"))))
                    for k in ratio_keys]
            rows.append(row)
        return header, rows

    # -- figures --------------------------------------------------------------------------------------------------

    def figures(self) -> dict[str, Any]:
        figs = {}
        markers = dict(zip(self.compositions, "osD^v<>p*h"))
        fits = self.fits()
        for (observable, name), keys in self.series().items():
            trend = self.catalog[keys[0]].trend
            activated = trend in ACTIVATED
            fig, ax = plt.subplots(figsize=(5.2, 3.9), layout="constrained")
            for c in self.compositions:
                pts = [p for p in self.points if p.composition == c]
                for k, key in enumerate(keys):
                    series = _series(pts, key)
                    t, t_err = series[0], series[4]
                    x, x_err = (1000 / t, 1000 * t_err / t**2) if activated else (t, t_err)
                    label = ", ".join(filter(None, [label_text(self.catalog[key].coords), str(c)]))
                    _draw(ax, x, series, markers[c] + ("" if activated else "-"), f"C{k % 10}", label, x_err=x_err)
                    fit = fits[str(c)].get(key if trend == "rate" else f"1/{key}")
                    if fit and np.isfinite(x).any():
                        xs = np.linspace(np.nanmin(x), np.nanmax(x), 20)
                        ys = fit.at(1000 / xs)
                        ax.plot(xs, ys if trend == "rate" else 1 / ys, color=f"C{k % 10}", lw=0.8)
            unit = unit_text(self.catalog[keys[0]].unit)
            ylabel = f"{name}" + (f" ({unit})" if unit and unit != "1" else "")
            if activated:
                ax.set(yscale="log", xlabel="1000 / T reached (1/K)", ylabel=ylabel,
                       title=f"{observable}: {name}, Arrhenius (open triangles: bounds)")
            else:
                ax.set(xlabel="T reached (K)", ylabel=ylabel, title=f"{observable}: {name} (open triangles: bounds)")
            ax.legend(fontsize=6, ncol=2)
            figs[f"{observable}_{name}"] = fig
        derived = self.derived()
        if any(derived.values()):
            fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), layout="constrained")
            for c in self.compositions:
                pts = [p for p in self.points if p.composition == c]
                t = [p.fit_temperature_K[0] for p in pts]
                for ax, key in zip(axes, ("D_Na/D_O", "D_Na·τα(Si) (Å²)")):
                    values = [derived[(p.composition, p.temperature_K)].get(key, (np.nan, np.nan)) for p in pts]
                    ax.errorbar(t, [v for v, _ in values], yerr=np.nan_to_num([e for _, e in values]),
                                fmt=markers[c] + "-", label=str(c))
                    ax.set(xlabel="T reached (K)", ylabel=key, yscale="log")
            axes[0].legend(fontsize=7)
            fig.suptitle("Sodium decoupling from the matrix", fontsize=10)
            figs["decoupling"] = fig
        if self.van_hove:
            fig = self._van_hove_figure()
            if fig is not None:
                figs["van_hove_Na"] = fig
        species = sorted({s for p in self.study.outline.runs for s in p.system.species})
        for s in species:
            if self.msd:
                figs |= self._curves_figure(f"msd_{s}", self.msd, "lag", "msd", {"species": s}, "t (ps)",
                                            f"MSD of {s} (Å²)", log_x=True, log_y=True)
            if self.isf:
                figs |= self._curves_figure(f"isf_Fs_{s}", self.isf, "lag", "Fs", {"species": s}, "t (ps)",
                                            f"$F_s(q,t)$ of {s}, first q", log_x=True)
        if self.structure:
            figs |= self._curves_figure("structure_S_neutron", self.structure, "q", "S",
                                        {"radiation": "neutron"}, r"$q$ (1/Å)", "neutron S(q)", log_x=False)
            for center in ("Si", "Na"):
                figs |= self._curves_figure(f"structure_g_{center}_O", self.structure, "r", "g",
                                            {"center": center, "neighbour": "O"}, "r (Å)", f"$g(r)$ of {center}–O",
                                            log_x=False)
        if self.chi4:
            figs |= self._curves_figure("chi4_O", self.chi4, "lag", "chi4_overlap", {"species": "O"}, "t (ps)",
                                        r"$\chi_4(t)$ of O, first overlap length", log_x=True)
        if self.mobility:
            figs |= self._curves_figure("mobility_cluster_sizes", self.mobility, "size", "cluster_size_distribution",
                                        {}, "cluster size (atoms)", "share of mobile atoms (dashed: random sets)",
                                        log_x=True, reference="random_cluster_size_distribution", log_y=True,
                                        marker="o-")
        return figs

    def _curves_figure(self, name: str, label: str, x: str, y: str, where: dict[str, Any], xlabel: str,
                       ylabel: str, log_x: bool, reference: str | None = None, log_y: bool = False,
                       marker: str = "-") -> dict[str, Any]:
        """One curve per state point (its first replica) of ``label``'s result ``y`` against ``x``, at the first
        entry of every other axis, with ``reference`` dashed in the same colour; one panel per composition.
        Nothing when no run has it."""
        runs = [r for r in self.study.runs if r.completed and r.replica == 0]
        fig, axes = plt.subplots(1, len(self.compositions), figsize=(4.2 * len(self.compositions), 3.5),
                                 layout="constrained", squeeze=False)
        drawn = False
        for ax, c in zip(axes[0], self.compositions):
            for run in [r for r in runs if r.composition == c]:
                res = run.results().get(label, {})
                try:
                    values = np.asarray(select(res, y, **where))
                except KeyError:  # this run's observable has no such entry (another species, another radiation)
                    continue
                values = values.reshape(-1, values.shape[-1])[0]  # the first entry of any other axis
                shown = np.where(values > 0, values, np.nan) if log_y else values  # zeros have no place on a log axis
                line, = ax.plot(res[x].values, shown, marker, ms=3, label=_reached(run))
                if reference is not None:
                    other = np.asarray(select(res, reference, **where))
                    other = other.reshape(-1, other.shape[-1])[0]
                    ax.plot(res[x].values, np.where(other > 0, other, np.nan) if log_y else other, "--",
                            color=line.get_color())
                drawn = True
            ax.set(xlabel=xlabel, ylabel=ylabel, title=str(c), xscale="log" if log_x else "linear",
                   yscale="log" if log_y else "linear")
            ax.legend(fontsize=7)
        if not drawn:
            plt.close(fig)
            return {}
        return {name: fig}

    def _van_hove_figure(self) -> Any:
        """4πr²G_s(r, t) of Na at the hop lag, per composition (first replica of each temperature)."""
        runs = [r for r in self.study.runs if r.completed and r.replica == 0]
        if not runs:
            return None
        fig, axes = plt.subplots(1, len(self.compositions), figsize=(4.2 * len(self.compositions), 3.5),
                                 layout="constrained", squeeze=False)
        drawn = False
        for ax, c in zip(axes[0], self.compositions):
            for run in [r for r in runs if r.composition == c]:
                res = run.results()[self.van_hove]
                if "Na" not in res["species"].values.tolist():
                    continue
                lag = res["lag"].values
                k = int(np.argmin(np.abs(lag - float(res["hop_lag"].values)))) if "hop_lag" in res else -1
                r = res["r"].values
                ax.semilogx(r[1:], 4 * np.pi * r[1:] ** 2 * select(res, "Gs", species="Na")[k, 1:],
                            label=f"{run.temperature_K:g} K, t = {lag[k]:g} ps")
                drawn = True
            ax.set(xlabel="r (Å)", ylabel=r"$4\pi r^2 G_s(r,t)$ of Na (1/Å)", title=str(c))
            ax.legend(fontsize=7)
        if not drawn:
            plt.close(fig)
            return None
        return fig

    # -- output ---------------------------------------------------------------------------------------------------

    def write(self, out: Path) -> dict[str, Any]:
        out.mkdir(parents=True, exist_ok=True)
        rows = self.long_rows()
        with open(out / "table.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["composition"])
            writer.writeheader()
            writer.writerows(rows)
        fits = self.fits()
        header, headline = self.headline()
        payload = {"study": self.study.spec.name, "made": time.strftime("%Y-%m-%d %H:%M:%S"),
                   "runs_completed": len(self.study.runs) - len(self.missing), "runs_missing": self.missing,
                   "flags": self.flags, "headline": {"columns": header, "rows": headline}, "quantities": rows,
                   "arrhenius": {c: {k: {"activation_eV": f.activation_eV, "activation_sigma_eV": f.activation_sigma_eV,
                                         "activation_kJ_mol": f.activation_kJ_mol, "prefactor": f.prefactor,
                                         "temperatures": f.points, "note": f.note} for k, f in fs.items()}
                                 for c, fs in fits.items()}}
        write_json_atomic(out / "table.json", payload)
        images = {}
        for name, fig in self.figures().items():
            for ax in fig.axes:
                tidy_axes(ax)
            for fmt in FIGURE_FORMATS:
                fig.savefig(out / f"{name}.{fmt}", dpi=150)
            buffer = io.BytesIO()
            fig.savefig(buffer, format="png", dpi=110)
            images[name] = base64.b64encode(buffer.getvalue()).decode()
            plt.close(fig)
        (out / "report.html").write_text(self._html(header, headline, fits, images))
        return payload

    def _html(self, header: list[str], rows: list[list[str]], fits: dict[str, dict[str, Arrhenius]],
              images: dict[str, str]) -> str:
        esc = html.escape
        spec = self.study.spec
        table = "<table><tr>" + "".join(f"<th>{esc(h)}</th>" for h in header) + "</tr>" + "".join(
            "<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in rows) + "</table>"
        fit_rows = "".join(
            f"<tr><td>{esc(c)}</td><td>{esc(k)}</td><td>{_cell(f.activation_eV, f.activation_sigma_eV)}</td>"
            f"<td>{_cell(f.activation_kJ_mol, f.activation_sigma_kJ_mol)}</td><td>{f.points}</td>"
            f"<td>{esc(f.note)}</td></tr>" for c, fs in fits.items() for k, f in fs.items())
        missing = "".join(f"<li>{esc(m['run'])}: {esc(m['state'])} {esc(m['message'])}</li>" for m in self.missing)
        flags = "".join(f"<li>{esc(f)}</li>" for f in self.flags)
        figures = "".join(f'<figure><img alt="{esc(n)}" src="data:image/png;base64,{b}"><figcaption>{esc(n)}'
                          f"</figcaption></figure>" for n, b in images.items())
        settings = "".join(f"<tr><th>{esc(section)}</th><td>{esc(_settings_text(getattr(spec, section)))}</td></tr>"
                           for section in ("system", "potential", "engine", "executor"))
        systems = {}
        for outline in self.study.outline.runs:  # one line per composition: the first run's starting system
            systems.setdefault(str(outline.composition), outline.system.describe())
        system_rows = "".join(f"<tr><td>{esc(c)}</td><td>{esc(d)}</td></tr>" for c, d in systems.items())
        stage_rows = "".join(f"<tr><td>{k}</td><td>{esc(s.stage)}</td><td>{esc(_stage_text(s))}</td></tr>"
                             for k, s in enumerate(spec.protocol.stages))
        return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{esc(spec.name)}: study report</title>
<style>body{{font-family:sans-serif;max-width:1200px;margin:2em auto;color:#222}}
table{{border-collapse:collapse;font-size:12px;margin:1em 0}}td,th{{border:1px solid #bbb;padding:3px 6px;
text-align:right}}th{{background:#eee}}figure{{display:inline-block;margin:0.5em}}img{{max-width:560px}}
code{{background:#f4f4f4}}</style></head><body>
<h1>{esc(spec.name)}</h1>
<p>{len(self.study.runs) - len(self.missing)} of {len(self.study.runs)} runs completed. Values are replica means ±
standard error (of one run where one replica: block bootstrap over time origins, or the MSD's covariance; with
several, the larger of their scatter and their errors propagated); "&lt; x" and "&gt; x" are bounds (τα outside the
sampled lags, an α2 peak at the last lag); "–" where no number can be given (the reasons are in the run's
summary); "(k of n)" where only k of n replicas gave the quantity. "T reached" is the mean kinetic temperature of
the productions ± its block-averaged error: every fit and figure uses it, not the target.
Seed {spec.seed}. Made by meltdyn report on {time.strftime("%Y-%m-%d %H:%M")}.</p>
<h2>System and protocol</h2>
<table><tr><th>composition</th><th>starting system (each run's own is in its provenance.json)</th></tr>
{system_rows}</table>
<table><tr><th>stage</th><th>kind</th><th>settings (timestep {spec.protocol.timestep_fs:g} fs)</th></tr>
{stage_rows}</table>
<table>{settings}</table>
<h2>State points</h2>{table}
<h2>Arrhenius fits</h2><p>ln y = ln y0 − E<sub>a</sub>/(k<sub>B</sub>T) over each composition's state points at
the temperatures they reached, weighted by the standard errors (uncertainty scaled by the reduced χ² when larger
than 1). Bounds and means over only some replicas are left out of a fit (its note says which); a fit through fewer
than three points has no uncertainty.</p>
<table><tr><th>composition</th><th>quantity</th><th>E<sub>a</sub> (eV)</th><th>E<sub>a</sub> (kJ/mol)</th>
<th>points</th><th>note</th></tr>{fit_rows}</table>
<h2>Figures</h2>{figures}
<h2>Runs missing</h2><ul>{missing or "<li>none</li>"}</ul>
<h2>Read with care</h2><ul>{flags or "<li>nothing flagged</li>"}</ul>
</body></html>
"""


def _settings_text(section: Any) -> str:
    """A plugin section as ``plugin: key = value, ...``, defaults included (what ran, not only what was written)."""
    data = section.model_dump(mode="json")
    name = data.pop("plugin", "")
    return f"{name}: " + ", ".join(f"{k} = {v}" for k, v in data.items()) if data else str(name)


def _stage_text(stage: Any) -> str:
    """A protocol stage's settings, as the study file would give them, without its kind."""
    data = stage.model_dump(mode="json")
    data.pop("stage", None)
    return ", ".join(f"{k} = {v}" for k, v in data.items())


def _reached(run: Any) -> str:
    """A curve's label: the temperature the run reached (its target beside it), or the target where unknown."""
    reached = reached_text(run.summary())
    return f"{run.temperature_K:g} K (target)" if reached is None else f"{reached} (target {run.temperature_K:g})"

