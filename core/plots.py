"""The paper's figures from a run's results: MSD, F_s, 4πr²G_s for a hopping species, α2."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from meltdyn.results import Results  # noqa: E402

FORMATS = ("png", "pdf")


def _species(arrays: dict, prefix: str) -> list[str]:
    return [k.removeprefix(prefix) for k in arrays if k.startswith(prefix)]


def _msd(ax, r):
    for s in _species(r, "msd_"):
        ax.loglog(r["lag"].values[1:], r[f"msd_{s}"].values[1:], label=s)
    ax.set(xlabel="t (ps)", ylabel="MSD (Å$^2$)")


def _isf(ax, r):
    for s in _species(r, "Fs_"):
        for iq, q in enumerate(r["q"].values):
            ax.semilogx(r["lag"].values[1:], r[f"Fs_{s}"].values[iq, 1:], label=f"{s}, q={q:g} Å$^{{-1}}$")
    ax.axhline(1 / np.e, color="grey", lw=0.5)
    ax.set(xlabel="t (ps)", ylabel="$F_s(q,t)$")


def _van_hove(ax, r):
    species = _species(r, "Gs_")
    s = "Na" if "Na" in species else species[0]
    radius = r["r"].values
    for k, t in enumerate(r["lag"].values):
        ax.semilogx(radius[1:], 4 * np.pi * radius[1:] ** 2 * r[f"Gs_{s}"].values[k, 1:], label=f"t={t:g} ps")
    ax.set(xlabel="r (Å)", ylabel=f"$4\\pi r^2 G_s(r,t)$ of {s} (Å$^{{-1}}$)")


def _alpha2(ax, r):
    for s in _species(r, "alpha2_"):
        ax.semilogx(r["lag"].values, r[f"alpha2_{s}"].values, label=s)
    ax.set(xlabel="t (ps)", ylabel="$\\alpha_2(t)$")


DRAWERS = {"msd": _msd, "isf": _isf, "van_hove": _van_hove, "alpha2": _alpha2}


def plot_results(results: Results, plugins: dict[str, str], out_dir: Path, title: str) -> list[Path]:
    """One figure per observable whose plugin has a drawer; ``plugins`` maps result label to plugin name."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for label, arrays in results.items():
        draw = DRAWERS.get(plugins.get(label, label))
        if draw is None:
            continue
        fig, ax = plt.subplots(figsize=(5, 3.8), layout="constrained")
        draw(ax, arrays)
        ax.legend(fontsize=7)
        ax.set_title(f"{title}: {label}", fontsize=9)
        for fmt in FORMATS:
            path = out_dir / f"{label}.{fmt}"
            fig.savefig(path, dpi=150)
            written.append(path)
        plt.close(fig)
    return written
