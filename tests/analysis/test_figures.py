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


def test_a_figure_names_the_temperature_reached_only_where_it_was_measured():
    from meltdyn.plugin import Estimate, reached_text

    def summary(estimate):
        return {"state_point": {"temperature_K": estimate.as_json()}}

    assert reached_text(summary(Estimate(3025.4, 96.8))) == "3025 ± 97 K"
    assert reached_text(summary(Estimate(3025.4, float("nan")))) == "3025 K"  # no error: none shown, none invented
    assert reached_text(summary(Estimate(float("nan"), float("nan"), kind="undefined", note="no frames"))) is None
    assert reached_text({}) is None  # a summary from before the state point was measured
