"""``meltdyn report``: a study's completed runs as tables, fits, figures and one self-contained HTML page.

What the paper compares across runs: per composition and species D(T) with an Arrhenius fit and the MSD slope
check, τ_α(T) at each q, sodium's decoupling from the matrix (D_Na/D_O, D_Na/D_Si, D_Na·τ_α(Si)), the α2 peak
(height and time) against T, the sodium hop statistics, and the bimodal self van Hove function of Na per composition.
It reads the observables by their plugin (msd, isf, alpha2, van_hove), whatever their labels; every other summary
scalar is still tabulated.
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

from meltdyn.plugins.commands.report.aggregate import Arrhenius, StatePoint, arrhenius, collect  # noqa: E402
from meltdyn.results import write_json_atomic  # noqa: E402

FIGURE_FORMATS = ("png", "pdf")
SPECIES_ORDER = ("Na", "O", "Si")


def _labels(study: Any, plugin: str) -> list[str]:
    return [label for label, o in zip(study.spec.observable_labels, study.spec.observables) if o.plugin == plugin]


def _species(points: list[StatePoint], prefix: str) -> list[str]:
    found = {k.removeprefix(prefix).split("[")[0] for p in points for k in p.values if k.startswith(prefix)}
    return sorted(found, key=lambda s: (SPECIES_ORDER.index(s) if s in SPECIES_ORDER else 99, s))


def _cell(mean: float, sem: float, digits: int = 3) -> str:
    if not math.isfinite(mean):
        return "–"
    text = f"{mean:.{digits}g}"
    return text + (f" ± {sem:.2g}" if math.isfinite(sem) else "")


def point_cell(point: StatePoint, key: str) -> str:
    """Mean ± standard error of a quantity over a state point's replicas, saying how many replicas gave it when some
    did not (a τ_α beyond the run, an unimodal hop distribution): such a mean is over the others only."""
    cell = _cell(point.mean(key), point.sem(key))
    runs, finite = len(point.values.get(key, [])), point.count(key)
    return cell + (f" ({finite} of {runs})" if 0 < finite < runs else "")


def _ratio(point: StatePoint, a: str, b: str, product: bool = False) -> tuple[float, float]:
    ma, mb, sa, sb = point.mean(a), point.mean(b), point.sem(a), point.sem(b)
    value = ma * mb if product else ma / mb
    relative = math.hypot(sa / ma if math.isfinite(sa) else 0.0, sb / mb if math.isfinite(sb) else 0.0)
    return value, abs(value) * relative if (math.isfinite(sa) or math.isfinite(sb)) else float("nan")


class Report:
    def __init__(self, study: Any):
        self.study = study
        self.points, self.units, self.missing, self.flags = collect(study)
        self.compositions = list(dict.fromkeys(p.composition for p in self.points))
        msd, isf, alpha2, van_hove = (_labels(study, name) for name in ("msd", "isf", "alpha2", "van_hove"))
        self.msd = msd[0] if msd else None
        self.isf = isf[0] if isf else None
        self.alpha2 = alpha2[0] if alpha2 else None
        self.van_hove = van_hove[0] if van_hove else None

    # -- derived quantities ---------------------------------------------------------------------------------------

    def derived(self) -> dict[tuple[Any, float], dict[str, tuple[float, float]]]:
        """Decoupling ratios per state point: (value, standard error)."""
        out: dict[tuple[Any, float], dict[str, tuple[float, float]]] = {}
        for p in self.points:
            row: dict[str, tuple[float, float]] = {}
            if self.msd:
                for other in ("O", "Si"):
                    row[f"D_Na/D_{other}"] = _ratio(p, f"{self.msd}.D_Na", f"{self.msd}.D_{other}")
            if self.msd and self.isf:
                tau_si = sorted(k for k in p.values if k.startswith(f"{self.isf}.tau_alpha_Si"))
                if tau_si:
                    row["D_Na·τα(Si) (Å²)"] = _ratio(p, f"{self.msd}.D_Na", tau_si[0], product=True)
            out[(p.composition, p.temperature_K)] = row
        return out

    def fits(self) -> dict[str, dict[str, Arrhenius]]:
        """Arrhenius fits of D per composition and species (and of 1/τ_α at the first q)."""
        out: dict[str, dict[str, Arrhenius]] = {}
        for composition in self.compositions:
            pts = [p for p in self.points if p.composition == composition]
            temps = [p.temperature_K for p in pts]
            fits: dict[str, Arrhenius] = {}
            if self.msd:
                for s in _species(pts, f"{self.msd}.D_"):
                    key = f"{self.msd}.D_{s}"
                    fit = arrhenius(temps, [p.mean(key) for p in pts], [p.sem(key) for p in pts])
                    if fit:
                        fits[f"D_{s}"] = fit
            if self.isf:
                for s in _species(pts, f"{self.isf}.tau_alpha_"):
                    key = sorted(k for p in pts for k in p.values if k.startswith(f"{self.isf}.tau_alpha_{s}["))[0]
                    inverse = [1 / p.mean(key) if p.mean(key) > 0 else float("nan") for p in pts]
                    sems = [p.sem(key) / p.mean(key) ** 2 if p.mean(key) > 0 else float("nan") for p in pts]
                    fit = arrhenius(temps, inverse, sems)
                    if fit:
                        fits[f"1/tau_alpha_{s}"] = fit
            out[str(composition)] = fits
        return out

    # -- tables ---------------------------------------------------------------------------------------------------

    def long_rows(self) -> list[dict[str, Any]]:
        rows = []
        derived = self.derived()
        for p in self.points:
            for key in sorted(p.values):
                rows.append({"composition": p.composition, "temperature_K": p.temperature_K, "quantity": key,
                             "unit": self.units.get(key, ""), "mean": p.mean(key), "sem": p.sem(key),
                             "replicas": p.count(key)})
            for key, (value, sem) in derived[(p.composition, p.temperature_K)].items():
                rows.append({"composition": p.composition, "temperature_K": p.temperature_K, "quantity": key,
                             "unit": "Å²" if "τα" in key else "1", "mean": value, "sem": sem,
                             "replicas": p.count(f"{self.msd}.D_Na")})
        return rows

    def headline(self) -> tuple[list[str], list[list[str]]]:
        """One row per state point: D, MSD slope, τ_α, α2 peak per species; sodium hops; decoupling."""
        header = ["composition", "T (K)", "replicas"]
        getters = []
        species = _species(self.points, f"{self.msd}.D_") if self.msd else []
        for s in species:
            header += [f"D_{s} (Å²/ps)", f"MSD slope {s}"]
            getters += [f"{self.msd}.D_{s}", f"{self.msd}.diffusive_exponent_{s}"]
        if self.isf:
            for s in _species(self.points, f"{self.isf}.tau_alpha_"):
                keys = sorted({k for p in self.points for k in p.values if k.startswith(f"{self.isf}.tau_alpha_{s}[")})
                header += [f"τα {s} {k.split('[')[1].rstrip(']')} (ps)" for k in keys]
                getters += keys
        if self.alpha2:
            for s in _species(self.points, f"{self.alpha2}.peak_height_"):
                header += [f"α2 peak {s}", f"α2 peak time {s} (ps)"]
                getters += [f"{self.alpha2}.peak_height_{s}", f"{self.alpha2}.peak_time_{s}"]
        if self.van_hove:
            header += ["Na hop fraction", "Na hop distance (Å)", "Na residence (ps)"]
            getters += [f"{self.van_hove}.hopping_fraction_Na", f"{self.van_hove}.hop_peak_r_Na",
                        f"{self.van_hove}.mean_residence_times_Na"]
        derived = self.derived()
        ratio_keys = sorted({k for row in derived.values() for k in row})
        header += ratio_keys
        rows = []
        for p in self.points:
            n = max((p.count(k) for k in getters), default=0)
            row = [str(p.composition), f"{p.temperature_K:g}", str(n)]
            row += [point_cell(p, k) for k in getters]
            row += [_cell(*derived[(p.composition, p.temperature_K)].get(k, (float("nan"), float("nan"))))
                    for k in ratio_keys]
            rows.append(row)
        return header, rows

    # -- figures --------------------------------------------------------------------------------------------------

    def figures(self) -> dict[str, Any]:
        figs = {}
        markers = dict(zip(self.compositions, "osD^v<>p*h"))
        fits = self.fits()
        if self.msd:
            fig, ax = plt.subplots(figsize=(5.2, 3.9), layout="constrained")
            for c in self.compositions:
                pts = [p for p in self.points if p.composition == c]
                x = np.array([1000 / p.temperature_K for p in pts])
                for k, s in enumerate(_species(pts, f"{self.msd}.D_")):
                    key = f"{self.msd}.D_{s}"
                    y, e = np.array([p.mean(key) for p in pts]), np.array([p.sem(key) for p in pts])
                    ax.errorbar(x, y, yerr=np.nan_to_num(e), fmt=markers[c], color=f"C{k}", label=f"{s}, {c}")
                    fit = fits[str(c)].get(f"D_{s}")
                    if fit:
                        xs = np.linspace(x.min(), x.max(), 20)
                        ax.plot(xs, fit.at(1000 / xs), color=f"C{k}", lw=0.8)
            ax.set(yscale="log", xlabel="1000 / T (1/K)", ylabel="D (Å$^2$/ps)", title="Diffusion: Arrhenius")
            ax.legend(fontsize=6, ncol=2)
            figs["arrhenius_D"] = fig
        if self.isf:
            fig, ax = plt.subplots(figsize=(5.2, 3.9), layout="constrained")
            for c in self.compositions:
                pts = [p for p in self.points if p.composition == c]
                for k, s in enumerate(_species(pts, f"{self.isf}.tau_alpha_")):
                    key = sorted(q for p in pts for q in p.values if q.startswith(f"{self.isf}.tau_alpha_{s}["))[0]
                    ax.errorbar([1000 / p.temperature_K for p in pts], [p.mean(key) for p in pts],
                                yerr=np.nan_to_num([p.sem(key) for p in pts]), fmt=markers[c], color=f"C{k}",
                                label=f"{s}, {c} ({key.split('[')[1].rstrip(']')})")
            ax.set(yscale="log", xlabel="1000 / T (1/K)", ylabel=r"$\tau_\alpha$ (ps)", title=r"$\tau_\alpha(T)$")
            ax.legend(fontsize=6, ncol=2)
            figs["tau_alpha"] = fig
        derived = self.derived()
        if any(derived.values()):
            fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), layout="constrained")
            for c in self.compositions:
                pts = [p for p in self.points if p.composition == c]
                t = [p.temperature_K for p in pts]
                for ax, key in zip(axes, ("D_Na/D_O", "D_Na·τα(Si) (Å²)")):
                    values = [derived[(p.composition, p.temperature_K)].get(key, (np.nan, np.nan)) for p in pts]
                    ax.errorbar(t, [v for v, _ in values], yerr=np.nan_to_num([e for _, e in values]),
                                fmt=markers[c] + "-", label=str(c))
                    ax.set(xlabel="T (K)", ylabel=key, yscale="log")
            axes[0].legend(fontsize=7)
            fig.suptitle("Sodium decoupling from the matrix", fontsize=10)
            figs["decoupling"] = fig
        if self.alpha2:
            fig, ax = plt.subplots(figsize=(5.2, 3.9), layout="constrained")
            for c in self.compositions:
                pts = [p for p in self.points if p.composition == c]
                for k, s in enumerate(_species(pts, f"{self.alpha2}.peak_height_")):
                    key = f"{self.alpha2}.peak_height_{s}"
                    ax.errorbar([p.temperature_K for p in pts], [p.mean(key) for p in pts],
                                yerr=np.nan_to_num([p.sem(key) for p in pts]), fmt=markers[c] + "-", color=f"C{k}",
                                label=f"{s}, {c}")
            ax.set(xlabel="T (K)", ylabel=r"$\alpha_2$ peak height", title="Non-Gaussian parameter")
            ax.legend(fontsize=6, ncol=2)
            figs["alpha2_peak"] = fig
        if self.van_hove:
            fig = self._van_hove_figure()
            if fig is not None:
                figs["van_hove_Na"] = fig
        return figs

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
                if "Gs_Na" not in res:
                    continue
                lag = res["lag"].values
                k = int(np.argmin(np.abs(lag - float(res["hop_lag"].values)))) if "hop_lag" in res else -1
                r = res["r"].values
                ax.semilogx(r[1:], 4 * np.pi * r[1:] ** 2 * res["Gs_Na"].values[k, 1:],
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
                                         "temperatures": f.points} for k, f in fs.items()}
                                 for c, fs in fits.items()}}
        write_json_atomic(out / "table.json", payload)
        images = {}
        for name, fig in self.figures().items():
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
            f"<td>{_cell(f.activation_kJ_mol, f.activation_sigma_kJ_mol)}</td><td>{f.points}</td></tr>"
            for c, fs in fits.items() for k, f in fs.items())
        missing = "".join(f"<li>{esc(m['run'])}: {esc(m['state'])} {esc(m['message'])}</li>" for m in self.missing)
        flags = "".join(f"<li>{esc(f)}</li>" for f in self.flags)
        figures = "".join(f'<figure><img alt="{esc(n)}" src="data:image/png;base64,{b}"><figcaption>{esc(n)}'
                          f"</figcaption></figure>" for n, b in images.items())
        engine = json.dumps(spec.engine.model_dump(mode="json"))
        potential = json.dumps(spec.potential.model_dump(mode="json"))
        return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{esc(spec.name)}: study report</title>
<style>body{{font-family:sans-serif;max-width:1200px;margin:2em auto;color:#222}}
table{{border-collapse:collapse;font-size:12px;margin:1em 0}}td,th{{border:1px solid #bbb;padding:3px 6px;
text-align:right}}th{{background:#eee}}figure{{display:inline-block;margin:0.5em}}img{{max-width:560px}}
code{{background:#f4f4f4}}</style></head><body>
<h1>{esc(spec.name)}</h1>
<p>{len(self.study.runs) - len(self.missing)} of {len(self.study.runs)} runs completed. Values are replica means ±
standard error (no error where one replica); "(k of n)" where only k of n replicas gave the quantity.
Potential <code>{esc(potential)}</code>, engine <code>{esc(engine)}</code>,
seed {spec.seed}. Made by meltdyn report on {time.strftime("%Y-%m-%d %H:%M")}.</p>
<h2>State points</h2>{table}
<h2>Arrhenius fits</h2><p>ln y = ln y0 − E<sub>a</sub>/(k<sub>B</sub>T) over each composition's temperatures,
weighted by the standard errors (uncertainty scaled by the reduced χ² when larger than 1).</p>
<table><tr><th>composition</th><th>quantity</th><th>E<sub>a</sub> (eV)</th><th>E<sub>a</sub> (kJ/mol)</th>
<th>temperatures</th></tr>{fit_rows}</table>
<h2>Figures</h2>{figures}
<h2>Runs missing</h2><ul>{missing or "<li>none</li>"}</ul>
<h2>Read with care</h2><ul>{flags or "<li>nothing flagged</li>"}</ul>
</body></html>
"""
