"""One configuration or many: the first and last frames an observable used, however its frames were split between
instances, and the caution it puts on block errors when atoms stayed put."""

from __future__ import annotations

import numpy as np

from meltdyn.analysis.estimates import estimate_arrays, Estimate
from meltdyn.analysis.relaxation import RELAXED_A, EndFrames, annotate, frozen_note


def test_end_frames_are_the_earliest_and_latest_seen_in_any_order_and_across_merges():
    rng = np.random.default_rng(1)
    frames = {k: rng.normal(size=(50, 3)) for k in range(6)}
    a, b = EndFrames(), EndFrames()
    for k in (3, 1, 4):
        a.see(k, frames[k])
    for k in (0, 2, 5):
        b.see(k, frames[k])
    a.merge(b)
    d = frames[5] - frames[0]
    assert a.rms_displacement_A() == np.sqrt((d**2).sum(axis=1).mean())
    one = EndFrames()
    one.see(2, frames[2])
    assert np.isnan(one.rms_displacement_A())  # one frame tells nothing


def test_the_caution_comes_below_a_neighbour_distance_and_joins_every_estimate_note():
    assert frozen_note(RELAXED_A * 1.01) == "" and frozen_note(float("nan")) == ""
    note = frozen_note(0.3)
    assert note.startswith("one configuration: atoms moved 0.3 Å rms")
    results = {**estimate_arrays("x", [Estimate(1.0, 0.0), Estimate(2.0, 0.1, note="rough")], "1", ("k",), ""),
               "k": None, "other_note": None}
    out = annotate({k: v for k, v in results.items() if v is not None}, note)
    assert out["x_note"].values.tolist() == [note, f"rough; {note}"]
    assert annotate(out, "") is out
