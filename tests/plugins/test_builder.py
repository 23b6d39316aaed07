"""The sodium_silicate system plugin: whole formula units, the density asked for, minimum distances, reproducibility."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import build_system
from meltdyn.base.units import AVOGADRO
from meltdyn.plugins.systems.sodium_silicate import (
    MIN_DISTANCE_A, SodiumSilicate, SodiumSilicateParams, glass_density_g_cm3, outline, recipe,
)


@pytest.mark.parametrize("name, k", [("NS2", 2), ("NS4", 4), ("NS6", 6)])
def test_ns_compositions_are_whole_formula_units(name, k):
    rec = recipe(name, 3000)
    c = rec.counts
    unit_atoms = 3 * (1 + k)  # Na2O · k SiO2
    assert rec.n_atoms % unit_atoms == 0
    assert abs(rec.n_atoms - 3000) <= unit_atoms / 2
    assert c["Si"] == k * c["Na"] // 2
    assert 2 * c["Si"] + c["Na"] // 2 == c["O"]  # charge balance of formal oxidation states
    assert rec.x_na2o == pytest.approx(1 / (1 + k))


def test_mole_fraction_compositions_are_rounded_and_reported():
    rec = recipe(0.25, 1000)
    assert rec.x_na2o == pytest.approx(0.25)
    assert rec.counts == {"Na": 2 * rec.n_na2o, "Si": rec.n_sio2, "O": rec.n_na2o + 2 * rec.n_sio2}


def _min_image_distances(system):
    d = system.positions_A[:, None] - system.positions_A[None]
    edge = system.cell_A[0, 0]
    d -= edge * np.round(d / edge)
    return np.linalg.norm(d, axis=-1)


def test_packing_respects_density_and_minimum_distances():
    spec = SodiumSilicateParams(atoms=300, density_g_cm3=2.3)
    system = build_system(spec, "NS2", 2500.0, seed=4)
    mass_g = system.masses_u.sum() / AVOGADRO
    assert mass_g / (system.volume_A3 * 1e-24) == pytest.approx(2.3, rel=1e-9)
    r = _min_image_distances(system)
    sym = np.array(system.symbols)
    for pair, dmin in MIN_DISTANCE_A.items():
        a, b = (sorted(pair) * 2)[:2]
        mask = (sym[:, None] == a) & (sym[None] == b) & ~np.eye(len(sym), dtype=bool)
        assert r[mask].min() >= dmin
    assert np.all((system.positions_A >= 0) & (system.positions_A < system.cell_A[0, 0]))


def test_same_seed_same_system_other_seed_other_system():
    spec = SodiumSilicateParams(atoms=120)
    a, b, c = (build_system(spec, "NS4", 3000.0, seed=s) for s in (1, 1, 2))
    assert a.symbols == b.symbols and np.array_equal(a.positions_A, b.positions_A)
    assert not np.allclose(a.positions_A, c.positions_A)


def test_density_model_limits():
    assert glass_density_g_cm3(0.0, 300.0) == pytest.approx(2.20)
    assert glass_density_g_cm3(1 / 3, 300.0) == pytest.approx(2.49)
    assert glass_density_g_cm3(1 / 3, 2000.0) < glass_density_g_cm3(1 / 3, 1000.0)


def test_impossible_packing_says_what_to_change():
    builder = SodiumSilicate(SodiumSilicateParams(atoms=200, density_g_cm3=6.0), max_tries_per_atom=50)
    with pytest.raises(ValueError, match="could not place atom .* lower density_g_cm3 or min_distance_scale"):
        builder.build("NS2", 3000.0, seed=0)


@pytest.mark.slow
@pytest.mark.parametrize("params", [{"atoms": 300, "density_g_cm3": 2.3}, {"atoms": 1000}, {"atoms": 90, "box_A": 12}])
def test_outline_predicts_the_built_system_without_packing(params):
    p = SodiumSilicateParams(**params)
    for composition, temperature in [("NS2", 2500.0), ("NS6", 3500.0), (0.2, 3000.0)]:
        predicted = outline(p, composition, temperature)
        system = build_system(p, composition, temperature, seed=3)
        assert predicted.n_atoms == system.n_atoms and set(predicted.species) == set(system.species)
        np.testing.assert_allclose(predicted.cell_A, system.cell_A)
