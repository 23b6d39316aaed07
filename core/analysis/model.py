"""The analysis-file model (`meltdyn analyse`), built from the observables the registry holds."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from meltdyn.hooks.registry import Registry
from meltdyn.hooks.sections import plugin_union
from meltdyn.spec.models import AnalysisSettings, ElementSymbol, OutputDir, WithObservables


def analysis_model(registry: Registry) -> type[BaseModel]:
    """The model of an analysis file: observables over a trajectory made anywhere."""
    observable = plugin_union(registry, "observable")

    class AnalysisSpec(AnalysisSettings, WithObservables):
        """Observables over an existing trajectory (meltdyn's H5MD, extxyz, LAMMPS dump, DCD, ...)."""

        trajectory: str = Field(min_length=1, description="Trajectory file; a relative path is relative to the "
                                "analysis file's folder.")
        format: Literal["auto", "h5md", "ase", "lammpsdump", "dcd"] = Field(
            "auto", description="auto: by suffix (.h5 → h5md, .dcd, .lammpstrj/.dump → lammpsdump, else ASE).")
        timestep_ps: float | None = Field(None, gt=0, le=1e3, description="MD timestep; for formats that store "
                                          "step numbers but no times.")
        frame_interval_steps: int | None = Field(None, ge=1, le=10**9, description="MD steps between frames, for "
                                                 "formats that store neither steps nor times.")
        unwrapped: bool = Field(False, description="Positions are already unwrapped; else unwrapped with image "
                                "flags when the file has them, or frame to frame with the box.")
        topology: str | None = Field(None, description="DCD: file with the atoms' names (PDB, PSF, ...); "
                                        "relative to the analysis file's folder.")
        type_elements: dict[str, ElementSymbol] | None = Field(None, description="Atom type or name → element.")
        output_dir: OutputDir
        observables: list[observable] = Field(min_length=1, max_length=100)  # type: ignore[valid-type]

    return AnalysisSpec
