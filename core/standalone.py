"""Observables over a trajectory made anywhere: ``meltdyn analyse ANALYSIS.yaml`` and its Python twin."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from meltdyn import errors
from meltdyn.analysis import AnalysisCost, analyse
from meltdyn.errors import StudyError
from meltdyn.readers import open_trajectory
from meltdyn.registry import Registry, discover
from meltdyn.results import Results, save_results, write_json_atomic
from meltdyn.specs import AnalysisSettings, analysis_model
from meltdyn.studyfile import read_study_file


def load_analysis(source: str | Path | dict[str, Any], registry: Registry | None = None) -> tuple[BaseModel, Registry]:
    registry = registry or discover()
    data = dict(source) if isinstance(source, dict) else read_study_file(source, "analysis file")
    model = analysis_model(registry)
    try:
        return model.model_validate(data), registry
    except ValidationError as exc:
        raise StudyError("invalid analysis:\n  " + "\n  ".join(errors.describe(exc, model))) from None


def analyse_trajectory(source: str | Path | dict[str, Any], registry: Registry | None = None,
                       cost: AnalysisCost | None = None) -> Results:
    """Run an analysis spec; write results.h5, summary.json, cost.json and spec.json to its output_dir.

    Returns the results; ``cost``, if given, receives the time, block size and peak memory of the pass.
    """
    spec, registry = load_analysis(source, registry)
    out = Path(spec.output_dir)
    if (out / "results.h5").exists():
        raise StudyError(f"{out / 'results.h5'} exists; meltdyn never overwrites results. Choose another output_dir.")
    try:
        traj = open_trajectory(spec.trajectory, spec.format, spec.timestep_ps, spec.frame_interval_steps or 1,
                               spec.unwrapped, spec.topology, spec.type_elements)
    except ValueError as exc:
        raise StudyError(f"trajectory: {exc}") from None
    observables = {label: registry.build("observable", o) for label, o in zip(spec.observable_labels, spec.observables)}
    cost = cost or AnalysisCost()
    settings = AnalysisSettings(**{k: getattr(spec, k) for k in AnalysisSettings.model_fields})
    results = analyse(traj, observables, settings, cost)
    out.mkdir(parents=True, exist_ok=True)
    save_results(out / "results.h5", results, settings.reference_frame)
    write_json_atomic(out / "cost.json", cost.as_dict())
    write_json_atomic(out / "summary.json", {label: observables[label].summary(r) for label, r in results.items()})
    write_json_atomic(out / "spec.json", spec.model_dump(mode="json"))
    return results
