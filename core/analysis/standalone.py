"""Observables over a trajectory made anywhere: ``meltdyn analyse ANALYSIS.yaml`` and its Python twin."""

from __future__ import annotations

import os
import shutil
import warnings
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from meltdyn.analysis import state_point
from meltdyn.analysis.model import analysis_model
from meltdyn.analysis.results import Results, save_results
from meltdyn.analysis.streaming import AnalysisCost, analyse
from meltdyn.analysis.summaries import run_summary
from meltdyn.base import errors
from meltdyn.base.errors import InputError, StudyError
from meltdyn.base.jsonio import read_json, write_json_atomic
from meltdyn.base.ownership import MARK, claim, usable
from meltdyn.hooks.registry import Registry, discover
from meltdyn.spec.models import AnalysisSettings
from meltdyn.spec.studyfile import read_study_file
from meltdyn.trajectory.convert import ConversionReport, convert
from meltdyn.trajectory.h5md import H5MDReader
from meltdyn.trajectory.readers import detect_format, open_frames


#: The analysis file's inputs: relative paths in them are relative to the file's own folder, so an analysis file
#: kept beside its trajectory works from any directory (output_dir, like a study's, is relative to the current one).
INPUT_PATHS = ("trajectory", "topology")


def load_analysis(source: str | Path | dict[str, Any], registry: Registry | None = None,
                  folder: Path | None = None) -> tuple[BaseModel, Registry]:
    """The validated analysis spec; relative input paths are taken from ``folder`` (the file's own, for a file)."""
    registry = registry or discover()
    data = dict(source) if isinstance(source, dict) else read_study_file(source, "analysis file")
    folder = folder if folder is not None or isinstance(source, dict) else Path(source).parent
    if folder is not None:
        data = inputs_from(data, folder)
    model = analysis_model(registry)
    try:
        return model.model_validate(data), registry
    except ValidationError as exc:
        raise errors.invalid(exc, model, "analysis") from None


def analyse_trajectory(source: str | Path | dict[str, Any], registry: Registry | None = None,
                       cost: AnalysisCost | None = None) -> Results:
    """Run an analysis spec; write results.h5, summary.json, cost.json and spec.json to its output_dir.

    H5MD is read where it lies. Any other format is converted once, frame by frame, into ``trajectory.h5`` in the
    output_dir (its time axis checked, its positions unwrapped), so that the analysis streams it within the memory
    budget like any meltdyn trajectory; ``conversion.json`` says how. Warnings about the input (frames too far apart
    to unwrap safely) are issued as :class:`TrajectoryWarning` and written to the summary's ``flags``. Returns the
    results; ``cost``, if given, receives the time (conversion included), block size and peak memory.
    """
    spec, registry = load_analysis(source, registry)
    out = usable(spec.output_dir, "output_dir")
    path = trajectory_file(spec, source)
    observables = {label: registry.build("observable", o) for label, o in zip(spec.observable_labels, spec.observables)}
    cost = cost or AnalysisCost()
    flags: list[str] = []
    fmt = detect_format(path, spec.format)
    made = not out.exists()
    # Claimed once the analysis file, the trajectory and its format are checked: meltdyn's own analysis directory,
    # new or empty, or one an earlier meltdyn left mid-conversion; never a directory with a user's files.
    out = claim(out, "analysis", field="output_dir", adopt=_earlier_conversion)
    if (out / "results.h5").exists():
        raise StudyError(f"{out / 'results.h5'} exists; meltdyn never overwrites results. Choose another output_dir.")
    try:
        return _analyse_into(out, spec, path, fmt, observables, cost, flags)
    except BaseException:
        for leftover in [*out.glob("*.tmp"), out / "trajectory.h5.converted"]:
            leftover.unlink(missing_ok=True)  # cut short: no record names them
        if made and {p.name for p in out.iterdir()} <= {MARK}:
            shutil.rmtree(out, ignore_errors=True)  # made by this call and holding nothing: leave no trace
        raise


