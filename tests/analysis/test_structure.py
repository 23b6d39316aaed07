"""The pair structure against independent oracles: every pair by brute force over all images, freud's RDF on the
same frames (orthorhombic and triclinic), a direct Debye-type sum over pairs for S(q), the ideal gas (g = 1,
S(q) = 1, coordination 4/3 πr³ρ) and a rock-salt crystal's coordination numbers."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from meltdyn.plugin import estimate_at, pairs_within, select
from meltdyn.plugins.observables.structure import scattering
from meltdyn.plugins.observables.structure import Structure, StructureParams
from synthetic import whole_frames

GAS = ["Na"] * 60 + ["Si"] * 40 + ["O"] * 140
GAS_CELL = np.diag([15.0, 16.0, 17.0])
TRICLINIC = np.array([[14.0, 0.0, 0.0], [4.5, 13.0, 0.0], [-3.0, 2.5, 12.5]])


def analysed(x: np.ndarray, symbols: list[str], cell: np.ndarray, **params) -> dict:
    return whole_frames(Structure(StructureParams(**params)), x, symbols, cell)


def brute_pairs(x: np.ndarray, cell: np.ndarray, cutoff: float) -> set[tuple[int, int, float]]:
    """Every pair i < j with an image within ``cutoff``, over all 125 images a distance of two cells around."""
    found = set()
    frac = x @ np.linalg.inv(cell)
    x = (frac - np.floor(frac)) @ cell  # into the cell, so that two cells around hold every image that counts
    shifts = np.array(list(itertools.product(range(-2, 3), repeat=3))) @ cell
    for i, j in itertools.combinations(range(len(x)), 2):
        d = np.linalg.norm(x[j] - x[i] + shifts, axis=1)
        for r in d[d < cutoff]:
            found.add((i, j, round(float(r), 6)))
    return found


@pytest.mark.parametrize("cell", [np.diag([11.0, 12.0, 13.0]), TRICLINIC], ids=["orthorhombic", "triclinic"])
def test_pairs_within_finds_every_pair_once_with_its_minimum_image(cell):
    rng = np.random.default_rng(1)
    x = rng.random((80, 3)) @ cell + rng.normal(scale=20, size=(80, 3))  # unwrapped: far outside the cell
    cutoff = 0.999 * np.min(np.abs(np.linalg.det(cell)) / np.linalg.norm(np.cross(cell[[1, 2, 0]], cell[[2, 0, 1]]),
                                                                        axis=1)) / 2
    pairs = pairs_within(x, cell, cutoff)
    ours = {(int(i), int(j), round(float(r), 6)) for i, j, r in zip(pairs.i, pairs.j, pairs.distances_A)}
    assert ours == brute_pairs(x, cell, cutoff) and len(ours) == len(pairs) > 100
    np.testing.assert_allclose(np.linalg.norm(pairs.vectors_A, axis=1), pairs.distances_A)
    with pytest.raises(ValueError, match="half the cell's smallest width"):
        pairs_within(x, cell, 1.01 * cutoff * 2)


def test_an_ideal_gas_has_g_one_and_the_coordination_of_its_density():
    """Uniform random positions: g − 1 within 5 of its block errors in every bin and n(r) = 4/3 πr³ρ_b within 5
    errors (t with 9 degrees of freedom beyond 5: 7e-4 a bin)."""
    rng = np.random.default_rng(2)
    x = rng.random((60, len(GAS), 3)) @ GAS_CELL
    res = analysed(x, GAS, GAS_CELL, r_max_A=7.0, bins=14, max_frames=60, q_max_per_A=10.0, q_bins=20)
    for a, b in (("Na", "O"), ("O", "O"), ("Si", "Na")):
        g, err = select(res, "g", center=a, neighbour=b), select(res, "g_stderr", center=a, neighbour=b)
        assert np.all(np.abs(g[2:] - 1) < 5 * err[2:]), (a, b)
        n = select(res, "coordination", center=a, neighbour=b)
        upper = res["r"].values + 0.25
        ideal = 4 / 3 * np.pi * upper**3 * GAS.count(b) / np.linalg.det(GAS_CELL) * (
            (GAS.count(b) - 1) / GAS.count(b) if a == b else 1)
        assert np.all(np.abs(n - ideal) < 5 * select(res, "coordination_stderr", center=a, neighbour=b) + 1e-9)
    # A new configuration every frame: no caution on its errors.
    assert float(res["rms_displacement"].values) > 3
    assert not any("one configuration" in str(v) for name, a in res.items() if name.endswith("_note")
                   for v in np.ravel(a.values))


@pytest.mark.slow
def test_an_ideal_gas_has_s_of_q_one_with_errors_that_match_its_scatter():
    """30 independent ideal gases: at every q the mean S is 1 within 4.5 of its standard errors (false alarm 1e-4
    over the 40 points, were they independent) and the scatter of S over the gases is what the block errors say,
    their ratio within 0.55–1.6 (the sample σ of 30 values is good to ±13 %: beyond 3.4 of those below, 4.6 above)."""
    values, errors = [], []
    for seed in range(30):
        x = np.random.default_rng(100 + seed).random((60, len(GAS), 3)) @ GAS_CELL
        res = analysed(x, GAS, GAS_CELL, r_max_A=7.0, bins=14, max_frames=60, q_max_per_A=10.0, q_bins=20)
        values.append(res["S"].values), errors.append(res["S_stderr"].values)
    values, errors = np.array(values), np.array(errors)  # (gases, radiation, q)
    spread = values.std(axis=0, ddof=1)
    assert np.all(np.abs(values.mean(axis=0) - 1) < 4.5 * spread / np.sqrt(30))
    assert np.all((0.55 < spread / errors.mean(axis=0)) & (spread / errors.mean(axis=0) < 1.6))


@pytest.mark.parametrize("cell", [np.diag([14.0, 14.0, 14.0]), TRICLINIC], ids=["orthorhombic", "triclinic"])
def test_g_of_r_equals_freud_on_the_same_frames(cell):
    freud = pytest.importorskip("freud")
    rng = np.random.default_rng(3)
    symbols = ["Na"] * 30 + ["O"] * 50
    x = rng.random((5, len(symbols), 3)) @ cell
    res = analysed(x, symbols, cell, r_max_A=5.5, bins=55, max_frames=5)
    box = freud.box.Box.from_matrix(cell.T)
    for a, b in (("Na", "O"), ("O", "O"), ("Na", "Na")):
        # Like pairs: g normalised by N(N − 1) pairs, freud's finite_size mode (its exact mode takes N², 1/N lower).
        rdf = freud.density.RDF(bins=55, r_max=5.5, normalization_mode="finite_size" if a == b else "exact")
        for frame in x:
            points_a = box.wrap(frame[np.array(symbols) == a])
            points_b = box.wrap(frame[np.array(symbols) == b])
            if a == b:
                rdf.compute(system=(box, points_a), reset=False)
            else:
                rdf.compute(system=(box, points_b), query_points=points_a, reset=False)
        # freud computes in single precision: agreement to its rounding (a pair on a bin edge would show more).
        np.testing.assert_allclose(select(res, "g", center=a, neighbour=b), rdf.rdf, rtol=2e-5, atol=1e-9,
                                   err_msg=f"{a}-{b}")
        # freud's n(r): neighbours of a query point within the bin's upper edge.
        np.testing.assert_allclose(select(res, "coordination", center=a, neighbour=b), rdf.n_r, rtol=2e-5,
                                   atol=1e-9, err_msg=f"{a}-{b}")


def test_s_of_q_equals_a_direct_sum_over_pairs():
    """With no window, the Faber–Ziman partial from the binned g is S_ab − 1 = (N/P_ab) Σ_pairs sin(qr)/(qr) −
    4πρ (sin qR − qR cos qR)/q³ over the pairs within R = r_max (P_ab pairs of the kind in the cell); fine bins make
    the two agree to the binning's (q·dr)² error."""
    rng = np.random.default_rng(4)
    symbols = ["Si"] * 20 + ["O"] * 40
    cell = np.diag([10.0, 10.0, 10.0])
    x = rng.random((1, len(symbols), 3)) @ cell
    radius, q = 5.0, np.linspace(0.5, 8.0, 16)
    res = analysed(x, symbols, cell, r_max_A=radius, bins=5000, max_frames=1, q_max_per_A=8.0, q_bins=16,
                   window="none")
    pairs = pairs_within(x[0], cell, radius)
    types = np.array(symbols)
    n, density = len(symbols), len(symbols) / np.linalg.det(cell)
    ideal = 4 * np.pi * density * (np.sin(q * radius) - q * radius * np.cos(q * radius)) / q**3
    partial = {}
    for a, b in (("Si", "O"), ("O", "O"), ("Si", "Si")):
        na, nb = symbols.count(a), symbols.count(b)
        kinds = ({(a, b), (b, a)} if a != b else {(a, a)})
        mine = np.array([(ti, tj) in kinds for ti, tj in zip(types[pairs.i], types[pairs.j])])
        count = na * nb if a != b else na * (na - 1) / 2
        direct = 1 + n / count * np.sinc(np.outer(q, pairs.distances_A[mine]) / np.pi).sum(axis=1) - ideal
        partial[a, b] = partial[b, a] = direct
        np.testing.assert_allclose(select(res, "S_partial", center=a, neighbour=b), direct, atol=2e-3)
    c = {s: symbols.count(s) / n for s in ("Si", "O")}
    w = {s: scattering.NEUTRON_B_FM[s] for s in c}
    total = 1 + sum(c[a] * c[b] * w[a] * w[b] * (partial[a, b] - 1) for a in c for b in c) / sum(
        c[a] * w[a] for a in c) ** 2
    np.testing.assert_allclose(select(res, "S", radiation="neutron"), total, atol=2e-3)


