"""The ``shik`` potential: Buckingham + r^-24 wall + Wolf (or PME) Coulomb for Na–Si–O, with the oxygen charge set
by charge neutrality of each composition (Sundararaman et al. 2018, 2019).

The formula lives in :mod:`.potential`; each engine's encoding of it in its own module (:mod:`.for_openmm`,
:mod:`.for_lammps`, :mod:`.for_torch`; PME runs on OpenMM only). Registration stays light: nothing engine-specific
is imported until a study builds it.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from meltdyn.contracts import PotentialOutline, StudyOutline
from meltdyn.hookspecs import hookimpl
from meltdyn.plugin import PluginDef, PluginParams


class ShikParams(PluginParams):
    coulomb: Literal["wolf", "pme"] = Field("wolf", description="Wolf shifted-force sum as published, or PME (engine "
                                                                "openmm only).")
    coulomb_cutoff_A: float = Field(10.17, gt=0, le=100, description="Real-space Coulomb cutoff.")
    wolf_alpha_per_A: float = Field(0.0, ge=0, le=10, description="Wolf damping; 0 is the published undamped form.")
    short_range_cutoff_A: float = Field(8.0, gt=0, le=100, description="Buckingham + r^-24 cutoff (published: 8 Å).")
    smoothing_gamma_A: float = Field(0.2, ge=0, le=10, description="Width of exp(-γ²/(r-rc)²); 0 truncates sharply.")
    table_spacing_A: float = Field(0.002, gt=1e-5, le=0.05, description="Spacing of the OpenMM pair table.")
    table_start_A: float = Field(0.8, gt=0, description="Closest tabulated distance; closer pairs feel a linear wall "
                                 "with the slope the potential has there.")
    pme_tolerance: float = Field(5e-4, gt=0, le=0.1, description="OpenMM Ewald error tolerance, coulomb: pme only.")
    parameters_file: Path | None = Field(None, description="JSON with the same layout as the built-in table.")

    @model_validator(mode="after")
    def _cutoffs(self) -> ShikParams:
        if self.table_start_A >= min(self.short_range_cutoff_A, self.coulomb_cutoff_A):
            raise ValueError(f"table_start_A={self.table_start_A} must lie below both cutoffs")
        return self


def parameter_table(params: ShikParams) -> dict[str, Any]:
    """The pair parameters, charges and citations: the built-in table or ``parameters_file``."""
    if params.parameters_file is None:
        return json.loads(resources.files(__package__).joinpath("parameters.json").read_text())
    try:
        table = json.loads(params.parameters_file.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"parameters_file: cannot read {str(params.parameters_file)!r}: {exc}") from None
    for key in ("pairs", "charges"):
        if key not in table:
            raise ValueError(f"parameters_file: {str(params.parameters_file)!r} has no {key!r} section")
    return table


def outline(params: ShikParams) -> PotentialOutline:
    table = parameter_table(params)
    species = frozenset(s for key in table["pairs"] for s in key.split("-"))
    interfaces = {"openmm_forces"} | ({"lammps_commands", "torch_model"} if params.coulomb == "wolf" else set())
    return PotentialOutline(frozenset(interfaces), species, max(params.short_range_cutoff_A, params.coulomb_cutoff_A))


def check(params: ShikParams, study: StudyOutline) -> list[str]:
    no_oxygen = [run.id for run in study.runs if "O" not in run.system.species]
    return [f"coulomb: SHIK sets the oxygen charge by neutrality and needs oxygen; run(s) {no_oxygen[:3]} have none"
            ] if no_oxygen else []


def _build(params: ShikParams) -> Any:
    from meltdyn.plugins.potentials.shik.potential import Shik

    return Shik(params)


def _example(workdir: Path) -> dict[str, Any]:
    return {"short_range_cutoff_A": 4.5, "coulomb_cutoff_A": 4.5}


@hookimpl
def meltdyn_potentials() -> list[PluginDef]:
    return [PluginDef("shik", "potential", ShikParams, _build,
                      "SHIK Buckingham + r^-24 + Wolf/PME Coulomb for Na2O-SiO2 (Sundararaman et al. 2018, 2019)",
                      outline=outline, check=check, example=_example)]
