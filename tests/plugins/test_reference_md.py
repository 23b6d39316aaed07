"""A quantum-mechanical reference (GFN1-xTB through tblite) and ab initio MD sampling (``reference_md``).

Oracles: the reference's own energy, differentiated by finite differences (forces: displacements; stress: strains,
σ = ∂E/∂ε / V); and an uninterrupted labelling, which an interrupted one resumed must reproduce without paying any
finished frame's calculation again.
"""

from __future__ import annotations

import numpy as np
import pytest

from meltdyn.plugin import discover, validate_section
from meltdyn.plugins.potentials.painn.dataset import complete_batches, load_dataset
from meltdyn.plugins.potentials.painn.workflow import train_from_spec

XTB = {"method": "GFN1-xTB", "accuracy": 0.01, "verbosity": 0}
"""accuracy 0.01: an SCF a hundred times tighter than tblite's default, so finite differences resolve 1e-6 eV."""


def _labeller(registry, **section):
    return registry.build("labeller", validate_section(registry, "labeller", {"plugin": "reference_md", **section},
                                                       "reference_data"))


def _energy(frame, positions, cell):
    import ase
    from tblite.ase import TBLite

    atoms = ase.Atoms(frame.symbols, positions=positions, cell=cell, pbc=True)
    atoms.calc = TBLite(**XTB)
    return atoms.get_potential_energy()


def test_gfn1_xtb_labels_a_periodic_cell_with_forces_and_stress_its_energy_differentiates_to():
    pytest.importorskip("tblite", reason="the qm extra (tblite) is part of the test extra")
    registry = discover()
    labeller = _labeller(registry, calculator="tblite.ase:TBLite", calculator_kwargs=XTB,
                         system={"plugin": "sodium_silicate", "atoms": 9, "density_g_cm3": 2.3},
                         temperatures_K=[2000.0], frames_per_state=1, every_steps=2, equilibration_steps=0)
    [[frame]] = list(labeller.batches(registry))
    assert frame.symbols.count("Na") == 2 and frame.symbols.count("Si") == 2 and frame.symbols.count("O") == 5
    assert {k: v for k, v in frame.info.items() if k != "kinetic_temperature_K"} == {
        "composition": "NS2", "temperature_K": 2000.0, "state": 0, "frame": 0}
    h = 1e-4  # Å and strain; the central differences' error is O(h²)
    for atom, axis in [(0, 0), (4, 1), (8, 2)]:
        shifted = [frame.positions_A.copy() for _ in range(2)]
        shifted[0][atom, axis] += h
        shifted[1][atom, axis] -= h
        numerical = -(_energy(frame, shifted[0], frame.cell_A) - _energy(frame, shifted[1], frame.cell_A)) / (2 * h)
        assert frame.forces_eV_A[atom, axis] == pytest.approx(numerical, abs=2e-4)
    volume = abs(np.linalg.det(frame.cell_A))
    for m, n in [(0, 0), (1, 2)]:
        energies = []
        for sign in (1, -1):
            strain = np.eye(3)
            strain[m, n] += sign * h / (1 if m == n else 2)
            strain[n, m] += 0 if m == n else sign * h / 2
            energies.append(_energy(frame, frame.positions_A @ strain, frame.cell_A @ strain))
        numerical = (energies[0] - energies[1]) / (2 * h) / volume
        assert frame.stress_eV_A3[m, n] == pytest.approx(numerical, abs=1e-6)  # 1e-6 eV/Å³ = 0.16 MPa
    assert np.abs(frame.stress_eV_A3).max() > 1e-3  # a stress there is to test, not zeros agreeing


def _md_spec(out, fail_at=0):
    return {"name": "aimd", "output_dir": str(out),
            "reference_data": {"plugin": "reference_md", "calculator": "calculators:CountingLJ",
                               "calculator_kwargs": {"sigma": 2.0, "epsilon": 0.05, "rc": 4.0, "fail_at": fail_at},
                               "system": {"plugin": "sodium_silicate", "atoms": 27, "density_g_cm3": 2.2},
                               "temperatures_K": [2000.0, 3000.0], "frames_per_state": 3, "every_steps": 4,
                               "equilibration_steps": 5},
            "model": {"cutoff_A": 4.0, "features": 8, "interactions": 1, "radial_basis": 6},
            "training": {"max_epochs": 1, "batch_size": 2}}


