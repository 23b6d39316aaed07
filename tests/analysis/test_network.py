"""Qn, anion kinds, coordination and bond angles against a brute-force neighbour count over every periodic image,
and against two structures whose answers are known: isolated SiO4 tetrahedra (all Q0, every O non-bridging,
O–Si–O = 109.47°) and ideal β-cristobalite (all Q4, every O bridging, Si–O–Si = 180°)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from meltdyn.plugin import TrajectoryInfo, check_plugin, estimate_at, select
from meltdyn.plugins.observables.network import Network, NetworkParams
from synthetic import whole_frames

TETRAHEDRAL = np.degrees(np.arccos(-1 / 3))
CELL = np.array([[13.0, 0.0, 0.0], [3.5, 12.0, 0.0], [-2.0, 3.0, 12.5]])


def analysed(x: np.ndarray, symbols: list[str], cell: np.ndarray, **params) -> dict:
    return whole_frames(Network(NetworkParams(**params)), x, symbols, cell)


def brute_force(x: np.ndarray, symbols: list[str], cell: np.ndarray, cutoff: float):
    """Bonds by looping over every Si–O pair and 125 images; then Qn, the O kinds and the angles by loops."""
    frac = x @ np.linalg.inv(cell)
    x = (frac - np.floor(frac)) @ cell  # into the cell: two cells around then hold every image that counts
    si = [k for k, s in enumerate(symbols) if s == "Si"]
    o = [k for k, s in enumerate(symbols) if s == "O"]
    shifts = np.array(list(itertools.product(range(-2, 3), repeat=3))) @ cell
    bonds: dict[int, list[tuple[int, np.ndarray]]] = {k: [] for k in si}
    of_o: dict[int, list[tuple[int, np.ndarray]]] = {k: [] for k in o}
    for i in si:
        for j in o:
            d = x[j] - x[i] + shifts
            for v in d[np.linalg.norm(d, axis=1) < cutoff]:
                bonds[i].append((j, v))
                of_o[j].append((i, -v))
    qn = np.zeros(7)
    for i in si:
        qn[min(sum(len(of_o[j]) >= 2 for j, _ in bonds[i]), 6)] += 1
    kinds = np.bincount([min(len(of_o[j]), 3) for j in o], minlength=4)

    def angles(groups):
        out = []
        for found in groups.values():
            for (_, u), (_, v) in itertools.combinations(found, 2):
                out.append(np.degrees(np.arccos(np.clip(u @ v / np.linalg.norm(u) / np.linalg.norm(v), -1, 1))))
        return np.array(out)

    return qn / len(si), kinds / len(o), angles(bonds), angles(of_o)


def test_qn_kinds_and_angles_equal_a_brute_force_count_in_a_triclinic_cell():
    rng = np.random.default_rng(7)
    symbols = ["Si"] * 40 + ["O"] * 80 + ["Na"] * 20
    frac = rng.random((len(symbols), 3))
    x = frac @ CELL + rng.normal(scale=15, size=(len(symbols), 3))  # unwrapped, far outside the cell
    res = analysed(x[None], symbols, CELL, cutoff_A=2.6, angle_bins=18, max_frames=1)
    qn, kinds, osio, siosi = brute_force(x, symbols, CELL, 2.6)
    assert len(osio) > 20 and len(siosi) > 20  # a test with angles to count
    np.testing.assert_allclose(res["Qn_fraction"].values, qn, atol=1e-12)
    np.testing.assert_allclose(res["anion_fraction"].values, kinds, atol=1e-12)
    for triplet, found in (("O-Si-O", osio), ("Si-O-Si", siosi)):
        expected = np.histogram(found, 18, (0, 180))[0] / (len(found) * 10.0)
        np.testing.assert_allclose(select(res, "angle_distribution", triplet=triplet), expected, atol=1e-12)
        assert estimate_at(res, "mean_angle", triplet=triplet).value == pytest.approx(found.mean(), rel=1e-12)


def _tetrahedra(cells: int, a0: float, bridged: bool) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Si on a diamond lattice. Bridged: O midway along every Si–Si bond (ideal β-cristobalite). Otherwise each Si
    of one sublattice keeps four O of its own at 1.6 Å and the other sublattice is dropped: isolated tetrahedra."""
    fcc = np.array([[0, 0, 0], [0, .5, .5], [.5, 0, .5], [.5, .5, 0]])
    bonds = np.array([[.25, .25, .25], [.25, -.25, -.25], [-.25, .25, -.25], [-.25, -.25, .25]])
    cells_at = np.array(list(itertools.product(range(cells), repeat=3)))
    sites = (cells_at[:, None, :] + fcc[None]).reshape(-1, 3)
    if bridged:
        si = np.concatenate([sites, sites + bonds[0]])
        o = (sites[:, None, :] + bonds[None] / 2).reshape(-1, 3)
        x_si, x_o = si * a0, o * a0
    else:
        x_si = sites * a0
        x_o = (x_si[:, None, :] + bonds[None] / np.linalg.norm(bonds[0]) * 1.6).reshape(-1, 3)
    return np.concatenate([x_si, x_o]), ["Si"] * len(x_si) + ["O"] * len(x_o), np.eye(3) * a0 * cells


def test_isolated_tetrahedra_are_all_q0_with_non_bridging_oxygen_at_the_tetrahedral_angle():
    x, symbols, cell = _tetrahedra(2, 7.2, bridged=False)
    rng = np.random.default_rng(8)
    frames = x[None] + rng.normal(scale=0.03, size=(20, *x.shape))
    res = analysed(frames, symbols, cell, cutoff_A=2.2, max_frames=20)
    assert float(select(res, "Qn_fraction", n=0)) == 1.0
    assert float(select(res, "anion_fraction", anion_kind="non_bridging")) == 1.0
    assert estimate_at(res, "mean_coordination").value == 4.0
    osio = estimate_at(res, "mean_angle", triplet="O-Si-O")
    assert abs(osio.value - TETRAHEDRAL) < 0.5 and osio.stderr < 0.5
    assert estimate_at(res, "mean_angle", triplet="Si-O-Si").kind == "undefined"


def test_beta_cristobalite_is_all_q4_with_straight_si_o_si_bonds():
    x, symbols, cell = _tetrahedra(2, 7.16, bridged=True)
    res = analysed(x[None], symbols, cell, cutoff_A=2.0, max_frames=1)
    assert float(select(res, "Qn_fraction", n=4)) == 1.0 and estimate_at(res, "connectivity").value == 4.0
    assert float(select(res, "anion_fraction", anion_kind="bridging")) == 1.0
    assert estimate_at(res, "mean_angle", triplet="Si-O-Si").value == pytest.approx(180.0, abs=1e-6)
    assert estimate_at(res, "mean_angle", triplet="O-Si-O").value == pytest.approx(TETRAHEDRAL, abs=1e-6)


def test_a_former_missing_from_the_trajectory_is_named(tmp_path):
    obs = Network(NetworkParams(former="Al"))
    with pytest.raises(Exception, match="former: Al is not in this trajectory"):
        obs.prepare(TrajectoryInfo(2, ["Si", "O"], np.arange(2), np.arange(2) * 0.1, 1, 0.1, np.eye(3) * 10))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["structure", "network"])
def test_the_structure_observables_pass_the_conformance_kit(name, tmp_path):
    check_plugin("observable", name, tmp_path)
