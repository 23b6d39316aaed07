"""Studies: a validated spec expanded into runs, each in its own restartable directory."""

from __future__ import annotations

import json
import platform
import sys
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from meltdyn import errors
from meltdyn.analysis import AnalysisCost, analyse
from meltdyn.builder import build_system
from meltdyn.contracts import Engine, Observable, Potential, RunContext
from meltdyn.errors import StudyError
from meltdyn.progress import Progress
from meltdyn.registry import Registry, discover
from meltdyn.results import Results, load_results, save_results, write_json_atomic
from meltdyn.specs import study_model

PROVENANCE_PACKAGES = ("meltdyn", "numpy", "h5py", "pydantic", "pluggy", "openmm", "openmmtorch", "torch", "schnetpack")


def _composition_tag(composition: str | float) -> str:
    return composition if isinstance(composition, str) else f"x{composition:g}"


@dataclass(frozen=True)
class Run:
    """One point of the sweep and its directory."""

    study: Study
    composition: str | float
    temperature_K: float
    replica: int

    @property
    def id(self) -> str:
        return f"{_composition_tag(self.composition)}_T{self.temperature_K:g}K_r{self.replica}"

    @property
    def seed(self) -> int:
        return self.study.spec.system.seed + self.replica

    @property
    def dir(self) -> Path:
        return self.study.output_dir / self.id

    def resolved_spec(self) -> dict[str, Any]:
        spec = self.study.spec.model_dump(mode="json", exclude={"sweep", "output_dir"})
        spec["run"] = {"id": self.id, "composition": self.composition, "temperature_K": self.temperature_K,
                       "replica": self.replica, "seed": self.seed}
        return spec

    @property
    def status(self) -> dict[str, Any]:
        path = self.dir / "status.json"
        return json.loads(path.read_text()) if path.exists() else {"state": "pending"}

    @property
    def completed(self) -> bool:
        return self.status["state"] == "completed"

    def results(self) -> Results:
        if not self.completed:
            raise StudyError(f"run {self.id} is {self.status['state']}, it has no results yet")
        return load_results(self.dir / "results.h5")

    def summary(self) -> dict[str, Any]:
        return json.loads((self.dir / "summary.json").read_text())


