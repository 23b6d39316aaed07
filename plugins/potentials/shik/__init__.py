"""The ``shik`` potential: Buckingham + r^-24 wall + Wolf (or PME) Coulomb for Na–Si–O, with the oxygen charge set
by charge neutrality of each composition (Sundararaman et al. 2018, 2019).

Two forms (``form``): ``authors``, the truncation of the authors' own LAMMPS pair style ``shik/wolf`` with the
parameters of their sample input, and ``meltdyn_v1``, meltdyn's earlier reading of the papers, kept so that studies
run with it can be repeated.

The formula lives in :mod:`.potential`; each engine's encoding of it in its own module (:mod:`.for_openmm`,
:mod:`.for_lammps`, :mod:`.for_torch`; PME runs on OpenMM only). Registration stays light: nothing engine-specific
is imported until a study builds it.
"""

from __future__ import annotations

import json
import math
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from meltdyn.plugin import PluginDef, PluginParams, PotentialOutline, StudyOutline, hookimpl

DEFAULT_COULOMB_CUTOFF_A = {"authors": 10.0, "meltdyn_v1": 10.17}
MIN_GAMMA_A = 0.01
"""The narrowest smoothing besides 0 (none): five steps of the default OpenMM pair table."""
FIRST_SHELL_A = 2.3
"""Na-O, the farthest cation-oxygen bond of the melt (Si-O 1.6 Å); the smoothing must leave it as SHIK has it."""
MAX_SHELL_DAMPING = 0.01
PARAMETER_FILES = {"authors": "parameters.json", "meltdyn_v1": "parameters_meltdyn_v1.json"}


