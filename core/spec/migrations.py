"""What changed in the study-file protocol between releases: the error an old study file gets, and the upgrade of
an old run's resolved spec so that the run it describes resumes after the user has updated the study file.

0.3.0 moved the engine-only barostat knobs out of the ``npt`` stage into the engine's parameters
(``barostat_interval_steps`` for OpenMM's Monte Carlo barostat, ``barostat_time_ps`` for LAMMPS and TorchSim) and
gave the minimiser's tolerance in meltdyn's units (``tolerance_eV_A``, the same root-mean-square force as the
kJ/mol/nm ``tolerance_kJ_mol_nm`` it replaces).
"""

from __future__ import annotations

import copy
from typing import Any

from meltdyn.base.units import KJ_MOL_TO_EV

BAROSTAT_KNOBS = ("barostat_interval_steps", "barostat_time_ps")
"""Fields of the 0.2 ``npt`` stage that are now the engine's (each engine has the one its barostat uses)."""

OLD_TOLERANCE = "tolerance_kJ_mol_nm"


def tolerance_eV_A(kj_mol_nm: float) -> float:
    """A force in kJ/mol/nm in eV/Å (1 nm = 10 Å)."""
    return kj_mol_nm * KJ_MOL_TO_EV / 10.0


def moved_field(stage: str, name: str, value: Any) -> str | None:
    """The error for a field a 0.2 study file gives a stage that 0.3 moved or renamed, or None."""
    if stage == "npt" and name in BAROSTAT_KNOBS:
        return (f"{name} is an engine setting since meltdyn 0.3.0: give it in the engine section (engine: "
                f"{{plugin: ..., {name}: {value}}}; OpenMM's barostat takes barostat_interval_steps, LAMMPS' and "
                "TorchSim's barostat_time_ps) and remove it from the npt stage")
    if stage == "minimise" and name == OLD_TOLERANCE:
        converted = tolerance_eV_A(float(value)) if isinstance(value, (int, float)) else None
        written = f": tolerance_eV_A: {converted!r}" if converted is not None else ""
        return (f"{OLD_TOLERANCE} is replaced since meltdyn 0.3.0 by tolerance_eV_A, the same root-mean-square force "
                f"in eV/Å (1 kJ/mol/nm = {tolerance_eV_A(1.0):.6g} eV/Å){written}")
    return None


def upgrade_resolved_spec(previous: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
    """``previous`` (an earlier meltdyn's resolved spec of a run, from its spec.json) in the 0.3 layout, taking from
    ``current`` (this meltdyn's resolved spec of the same run) only where each barostat knob now lives: a knob the
    0.2 npt stages gave moves to the engine section when the engine's parameters have it; one the engine has that
    no npt stage gave (a protocol without NPT, where it acts on nothing) takes the current value. Returns
    ``previous`` unchanged when it is already in the 0.3 layout or its npt stages disagree on a knob (then the
    runs differ, and the comparison says so)."""
    stages = previous.get("protocol", {}).get("stages")
    engine = previous.get("engine")
    if not isinstance(stages, list) or not isinstance(engine, dict):
        return previous
    old = any(isinstance(s, dict) and (OLD_TOLERANCE in s or any(k in s for k in BAROSTAT_KNOBS)) for s in stages)
    if not old:
        return previous
    out = copy.deepcopy(previous)
    given: dict[str, set[Any]] = {}
    for stage in out["protocol"]["stages"]:
        if not isinstance(stage, dict):
            continue
        if OLD_TOLERANCE in stage:
            stage["tolerance_eV_A"] = tolerance_eV_A(float(stage.pop(OLD_TOLERANCE)))
        if stage.get("stage") == "npt":
            for knob in BAROSTAT_KNOBS:
                if knob in stage:
                    given.setdefault(knob, set()).add(stage.pop(knob))
    current_engine = current.get("engine", {})
    for knob in BAROSTAT_KNOBS:
        if knob not in current_engine or knob in out["engine"]:
            continue
        values = given.get(knob, set())
        if len(values) > 1:
            return previous
        out["engine"][knob] = values.pop() if values else current_engine[knob]
    return out


__all__ = ["BAROSTAT_KNOBS", "moved_field", "tolerance_eV_A", "upgrade_resolved_spec"]
