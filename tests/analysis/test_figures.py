"""Every figure meltdyn draws has readable log ticks and its legend beside the data."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from meltdyn.plugin import tidy_axes  # noqa: E402


def test_a_few_decades_are_ticked_in_plain_numbers_and_minor_ticks_are_unlabelled():
    fig, ax = plt.subplots(layout="constrained")
    t = np.logspace(-1, 1, 50)
    ax.loglog(t, t**2, label="msd")
    ax.legend()
    tidy_axes(ax)
    fig.canvas.draw()
    shown = [label.get_text() for label in ax.get_xticklabels() if label.get_text()]
    assert {"0.2", "0.5", "1", "2", "5"} <= set(shown) and not any("10^" in s or "times" in s for s in shown)
    assert not [label.get_text() for label in ax.xaxis.get_minorticklabels() if label.get_text()]
    plt.close(fig)


def test_the_legend_sits_beside_the_axes_not_on_the_data():
    fig, ax = plt.subplots(layout="constrained")
    for k in range(4):
        ax.plot(np.arange(10), np.arange(10) * k, label=f"curve {k}")
    ax.legend()
    tidy_axes(ax)
    fig.canvas.draw()
    legend = ax.get_legend().get_window_extent()
    assert legend.x0 >= ax.get_window_extent().x1 and len(ax.get_legend().get_texts()) == 4
    plt.close(fig)
