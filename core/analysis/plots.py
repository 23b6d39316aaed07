"""Figures of a run's results: each observable draws its own (``BaseObservable.plot``); this saves them."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from meltdyn.analysis.axes import tidy_axes  # noqa: E402
from meltdyn.hooks.contracts import BaseObservable  # noqa: E402
from meltdyn.analysis.results import Results  # noqa: E402

FORMATS = ("png", "pdf")


def plot_results(results: Results, observables: dict[str, BaseObservable], out_dir: Path, title: str) -> list[Path]:
    """One figure (PNG and PDF) per observable that draws one; ``observables`` maps result label to observable."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for label, arrays in results.items():
        observable = observables.get(label)
        if observable is None:
            continue
        fig, ax = plt.subplots(figsize=(5, 3.8), layout="constrained")
        if observable.plot(arrays, ax):
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=7)
            tidy_axes(ax)
            ax.set_title(f"{label}\n{title}", fontsize=8)
            for fmt in FORMATS:
                path = out_dir / f"{label}.{fmt}"
                fig.savefig(path, dpi=150)
                written.append(path)
        plt.close(fig)
    return written