def test_a_rock_salt_crystal_has_six_unlike_and_twelve_like_neighbours():
    a0, cells = 4.0, 4
    grid = np.array(list(itertools.product(range(2 * cells), repeat=3))) * a0 / 2
    symbols = ["Na" if (i + j + k) % 2 == 0 else "O" for i, j, k in np.rint(grid / (a0 / 2)).astype(int)]
    cell = np.eye(3) * a0 * cells
    rng = np.random.default_rng(5)
    x = grid[None] + rng.normal(scale=0.08, size=(20, len(grid), 3))
    res = analysed(x, symbols, cell, r_max_A=7.9, bins=158, max_frames=20)
    assert estimate_at(res, "first_shell_coordination", center="Na", neighbour="O").value == pytest.approx(6, abs=0.01)
    assert estimate_at(res, "first_shell_coordination", center="O", neighbour="O").value == pytest.approx(12, abs=0.01)
    peak = estimate_at(res, "first_peak_r", center="Na", neighbour="O")
    assert abs(peak.value - a0 / 2) < 0.06 and peak.stderr > 0
    assert estimate_at(res, "first_peak_r", center="O", neighbour="O").value == pytest.approx(a0 / np.sqrt(2), abs=0.06)
    # S(q): the rock-salt (200) reflection, q = 4π/a0, is the strongest neutron peak above the resolved range (a
    # crystal's g never decays, so truncation at r_max ripples S before it).
    q, neutron = res["q"].values, select(res, "S", radiation="neutron")
    resolved = q >= float(res["q_resolved_min"].values)
    assert q[resolved][np.argmax(neutron[resolved])] == pytest.approx(4 * np.pi / a0, rel=0.05)
    # A vibrating crystal is one configuration: its errors say they are scatter in time, and the summary says so.
    assert float(res["rms_displacement"].values) == pytest.approx(0.08 * np.sqrt(6), rel=0.1)
    assert "one configuration: atoms moved" in peak.note
    assert any("one configuration" in f for f in Structure(StructureParams()).summary(res).flags)


