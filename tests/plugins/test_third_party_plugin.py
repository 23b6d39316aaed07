"""Separate distributions add observables through the entry-point group — one of each kind: ``maxdisp`` sees blocks
of atoms, ``pair_rdf`` (partial g(r)) sees whole frames; meltdyn finds them, the kit checks them, a study runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from meltdyn.analysis.results import load_results
from meltdyn.plugin import select

EXAMPLE = Path(__file__).resolve().parents[1] / "plugin_example"
FRAME_EXAMPLE = Path(__file__).resolve().parents[1] / "plugin_pair_rdf"

pytestmark = [pytest.mark.slow, pytest.mark.subprocess]


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory) -> dict[str, str]:
    """Install the example plugins into their own directory (the test environment stays untouched)."""
    target = tmp_path_factory.mktemp("site")
    build = tmp_path_factory.mktemp("build")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(EXAMPLE), str(FRAME_EXAMPLE)], check=True, cwd=build)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(target), env.get("PYTHONPATH")]))
    return env


def meltdyn(env, *args, check=True):
    return subprocess.run([sys.executable, "-m", "meltdyn.cli", *args], capture_output=True, text=True, env=env,
                          check=check)


def test_installed_plugin_is_discovered_with_its_distribution(plugin_site):
    listed = json.loads(meltdyn(plugin_site, "plugins", "--json").stdout)
    rows = {p["name"]: p for p in listed["plugins"]}
    assert rows["maxdisp"] == {"name": "maxdisp", "kind": "observable", "version": "0.3.0",
                               "distribution": "meltdyn-maxdisp",
                               "summary": "largest displacement per species (example third-party plugin)"}
    assert listed["problems"] == []
    schema = json.loads(meltdyn(plugin_site, "schema").stdout)
    assert "threshold_A" in json.dumps(schema)


@pytest.mark.parametrize(("example", "passed"), [(EXAMPLE, 1), (FRAME_EXAMPLE, 2)], ids=["atom-major", "whole-frame"])
def test_it_passes_the_conformance_kit_in_its_own_tests(plugin_site, tmp_path, example, passed):
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(example / "tests"),
                          "--rootdir", str(tmp_path)], capture_output=True, text=True, env=plugin_site, cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"{passed} passed" in out.stdout


def test_its_parameters_are_validated_and_it_runs_in_a_study(plugin_site, tiny_study, tmp_path):
    tiny_study["observables"] = [{"plugin": "msd"}, {"plugin": "maxdisp", "threshold_A": -1}]
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(tiny_study))
    out = meltdyn(plugin_site, "validate", str(bad), check=False)
    assert out.returncode == 2
    assert "observables[1].threshold_A: Input should be greater than 0 (got -1)" in out.stderr

    tiny_study["observables"][1]["threshold_A"] = 0.5
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(tiny_study))
    meltdyn(plugin_site, "run", "-q", str(good))
    out = meltdyn(plugin_site, "results", str(good)).stdout
    assert "NS2_T3000K_r0" in out
    # The plugin's declared quantities, labelled by species, reach `meltdyn results` and the report as ours do.
    assert "maxdisp.max_displacement[species=Na]" in out and "maxdisp.movers[species=O]" in out
    report = tmp_path / "report"
    meltdyn(plugin_site, "report", str(good), "--to", str(report))
    table = json.loads((report / "table.json").read_text())
    assert "maxdisp max_displacement Na (Å)" in table["headline"]["columns"]
    assert any(row["quantity"] == "maxdisp.movers[species=Si]" for row in table["quantities"])
    assert (report / "maxdisp_max_displacement.png").is_file()  # its "level" trend: drawn against T

    run_dir = Path(tiny_study["output_dir"]) / "NS2_T3000K_r0"
    results = load_results(run_dir / "results.h5")
    assert results["maxdisp"]["max_displacement"].unit == "angstrom"
    assert results["maxdisp"]["max_displacement"].dims == ("species",)
    # An atom's largest excursion is at least the root of the MSD at the longest lag.
    assert select(results["maxdisp"], "max_displacement", species="Na") ** 2 >= select(
        results["msd"], "msd", species="Na")[-1]
    assert 0 <= select(results["maxdisp"], "movers", species="Na") <= 34
    assert json.loads((run_dir / "provenance.json").read_text())["plugins"]["maxdisp"]["distribution"] == \
        "meltdyn-maxdisp"


def test_without_the_plugin_the_study_is_rejected_with_the_known_names(tiny_study, tmp_path):
    tiny_study["observables"] = [{"plugin": "maxdisp"}]
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(tiny_study))
    out = meltdyn(dict(os.environ), "validate", str(path), check=False)
    assert "observables[0]: 'maxdisp' is not a known observable plugin; known: alpha2, chi4, isf, mobility, model_deviation, msd, network, structure, van_hove" in out.stderr


def test_a_whole_frame_observable_runs_in_a_study_beside_the_atom_major_ones(plugin_site, tiny_study, tmp_path):
    tiny_study["observables"] = [{"plugin": "msd"}, {"plugin": "pair_rdf", "r_max_A": 4.0, "bins": 40}]
    study = tmp_path / "rdf.yaml"
    study.write_text(yaml.safe_dump(tiny_study))
    meltdyn(plugin_site, "run", "-q", str(study))
    import h5py

    run_dir = Path(tiny_study["output_dir"]) / "NS2_T3000K_r0"
    with h5py.File(run_dir / "results.h5") as f, h5py.File(run_dir / "trajectory.h5") as traj:
        frames = traj["particles/all/position/value"].shape[0]
        assert f["pair_rdf/frames"][()] == frames  # every frame, once
        pair = list(f["pair_rdf/pair"].asstr()[()]).index("O-Si")
        r, g = f["pair_rdf/r"][()], f["pair_rdf/g"][pair]
        assert f["pair_rdf/g"].attrs["unit"] == "1" and list(f["pair_rdf/g"].attrs["dims"]) == ["pair", "r"]
    # SHIK's Si–O bond: no pair closer than 1.2 Å, the first peak between 1.5 and 1.8 Å.
    assert np.all(g[r < 1.2] == 0)
    assert 1.5 < r[np.argmax(g)] < 1.8
    provenance = json.loads((run_dir / "provenance.json").read_text())
    assert provenance["plugins"]["pair_rdf"]["distribution"] == "meltdyn-pair-rdf"
    assert provenance["analysis"]["batch_frames"] >= 1
