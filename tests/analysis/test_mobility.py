"""Mobile-particle clusters and strings against a brute-force union-find, and the measured answers the observable
exists to give: no clustering (ratio 1) where mobility is independent of position, strong clustering where a region
is mobile, one string where atoms replace each other along a line, and the species a mobile set is made of."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from meltdyn.plugin import AtomBlock, TrajectoryInfo, estimate_at
from meltdyn.plugins.observables.mobility import Mobility, MobilityParams, clusters, strings

CELL = np.array([[16.0, 0.0, 0.0], [3.0, 15.0, 0.0], [-2.0, 2.5, 17.0]])
DT = 0.01


def union_find_sizes(x: np.ndarray, cell: np.ndarray, cutoff: float) -> list[int]:
    """Cluster sizes by a plain union-find over every pair and 125 images."""
    parent = list(range(len(x)))

    def root(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    shifts = np.array(list(itertools.product(range(-2, 3), repeat=3))) @ cell
    frac = x @ np.linalg.inv(cell)
    x = (frac - np.floor(frac)) @ cell
    for i, j in itertools.combinations(range(len(x)), 2):
        if np.min(np.linalg.norm(x[j] - x[i] + shifts, axis=1)) < cutoff:
            parent[root(i)] = root(j)
    return sorted(np.bincount([root(a) for a in range(len(x))]).tolist())


def test_clusters_equal_a_brute_force_union_find_in_a_triclinic_cell():
    x = np.random.default_rng(1).random((150, 3)) @ CELL
    for cutoff in (1.5, 2.5, 3.5):
        ours = sorted(s for s in clusters(x, CELL, cutoff).tolist() if s)
        assert ours == [s for s in union_find_sizes(x, CELL, cutoff) if s], cutoff


def test_atoms_replacing_each_other_along_a_line_are_one_string():
    line = np.array([[2.0 + 2.5 * k, 8.0, 8.0] for k in range(5)])
    start = np.concatenate([line, [[8.0, 2.0, 2.0], [2.0, 2.0, 14.0]]])
    end = start.copy()
    end[1:5] = line[:4] + 0.1  # each of the line's atoms moves to where the one before it was
    end[5:] += 2.0  # two other movers, far from anyone's place
    sizes = sorted(strings(start, end, np.eye(3) * 18.0, 0.6).tolist())
    assert sizes == [1, 1, 5]


def run_direct(obs: Mobility, x: np.ndarray, symbols: list[str], cell: np.ndarray) -> dict:
    frames, n = x.shape[:2]
    steps = np.arange(frames)
    obs.prepare(TrajectoryInfo(n, symbols, steps, steps * DT, 1, DT, cell))
    obs.process(AtomBlock(np.arange(n), symbols, x))
    return obs.conclude()


def diffusing(rng: np.random.Generator, frames: int, d: np.ndarray, cell: np.ndarray) -> np.ndarray:
    """Atoms at random places in the cell, each diffusing with its own D (frames, atoms, 3)."""
    kicks = rng.normal(size=(frames, len(d), 3)) * np.sqrt(2 * d * DT)[None, :, None]
    kicks[0] = 0
    return rng.random((1, len(d), 3)) @ cell + np.cumsum(kicks, axis=0)


def test_mobility_independent_of_position_has_no_clustering():
    """Every atom diffusing alike from random places: the mobile set is a random set, so the ratio of their
    weight-averaged cluster sizes is 1; within 4 of its standard errors over 30 origins (and within 15 %)."""
    rng = np.random.default_rng(2)
    cell = np.eye(3) * 26.0
    x = diffusing(rng, 300, np.full(900, 0.5), cell)
    res = run_direct(Mobility(MobilityParams(lags_ps=[1.0], fraction=0.1, cutoff_A=3.5, max_origins=30)), x,
                     ["O"] * 900, cell)
    ratio = estimate_at(res, "clustering", lag=float(res["lag"].values[0]))
    assert abs(ratio.value - 1) < 4 * ratio.stderr and abs(ratio.value - 1) < 0.15, ratio


def test_a_mobile_region_is_one_big_cluster():
    """Atoms inside a sphere diffuse, the rest vibrate in place: the mobile set lies in the sphere, linked into a
    few large clusters, where a random set of as many atoms is scattered singly."""
    rng = np.random.default_rng(3)
    cell = np.eye(3) * 26.0
    n = 900
    x0 = rng.random((n, 3)) @ cell
    inside = np.linalg.norm(x0 - 13.0, axis=1) < 7.0
    x = vibrating(rng, x0, np.where(inside, 1.0, 0.0))
    res = run_direct(Mobility(MobilityParams(lags_ps=[1.0], fraction=0.8 * inside.mean(), cutoff_A=3.5,
                                             max_origins=10)), x, ["O"] * n, cell)
    lag = float(res["lag"].values[0])
    assert estimate_at(res, "clustering", lag=lag).value > 3
    assert estimate_at(res, "random_cluster_size", lag=lag).value < 2


def test_a_mobile_set_says_which_species_it_is_made_of():
    """Na diffuse, O vibrate: the most mobile 20 % are all Na, though Na are a third of the atoms."""
    rng = np.random.default_rng(4)
    cell = np.eye(3) * 26.0
    symbols = ["Na"] * 300 + ["O"] * 600
    x = vibrating(rng, rng.random((900, 3)) @ cell, np.where(np.arange(900) < 300, 1.0, 0.0))
    res = run_direct(Mobility(MobilityParams(lags_ps=[1.0], fraction=0.2, max_origins=5)), x, symbols, cell)
    lag = float(res["lag"].values[0])
    assert estimate_at(res, "mobile_fraction_of", lag=lag, species="Na").value == pytest.approx(1.0)
    assert estimate_at(res, "mobile_fraction_of", lag=lag, species="O").value == pytest.approx(0.0)
    assert res["overall_fraction_of"].values.tolist() == pytest.approx([1 / 3, 2 / 3])


def vibrating(rng: np.random.Generator, x0: np.ndarray, d: np.ndarray, frames: int = 200) -> np.ndarray:
    """Atoms that diffuse with D = d (0: vibrate about their place with 0.05 Å) over ``frames`` frames."""
    kicks = rng.normal(size=(frames, len(d), 3)) * np.sqrt(2 * d * DT)[None, :, None]
    kicks[0] = 0
    return x0[None] + np.cumsum(kicks, axis=0) + rng.normal(scale=0.05, size=(frames, len(d), 3))
