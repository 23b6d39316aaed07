"""Imports that get labels right: a virial becomes a stress, a declared unit and sign are honoured, MACE/nequip-style
keys map, and a stress that cannot be physical in its declared unit is refused with the numbers."""

from __future__ import annotations

import numpy as np
import pytest

from meltdyn.base.errors import InputError
from meltdyn.base.units import EV_A3_TO_GPA
from meltdyn.plugins.labellers.ase_file import ASEFile, ASEFileParams

STRESS_GPA = np.array([[2.0, 0.3, -0.1], [0.3, -1.5, 0.2], [-0.1, 0.2, 0.8]])  # a melt's, in GPa
STRESS = STRESS_GPA / EV_A3_TO_GPA  # eV/Å³, meltdyn's sign (positive under tension)
CELL = np.diag([7.0, 7.5, 8.0])


def _frames(path, store) -> list:
    """Two frames whose labels ``store(atoms, energy, forces, stress)`` writes as a file would hold them."""
    import ase
    import ase.io

    rng = np.random.default_rng(4)
    images, truth = [], []
    for k in range(2):
        atoms = ase.Atoms("Na2Si2O5", positions=rng.random((9, 3)) * 7.0, cell=CELL, pbc=True)
        energy, forces = -60.0 - k, rng.normal(size=(9, 3))
        store(atoms, energy, forces, STRESS * (1 + k))
        images.append(atoms)
        truth.append((energy, forces, STRESS * (1 + k)))
    ase.io.write(path, images, format="extxyz")
    return truth


def _read(path, **params):
    return ASEFile(ASEFileParams(paths=[str(path)], **params))._read()


def _single_point(atoms, energy, forces, stress, scale=1.0):
    from ase.calculators.singlepoint import SinglePointCalculator

    atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=forces, stress=stress * scale)


def _assert_labels(frames, truth):
    for frame, (energy, forces, stress) in zip(frames, truth):
        assert frame.energy_eV == pytest.approx(energy)
        np.testing.assert_allclose(frame.forces_eV_A, forces, rtol=1e-7, atol=1e-7)  # extxyz keeps 8 digits
        np.testing.assert_allclose(frame.stress_eV_A3, stress, rtol=1e-7, atol=1e-10)


def test_a_virial_becomes_minus_virial_over_the_volume(tmp_path):
    def store(atoms, energy, forces, stress):
        _single_point(atoms, energy, forces, stress)
        atoms.calc.results.pop("stress")
        atoms.info["virial"] = (-stress * atoms.get_volume()).ravel()  # W = -V σ, in eV

    truth = _frames(tmp_path / "v.extxyz", store)
    _assert_labels(_read(tmp_path / "v.extxyz"), truth)


def test_mace_style_keys_are_mapped(tmp_path):
    def store(atoms, energy, forces, stress):
        atoms.info["REF_energy"] = energy
        atoms.arrays["REF_forces"] = forces
        atoms.info["REF_stress"] = stress.ravel()

    truth = _frames(tmp_path / "ref.extxyz", store)
    with pytest.raises(InputError, match="lack labels"):  # without the mapping nothing is read as a label
        _read(tmp_path / "ref.extxyz")
    _assert_labels(_read(tmp_path / "ref.extxyz", energy_key="REF_energy", forces_key="REF_forces",
                         stress_key="REF_stress"), truth)


@pytest.mark.parametrize("unit, sign, factor", [("GPa", "ase", EV_A3_TO_GPA), ("kbar", "ase", 10 * EV_A3_TO_GPA),
                                                ("kbar", "vasp", -10 * EV_A3_TO_GPA)])
def test_a_declared_stress_unit_and_sign_are_converted(unit, sign, factor, tmp_path):
    truth = _frames(tmp_path / "u.extxyz", lambda *a: _single_point(*a, scale=factor))
    _assert_labels(_read(tmp_path / "u.extxyz", stress_unit=unit, stress_sign=sign), truth)


@pytest.mark.parametrize("written, factor", [("GPa", EV_A3_TO_GPA), ("kbar", 10 * EV_A3_TO_GPA)])
def test_a_stress_in_another_unit_than_declared_is_refused_with_the_numbers(written, factor, tmp_path):
    """GPa (or kbar) values declared as eV/Å³ would train on stresses 160 (1602) times too large."""
    _frames(tmp_path / "bad.extxyz", lambda *a: _single_point(*a, scale=factor))
    with pytest.raises(InputError) as refused:
        _read(tmp_path / "bad.extxyz")
    message = str(refused.value)
    assert "frame 0" in message and "declared stress_unit 'eV/A^3'" in message
    assert "beyond any condensed-phase" in message
    assert f"{STRESS_GPA.max():.4g} GPa if {written}" in message and "set reference_data.stress_unit" in message