class Study:
    """A loaded, fully validated study. Build with :func:`load_study`."""

    def __init__(self, spec: BaseModel, registry: Registry, output_dir: Path):
        self.spec = spec
        self.registry = registry
        self.output_dir = output_dir

    @property
    def runs(self) -> list[Run]:
        sweep = self.spec.sweep
        return [Run(self, c, t, r) for c in sweep.compositions for t in sweep.temperatures_K for r in range(sweep.replicas)]

    def run(self, progress: bool | None = None, only: list[str] | None = None) -> list[Run]:
        """Run every unfinished run (or those whose id is in ``only``); completed runs are skipped."""
        runs = [r for r in self.runs if only is None or r.id in only]
        if only is not None and len(runs) != len(set(only)):
            unknown = sorted(set(only) - {r.id for r in runs})
            raise StudyError(f"only: unknown run id(s) {unknown}; this study's runs: {[r.id for r in self.runs]}")
        self.output_dir.mkdir(parents=True, exist_ok=True)
        for run in runs:
            self._run_one(run, Progress(progress, prefix=f"{run.id} "))
        return runs

    def results(self) -> dict[str, Results]:
        """Results of every completed run, by run id."""
        return {r.id: r.results() for r in self.runs if r.completed}

    def _claim(self, run: Run) -> bool:
        """Make or re-enter the run directory; return False if the run is already complete."""
        resolved = run.resolved_spec()
        spec_path = run.dir / "spec.json"
        if spec_path.exists():
            previous = json.loads(spec_path.read_text())
            if previous != resolved:
                raise StudyError(
                    f"{run.dir} holds a run made from a different spec; meltdyn never overwrites it. "
                    f"Use another output_dir, or move that directory away yourself. "
                    f"Changed sections: {sorted(k for k in resolved if previous.get(k) != resolved[k])}")
            return not run.completed
        run.dir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(spec_path, resolved)
        return True

    def _run_one(self, run: Run, progress: Progress) -> None:
        if not self._claim(run):
            return
        spec = self.spec
        started = time.time()
        write_json_atomic(run.dir / "status.json", {"state": "running", "started": started})
        try:
            potential: Potential = self.registry.build("potential", spec.potential)
            engine: Engine = self.registry.build("engine", spec.engine)
            observables: dict[str, Observable] = {
                label: self.registry.build("observable", o) for label, o in zip(spec.observable_labels, spec.observables)}
            system = build_system(spec.system, run.composition, run.temperature_K, run.seed)
            unsupported = set(system.species) - potential.supported_species()
            if unsupported:
                raise StudyError(f"potential {spec.potential.plugin!r} has no parameters for {sorted(unsupported)}")
            ctx = RunContext(run.dir, system, potential, spec.protocol, run.temperature_K, run.seed, progress)
            engine_facts = engine.run(ctx)
            progress.close()
            cost = AnalysisCost()
            results = analyse(ctx.trajectory_path, observables, cost=cost)
            save_results(run.dir / "results.h5", results)
            summary = {label: observables[label].summary(res) for label, res in results.items()}
            summary["arrays"] = {label: {n: {"unit": a.unit, "dims": list(a.dims), "shape": list(a.values.shape)}
                                         for n, a in res.items()} for label, res in results.items()}
            write_json_atomic(run.dir / "summary.json", summary)
            provenance = _provenance(run, system.info, potential, engine_facts)
            provenance["analysis"] = cost.as_dict()
            write_json_atomic(run.dir / "provenance.json", provenance)
        except BaseException as exc:
            progress.close()
            write_json_atomic(run.dir / "status.json", {"state": "failed", "started": started,
                                                        "message": f"{type(exc).__name__}: {exc}"})
            if isinstance(exc, Exception) and not isinstance(exc, StudyError):
                raise StudyError(f"run {run.id} failed ({run.dir}): {type(exc).__name__}: {exc}. "
                                 "Running the study again continues from the last checkpoint.") from exc
            raise
        write_json_atomic(run.dir / "status.json", {"state": "completed", "started": started, "finished": time.time()})


def _provenance(run: Run, system_info: dict[str, Any], potential: Potential, engine: dict[str, Any]) -> dict[str, Any]:
    versions = {}
    for name in PROVENANCE_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {"seed": run.seed, "python": sys.version, "platform": platform.platform(), "packages": versions,
            "plugins": {e.name: {"kind": e.kind, "distribution": e.distribution, "version": e.version}
                        for e in run.study.registry.all_entries()},
            "system": system_info, "potential": potential.describe(), "engine": engine}


def validate_study(data: dict[str, Any], registry: Registry) -> BaseModel:
    """Validate a study mapping against the registered plugins; raise StudyError listing every problem."""
    model = study_model(registry)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        lines = errors.describe(exc, model)
        raise StudyError("invalid study:\n  " + "\n  ".join(lines)) from None


def read_study_file(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise StudyError(f"study file {str(path)!r} does not exist")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise StudyError(f"study file {str(path)!r} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise StudyError(f"study file {str(path)!r} must hold a mapping at the top level, got {type(data).__name__}")
    return data


def load_study(source: str | Path | dict[str, Any], registry: Registry | None = None,
               output_dir: str | Path | None = None) -> Study:
    """Load and validate a study from a YAML file or a mapping; plugins are discovered unless given."""
    registry = registry or discover()
    data = dict(source) if isinstance(source, dict) else read_study_file(source)
    spec = validate_study(data, registry)
    return Study(spec, registry, Path(output_dir or spec.output_dir).resolve())


__all__ = ["Run", "Study", "load_study", "validate_study"]
