"""0.3.0's protocol vocabulary: every dynamics stage read the same way, engine-only knobs in the engine's section,
the minimiser's tolerance in eV/Å; a 0.2 study file is told where each field went, and a 0.2 run resumes."""

from __future__ import annotations

import copy
import json

import pytest

import meltdyn
from meltdyn.base.errors import StudyError
from meltdyn.base.units import EV_TO_KJ_MOL
from meltdyn.spec.migrations import tolerance_eV_A, upgrade_resolved_spec
from meltdyn.spec.models import DEFAULT_TOLERANCE_EV_A, ProtocolSpec, stage_dynamics

SAMPLING = {"interval_ps": 0.01}


def _protocol(*stages: dict) -> ProtocolSpec:
    return ProtocolSpec(stages=[*stages, {"stage": "production", "duration_ps": 0.1, "ensemble": "nve",
                                          "sampling": SAMPLING}])


def test_every_stage_has_one_dynamics_vocabulary():
    protocol = _protocol({"stage": "minimise"}, {"stage": "nvt", "duration_ps": 1, "thermostat": "nose_hoover",
                                                 "friction_per_ps": 5.0},
                         {"stage": "npt", "duration_ps": 1, "pressure_bar": 1e4}, {"stage": "nve", "duration_ps": 1})
    minimise, nvt, npt, nve, production = (stage_dynamics(s) for s in protocol.stages)
    assert minimise is None
    assert (nvt.ensemble, nvt.thermostat, nvt.friction_per_ps, nvt.pressure_bar) == ("nvt", "nose_hoover", 5.0, None)
    assert (npt.ensemble, npt.thermostat, npt.pressure_bar) == ("npt", "langevin", 1e4)
    # NVE has no thermostat, whether a stage of its own or a production whose thermostat field keeps its default.
    assert nve == production and (nve.ensemble, nve.thermostat, nve.friction_per_ps) == ("nve", None, None)
    thermostatted = ProtocolSpec(stages=[{"stage": "production", "duration_ps": 0.1, "sampling": SAMPLING}])
    assert stage_dynamics(thermostatted.production).ensemble == "nvt"


def test_the_tolerance_is_the_same_force_in_ev_per_angstrom():
    assert tolerance_eV_A(10.0) * EV_TO_KJ_MOL * 10 == pytest.approx(10.0, rel=1e-12)
    assert _protocol({"stage": "minimise"}).stages[0].tolerance_eV_A == DEFAULT_TOLERANCE_EV_A == tolerance_eV_A(10.0)


@pytest.mark.parametrize("stage, field, said", [
    ({"stage": "npt", "duration_ps": 1, "barostat_interval_steps": 10}, "barostat_interval_steps", "engine section"),
    ({"stage": "npt", "duration_ps": 1, "barostat_time_ps": 0.5}, "barostat_time_ps", "engine section"),
    ({"stage": "minimise", "tolerance_kJ_mol_nm": 5.0}, "tolerance_kJ_mol_nm", f"tolerance_eV_A: {tolerance_eV_A(5.0)!r}"),
])
def test_a_field_moved_since_0_2_says_where_it_went(stage, field, said):
    with pytest.raises(ValueError) as error:
        _protocol(stage)
    assert field in str(error.value) and said in str(error.value) and "0.3.0" in str(error.value)


def _as_0_2(resolved: dict, interval_steps: int | list[int] = 25, time_ps: float = 1.0) -> dict:
    """A resolved spec as meltdyn 0.2 wrote it in spec.json: both barostat knobs in each npt stage, the tolerance
    in kJ/mol/nm, the engine without the knob."""
    old = copy.deepcopy(resolved)
    old["engine"].pop("barostat_interval_steps", None)
    npt = [s for s in old["protocol"]["stages"] if s["stage"] == "npt"]
    for stage, steps in zip(npt, interval_steps if isinstance(interval_steps, list) else [interval_steps] * len(npt)):
        stage.update(barostat_interval_steps=steps, barostat_time_ps=time_ps)
    for stage in old["protocol"]["stages"]:
        if stage["stage"] == "minimise":
            assert stage.pop("tolerance_eV_A") == DEFAULT_TOLERANCE_EV_A
            stage["tolerance_kJ_mol_nm"] = 10.0  # 0.2's default, which 0.3's is exactly
    return old


def _npt_study(tiny_study: dict, interval_steps: int) -> dict:
    tiny_study["protocol"]["stages"].insert(1, {"stage": "npt", "duration_ps": 0.05})
    tiny_study["engine"]["barostat_interval_steps"] = interval_steps
    return tiny_study


def test_a_run_made_by_0_2_resumes_once_its_study_file_is_updated(tiny_study, registry):
    study = meltdyn.load_study(_npt_study(tiny_study, 10), registry)
    (run,) = study.runs
    old = _as_0_2(run.resolved_spec(), interval_steps=10)
    run.dir.mkdir(parents=True)
    (run.dir / "spec.json").write_text(json.dumps(old))
    assert upgrade_resolved_spec(old, run.resolved_spec()) == run.resolved_spec()
    assert study.claim(run)  # accepted: the same run
    assert json.loads((run.dir / "spec.json").read_text()) == old  # and its spec.json is left as 0.2 wrote it


def test_a_0_2_run_with_another_barostat_is_still_another_run(tiny_study, registry):
    study = meltdyn.load_study(_npt_study(tiny_study, 10), registry)
    (run,) = study.runs
    run.dir.mkdir(parents=True)
    (run.dir / "spec.json").write_text(json.dumps(_as_0_2(run.resolved_spec(), interval_steps=25)))
    with pytest.raises(StudyError, match=r"different spec.*Changed: engine\."):
        study.claim(run)


def test_npt_stages_that_disagreed_in_0_2_cannot_be_one_engine_setting(tiny_study, registry):
    study = _npt_study(tiny_study, 10)
    study["protocol"]["stages"].insert(2, {"stage": "npt", "duration_ps": 0.05})
    (run,) = meltdyn.load_study(study, registry).runs
    old = _as_0_2(run.resolved_spec(), interval_steps=[10, 50])
    assert upgrade_resolved_spec(old, run.resolved_spec()) is old  # left as it was: the comparison says what differs