def test_a_small_noisy_sample_finds_the_first_shell_not_the_first_wiggle():
    """64 atoms of rock salt jiggled by 0.2 Å, 20 frames: g of Na-O is noisy on its rising edge, and the bare
    first-maximum rule stopped at the first wiggle (coordination ≈ 0.5 where it is 6: in a 27-atom GFN1-xTB melt it
    gave Si-O 1.8). Taking only extrema that g leaves by more than twice their standard error finds the shell in
    every one of five noise realisations (measured over ten: 5.98-6.01, peak 2.16-2.37 Å for 2.23 Å, the maximum of
    g for a0/2 = 2.3 Å broadened by the jiggle)."""
    from meltdyn.plugins.observables.structure import first_shell

    a0 = 4.6
    grid = np.array(list(itertools.product(range(4), repeat=3))) * a0 / 2
    symbols = ["Na" if (i + j + k) % 2 == 0 else "O" for i, j, k in np.rint(grid / (a0 / 2)).astype(int)]
    bare = []
    for seed in range(5):
        x = grid[None] + np.random.default_rng(seed).normal(scale=0.2, size=(20, len(grid), 3))
        res = analysed(x, symbols, np.eye(3) * 2 * a0)
        assert estimate_at(res, "first_shell_coordination", center="Na", neighbour="O").value == pytest.approx(6, abs=0.1)
        assert abs(estimate_at(res, "first_peak_r", center="Na", neighbour="O").value - 2.23) < 0.2
        r, g = res["r"].values, select(res, "g", center="Na", neighbour="O")
        _, low = first_shell(r, g)  # the rule without the errors: every wiggle counts
        bare.append(select(res, "coordination", center="Na", neighbour="O")[low])
    assert max(bare) < 3  # what the same data gave before


def test_without_errors_the_first_shell_rule_is_the_bare_one_it_refines():
    """Without standard errors every wiggle counts, as before errors were used: the first strict fall after g
    crosses 1 ends the peak, the first strict rise after it ends the minimum (checked on 2,000 random curves, half
    with ties as small integer pair counts make)."""
    from meltdyn.plugins.observables.structure import first_shell, smooth

    def bare(g: np.ndarray) -> tuple[int, int] | None:
        s = smooth(g)
        above = np.flatnonzero(s > 1.0)
        falls = np.flatnonzero(np.diff(s[above[0]:]) < 0) if len(above) else []
        if not len(falls):
            return None
        peak = above[0] + falls[0]
        rises = np.flatnonzero(np.diff(s[peak:]) > 0)
        return (int(peak), int(peak + rises[0])) if len(rises) else None

    rng = np.random.default_rng(0)
    r = np.arange(100) * 0.05
    for trial in range(2000):
        g = rng.integers(0, 4, size=100) / 1.5 if trial % 2 else rng.random(100) * 2
        assert first_shell(r, g) == bare(g)
