"""Study-file validation: every error names the field, the value and what is allowed."""

from __future__ import annotations

import copy
import re

import pytest

from meltdyn.base.errors import StudyError
from meltdyn.study.model import study_model
from meltdyn.study.runner import load_study, validate_study


def _error(study: dict, registry) -> str:
    """Everything meltdyn validate reports: the file's shape, then the checks of the study as a whole."""
    with pytest.raises(StudyError) as info:
        load_study(study, registry)
    return str(info.value)


def test_tiny_study_is_valid(tiny_study, registry):
    spec = validate_study(tiny_study, registry)
    assert spec.potential.plugin == "shik"
    assert spec.potential.coulomb_cutoff_A == 6.0
    assert spec.protocol.production.sampling.chunk_frames == 4


def test_unknown_key_is_named_with_its_value_and_the_allowed_keys(tiny_study, registry):
    tiny_study["system"]["atom"] = 100
    msg = _error(tiny_study, registry)
    assert "system.atom: unknown key (value 100)" in msg
    assert "did you mean 'atoms'?" in msg
    assert "Allowed keys: atoms, box_A, density_g_cm3" in msg


def test_wrong_unit_suggests_the_field_with_the_right_unit(tiny_study, registry):
    tiny_study["protocol"]["stages"][1] = {"stage": "nvt", "duration_ns": 0.05}
    msg = _error(tiny_study, registry)
    assert "protocol.stages[1].duration_ns: unknown key (value 0.05); did you mean 'duration_ps'?" in msg
    assert "protocol.stages[1].duration_ps: required field is missing" in msg


def test_unknown_plugin_lists_the_known_ones(tiny_study, registry):
    tiny_study["potential"] = {"plugin": "bks"}
    tiny_study["observables"] = [{"plugin": "msd"}, {"plugin": "rdf"}]
    msg = _error(tiny_study, registry)
    assert "potential: 'bks' is not a known potential plugin; known: painn, shik" in msg
    assert "observables[1]: 'rdf' is not a known observable plugin; known: alpha2, chi4, isf, mobility, model_deviation, msd, network, structure, van_hove" in msg
    assert "did you mean" not in msg  # nothing is close to bks or rdf


def test_a_misspelt_plugin_or_stage_gets_the_name_it_is_closest_to(tiny_study, registry):
    tiny_study["engine"] = {"plugin": "openm"}
    tiny_study["observables"] = [{"plugin": "van_hov"}]
    tiny_study["protocol"]["stages"][0]["stage"] = "minimize"
    msg = _error(tiny_study, registry)
    assert "engine: 'openm' is not a known engine plugin; known: lammps, openmm, torchsim; did you mean 'openmm'?" in msg
    assert "observables[0]: 'van_hov' is not a known observable plugin" in msg and "did you mean 'van_hove'?" in msg
    assert "did you mean 'minimise'?" in msg


def test_plugin_parameters_are_validated_before_anything_runs(tiny_study, registry, tmp_path):
    tiny_study["potential"]["coulomb"] = "ewald"
    tiny_study["engine"]["threads"] = 0
    msg = _error(tiny_study, registry)
    assert "potential.coulomb: Input should be 'wolf' or 'pme' (got 'ewald')" in msg
    assert "engine.threads: Input should be greater than or equal to 1 (got 0)" in msg
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("bad, expected", [
    ({"sweep": {"compositions": ["NS2", "SN3"], "temperatures_K": [2000]}}, "composition 'SN3' is not of the form NSk"),
    ({"sweep": {"compositions": [1.5], "temperatures_K": [2000]}}, "composition 1.5: a Na2O mole fraction must lie in (0, 1)"),
    ({"sweep": {"compositions": ["NS2"], "temperatures_K": [-5]}}, "sweep.temperatures_K[0]: Input should be greater than 0 (got -5)"),
    ({"system": {"plugin": "sodium_silicate", "atoms": 100, "density_g_cm3": 2.2, "box_A": 12}},
     "give density_g_cm3 or box_A, not both"),
    ({"protocol": {"stages": [{"stage": "minimise"}]}}, "stages must end with exactly one 'production' stage"),
    ({"protocol": {"stages": [{"stage": "melt"}]}}, "protocol.stages[0]: 'melt' is not a known stage; known: minimise, nvt, npt, ramp, nve, production"),
    ({"observables": [{"plugin": "msd"}, {"plugin": "msd"}]}, "observable labels must be unique; repeated: ['msd']"),
])
def test_bad_values_are_reported(tiny_study, registry, bad, expected):
    tiny_study.update(bad)
    assert expected in _error(tiny_study, registry)


def test_every_problem_is_reported_at_once(tiny_study, registry):
    tiny_study["system"]["atoms"] = -3
    tiny_study["engine"]["platform"] = "TPU"
    msg = _error(tiny_study, registry)
    assert "system.atoms" in msg and "engine.platform" in msg


def test_schema_includes_plugin_parameters(registry):
    schema = study_model(registry).model_json_schema()
    text = str(schema)
    for field in ("coulomb_cutoff_A", "checkpoint_interval_ps", "reference_frame", "temperature_K", "timestep_fs"):
        assert field in text
    assert schema["additionalProperties"] is False


