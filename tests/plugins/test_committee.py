"""Committees of PaiNN models: training, the mean MD runs on, the spread, and the model_deviation observable.

Oracle: each member loaded on its own and evaluated through the training's own path (schnetpack's model, forces
and stress by its autograd), its mean and spread computed here with numpy.
"""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
import torch

import meltdyn
from conftest import MELTDYN
from meltdyn.plugin import AtomicSystem, StudyError, select
from meltdyn.plugins.potentials.painn import PainnParams, read_model_meta
from meltdyn.plugins.potentials.painn.dataset import load_dataset
from meltdyn.plugins.potentials.painn.model import batch, training_frames
from meltdyn.plugins.potentials.painn.runtime import Painn, load_weights
from meltdyn.plugins.potentials.painn.workflow import train_from_spec

pytestmark = pytest.mark.slow  # the module's fixture trains a committee (~20 s)

SHIK_SMALL = {"plugin": "shik", "short_range_cutoff_A": 5.0, "coulomb_cutoff_A": 5.0}


def _spec(out, committee):
    return {"name": "committee", "output_dir": str(out),
            "reference_data": {"plugin": "potential_md", "potential": SHIK_SMALL, "compositions": ["NS2"],
                               "system": {"plugin": "sodium_silicate", "atoms": 100, "density_g_cm3": 2.3},
                               "temperatures_K": [3000], "frames_per_state": 10, "every_steps": 30,
                               "equilibration_steps": 200},
            "model": {"cutoff_A": 4.5, "features": 8, "interactions": 1, "radial_basis": 6},
            "training": {"max_epochs": 3, "batch_size": 4, "committee": committee}}


@pytest.fixture(scope="module")
def committee(tmp_path_factory):
    out = tmp_path_factory.mktemp("committee") / "model"
    train_from_spec(_spec(out, 3))
    return out


def _one_by_one(model_dir, frame):
    """Each member's energy and forces through schnetpack's own model, and the numpy mean and spread."""
    meta = read_model_meta(model_dir)
    energies, forces = [], []
    for member in meta["committee"]:
        model = load_weights(model_dir, meta, member["weights"]).double()
        out = model(batch([frame.with_neighbours(meta["architecture"]["cutoff_A"])], dtype=torch.float64))
        energies.append(float(out["energy"][0].detach()))
        forces.append(out["forces"].detach().numpy())
    return np.array(energies), np.array(forces)


def test_a_committee_trains_members_from_their_own_seeds_member_0_being_the_single_model(committee, tmp_path):
    meta = json.loads((committee / "model.json").read_text())
    assert [m["member"] for m in meta["committee"]] == [0, 1, 2] and len({m["seed"] for m in meta["committee"]}) == 3
    assert meta["metrics"]["test"]["committee"]["members"] == 3
    single = tmp_path / "single"
    train_from_spec(_spec(single, 1))
    alone = torch.load(single / "best.pt", weights_only=True)
    first = torch.load(committee / "best.pt", weights_only=True)
    # the same model, to float32 rounding (matrix products' last bits can depend on memory alignment)
    assert all(torch.allclose(alone[k], first[k], rtol=1e-5, atol=1e-7) for k in alone)
    other = torch.load(committee / meta["committee"][1]["weights"], weights_only=True)
    assert not all(torch.equal(other[k], first[k]) for k in first if first[k].is_floating_point())
    assert "committee" not in json.loads((single / "model.json").read_text())


def test_the_committee_runs_its_members_mean_and_gives_their_spread(committee):
    frames, _ = load_dataset(committee / "dataset.db")
    frame = training_frames(frames)[-1]
    energies, forces = _one_by_one(committee, frame)
    assert np.std(energies) > 0 and np.abs(forces - forces.mean(0)).max() > 1e-3  # members do disagree
    potential = Painn(PainnParams(model_dir=committee, precision="float64", backend="python"))
    system = AtomicSystem(frames[-1].symbols, frame.positions, frame.cell)
    member_energies, member_forces = potential.member_forces(system)
    np.testing.assert_allclose(member_energies, energies, rtol=1e-9)
    np.testing.assert_allclose(member_forces, forces, rtol=1e-7, atol=1e-9)
    from meltdyn.plugins.engines.openmm_engine.interface import OpenMMTarget, evaluate

    md = evaluate(potential, system, OpenMMTarget("CPU"))  # what OpenMM integrates: the members' mean
    assert md.energy_eV == pytest.approx(energies.mean(), rel=1e-9)
    np.testing.assert_allclose(md.forces_eV_A, forces.mean(0), rtol=1e-6, atol=1e-8)
    from meltdyn.plugins.potentials.painn.metrics import max_force_deviation

    spread = np.sqrt(((forces - forces.mean(0)) ** 2).sum(-1).mean(0))  # per atom, over members
    assert max_force_deviation(forces) == pytest.approx(spread.max())


