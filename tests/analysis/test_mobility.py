"""Mobile-particle clusters and strings against a brute-force union-find, and the measured answers the observable
exists to give: no clustering (ratio 1) where mobility is independent of position, strong clustering where a region
is mobile, one string where atoms replace each other along a line, and the species a mobile set is made of."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from meltdyn.plugin import AtomBlock, InputError, TrajectoryInfo, estimate_at, select
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


def hopping(rng: np.random.Generator, n: int, frames: int, rate_per_ps: float, cell: np.ndarray) -> np.ndarray:
    """Atoms vibrating (0.1 Å) about sites they leave by 1.5 Å hops in random directions at ``rate_per_ps``: α2
    rises as the first hops make a tail beside the vibrations and falls as hops add up to a Gaussian."""
    hops = rng.random((frames, n)) < rate_per_ps * DT
    hops[0] = False
    direction = rng.normal(size=(frames, n, 3))
    direction *= 1.5 / np.linalg.norm(direction, axis=-1, keepdims=True)
    sites = rng.random((1, n, 3)) @ cell + np.cumsum(hops[..., None] * direction, axis=0)
    return sites + rng.normal(scale=0.1, size=(frames, n, 3))


def test_without_lags_the_mobile_set_is_taken_at_the_alpha2_peak_of_the_alpha2_observable():
    """The default lag is where α2 of the most numerous species peaks: on the same lags and origins the alpha2
    observable (a second implementation) finds the same α2 curve and the same peak time."""
    from meltdyn.plugins.observables.alpha2 import Alpha2, Alpha2Params

    rng = np.random.default_rng(5)
    cell = np.eye(3) * 24.0
    symbols = ["Na"] * 200 + ["O"] * 400
    x = hopping(rng, 600, 400, 0.5, cell)
    params = MobilityParams(fraction=0.05, lags_per_decade=10, max_origins=200)
    res = run_direct(Mobility(params), x, symbols, cell)
    steps = np.arange(len(x))
    reference = Alpha2(Alpha2Params(lags_per_decade=10, max_origins=200))
    reference.prepare(TrajectoryInfo(600, symbols, steps, steps * DT, 1, DT, cell))
    reference.process(AtomBlock(np.arange(600), symbols, x))
    alpha2 = reference.conclude()
    np.testing.assert_allclose(res["candidate_lag"].values, alpha2["lag"].values)
    np.testing.assert_allclose(res["peak_species_alpha2"].values, select(alpha2, "alpha2", species="O"), rtol=1e-9)
    peak = estimate_at(alpha2, "peak_time", species="O")
    lags = res["candidate_lag"].values
    assert lags[0] < peak.value < lags[-1]  # a real peak, inside the run
    assert res["lag"].values.tolist() == pytest.approx([peak.value])
    assert Mobility(params).summary(res).flags == []


def test_alpha2_still_rising_at_the_longest_lag_is_flagged():
    """Half the atoms diffuse slowly, half vibrate: α2 rises towards 1 and has no peak within the run; the mobile
    set is taken at the longest lag and the summary says why."""
    rng = np.random.default_rng(6)
    cell = np.eye(3) * 26.0
    obs = Mobility(MobilityParams(fraction=0.1, max_origins=5))
    res = run_direct(obs, vibrating(rng, rng.random((600, 3)) @ cell, np.where(np.arange(600) % 2, 0.01, 0.0)),
                     ["O"] * 600, cell)
    assert res["lag"].values.tolist() == [res["candidate_lag"].values[-1]]
    assert any("still rising" in f for f in obs.summary(res).flags)


def test_cluster_size_distribution_is_the_weight_average_resolved():
    """Shares of mobile atoms by cluster size sum to 1 and their mean size is S_w; where mobility is independent
    of position the mobile and random distributions agree within their errors."""
    rng = np.random.default_rng(2)
    cell = np.eye(3) * 26.0
    res = run_direct(Mobility(MobilityParams(lags_ps=[1.0], fraction=0.1, cutoff_A=3.5, max_origins=30)),
                     diffusing(rng, 300, np.full(900, 0.5), cell), ["O"] * 900, cell)
    size = res["size"].values
    for name in ("cluster_size_distribution", "random_cluster_size_distribution"):
        share = res[name].values[0]
        assert share.sum() == pytest.approx(1.0)
        stat = "cluster_size" if name.startswith("cluster") else "random_cluster_size"
        assert (size * share).sum() == pytest.approx(estimate_at(res, stat, lag=float(res["lag"].values[0])).value)
    gap = res["cluster_size_distribution"].values[0, :3] - res["random_cluster_size_distribution"].values[0, :3]
    error = np.hypot(res["cluster_size_distribution_stderr"].values[0, :3],
                     res["random_cluster_size_distribution_stderr"].values[0, :3])
    assert np.all(np.abs(gap) < 4 * error + 1e-12), (gap, error)


@pytest.mark.parametrize("field", [{"peak_species": "O"}, {"lags_per_decade": 3}])
def test_lag_choice_fields_are_refused_beside_lags_ps(field):
    with pytest.raises(ValueError, match=f"{next(iter(field))}: only without lags_ps"):
        MobilityParams(lags_ps=[1.0], **field)


def test_lags_ps_in_an_analysis_file_is_accepted(tmp_path):
    """Through the file, where the plugin's model is given every field (defaults included), as a study gives it."""
    from meltdyn.analysis.standalone import load_analysis

    spec, registry = load_analysis({"trajectory": str(tmp_path / "t.h5"), "output_dir": str(tmp_path / "out"),
                                    "observables": [{"plugin": "mobility", "lags_ps": [0.3, 1.0]},
                                                    {"plugin": "mobility", "label": "peak"}]})
    params = registry.params_of("observable", spec.observables[0])
    assert params.lags_ps == [0.3, 1.0] and registry.params_of("observable", spec.observables[1]).lags_ps is None


def test_a_peak_species_not_in_the_trajectory_is_refused_by_name():
    rng = np.random.default_rng(7)
    cell = np.eye(3) * 20.0
    with pytest.raises(InputError, match="mobility.peak_species: 'Si' is not in the trajectory"):
        run_direct(Mobility(MobilityParams(peak_species="Si")), diffusing(rng, 20, np.full(50, 0.5), cell),
                   ["O"] * 50, cell)