def trajectory_file(spec: BaseModel, source: str | Path | dict[str, Any]) -> Path:
    """The analysis' trajectory, refused by name unless it is a file (``source``: the analysis file or its dict)."""
    path = Path(usable(spec.trajectory, "trajectory")) if "\0" in str(spec.trajectory) else Path(spec.trajectory)
    if not path.is_file():
        beside = not isinstance(source, dict) and path.is_relative_to(Path(source).parent)
        where = " (a relative trajectory is relative to the analysis file's folder)" if beside else ""
        raise StudyError(f"trajectory: {str(path)!r} is not a file{where}")
    return path


def inputs_from(data: dict[str, Any], folder: Path) -> dict[str, Any]:
    """``data`` with its relative input paths (:data:`INPUT_PATHS`) joined onto ``folder``."""
    return {key: (str(folder / value) if key in INPUT_PATHS and isinstance(value, str) and value
                  and not Path(value).is_absolute() else value) for key, value in data.items()}


def _earlier_conversion(directory: Path) -> bool:
    """What an earlier meltdyn left in an analysis directory before it marked them: a conversion and its record."""
    names = {p.name for p in directory.iterdir()}
    return "conversion.json" in names and names <= {"conversion.json", "trajectory.h5", "trajectory.h5.converted"}


def _analyse_into(out: Path, spec: BaseModel, path: Path, fmt: str, observables: dict, cost: AnalysisCost,
                  flags: list[str]) -> Results:
    try:
        if fmt == "h5md":
            trajectory = path
        else:
            trajectory, report = _converted(spec, path, fmt, out)
            cost.conversion_seconds = report.seconds
            for warning in report.warnings():
                warnings.warn(warning, TrajectoryWarning, stacklevel=2)
                flags.append(warning)
        settings = AnalysisSettings(**{k: getattr(spec, k) for k in AnalysisSettings.model_fields})
        results = analyse(trajectory, observables, settings, cost)
    except InputError as exc:
        message = str(exc)
        named = message.split(":")[0].split(" ")[0] in {*type(spec).model_fields, *observables}
        raise StudyError(message if named else f"trajectory: {message}") from None
    cost.seconds += cost.conversion_seconds
    save_results(out / "results.h5", results, settings.reference_frame)
    write_json_atomic(out / "cost.json", cost.as_dict())
    with H5MDReader(trajectory) as reader:
        summary = run_summary(observables, results, state_point.measure(reader, None).as_json())
    if flags:
        summary["trajectory"] = {"flags": flags}
    write_json_atomic(out / "summary.json", summary)
    write_json_atomic(out / "spec.json", spec.model_dump(mode="json"))
    return results


class TrajectoryWarning(UserWarning):
    """The input trajectory is usable, but some of what it gives may be wrong (see the message)."""


def _source_identity(path: Path) -> str:
    stat = path.stat()
    return f"{path.resolve()} ({stat.st_size} bytes, modified {stat.st_mtime_ns} ns)"


def _converted(spec: BaseModel, path: Path, fmt: str, out: Path) -> tuple[Path, ConversionReport]:
    """``out/trajectory.h5`` converted from ``path`` (reused if an earlier attempt converted this same file)."""
    target = out / "trajectory.h5"
    record = out / "conversion.json"
    identity = _source_identity(path)
    if target.exists():
        previous = read_json(record, "the record of an earlier conversion") if record.exists() else {}
        previous = previous if isinstance(previous, dict) else {}
        if previous.get("source") != identity or not isinstance(previous.get("report"), dict):
            raise StudyError(f"output_dir: {str(target)!r} exists and was not converted from {identity}; meltdyn "
                             "never overwrites it. Choose another output_dir.")
        return target, ConversionReport(**previous["report"])
    reader = open_frames(path, fmt, Path(spec.topology) if spec.topology else None, spec.type_elements)
    # The record is written before trajectory.h5 appears, so a conversion killed at any point leaves either no
    # trajectory.h5 (converted again next time) or one with its record, never one meltdyn must refuse as foreign.
    converted = target.with_name(target.name + ".converted")
    report = convert(reader, converted, spec.timestep_ps, spec.frame_interval_steps, spec.unwrapped)
    write_json_atomic(record, {"source": identity, "format": fmt, "report": report.as_dict()})
    os.replace(converted, target)
    return target, report
