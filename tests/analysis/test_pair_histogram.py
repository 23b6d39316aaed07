"""Pair-distance histograms without a pair list (the cell list behind g(r)) against every pair over every image,
in cells that are triclinic, thin (fewer slabs than the stencil on an axis) and at exactly half their width; and
the k-d tree path that stands in where numba is missing against the same counts."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from meltdyn.analysis import pair_histogram as ph
from meltdyn.hooks.data import min_width_A

CELLS = {
    "cube": np.eye(3) * 14.0,
    "triclinic": np.array([[16.0, 0.0, 0.0], [3.0, 15.0, 0.0], [-2.0, 2.5, 17.0]]),
    "thin slab": np.diag([8.0, 24.0, 13.0]),
    "strongly sheared": np.array([[12.0, 0.0, 0.0], [6.0, 11.0, 0.0], [5.5, 5.0, 10.0]]),
}


def brute_force(x: np.ndarray, cell: np.ndarray, types: np.ndarray, n_types: int, r_max: float,
                bins: int) -> np.ndarray:
    """Every unordered pair at its shortest image over 5³ images, binned by (type of the first, of the second)."""
    shifts = np.array(list(itertools.product(range(-2, 3), repeat=3))) @ cell
    out = np.zeros((n_types, n_types, bins), dtype=np.int64)
    for i, j in itertools.combinations(range(len(x)), 2):
        r = np.min(np.linalg.norm(x[j] - x[i] + shifts, axis=1))
        if r <= r_max:
            out[types[i], types[j], min(int(r * bins / r_max), bins - 1)] += 1
    return out


def unordered(h: np.ndarray) -> np.ndarray:
    """[a, b] + [b, a] above the diagonal, the diagonal as it is."""
    upper = np.triu(np.ones(h.shape[:2]), 1)[..., None]
    return np.triu(np.ones(h.shape[:2]))[..., None] * h + upper * np.transpose(h, (1, 0, 2))


@pytest.mark.parametrize("name", CELLS)
@pytest.mark.parametrize("fraction", [0.5, 0.39, 0.2])
def test_counts_equal_every_pair_at_its_shortest_image(name, fraction):
    """At half the cell's width (few slabs: each pair's image rounded out of its separation) and below 2/5 of it
    (five slabs or more on an axis: images by the lattice shift of each pair of cells), in every cell shape."""
    cell = CELLS[name]
    rng = np.random.default_rng(3)
    x = rng.random((160, 3)) @ cell * 1.6 - 4.0  # unwrapped: atoms outside the cell as trajectories have them
    types = rng.integers(0, 3, len(x))
    r_max = fraction * min_width_A(cell)
    ours = ph.pair_histogram(x, cell, types, 3, r_max, 40)
    np.testing.assert_array_equal(unordered(ours), unordered(brute_force(x, cell, types, 3, r_max, 40)))
    assert ours.sum() >= 50  # enough pairs to tell


def test_both_image_rules_are_exercised_above():
    slabs = {f: [ph.slab_counts(c, f * min_width_A(c)) for c in CELLS.values()] for f in (0.5, 0.2)}
    assert all(np.any(s < 2 * ph.SLABS_PER_CUTOFF + 1) for s in slabs[0.5])
    assert all(np.all(s >= 2 * ph.SLABS_PER_CUTOFF + 1) for s in slabs[0.2])


def test_the_kd_tree_path_gives_the_same_counts():
    cell = CELLS["triclinic"]
    x = np.random.default_rng(4).random((500, 3)) @ cell
    types = np.arange(500) % 3
    r_max = min_width_A(cell) / 2
    np.testing.assert_array_equal(unordered(ph.pair_histogram(x, cell, types, 3, r_max, 100)),
                                  unordered(ph._histogram_from_pairs(x, cell, types, 3, r_max, 100)))


def test_a_cutoff_beyond_half_the_cell_is_refused():
    with pytest.raises(ValueError, match="more than half the cell's smallest width"):
        ph.pair_histogram(np.zeros((2, 3)), np.eye(3) * 10.0, np.zeros(2, dtype=int), 1, 5.01, 10)


def test_numba_backs_it_here():
    """The test environment has numba (a dependency): the compiled path is the one measured and tested above."""
    assert ph.BACKEND == "numba"


def test_the_structure_observable_without_numba_gives_the_same_g_and_says_it_needs_more_memory(monkeypatch):
    """Where numba cannot be imported the structure observable bins the k-d tree's pairs instead: the same g(r)
    and coordination, and a larger declared work space (the pairs themselves)."""
    from synthetic import whole_frames

    import meltdyn.plugins.observables.structure as structure
    from meltdyn.plugins.observables.structure import Structure, StructureParams

    cell = CELLS["triclinic"]
    rng = np.random.default_rng(5)
    x = rng.random((6, 300, 3)) @ cell
    symbols = ["Na", "Si", "O"] * 100

    def run() -> tuple[dict, int]:
        obs = Structure(StructureParams(bins=60))
        return whole_frames(obs, x, symbols, cell), obs.memory()[0]

    compiled, compiled_bytes = run()
    monkeypatch.setattr(ph, "njit", None)
    monkeypatch.setattr(structure, "PAIR_BACKEND", "scipy")
    fallback, fallback_bytes = run()
    for name in ("g", "coordination"):
        np.testing.assert_allclose(fallback[name].values, compiled[name].values, rtol=1e-12, atol=0)
    assert fallback_bytes > compiled_bytes
