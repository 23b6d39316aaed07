"""Studies end to end: sweep expansion, run directories, resume after a kill, CLI equals API."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml

import meltdyn
from meltdyn.analysis.estimates import Estimate
from meltdyn.analysis.summaries import quantities
from meltdyn.base.errors import StudyError
from meltdyn.plugin import Summary, estimate_at, select
from meltdyn.trajectory.h5md import H5MDReader
from conftest import MELTDYN, kill_during_production



def test_sweep_expands_compositions_temperatures_and_replicas(tiny_study, registry):
    tiny_study["sweep"] = {"compositions": ["NS2", "NS4", 0.25], "temperatures_K": [2000, 2500.5], "replicas": 2}
    study = meltdyn.load_study(tiny_study, registry)
    ids = [r.id for r in study.runs]
    assert len(ids) == 12 == len(set(ids))
    assert ids[:4] == ["NS2_T2000K_r0", "NS2_T2000K_r1", "NS2_T2500.5K_r0", "NS2_T2500.5K_r1"]
    assert "x0.25_T2000K_r1" in ids
    seeds = [r.seeds().seed("system") for r in study.runs]
    assert len(set(seeds)) == 12  # every run starts from its own packing
    assert seeds == [r.seeds().seed("system") for r in meltdyn.load_study(tiny_study, registry).runs]
    tiny_study["sweep"]["temperatures_K"].append(3000.0)  # a run joining the study changes no other run's seeds
    grown = {r.id: r.seeds().seed("system") for r in meltdyn.load_study(tiny_study, registry).runs}
    assert [grown[i] for i in ids] == seeds
    assert all(r.dir.parent == Path(tiny_study["output_dir"]).resolve() for r in study.runs)
    assert all(r.status["state"] == "pending" for r in study.runs)


@pytest.mark.slow
def test_api_run_writes_every_artefact(tiny_study, registry):
    study = meltdyn.load_study(tiny_study, registry)
    (run,) = study.run(progress=False)
    names = {p.name for p in run.dir.iterdir()}
    assert {"spec.json", "provenance.json", "status.json", "trajectory.h5", "results.h5", "summary.json",
            "checkpoints"} <= names
    assert run.status["state"] == "completed"
    prov = json.loads((run.dir / "provenance.json").read_text())
    assert prov["seed"] == 11 and prov["packages"]["openmm"] == "8.6.1"
    assert set(prov["seeds"]) == {"system", "stage/0", "stage/1", "stage/2"} == set(prov["engine"]["seeds"])
    assert prov["engine"]["platform"] == "Reference"
    assert prov["analysis"]["block_atoms"] == 153 and prov["analysis"]["peak_rss_MB"] > 0
    assert prov["system"]["counts"] == {"Na": 34, "Si": 34, "O": 85}
    spec = json.loads((run.dir / "spec.json").read_text())
    assert spec["run"] == {"id": run.id, "composition": "NS2", "temperature_K": 3000.0, "replica": 0}

    with H5MDReader(run.dir / "trajectory.h5") as traj:
        assert traj.unwrapped and traj.n_atoms == 153
        steps = traj.steps
        assert steps[-1] == 200 and np.all(np.diff(steps) > 0)
        assert set(range(0, 201, 20)) <= set(steps.tolist())  # every linear frame is there
        assert {1, 3, 7} <= set(steps.tolist())  # and log-spaced frames after each origin
        temperature = traj.observable("temperature")
        assert 1500 < temperature.mean() < 4500

    results = run.results()["msd"]
    assert results["lag"].unit == "ps" and results["msd"].unit == "angstrom^2"
    assert results["msd"].dims == ("species", "lag") and sorted(results["species"].values.tolist()) == ["Na", "O", "Si"]
    assert select(results, "msd", species="Na")[0] == 0 and np.all(select(results, "msd", species="O")[1:] > 0)
    assert set(study.results()) == {run.id}
    assert {q.key for q in quantities(run.summary())} >= {f"msd.D[species={s}]" for s in ("Na", "Si", "O")}


@pytest.mark.slow
def test_a_completed_run_is_skipped_and_never_rewritten(tiny_study, registry):
    study = meltdyn.load_study(tiny_study, registry)
    (run,) = study.run(progress=False)
    stamp = {p.name: p.stat().st_mtime_ns for p in run.dir.iterdir() if p.is_file()}
    meltdyn.load_study(tiny_study, registry).run(progress=False)
    assert {p.name: p.stat().st_mtime_ns for p in run.dir.iterdir() if p.is_file()} == stamp


@pytest.mark.slow
def test_a_different_spec_never_overwrites_an_existing_run(tiny_study, registry):
    meltdyn.load_study(tiny_study, registry).run(progress=False)
    tiny_study["protocol"]["timestep_fs"] = 0.5
    with pytest.raises(StudyError, match=r"made from a different spec; meltdyn never overwrites it.*Changed: "
                                         r"protocol.timestep_fs: 1.0 → 0.5"):
        meltdyn.load_study(tiny_study, registry).run(progress=False)


@pytest.mark.slow
def test_validate_says_which_runs_run_would_refuse_and_that_more_temperatures_are_welcome(tiny_study, tmp_path,
                                                                                          capsys):
    """A finished study with a longer production: validate names the field that changed and fails, as run would;
    with another temperature instead, the finished run stays completed and the new one is pending."""
    from meltdyn.cli.dispatch import main

    tiny_study["output_dir"] = str(tmp_path / "out")
    study_file = _write_study(tmp_path / "study.yaml", tiny_study)
    assert main(["run", "-q", str(study_file)]) == 0
    longer = {**tiny_study, "protocol": {**tiny_study["protocol"], "stages": [dict(s) for s in
                                                                            tiny_study["protocol"]["stages"]]}}
    was = longer["protocol"]["stages"][-1]["duration_ps"]
    longer["protocol"]["stages"][-1]["duration_ps"] = 2 * was
    capsys.readouterr()
    assert main(["validate", str(_write_study(tmp_path / "longer.yaml", longer))]) == 2
    out = capsys.readouterr()
    assert f"NS2_T3000K_r0: made from a different spec (protocol.stages[{len(longer['protocol']['stages']) - 1}]" \
           f".duration_ps: {was} → {2 * was})" in out.out
    assert "`meltdyn run` would refuse 1 run(s)" in out.err and "give another output_dir" in out.err
    assert main(["run", "-q", str(tmp_path / "longer.yaml")]) == 2  # and run does refuse it
    wider = {**tiny_study, "sweep": {**tiny_study["sweep"], "temperatures_K": [3000.0, 3300.0]}}
    capsys.readouterr()
    assert main(["validate", str(_write_study(tmp_path / "wider.yaml", wider))]) == 0
    out = capsys.readouterr().out
    assert "NS2_T3000K_r0: completed" in out and "NS2_T3300K_r0: pending" in out


@pytest.mark.subprocess
def test_a_directory_meltdyn_did_not_make_is_never_adopted(tiny_study, registry):
    study = meltdyn.load_study(tiny_study, registry)
    (run,) = study.runs
    run.dir.mkdir(parents=True)
    (run.dir / "trajectory.h5").write_bytes(b"precious")
    # The study directory holds a directory meltdyn did not make: refused as a whole.
    with pytest.raises(StudyError, match=r"output_dir: .* already holds \['NS2_T3000K_r0'\], which meltdyn did not"):
        study.run(progress=False)
    # Inside a directory meltdyn made, the foreign run directory is still refused, never adopted.
    (study.output_dir / ".meltdyn").write_text('{"kind": "study"}')
    with pytest.raises(StudyError, match=r"holds \['trajectory.h5'\] but no spec.json: meltdyn did not make it"):
        study.run(progress=False)
    assert sorted(p.name for p in run.dir.iterdir()) == ["trajectory.h5"]
    assert (run.dir / "trajectory.h5").read_bytes() == b"precious"


def test_a_stray_trajectory_in_a_run_directory_is_not_overwritten(tiny_study, registry):
    study = meltdyn.load_study(tiny_study, registry)
    (run,) = study.runs
    study.claim(run)  # the directory is the run's own, but the trajectory in it is not
    (run.dir / "trajectory.h5").write_bytes(b"precious")
    with pytest.raises(StudyError, match="trajectory.h5 exists but this run's production did not write it"):
        study.run(progress=False)
    assert (run.dir / "trajectory.h5").read_bytes() == b"precious"
    assert run.status["state"] == "failed"


def _write_study(path: Path, study: dict) -> Path:
    path.write_text(yaml.safe_dump(study))
    return path


@pytest.mark.slow
@pytest.mark.subprocess
def test_cli_and_api_give_identical_results(tiny_study, registry, tmp_path):
    api = meltdyn.load_study(tiny_study, registry, output_dir=tmp_path / "api")
    (api_run,) = api.run(progress=False)
    study_file = _write_study(tmp_path / "study.yaml", tiny_study)
    out = subprocess.run([*MELTDYN, "run", "-q", str(study_file), "--output-dir", str(tmp_path / "cli")],
                         capture_output=True, text=True, check=True)
    assert "NS2_T3000K_r0: completed" in out.stdout
    cli = meltdyn.load_study(study_file, registry, output_dir=tmp_path / "cli")
    a, c = api_run.results()["msd"], cli.runs[0].results()["msd"]
    assert a.keys() == c.keys()
    for key in a:
        np.testing.assert_array_equal(a[key].values, c[key].values)
    with H5MDReader(api_run.dir / "trajectory.h5") as ta, H5MDReader(cli.runs[0].dir / "trajectory.h5") as tc:
        np.testing.assert_array_equal(ta.positions_A(), tc.positions_A())
    out = subprocess.run([*MELTDYN, "run", "--reanalyse", str(study_file), "--output-dir", str(tmp_path / "cli")],
                         capture_output=True, text=True, check=True)
    assert "NS2_T3000K_r0: reanalysed" in out.stdout and len(list((cli.runs[0].dir / "superseded").iterdir())) == 1


@pytest.mark.slow
@pytest.mark.subprocess
def test_a_killed_run_resumes_without_losing_or_duplicating_frames(tiny_study, registry, tmp_path):
    tiny_study["protocol"]["stages"][-1]["duration_ps"] = 1.0
    tiny_study["protocol"]["stages"][-1]["sampling"]["chunk_frames"] = 2
    reference = meltdyn.load_study(tiny_study, registry, output_dir=tmp_path / "ref")
    (ref_run,) = reference.run(progress=False)

    study_file = _write_study(tmp_path / "study.yaml", tiny_study)
    out = tmp_path / "killed"
    killed_at = kill_during_production(study_file, out)
    assert killed_at["stage"] == 2 and 0 < killed_at["frames"]
    with H5MDReader(out / "NS2_T3000K_r0" / "trajectory.h5") as partial:
        n_partial = partial.n_frames
    with H5MDReader(ref_run.dir / "trajectory.h5") as full:
        assert n_partial < full.n_frames  # it really was interrupted mid-production

    subprocess.run([*MELTDYN, "run", "-q", str(study_file), "--output-dir", str(out)], check=True)
    resumed = meltdyn.load_study(study_file, registry, output_dir=out).runs[0]
    assert resumed.completed
    with H5MDReader(ref_run.dir / "trajectory.h5") as full, H5MDReader(resumed.dir / "trajectory.h5") as res:
        np.testing.assert_array_equal(res.steps, full.steps)
        np.testing.assert_array_equal(res.positions_A(), full.positions_A())  # Reference platform: bitwise
    for key, value in ref_run.results()["msd"].items():
        np.testing.assert_array_equal(resumed.results()["msd"][key].values, value.values)


@pytest.mark.subprocess
def test_cli_reports_errors_without_a_traceback(tmp_path, tiny_study):
    tiny_study["engine"]["platform"] = "TPU"
    study_file = _write_study(tmp_path / "bad.yaml", tiny_study)
    out = subprocess.run([*MELTDYN, "validate", str(study_file)], capture_output=True, text=True)
    assert out.returncode == 2
    assert "engine.platform: Input should be 'auto', 'CUDA', 'OpenCL', 'CPU' or 'Reference' (got 'TPU')" in out.stderr
    assert "Traceback" not in out.stderr


def test_cli_version_and_bare_command_show_what_meltdyn_is(capsys):
    from meltdyn.cli.dispatch import main

    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0 and capsys.readouterr().out.startswith(f"meltdyn {meltdyn.__version__} (Python ")
    assert main([]) == 0  # help, not an error
    out = capsys.readouterr().out
    assert out.startswith("usage: meltdyn") and "validate" in out and "run" in out


def test_validate_shows_the_system_each_run_starts_from(tiny_study, tmp_path, capsys):
    """Atoms per species, cell and density as the system plugin will build them: checked against the built
    configuration itself (its symbols, cell and masses)."""
    import re

    from conftest import build_system
    from meltdyn.cli.dispatch import main
    from meltdyn.plugins.systems.sodium_silicate import SodiumSilicateParams

    assert main(["validate", str(_write_study(tmp_path / "study.yaml", tiny_study))]) == 0
    line = capsys.readouterr().out.splitlines()[1]
    built = build_system(SodiumSilicateParams(**{k: v for k, v in tiny_study["system"].items() if k != "plugin"}),
                         "NS2", 3000.0, 1)
    counts = {s: built.symbols.count(s) for s in built.species}
    assert f"{built.n_atoms} atoms ({', '.join(f'{s} {counts[s]}' for s in ('Na', 'Si', 'O'))})" in line, line
    edge = np.linalg.norm(built.cell_A, axis=1)
    assert " × ".join(f"{x:.2f}" for x in edge) + " Å cell" in line
    density = built.masses_u.sum() / 6.02214076e23 / (built.volume_A3 * 1e-24)
    assert float(re.search(r"([0-9.]+) g/cm³", line).group(1)) == pytest.approx(density, abs=0.006)


@pytest.mark.slow
@pytest.mark.subprocess
def test_cli_plugins_and_schema():
    out = subprocess.run([*MELTDYN, "plugins", "--json"], capture_output=True, text=True, check=True)
    listed = {(p["name"], p["kind"], p["distribution"]) for p in json.loads(out.stdout)["plugins"]}
    assert {("shik", "potential", "meltdyn"), ("openmm", "engine", "meltdyn"), ("msd", "observable", "meltdyn")} <= listed
    schema = json.loads(subprocess.run([*MELTDYN, "schema"], capture_output=True, text=True, check=True).stdout)
    assert schema["title"] == "StudySpec" and "potential" in schema["required"]


def _npt_run(study: dict, registry, pressure_bar: float, out: Path):
    study = json.loads(json.dumps(study))
    stages = study["protocol"]["stages"]
    stages.insert(2, {"stage": "npt", "duration_ps": 1.0, "pressure_bar": pressure_bar})
    study["engine"]["barostat_interval_steps"] = 5
    stages.insert(3, {"stage": "nvt", "duration_ps": 0.02, "thermostat": "nose_hoover", "friction_per_ps": 10.0})
    (run,) = meltdyn.load_study(study, registry, output_dir=out).run(progress=False)
    return run, json.loads((run.dir / "provenance.json").read_text())["engine"]["measured"]["2:npt"]


@pytest.mark.slow
def test_npt_density_rises_with_pressure_and_nvt_continues_at_the_mean_volume(tiny_study, registry, tmp_path):
    _, low = _npt_run(tiny_study, registry, 1.0, tmp_path / "low")
    run, high = _npt_run(tiny_study, registry, 1.0e5, tmp_path / "high")
    assert high["mean_density_g_cm3"] > low["mean_density_g_cm3"]  # positive compressibility
    with H5MDReader(run.dir / "trajectory.h5") as traj:
        boxes = traj.boxes_A()
    np.testing.assert_allclose(boxes[0], high["mean_box_A"], rtol=1e-9)  # NVT and production at the mean box
    np.testing.assert_allclose(boxes, boxes[:1].repeat(len(boxes), axis=0))


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["openmm", "lammps"])
def test_an_exploding_run_stops_clearly_and_keeps_its_last_checkpoint(tiny_study, registry, engine):
    if engine == "lammps":
        pytest.importorskip("lammps")
        tiny_study["engine"] = {"plugin": "lammps", "threads": 1}
    # A threshold no real melt stays under stands in for a blow-up, at the first check of the NVT stage.
    tiny_study["engine"]["max_energy_kJ_mol_per_atom"] = 1.0
    study = meltdyn.load_study(tiny_study, registry)
    with pytest.raises(StudyError, match=r"potential energy .* at step \d+ of stage 1 \(nvt\)\. Check the timestep.*"
                                         r"its last checkpoint \(stage 1, step 0, 0 frames\) is kept"):
        study.run(progress=False)
    (run,) = study.runs
    assert run.status["state"] == "failed" and "potential energy" in run.status["message"]
    progress = json.loads((run.dir / "checkpoints" / "progress.json").read_text())
    assert progress["stage"] == 1 and (run.dir / "checkpoints" / progress["file"]).exists()
    assert not (run.dir / "trajectory.h5").exists()


@pytest.mark.slow
@pytest.mark.subprocess
def test_what_a_finished_stage_measured_survives_a_kill_after_it(tiny_study, registry, tmp_path):
    stages = tiny_study["protocol"]["stages"]
    stages.insert(2, {"stage": "npt", "duration_ps": 0.2, "pressure_bar": 1.0})
    tiny_study["engine"]["barostat_interval_steps"] = 5
    tiny_study["protocol"]["stages"][-1]["duration_ps"] = 1.0
    tiny_study["protocol"]["stages"][-1]["sampling"]["chunk_frames"] = 2
    study_file = _write_study(tmp_path / "study.yaml", tiny_study)
    out = tmp_path / "killed"
    assert kill_during_production(study_file, out, min_frames=4)["stage"] == 3  # NPT was finished
    subprocess.run([*MELTDYN, "run", "-q", str(study_file), "--output-dir", str(out)], check=True)
    prov = json.loads((out / "NS2_T3000K_r0" / "provenance.json").read_text())["engine"]
    assert prov["measured"]["2:npt"]["mean_density_g_cm3"] > 0
    assert set(prov["stage_seconds"]) == {"0:minimise", "1:nvt", "2:npt", "3:production"}


@pytest.mark.slow
@pytest.mark.subprocess
def test_results_are_a_table_with_units_flags_and_failure_reasons(tiny_study, registry, tmp_path):
    tiny_study["sweep"]["temperatures_K"] = [3000.0, 3300.0]
    study = meltdyn.load_study(tiny_study, registry)
    done, broken = study.runs
    study.run(progress=False, only=[done.id])
    study.claim(broken)
    (broken.dir / "trajectory.h5").write_bytes(b"precious")  # a file this run did not write: it must fail
    with pytest.raises(StudyError):
        study.run(progress=False, only=[broken.id])
    study_file = _write_study(tmp_path / "study.yaml", tiny_study)
    out = subprocess.run([*MELTDYN, "results", str(study_file)], capture_output=True, text=True, check=True).stdout
    d_na = estimate_at(done.results()["msd"], "D", species="Na")
    (row,) = [line.split() for line in out.splitlines() if line.strip().startswith("msd.D[species=Na]")]
    # value ± standard error, then the unit: the number with its uncertainty, as the summary holds them
    assert row[4] == "angstrom^2/ps" and float(row[1]) == pytest.approx(d_na.value, rel=1e-3)
    assert row[2:4] == ["±", f"{d_na.stderr:.2g}"]
    reached = Estimate.from_json(done.summary()["state_point"]["temperature_K"])
    assert f"state point: T = {reached.text(4)} K (target 3000 K" in out
    assert f"{broken.id}  failed: TrajectoryConflict: " in out and "trajectory.h5 exists" in out
    # a value with a caution says so on its row; a caution is said once, not again as its observable's flag
    for q in quantities(done.summary()):
        if q.observable != "state_point":
            (line,) = [x for x in out.splitlines() if x.strip().startswith(f"{q.key} ")]
            assert line.endswith("(see note)") == bool(q.estimate.note), line
    said = [x.split(": ", 2)[-1] for x in out.splitlines() if x.strip().startswith("note (")]
    assert said and len(said) == len(set(said)), said
    lines = [json.loads(line) for line in subprocess.run([*MELTDYN, "results", "--json", str(study_file)],
                                                         capture_output=True, text=True, check=True).stdout.splitlines()]
    assert [(r["run"], r["state"]) for r in lines] == [(done.id, "completed"), (broken.id, "failed")]
    (d_json,) = [q for q in quantities(lines[0]["summary"]) if q.key == "msd.D[species=Na]"]
    assert d_json.estimate.value == d_na.value


@pytest.mark.slow
def test_analysing_a_run_builds_neither_its_potential_nor_its_system(tiny_study, registry, monkeypatch):
    """What provenance needs of the system and potential is recorded when the run is simulated; the analysis that
    follows (here, and as a Dask task on another worker) needs only the trajectory and the observables."""
    study = meltdyn.load_study(tiny_study, registry)
    (run,) = study.runs
    assert study.claim(run)
    facts, failures = study.simulate([run], progress=False)
    assert failures == []
    simulated_provenance = facts[run.id]["simulated"]
    build = registry.build

    def only_observables(kind, section):
        assert kind == "observable", f"the analysis built a {kind}"
        return build(kind, section)

    monkeypatch.setattr(registry, "build", only_observables)
    assert study.analyse(run, facts[run.id]) == []
    provenance = json.loads((run.dir / "provenance.json").read_text())
    assert provenance["potential"] == simulated_provenance["potential"] and provenance["potential"]["name"] == "shik"
    assert provenance["system"] == simulated_provenance["system"] and provenance["system"]
    assert "simulated" not in provenance["engine"]
    assert set(simulated_provenance["seeds"]) <= set(provenance["seeds"])


@pytest.mark.slow
def test_reanalysis_repeats_no_md_and_keeps_the_previous_results(tiny_study, registry, monkeypatch):
    """`meltdyn run --reanalyse` after an upgrade that changed an observable (here: its summary gains a key): new
    results from the same trajectory, the previous ones moved to superseded/, and a failed reanalysis changes
    nothing."""
    from meltdyn.study import runner as study_module
    from meltdyn.plugins.observables.msd import MSD

    tiny_study["sweep"]["replicas"] = 2
    study = meltdyn.load_study(tiny_study, registry)
    done = study.runs[0]
    study.run(progress=False, only=[done.id])
    outputs = ("results.h5", "summary.json", "provenance.json")
    before = {name: (done.dir / name).read_bytes() for name in outputs + ("trajectory.h5",)}
    checkpoints = sorted(p.name for p in (done.dir / "checkpoints").iterdir())

    def broken(*args, **kwargs):
        raise RuntimeError("an observable's bug")

    monkeypatch.setattr(study_module, "analyse", broken)
    reanalysed, skipped = study.reanalyse()
    assert reanalysed == [] and "reanalysis failed (RuntimeError: an observable's bug); its previous results are " \
        "kept" in skipped[0] and "is pending" in skipped[1]
    assert {name: (done.dir / name).read_bytes() for name in before} == before
    assert not (done.dir / "superseded").exists() and not (done.dir / ".reanalysis").exists()
    monkeypatch.undo()

    original = MSD.summary
    monkeypatch.setattr(MSD, "summary",
                        lambda self, results: Summary(original(self, results).quantities, ["upgraded"]))
    reanalysed, skipped = study.reanalyse()
    assert [r.id for r in reanalysed] == [done.id] and "is pending" in skipped[0]
    assert json.loads((done.dir / "summary.json").read_text())["msd"]["flags"] == ["upgraded"]
    (archive,) = (done.dir / "superseded").iterdir()
    assert {name: (archive / name).read_bytes() for name in outputs} == {name: before[name] for name in outputs}
    assert (done.dir / "trajectory.h5").read_bytes() == before["trajectory.h5"]
    assert sorted(p.name for p in (done.dir / "checkpoints").iterdir()) == checkpoints
    np.testing.assert_array_equal(done.results()["msd"]["msd"].values,
                                  meltdyn.analysis.results.load_results(archive / "results.h5")["msd"]["msd"].values)
    provenance, previous = (json.loads(p.read_text()) for p in (done.dir / "provenance.json",
                                                                   archive / "provenance.json"))
    assert provenance["analysis"]["superseded"] == f"superseded/{archive.name}"
    assert {k: v for k, v in provenance.items() if k != "analysis"} == \
        {k: v for k, v in previous.items() if k != "analysis"}
    assert done.completed and not (done.dir / ".reanalysis").exists()