def test_reference_md_resumes_where_it_stopped_without_repeating_a_frame(tmp_path):
    from calculators import CountingLJ

    counts = []  # the calculations made when each frame of the uninterrupted labelling was finished
    registry = discover()
    labeller = _labeller(registry, **_md_spec(tmp_path)["reference_data"])
    start = CountingLJ.calculations
    whole = []
    for [frame] in labeller.batches(registry):
        whole.append(frame)
        counts.append(CountingLJ.calculations - start)
    assert len(whole) == 6 and [f.info["temperature_K"] for f in whole] == [2000.0] * 3 + [3000.0] * 3
    assert counts[1] - counts[0] == 4  # one calculation per MD step, none to label the frame

    out = tmp_path / "interrupted"
    crash = CountingLJ.calculations + counts[4] - 2  # within the MD towards frame 1 of the second temperature
    with pytest.raises(RuntimeError, match="simulated crash"):
        train_from_spec(_md_spec(out, fail_at=crash))
    assert complete_batches(out / "dataset.partial.db") == 4
    before = CountingLJ.calculations
    train_from_spec(_md_spec(out, fail_at=crash))
    assert CountingLJ.calculations - before == counts[5] - counts[3]  # only the MD after the last kept frame
    resumed, _ = load_dataset(out / "dataset.db")
    assert [(f.info["state"], f.info["frame"]) for f in resumed] == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]
    for got, want in zip(resumed, whole, strict=True):
        # the same trajectory: the thermostat's noise is seeded per frame; velocities come back to ASE's rounding
        np.testing.assert_allclose(got.positions_A, want.positions_A, rtol=0, atol=1e-9)
        np.testing.assert_allclose(got.velocities_A_fs, want.velocities_A_fs, rtol=0, atol=1e-12)
        assert got.energy_eV == pytest.approx(want.energy_eV, rel=1e-10)


def test_reference_md_refuses_a_non_calculator_and_counts_its_frames():
    registry = discover()
    with pytest.raises(Exception, match="not a class"):
        _labeller(registry, calculator="os:system")
    assert _labeller(registry, **_md_spec("x")["reference_data"]).validate(registry) == 6


def test_each_frame_records_the_temperature_it_reached_and_a_state_off_its_target_is_reported(caplog, monkeypatch):
    """The frames are named by the target temperature; each also carries its kinetic temperature, computed here
    from the stored velocities (3N - 3 degrees of freedom about the centre of mass, as meltdyn's state point); a
    state found off its target is logged with what the rule says of it."""
    import logging

    from ase.data import atomic_masses, atomic_numbers

    from meltdyn.plugin import BOLTZMANN_EV_K, U_A2_PS2_TO_EV
    from meltdyn.plugins.labellers import reference_md

    seen = []

    def judged(target_K, reached_K, atoms):
        seen.append((target_K, list(reached_K), atoms))
        return "off by the test's decree"

    monkeypatch.setattr(reference_md, "temperature_problem", judged)
    registry = discover()
    spec = {**_md_spec("x")["reference_data"], "frames_per_state": 4, "temperatures_K": [2000.0]}
    with caplog.at_level(logging.WARNING):
        frames = [f for [f] in _labeller(registry, **spec).batches(registry)]
    for f in frames:
        m = np.array([atomic_masses[atomic_numbers[s]] for s in f.symbols])
        v = f.velocities_A_fs * 1e3
        v = v - (m[:, None] * v).sum(0) / m.sum()
        kinetic = (m[:, None] * v ** 2).sum() * U_A2_PS2_TO_EV / ((3 * len(m) - 3) * BOLTZMANN_EV_K)
        assert f.info["kinetic_temperature_K"] == pytest.approx(kinetic, rel=1e-9)
        assert f.info["temperature_K"] == 2000.0
    assert seen == [(2000.0, [f.info["kinetic_temperature_K"] for f in frames], 27)]
    assert any("NS2 at 2000 K: off by the test's decree" in r.getMessage() for r in caplog.records)


def test_the_temperature_rule_reports_a_hot_or_drifting_state_and_not_a_small_cells_noise():
    from meltdyn.plugins.labellers.reference_md import temperature_problem

    # the loop's "2500 K" GFN1-xTB frames, quarter by quarter as measured
    problem = temperature_problem(2500.0, [4900.0] * 6 + [3800.0] * 6 + [3700.0] * 6 + [3400.0] * 6, 27)
    assert "averages 3950 K" in problem and "first quarter 4900 K" in problem and "minimise_steps" in problem
    assert temperature_problem(3000.0, [4000.0] * 6 + [3000.0] * 6 + [2900.0] * 6 + [2600.0] * 6, 27)  # drifting
    # 27 atoms on target: ±16 % frame to frame (sqrt(2 / 78)); 200 states of 24 independent frames, none reported
    rng = np.random.default_rng(3)
    assert not any(temperature_problem(3000.0, list(rng.normal(3000.0, 480.0, 24)), 27) for _ in range(200))
    assert temperature_problem(3000.0, [9000.0] * 7, 27) is None  # too few frames to judge


def test_minimise_steps_relax_the_packed_cell_with_the_reference_before_its_md():
    from calculators import CountingLJ

    registry = discover()
    spec = {**_md_spec("x")["reference_data"], "frames_per_state": 1, "temperatures_K": [2000.0]}
    start = CountingLJ.calculations
    [[plain]] = list(_labeller(registry, **spec).batches(registry))
    plain_cost = CountingLJ.calculations - start
    start = CountingLJ.calculations
    [[relaxed]] = list(_labeller(registry, **spec, minimise_steps=8).batches(registry))
    extra = CountingLJ.calculations - start - plain_cost
    assert 1 <= extra <= 9  # FIRE's steps, one calculation each, at most minimise_steps (+ the first)
    assert np.abs(relaxed.positions_A - plain.positions_A).max() > 1e-3