def test_md_with_a_committee_records_the_model_deviation_per_frame(committee, tiny_study, registry):
    tiny_study["potential"] = {"plugin": "painn", "model_dir": str(committee)}
    tiny_study["engine"]["platform"] = "CPU"
    tiny_study["system"] = {"plugin": "sodium_silicate", "atoms": 100, "density_g_cm3": 2.3}
    tiny_study["observables"] = [{"plugin": "model_deviation", "model_dir": str(committee), "max_frames": 6,
                                  "trust_lo_eV_A": 0.05, "trust_hi_eV_A": 1.0}]
    tiny_study["seed"] = 2
    (run,) = meltdyn.load_study(tiny_study, registry).run(progress=False)
    results = run.results()["model_deviation"]
    sigma = results["max_force_deviation"].values
    assert len(sigma) == 6 and np.all(sigma > 0)
    fractions = [float(select(results, "fraction", deviation_class=c)) for c in ("accurate", "candidate", "failed")]
    assert sum(fractions) == pytest.approx(1.0)
    assert fractions[2] == pytest.approx(np.mean(sigma >= 1.0)) and fractions[0] == pytest.approx(np.mean(sigma < 0.05))
    from meltdyn.trajectory.h5md import H5MDReader

    with H5MDReader(run.dir / "trajectory.h5") as traj:
        frame = int(results["frame"].values[-1])
        positions, cell = traj.positions_A(frames=slice(frame, frame + 1))[0], traj.boxes_A()[frame]
        symbols = traj.symbols
    from meltdyn.plugins.potentials.painn.model import Frame
    from ase.data import atomic_numbers

    z = np.array([atomic_numbers[s] for s in symbols])
    _, forces = _one_by_one(committee, Frame(z, positions, cell, 0.0, np.zeros_like(positions), np.zeros((3, 3))))
    spread = np.sqrt(((forces - forces.mean(0)) ** 2).sum(-1).mean(0)).max()
    assert sigma[-1] == pytest.approx(spread, rel=1e-5)
    from meltdyn.plugin import quantities

    reported = {q.key: q.estimate.value for q in quantities(json.loads((run.dir / "summary.json").read_text()))}
    assert reported["model_deviation.fraction[deviation_class=failed]"] == pytest.approx(fractions[2])


def test_a_single_model_is_refused_where_a_committee_is_needed(good_model, registry, tiny_study):
    from meltdyn.plugins.potentials.painn.deviation import committee_problems

    [problem] = committee_problems(good_model)
    assert "single model" in problem and "training.committee" in problem
    tiny_study["potential"] = {"plugin": "painn", "model_dir": str(good_model), "trust": {"stop_at_eV_A": 0.5}}
    with pytest.raises(StudyError, match=r"potential.trust: checks a committee's deviation, and model_dir: .* "
                                          r"is a single model"):
        meltdyn.load_study(tiny_study, registry)


def test_md_checks_the_committee_as_the_observable_measures_it_and_stops_beyond_the_bound(committee, tiny_study,
                                                                                          registry, tmp_path):
    """The deviation checked during MD (checks.csv) is the model_deviation observable's on the same frames; a bound
    below what the first frames reach stops production there."""
    from meltdyn.engine.thermo import read_log
    from meltdyn.trajectory.h5md import H5MDReader

    # checked every 60 steps: none in the 50-step nvt stage, so a bound can stop only production
    tiny_study["potential"] = {"plugin": "painn", "model_dir": str(committee), "keep_freed_memory": False,
                               "trust": {"stop_at_eV_A": 100.0, "check_interval_ps": 0.06}}
    tiny_study["system"] = {"plugin": "sodium_silicate", "atoms": 100, "density_g_cm3": 2.3}
    tiny_study["observables"] = [{"plugin": "model_deviation", "model_dir": str(committee), "max_frames": 1000}]
    tiny_study["seed"] = 2
    (run,) = meltdyn.load_study(tiny_study, registry, output_dir=tmp_path / "free").run(progress=False)
    log = read_log(run.dir / "checks.csv")
    production = log["stage_kind"] == "production"
    with H5MDReader(run.trajectory) as traj:
        frames = np.searchsorted(traj.steps, log["step"][production])
        np.testing.assert_array_equal(traj.steps[frames], log["step"][production])
    results = run.results()["model_deviation"]
    observed = dict(zip(results["frame"].values.tolist(), results["max_force_deviation"].values))
    np.testing.assert_allclose(log["max_force_deviation_eV_A"][production], [observed[f] for f in frames], rtol=1e-7)
    assert log["step"].tolist() == [0, 60, 120, 180] and run.status.get("message") is None

    bound = float(np.median(log["max_force_deviation_eV_A"][production]))
    tiny_study["potential"]["trust"]["stop_at_eV_A"] = bound
    (stopped,) = meltdyn.load_study(tiny_study, registry, output_dir=tmp_path / "bounded").run(progress=False)
    first = int(np.argmax(log["max_force_deviation_eV_A"][production] >= bound))  # the same MD: Reference platform
    with H5MDReader(stopped.trajectory) as traj:
        assert traj.steps[-1] == log["step"][production][first]
    assert f"trust.stop_at_eV_A = {bound:g} eV/Å" in stopped.status["message"]


