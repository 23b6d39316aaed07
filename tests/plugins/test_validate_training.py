"""`meltdyn validate` checks a training file (and an analysis file) as `meltdyn train` would, writing nothing."""

from __future__ import annotations

import numpy as np
import yaml

from meltdyn.base.units import EV_A3_TO_GPA
from meltdyn.cli.dispatch import main
from meltdyn.testing import write_labelled_frames


def _training(tmp_path, paths, **reference):
    spec = {"name": "t", "output_dir": str(tmp_path / "model"),
            "reference_data": {"plugin": "ase_file", "paths": [str(p) for p in paths], **reference},
            "model": {"cutoff_A": 3.0, "features": 8, "interactions": 1, "radial_basis": 4}}
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_a_training_file_is_checked_without_training_or_writing(tmp_path, capsys):
    frames = write_labelled_frames(tmp_path / "frames.extxyz", frames=4)
    assert main(["validate", str(_training(tmp_path, [frames]))]) == 0
    out = capsys.readouterr().out
    assert "valid training file 't': 4 reference frames" in out and "a new training" in out
    assert not (tmp_path / "model").exists()


def test_reference_data_that_train_would_refuse_validate_refuses(tmp_path, capsys):
    import ase.io
    from ase.calculators.singlepoint import SinglePointCalculator

    frames = ase.io.read(write_labelled_frames(tmp_path / "ok.extxyz"), index=":")
    for atoms in frames:  # a melt's stress written in GPa, the file declared as eV/Å³ (the default)
        atoms.calc = SinglePointCalculator(atoms, energy=atoms.get_potential_energy(), forces=atoms.get_forces(),
                                           stress=np.array([2.0, -1.5, 0.8, 0.1, 0.2, 0.3]))
    ase.io.write(tmp_path / "gpa.extxyz", frames)
    assert main(["validate", str(_training(tmp_path, [tmp_path / "gpa.extxyz"]))]) == 2
    err = capsys.readouterr().err
    assert f"is {2.0 * EV_A3_TO_GPA:.4g} GPa, beyond any condensed-phase reference" in err and "2 GPa if GPa" in err
    assert main(["validate", str(_training(tmp_path, [tmp_path / "gpa.extxyz"], stress_unit="GPa"))]) == 0
    assert main(["validate", str(_training(tmp_path, [tmp_path / "none.extxyz"]))]) == 2
    assert "reference_data.paths[0]" in capsys.readouterr().err
    assert not (tmp_path / "model").exists()


def test_a_file_of_no_known_kind_is_named_with_the_kinds(tmp_path, capsys):
    (tmp_path / "x.yaml").write_text("foo: 1\n")
    assert main(["validate", str(tmp_path / "x.yaml")]) == 2
    assert "neither a study" in capsys.readouterr().err
