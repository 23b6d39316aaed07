"""A separate distribution adds an observable through the entry-point group; meltdyn finds and runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

EXAMPLE = Path(__file__).parent / "plugin_example"


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory) -> dict[str, str]:
    """Install the example plugin into its own directory (the test environment stays untouched)."""
    target = tmp_path_factory.mktemp("site")
    build = tmp_path_factory.mktemp("build")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(EXAMPLE)], check=True, cwd=build)
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


def test_it_passes_the_conformance_kit_in_its_own_tests(plugin_site, tmp_path):
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(EXAMPLE / "tests"),
                          "--rootdir", str(tmp_path)], capture_output=True, text=True, env=plugin_site, cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "1 passed" in out.stdout


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

    import h5py

    run_dir = Path(tiny_study["output_dir"]) / "NS2_T3000K_r0"
    with h5py.File(run_dir / "results.h5") as f:
        assert f["maxdisp/max_Na"].attrs["unit"] == "angstrom"
        # An atom's largest excursion is at least the root of the MSD at the longest lag.
        assert f["maxdisp/max_Na"][()] ** 2 >= f["msd/msd_Na"][-1]
        assert 0 <= f["maxdisp/movers_Na"][()] <= 34
    assert json.loads((run_dir / "provenance.json").read_text())["plugins"]["maxdisp"]["distribution"] == \
        "meltdyn-maxdisp"


def test_without_the_plugin_the_study_is_rejected_with_the_known_names(tiny_study, tmp_path):
    tiny_study["observables"] = [{"plugin": "maxdisp"}]
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(tiny_study))
    out = meltdyn(dict(os.environ), "validate", str(path), check=False)
    assert "observables[0]: 'maxdisp' is not a known observable plugin; known: alpha2, isf, msd, van_hove" in out.stderr