def test_missing_and_malformed_files_are_clear(tmp_path):
    with pytest.raises(StudyError, match="does not exist"):
        load_study(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("- just\n- a list\n")
    with pytest.raises(StudyError, match="must hold a mapping at the top level, got list"):
        load_study(bad)


def test_labels_let_one_observable_run_twice(tiny_study, registry):
    study = copy.deepcopy(tiny_study)
    study["observables"] = [{"plugin": "msd"}, {"plugin": "msd", "label": "msd_late", "fit_window_ps": [0.1, 0.2]}]
    assert validate_study(study, registry).observable_labels == ["msd", "msd_late"]


def test_an_engine_and_a_potential_that_do_not_fit_are_refused_naming_both(tiny_study, registry, tmp_path):
    tiny_study["engine"] = {"plugin": "lammps"}
    tiny_study["potential"]["coulomb"] = "pme"
    msg = _error(tiny_study, registry)
    assert ("engine: 'lammps' needs a potential that gives LAMMPS pair commands (lammps_commands(system, species, "
            "workdir)) (interface 'lammps_commands'); potential 'shik' with these settings provides openmm_forces. "
            "Engines that can run it: openmm") in msg

    from meltdyn.plugins.potentials.painn.runtime import save_untrained

    save_untrained(tmp_path / "model", ["Na", "Si", "O"])
    tiny_study["potential"] = {"plugin": "painn", "model_dir": str(tmp_path / "model")}
    assert "engine: 'lammps' needs a potential that gives LAMMPS pair commands" in _error(tiny_study, registry)
    assert not (tmp_path / "out").exists()


def test_what_the_run_would_meet_is_found_before_it_starts(tiny_study, registry, tmp_path):
    tiny_study["potential"] = {"plugin": "painn", "model_dir": str(tmp_path / "no-model")}
    assert f"potential.model_dir: {str(tmp_path / 'no-model')!r} does not exist; train a model first" in \
        _error(tiny_study, registry)
    # The authors' 10 Å Coulomb cutoff in the tiny study's box: 153 atoms of NS2 (3096.5 u) at the density
    # model's 2.49 / 1.225 = 2.033 g/cm³ fill a cube of 2529.6 Å³, 13.63 Å wide.
    tiny_study["potential"] = {"plugin": "shik"}
    msg = _error(tiny_study, registry)
    assert ("potential: cutoff 10 Å needs a box at least 20.00 Å wide; run NS2_T3000K_r0 starts with 153 atoms in "
            "one 13.63 Å wide. At that density set system.atoms to at least ") in msg
    # The count it names is one that does, and the first that does at this density and formula unit.
    atoms = int(re.search(r"set system.atoms to at least (\d+)", msg).group(1))
    assert "shorter cutoffs" in msg and 153 * (20 / 13.63) ** 3 <= atoms
    tiny_study["system"]["atoms"] = atoms
    load_study(tiny_study, registry)
    tiny_study["system"]["atoms"] = atoms - 9  # one NS2 formula unit fewer
    assert "needs a box at least 20.00 Å wide" in _error(tiny_study, registry)
    tiny_study["system"]["atoms"] = 153
    (tmp_path / "file").write_text("")
    tiny_study["potential"] = {"plugin": "shik", "short_range_cutoff_A": 5.5, "coulomb_cutoff_A": 6.0}
    tiny_study["output_dir"] = str(tmp_path / "file")
    assert f"output_dir: {str(tmp_path / 'file')!r} is a file, not a directory" in _error(tiny_study, registry)


# -- issue 20: values wrongly accepted or unclearly refused ------------------------------------------------------

@pytest.mark.parametrize("composition, needle", [(1e-300, "rounds to pure SiO2"), (0.999999, "rounds to pure Na2O"),
                                                 ("NS1000000", "rounds to pure SiO2")])
def test_a_composition_that_rounds_to_one_oxide_is_refused_with_the_allowed_range(composition, needle):
    from meltdyn.plugins.systems.sodium_silicate import recipe

    with pytest.raises(ValueError, match=rf"{needle} .*allowed: 0.02 to 0.98"):
        recipe(composition, 150)
    assert recipe(0.02, 150).n_na2o == 1  # the smallest fraction still has its Na2O


def test_a_composition_whose_formula_unit_exceeds_the_atoms_is_refused():
    from meltdyn.plugins.systems.sodium_silicate import recipe

    with pytest.raises(ValueError, match=r"needs 3 Na2O \+ 7 SiO2 per formula unit, 30 atoms, and system.atoms is 12"):
        recipe(0.3, 12)


def test_integers_past_pythons_digit_limit_are_read_so_the_field_names_its_range(tmp_path):
    from meltdyn.spec.studyfile import parse_yaml

    assert parse_yaml("seed: " + "7" * 5000, "f")["seed"] == 7 * (10**5000 - 1) // 9
    with pytest.raises(StudyError, match=r"seed: an integer of 20,000 digits"):
        parse_yaml("seed: " + "7" * 20000, "f")


@pytest.mark.parametrize("text, tag", [
    ("a: !!binary dGlueQ==", "!!binary"), ("a: !!set {x: null}", "!!set"),
    ("a: !!python/object/apply:os.system ['touch PWNED']", "!!python/object/apply"), ("a: !local 1", "!local"),
    ("a: !!omap [{b: 1}]", "!!omap")])
def test_a_study_file_holds_plain_data_only(text, tag, tmp_path, monkeypatch):
    from meltdyn.spec.studyfile import parse_yaml

    monkeypatch.chdir(tmp_path)
    with pytest.raises(StudyError, match=rf"tag {re.escape(tag)}\S* is not allowed"):
        parse_yaml(text, "f")
    assert list(tmp_path.iterdir()) == []


def test_errors_show_long_values_cut_and_huge_integers_by_their_digits():
    from meltdyn.base.errors import shown

    assert shown(10**5000 - 1) == "an integer of 5,000 digits"
    assert shown(10**5000) == "an integer of 5,001 digits"
    assert shown("x" * 100_000).endswith("... (100,000 characters)")
    assert len(shown("x" * 100_000)) < 250
    assert shown(3000.0) == "3000.0"