class ShikParams(PluginParams):
    form: Literal["authors", "meltdyn_v1"] = Field(
        "authors", description="authors: as the authors' LAMMPS pair style shik/wolf and its Na2O-SiO2 sample input "
        "run SHIK (github compmatscirpi/SHIK-potential): short range shifted by its value at the cutoff, Wolf "
        "Coulomb smoothed by the same factor, no self term, full-digit parameters, Coulomb cutoff 10 Å. "
        "meltdyn_v1: meltdyn's earlier reading of the papers: short range not shifted, Fennell-Gezelter Wolf "
        "Coulomb (not smoothed) with its self term, parameters to the papers' printed digits, Coulomb cutoff "
        "10.17 Å.")
    coulomb: Literal["wolf", "pme"] = Field("wolf", description="Wolf sum as the form has it, or PME (engine "
                                                                "openmm only).")
    coulomb_cutoff_A: float = Field(DEFAULT_COULOMB_CUTOFF_A["authors"], gt=0, le=100,
                                    description="Real-space Coulomb cutoff; left out, 10 Å for form authors and "
                                                "10.17 Å for form meltdyn_v1.")
    wolf_alpha_per_A: float = Field(0.0, ge=0, le=10, description="Wolf damping; 0 is the published undamped form "
                                                                  "(form authors has no damping).")
    short_range_cutoff_A: float = Field(8.0, gt=0, le=100, description="Buckingham + r^-24 cutoff (published: 8 Å).")
    smoothing_gamma_A: float = Field(0.2, ge=0, le=10, description="Width γ of exp(-γ²/(r-rc)²) at the short-range "
                                     "cutoff, and in form authors also at the Coulomb cutoff; 0 truncates sharply.")
    table_spacing_A: float = Field(0.002, gt=1e-5, le=0.05, description="Spacing of the OpenMM pair table.")
    table_start_A: float = Field(0.8, gt=0, description="Closest tabulated distance; closer pairs feel a linear wall "
                                 "with the slope the potential has there.")
    pme_tolerance: float = Field(5e-4, gt=0, le=0.1, description="OpenMM Ewald error tolerance, coulomb: pme only.")
    parameters_file: Path | None = Field(None, description="JSON with the same layout as the built-in tables; left "
                                         "out, the form's own (parameters.json, parameters_meltdyn_v1.json).")

    @model_validator(mode="before")
    @classmethod
    def _form_defaults(cls, data: Any) -> Any:
        # The Coulomb cutoff belongs to the form: selecting meltdyn_v1 alone must repeat the studies run with it.
        if isinstance(data, dict) and "coulomb_cutoff_A" not in data and data.get("form") in DEFAULT_COULOMB_CUTOFF_A:
            data = {**data, "coulomb_cutoff_A": DEFAULT_COULOMB_CUTOFF_A[data["form"]]}
        return data

    @model_validator(mode="after")
    def _cutoffs(self) -> ShikParams:
        if self.table_start_A >= min(self.short_range_cutoff_A, self.coulomb_cutoff_A):
            raise ValueError(f"table_start_A={self.table_start_A} must lie below both cutoffs")
        if 0 < self.smoothing_gamma_A < MIN_GAMMA_A:
            raise ValueError(f"smoothing_gamma_A={self.smoothing_gamma_A:g} Å: give 0 (a sharp cut) or at least "
                             f"{MIN_GAMMA_A} Å; a narrower smoothing is a sharp cut in all but name, its force spike "
                             "near the cutoff too narrow for OpenMM's pair table (0.002 Å steps) or a timestep to "
                             "resolve")
        smoothed = [("short_range_cutoff_A", self.short_range_cutoff_A)]
        if self.form == "authors":
            smoothed.append(("coulomb_cutoff_A", self.coulomb_cutoff_A))
        for name, cutoff in smoothed:
            least = FIRST_SHELL_A + self.smoothing_gamma_A / math.sqrt(-math.log(1 - MAX_SHELL_DAMPING))
            if cutoff < least:
                shifted = " after shifting it by its value at rc" if self.form == "authors" and \
                    name.startswith("short") else ""
                raise ValueError(
                    f"{name}={cutoff:g} Å: form {self.form} smooths this term by exp(-γ²/(r - rc)²) (γ = "
                    f"{self.smoothing_gamma_A:g} Å){shifted}; below {least:.2f} Å that damps the cation-oxygen bonds "
                    f"(Na-O at {FIRST_SHELL_A} Å) by more than {MAX_SHELL_DAMPING:.0%} and it is no longer SHIK. "
                    f"Allowed: {least:.2f} to 100 Å (published: 8 Å short range, 10 Å Coulomb), or a smaller "
                    "smoothing_gamma_A")
        if self.form == "authors" and self.wolf_alpha_per_A > 0:
            raise ValueError("wolf_alpha_per_A: form authors has no damping (their shik/wolf is undamped); use "
                             "form: meltdyn_v1 for a damped shifted-force Wolf sum")
        return self


def parameter_table(params: ShikParams) -> dict[str, Any]:
    """The pair parameters, charges and citations: the form's built-in table or ``parameters_file``."""
    if params.parameters_file is None:
        return json.loads(resources.files(__package__).joinpath(PARAMETER_FILES[params.form]).read_text())
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


PME_ENGINES = ("openmm",)
"""Engines whose encoding of SHIK has PME; the others (lammps, torchsim) carry the Wolf sum only."""


def check(params: ShikParams, study: StudyOutline) -> list[str]:
    problems = []
    engine = getattr(getattr(study.spec, "engine", None), "plugin", None)
    if params.coulomb == "pme" and engine is not None and engine not in PME_ENGINES:
        problems.append(f"coulomb: 'pme' is not supported by engine {engine!r}, whose SHIK encoding has the Wolf "
                        f"sum only; it supports coulomb: 'wolf'. PME runs on engine {' or '.join(PME_ENGINES)}")
    no_oxygen = [run.id for run in study.runs if "O" not in run.system.species]
    if no_oxygen:
        problems.append(f"coulomb: SHIK sets the oxygen charge by neutrality and needs oxygen; run(s) {no_oxygen[:3]} "
                        "have none")
    return problems


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
