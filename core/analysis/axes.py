"""Axes meltdyn's figures share, whoever draws them (an observable's ``plot``, the study report): readable log
ticks and legends off the data. Imports no backend, so a plugin or a notebook may import it freely."""

from __future__ import annotations

from typing import Any

import numpy as np


def tidy_axes(ax: Any) -> None:
    """Log axes ticked readably and the legend beside the data, never on it: over a few decades the ticks are 0.2,
    0.5, 1, 2 (not 2×10⁻¹, 5×10⁻¹) and minor ticks carry no labels. Applied to every figure meltdyn draws; an
    observable's ``plot`` draws, this tidies."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    for axis, scale, limits in ((ax.xaxis, ax.get_xscale(), ax.get_xlim()), (ax.yaxis, ax.get_yscale(), ax.get_ylim())):
        low, high = sorted(limits)
        if scale != "log" or low <= 0:
            continue
        axis.set_minor_formatter(NullFormatter())
        if np.log10(high / low) <= 3:
            axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
            axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    legend = ax.get_legend()
    if legend is not None:
        ax.legend(legend.legend_handles, [t.get_text() for t in legend.get_texts()], fontsize=7, frameon=False,
                  loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