def test_evaluate_gives_the_committee_means_errors_on_held_out_frames(committee):
    """meltdyn evaluate against the members evaluated one by one in float64 here, the RMSEs and the spread by
    numpy, and the rank correlation against scipy's."""
    from scipy.stats import spearmanr

    from meltdyn.plugins.potentials.painn.evaluate import evaluate_model

    frames, _ = load_dataset(committee / "dataset.db")
    result = evaluate_model(committee, frames)
    data = training_frames(frames)
    energy_errors, force_errors, deviations, worst, variances = [], [], [], [], []
    for frame in data:
        energies, forces = _one_by_one(committee, frame)
        energy_errors.append((energies.mean() - frame.energy) / len(frame.numbers))
        force_errors.append(forces.mean(0) - frame.forces)
        deviations.append(np.sqrt(np.mean(np.sum((forces - forces.mean(0)) ** 2, axis=-1), axis=0)).max())
        worst.append(np.linalg.norm(forces.mean(0) - frame.forces, axis=1).max())
        variances.append(forces.var(axis=0).ravel())
    rmse = np.sqrt(np.mean(np.concatenate(force_errors) ** 2)) * 1e3
    assert result["frames"] == len(data) and result["members"] == 3
    assert result["force_rmse_meV_per_A"] == pytest.approx(rmse, rel=1e-4)
    assert result["uncertainty"]["force_rmse_meV_per_A"]["rmse"] == pytest.approx(rmse, rel=1e-4)
    assert result["energy_rmse_meV_per_atom"] == pytest.approx(np.sqrt(np.mean(np.square(energy_errors))) * 1e3,
                                                               rel=1e-3)
    spread = np.sqrt(np.mean(np.concatenate(variances))) * 1e3
    assert result["committee"]["force_spread_rms_meV_per_A"] == pytest.approx(spread, rel=1e-3)
    assert result["committee"]["force_rmse_over_spread"] == pytest.approx(rmse / spread, rel=1e-3)
    assert result["committee"]["deviation_error_rank_correlation"] == pytest.approx(
        spearmanr(deviations, worst).statistic, abs=1e-9)


def test_evaluate_on_the_command_line_reads_a_dataset_and_refuses_a_missing_file(committee, tmp_path):
    from refusals import assert_clean_refusal, run_cli

    out = subprocess.run(MELTDYN + ["evaluate", str(committee), str(committee / "dataset.db"), "--json"],
                         capture_output=True, text=True, check=True)
    result = json.loads(out.stdout)
    assert result["frames"] == 10 and result["committee"]["members"] == 3
    text = subprocess.run(MELTDYN + ["evaluate", str(committee), str(committee / "dataset.db")],
                          capture_output=True, text=True, check=True).stdout
    assert f"{result['force_rmse_meV_per_A']:.0f} ± " in text and "committee force spread" in text
    rc, message = run_cli(["evaluate", str(committee), str(tmp_path / "absent.db")])
    assert_clean_refusal(rc, message, ["absent.db", "not a file"])
    rc, message = run_cli(["evaluate", str(committee), str(committee / "dataset.db"), "--blocks", "1"])
    assert_clean_refusal(rc, message, ["--blocks", "1", "2 or more"])


def test_a_committee_trained_through_dask_is_the_one_trained_here(tmp_path):
    """Members trained as Dask tasks in worker processes are those trained one after another here (one torch thread
    each, so the sums round alike), and model.json describes them the same way."""
    pytest.importorskip("distributed")
    here, there = _spec(tmp_path / "here", 2), _spec(tmp_path / "there", 2)
    for spec in (here, there):
        spec["training"]["threads"] = 1
    there["executor"] = {"plugin": "dask", "workers": 2, "threads_per_worker": 1}
    train_from_spec(here)
    train_from_spec(there)
    for member in read_model_meta(tmp_path / "here")["committee"]:
        a = torch.load(tmp_path / "here" / member["weights"], weights_only=True)
        b = torch.load(tmp_path / "there" / member["weights"], weights_only=True)
        assert all(torch.equal(a[k], b[k]) for k in a), member["weights"]
    metrics = [json.loads((tmp_path / d / "model.json").read_text())["metrics"]["test"] for d in ("here", "there")]
    assert metrics[0] == metrics[1]
    # where it trains is not what it is: the same file without the executor resumes the finished training,
    # training nothing again
    made = {p: p.stat().st_mtime_ns for p in (tmp_path / "there").rglob("best.pt")}
    del there["executor"]
    train_from_spec(there)
    assert {p: p.stat().st_mtime_ns for p in made} == made
