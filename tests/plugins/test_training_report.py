"""Energy referencing and the training's error report, against analytic cases.

Oracles: energies built from known per-element energies (the least squares must recover them where the
compositions determine them, and say which combination they leave free where they do not); predictions that
differ from the reference by known amounts (MAE and RMSE follow by hand).
"""

from __future__ import annotations

import logging

import numpy as np
import pytest

from meltdyn.plugins.potentials.painn.energy_reference import energy_reference
from meltdyn.plugins.potentials.painn.metrics import Predictions, cohesive_per_atom, report
from meltdyn.plugins.potentials.painn.model import Frame
from meltdyn.plugins.potentials.painn.training import _threads

Z = {"Na": 11, "Si": 14, "O": 8}
TRUE_eV = {11: -1.3, 14: -5.2, 8: -4.4}


def _numbers(na: int, si: int, o: int) -> np.ndarray:
    return np.array([11] * na + [14] * si + [8] * o)


def _ns(k: int, units: int = 1) -> np.ndarray:
    """Na2O·k SiO2, ``units`` formula units."""
    return _numbers(2 * units, k * units, (1 + 2 * k) * units)


def _energies(numbers: list[np.ndarray], noise: float = 0.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.array([sum(TRUE_eV[int(z)] for z in n) for n in numbers]) + noise * rng.standard_normal(len(numbers))


def test_offsets_fitted_on_the_na2o_sio2_join_are_reported_rank_deficient_with_the_free_combination(caplog):
    numbers = [_ns(2, 3), _ns(4, 2), _ns(6, 2), _ns(2, 5)]
    energies = _energies(numbers, noise=0.01)
    with caplog.at_level(logging.WARNING):
        reference = energy_reference(numbers, energies)
    assert (reference.rank, reference.elements, reference.method) == (2, 3, "least_squares")
    [free] = reference.undetermined
    # O = Na/2 + 2 Si on the join: (Na, Si, O) = (1, 4, -2) up to scale, written with its largest component 1
    assert free == pytest.approx({"Na": 0.25, "Si": 1.0, "O": -0.5})
    counts = np.array([[np.sum(n == Z[s]) for s in ("Na", "Si", "O")] for n in numbers])
    assert counts @ np.array([free["Na"], free["Si"], free["O"]]) == pytest.approx(np.zeros(4), abs=1e-9)
    offsets = np.array([reference.offsets_eV[Z[s]] for s in ("Na", "Si", "O")])
    # the documented choice: the minimum-norm solution, orthogonal to the free combination
    assert offsets @ np.array([free["Na"], free["Si"], free["O"]]) == pytest.approx(0.0, abs=1e-9)
    # ... which fits as well as the true energies do (both lie in the same family)
    true = np.array([TRUE_eV[Z[s]] for s in ("Na", "Si", "O")])
    assert np.sum((counts @ offsets - energies) ** 2) <= np.sum((counts @ true - energies) ** 2) + 1e-12
    assert "rank-deficient" in caplog.text and "atomic_energies_eV" in caplog.text
    assert "rank-deficient" in reference.record()["note"]


def test_offsets_off_the_join_are_full_rank_and_recover_the_true_energies(caplog):
    numbers = [_ns(2, 3), _ns(4, 2), _numbers(4, 0, 0)]  # a sodium cell leaves the join
    with caplog.at_level(logging.WARNING):
        reference = energy_reference(numbers, _energies(numbers))
    assert reference.rank == 3 and reference.undetermined == [] and "rank-deficient" not in caplog.text
    assert reference.offsets_eV == pytest.approx(TRUE_eV, abs=1e-9)


def test_given_atomic_energies_are_used_as_given_and_must_cover_every_element():
    numbers = [_ns(2, 3), _ns(4, 2)]
    given = {"Na": -4.9, "Si": -39.6, "O": -105.1}
    reference = energy_reference(numbers, _energies(numbers), given)
    assert reference.method == "given" and reference.offsets_eV == {11: -4.9, 14: -39.6, 8: -105.1}
    with pytest.raises(ValueError, match=r"atomic_energies_eV: no energy for \['Si'\]"):
        energy_reference(numbers, _energies(numbers), {"Na": -4.9, "O": -105.1})


def _frame(numbers: np.ndarray, rng: np.random.Generator, **info) -> Frame:
    n = len(numbers)
    return Frame(numbers, rng.random((n, 3)) * 8, np.eye(3) * 8, float(rng.normal(-300, 5)),
                 rng.normal(size=(n, 3)), rng.normal(scale=1e-3, size=(3, 3)), info=info)


def test_the_report_gives_mae_and_rmse_per_set_species_composition_and_temperature():
    rng = np.random.default_rng(1)
    frames = [_frame(_ns(2, 2), rng, composition="NS2", temperature_K=3000.0),
              _frame(_ns(2, 2), rng, composition="NS2", temperature_K=3500.0),
              _frame(_ns(4, 1), rng, composition="NS4", temperature_K=3000.0),
              _frame(_ns(4, 1), rng, composition="NS4", temperature_K=3500.0)]
    energy_error = [0.018, -0.018, 0.026, 0.0]  # eV per frame
    sodium_error, other_error = 0.3, -0.1  # eV/Å on every component of every Na / other atom
    predicted = Predictions(
        np.array([f.energy + e for f, e in zip(frames, energy_error)]),
        [f.forces + np.where(f.numbers[:, None] == 11, sodium_error, other_error) for f in frames],
        np.stack([f.stress + 1e-4 for f in frames]))
    out = report(frames, predicted, {"train": [0, 1, 2, 3], "test": [2]})
    per_atom = np.array(energy_error) / np.array([len(f.numbers) for f in frames])
    train = out["train"]
    assert train["frames"] == 4 and train["atoms"] == 18 + 18 + 15 + 15  # Na4Si4O10, Na2Si4O9
    assert train["energy_mae_meV_per_atom"] == pytest.approx(1e3 * np.mean(np.abs(per_atom)))
    assert train["energy_rmse_meV_per_atom"] == pytest.approx(1e3 * np.sqrt(np.mean(per_atom ** 2)))
    assert train["force_by_species"]["Na"]["force_mae_meV_per_A"] == pytest.approx(300.0)
    assert train["force_by_species"]["Si"]["force_rmse_meV_per_A"] == pytest.approx(100.0)
    na_share = sum(int(np.sum(f.numbers == 11)) for f in frames) / train["atoms"]
    assert train["force_rmse_meV_per_A"] == pytest.approx(1e3 * np.sqrt(na_share * 0.09 + (1 - na_share) * 0.01))
    assert train["stress_mae_GPa"] == pytest.approx(1e-4 * 160.21766, rel=1e-5)
    assert set(train["by_composition"]) == {"NS2", "NS4"} and set(train["by_temperature"]) == {"3000 K", "3500 K"}
    assert train["by_composition"]["NS4"]["energy_mae_meV_per_atom"] == pytest.approx(1e3 * 0.026 / 15 / 2)
    assert train["by_temperature"]["3500 K"]["energy_rmse_meV_per_atom"] == pytest.approx(
        1e3 * np.sqrt(((0.018 / 18) ** 2 + 0.0) / 2))
    assert "by_composition" not in out["test"]  # one composition in the set: nothing to break down
    assert out["test"]["energy_mae_meV_per_atom"] == pytest.approx(1e3 * 0.026 / 15)
    cohesive = cohesive_per_atom(frames[:1], np.array([frames[0].energy]), {11: -1.0, 14: -2.0, 8: -3.0})
    assert cohesive[0] == pytest.approx((frames[0].energy - (4 * -1.0 + 4 * -2.0 + 10 * -3.0)) / 18)


def test_training_threads_are_set_for_the_training_and_restored():
    import torch

    before = torch.get_num_threads()
    with _threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
