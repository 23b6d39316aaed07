"""Studies: a validated spec expanded into runs, each in its own restartable directory."""

from __future__ import annotations

import json
import logging
import platform
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from meltdyn.analysis import state_point
from meltdyn.analysis.estimates import Estimate
from meltdyn.analysis.results import Results, load_results, save_results
from meltdyn.analysis.state_point import STATE_POINT
from meltdyn.analysis.streaming import AnalysisCost, analyse
from meltdyn.base import errors
from meltdyn.base.errors import InputError, StudyError
from meltdyn.base.fingerprint import fingerprint, package_versions
from meltdyn.base.jsonio import read_json, write_json_atomic
from meltdyn.base.ownership import MARK, claim, inside, kind_of, usable
from meltdyn.base.progress import Progress
from meltdyn.base.seeds import SeedBook
from meltdyn.base.storage import describe as storage_fault
from meltdyn.engine.checkpoints import Checkpoint
from meltdyn.hooks.contracts import BaseObservable, Engine, RunContext
from meltdyn.hooks.data import StudyOutline
from meltdyn.hooks.registry import Registry, discover
from meltdyn.spec.models import stage_temperature
from meltdyn.spec.studyfile import read_study_file
from meltdyn.study.locks import RunLock
from meltdyn.study.model import study_model
from meltdyn.study.monitor import StudyMonitor
from meltdyn.study.preflight import outline_study, preflight, run_id
from meltdyn.trajectory.h5md import H5MDReader

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Run:
    """One point of the sweep and its directory."""

    study: Study
    composition: str | float
    temperature_K: float
    replica: int

    @property
    def id(self) -> str:
        return run_id(self.composition, self.temperature_K, self.replica)

    @property
    def dir(self) -> Path:
        return self.study.output_dir / self.id

    @property
    def trajectory(self) -> Path:
        """The run's production trajectory (H5MD)."""
        return self.dir / "trajectory.h5"

    def seeds(self) -> SeedBook:
        """This run's seeds, all derived from the study's seed and the run id."""
        return SeedBook(self.study.spec.seed, self.id)

    def resolved_spec(self) -> dict[str, Any]:
        """What this run is: the study's spec without the other runs, where they go and how they are executed."""
        spec = self.study.spec.model_dump(mode="json", exclude={"sweep", "output_dir", "executor"})
        spec["run"] = {"id": self.id, "composition": self.composition, "temperature_K": self.temperature_K,
                       "replica": self.replica}
        return spec

    @property
    def status(self) -> dict[str, Any]:
        """What status.json says, except that a run left 'running' by a process that has since died (killed, or a
        cluster worker lost) is 'interrupted': nobody is running it, and `meltdyn run` continues it."""
        path = self.dir / "status.json"
        if not path.exists():
            return {"state": "pending"}
        status = read_json(path, f"run {self.id}'s status", remedy=_REMEDY.format(run=self.dir))
        if not isinstance(status, dict) or status.get("state") not in STATES:
            raise StudyError(f"{path}: not a status meltdyn wrote (it holds {_brief(status)}; a status is an object "
                             f"whose 'state' is one of {list(STATES)}). " + _REMEDY.format(run=self.dir))
        lock = RunLock(self.dir)
        if status["state"] == "running" and lock.holder_ended():
            return {**status, "state": "interrupted",
                    "message": f"the process running it ({lock.describe_holder()}) ended before it finished; "
                               "`meltdyn run` continues from its last checkpoint"}
        return status

    @property
    def completed(self) -> bool:
        return self.status["state"] == "completed"

    def checkpoint(self) -> Checkpoint:
        return Checkpoint.load(self.dir / "checkpoints")

    def results(self) -> Results:
        if not self.completed:
            raise StudyError(f"run {self.id} is {self.status['state']}, it has no results yet")
        return load_results(self.dir / "results.h5", remedy=_REANALYSE)

    def summary(self) -> dict[str, Any]:
        path = self.dir / "summary.json"
        if not path.is_file():
            raise StudyError(f"{path} is missing, though run {self.id} is completed; " + _REANALYSE)
        return _checked_summary(read_json(path, f"run {self.id}'s summary", remedy=_REANALYSE), path)


class Study:
    """A loaded, fully validated study. Build with :func:`load_study`."""

    def __init__(self, spec: BaseModel, registry: Registry, output_dir: Path, outline: StudyOutline):
        self.spec = spec
        self.registry = registry
        self.output_dir = output_dir
        self.outline = outline

    @property
    def runs(self) -> list[Run]:
        sweep = self.spec.sweep
        return [Run(self, c, t, r)
                for c in sweep.compositions for t in sweep.temperatures_K for r in range(sweep.replicas)]

    def select(self, only: Sequence[str] | None) -> list[Run]:
        if only is None:
            return self.runs
        known = {r.id for r in self.runs}
        unknown = sorted(set(only) - known)
        if unknown:
            raise StudyError(f"only: unknown run id(s) {unknown}; this study's runs: {sorted(known)}")
        return [r for r in self.runs if r.id in set(only)]

    @property
    def source(self) -> dict[str, Any]:
        """The validated spec as a mapping: what a worker elsewhere loads the same study from."""
        return self.spec.model_dump(mode="json")

    def run(self, progress: bool | None = None, only: Sequence[str] | None = None) -> list[Run]:
        """Run every unfinished run (or those whose id is in ``only``) with the study's executor; completed runs
        are skipped, and runs another process is working on are left to it.

        A run that fails is marked so and the others go on; a :class:`StudyError` then lists every failure.
        """
        runs = self.select(only)
        # Claimed only now, the study validated: meltdyn's own study directory, new, empty, or one an earlier
        # meltdyn made before directories were marked (it holds only run directories and a report).
        claim(self.output_dir, "study", field="output_dir", adopt=_earlier_study)
        pending = [run for run in runs if self.claim(run)]
        failures = self.registry.build("executor", self.spec.executor).execute(self, pending, progress)
        if failures:
            raise StudyError("\n".join(failures))
        return runs

    def results(self) -> dict[str, Results]:
        """Results of every completed run, by run id."""
        return {r.id: r.results() for r in self.runs if r.completed}

    def monitor(self, runs: Sequence[Run], progress: bool | None = None) -> StudyMonitor:
        """The study-wide progress line of ``runs``, for an executor to report as batches finish."""
        return StudyMonitor(runs, self.spec.protocol, progress)

    def batches(self, runs: Sequence[Run]) -> list[list[Run]]:
        """Runs the engine advances together: at most its ``max_batch``, all standing at the same checkpoint."""
        size = self.registry.build("engine", self.spec.engine).max_batch
        groups: dict[tuple[int, int, int], list[Run]] = {}
        for run in runs:
            groups.setdefault(run.checkpoint().position, []).append(run)
        return [group[k:k + size] for group in groups.values() for k in range(0, len(group), size)]

    def claim(self, run: Run) -> bool:
        """Make or re-enter the run directory; return False if the run is already complete.

        A directory meltdyn did not make for this very run (no spec.json, or one from another spec) is refused,
        never adopted: nothing a user produced is overwritten.
        """
        resolved = run.resolved_spec()
        claim(self.output_dir, "study", field="output_dir", adopt=_earlier_study)
        directory = inside(self.output_dir, run.id, field=f"output_dir (run {run.id})", make=False)
        if directory.exists() and not directory.is_dir():
            raise StudyError(f"output_dir (run {run.id}): {str(directory)!r} exists and is not a directory; meltdyn "
                             "did not make it and will not replace it. Move it away or choose another output_dir.")
        spec_path = run.dir / "spec.json"
        if spec_path.exists():
            _no_links_out(run)
            previous = read_json(spec_path, f"run {run.id}'s spec", remedy=_REMEDY.format(run=run.dir))
            if not isinstance(previous, dict):
                raise StudyError(f"{spec_path}: not a spec meltdyn wrote (it holds {_brief(previous)}, not an "
                                 "object). " + _REMEDY.format(run=run.dir))
            if previous != resolved:
                raise StudyError(
                    f"{run.dir} holds a run made from a different spec; meltdyn never overwrites it. "
                    f"Use another output_dir, or move that directory away yourself. "
                    f"Changed sections: {sorted(k for k in resolved if previous.get(k) != resolved[k])}")
            _mark_run(run.dir)
            return not run.completed
        if run.dir.exists() and any(run.dir.iterdir()):
            found = sorted(p.name for p in run.dir.iterdir())
            raise StudyError(f"{run.dir} exists and holds {found[:5]} but no spec.json: meltdyn did not make it and "
                             "will not write into it. Move it away or choose another output_dir.")
        inside(self.output_dir, run.id, field=f"output_dir (run {run.id})")
        _mark_run(run.dir)
        write_json_atomic(spec_path, resolved)
        return True

    def execute(self, batch: Sequence[Run], progress: bool | None = None) -> list[str]:
        """Simulate a batch and analyse each of its runs here, in this process; one line per failed run."""
        facts, failures = self.simulate(batch, progress)
        for run in batch:
            if run.id in facts:
                failures += self.analyse(run, facts[run.id])
        return failures

    def simulate(self, batch: Sequence[Run], progress: bool | None = None
                 ) -> tuple[dict[str, dict[str, Any]], list[str]]:
        """Carry out the protocol of the batch's runs with the engine; return each simulated run's engine facts and
        a line per run that failed. A run another process holds is left to it (and said so)."""
        locks, held = [], []
        for run in batch:
            lock = RunLock(run.dir)
            if lock.acquire():
                locks.append(lock)
                held.append(run)
            else:
                log.warning("run %s is being run by %s; left to it", run.id, lock.describe_holder())
        try:
            if not held or all(r.completed for r in held):
                return {}, []
            label = held[0].id if len(held) == 1 else f"{held[0].id} (+{len(held) - 1})"
            reporter = Progress(progress, prefix=f"{label} ")
            started = time.time()
            for run in held:
                write_json_atomic(run.dir / "status.json", {"state": "running", "started": started})
            try:
                contexts = self._contexts(held, reporter)
                engine: Engine = self.registry.build("engine", self.spec.engine)
                facts = engine.run(contexts)
            except BaseException as exc:
                reporter.close()
                return {}, self._failed(held, exc, started)
            # What provenance needs of the system and potential, recorded now: the analysis builds neither.
            return {run.id: {**record, "started": started, SIMULATED: _simulated(ctx)}
                    for run, ctx, record in zip(held, contexts, facts)}, []
        finally:
            for lock in locks:
                lock.release()

    def analyse(self, run: Run, engine_facts: dict[str, Any]) -> list[str]:
        """Analyse a simulated run and write its results, summary and provenance; a line if it failed."""
        with RunLock(run.dir) as lock:
            if not lock.held:
                log.warning("run %s is being analysed by %s; left to it", run.id, lock.describe_holder())
                return []
            started = engine_facts.get("started", time.time())
            try:
                self._analyse(run, engine_facts)
            except BaseException as exc:
                return self._failed([run], exc, started)
            write_json_atomic(run.dir / "status.json", {"state": "completed", "started": started,
                                                        "finished": time.time()})
            return []

    def _contexts(self, batch: Sequence[Run], progress: Progress) -> list[RunContext]:
        spec, registry = self.spec, self.registry
        builder = registry.build("system", spec.system)
        potential = registry.build("potential", spec.potential)
        contexts = []
        for run in batch:
            seeds = run.seeds()
            system = builder.build(run.composition, run.temperature_K, seeds.seed("system"))
            contexts.append(RunContext(run.dir, system, potential, spec.protocol, run.temperature_K, seeds, progress,
                                       spec.deterministic))
        return contexts

    def reanalyse(self, only: Sequence[str] | None = None) -> tuple[list[Run], list[str]]:
        """Analyse completed runs again from their trajectories with the installed meltdyn (after an upgrade that
        changed an observable), without repeating their MD. The previous results, summary and provenance are moved
        to ``superseded/<time>/`` in the run directory, never overwritten. Returns the runs reanalysed and a line
        for each run skipped (not completed, or held by another process)."""
        done, skipped = [], []
        for run in self.select(only):
            if not run.completed:
                skipped.append(f"run {run.id} is {run.status['state']}: `meltdyn run` finishes and analyses it")
                continue
            # The run's own directory, never a symlink out of the study: a reanalysis writes results there.
            inside(self.output_dir, run.id, field=f"output_dir (run {run.id})", make=False)
            with RunLock(run.dir) as lock:
                if not lock.held:
                    skipped.append(f"run {run.id} is held by {lock.describe_holder()}; left to it")
                    continue
                trajectory = run.trajectory
                unusable = "is missing" if not trajectory.is_file() else _unreadable(trajectory)
                if unusable:
                    skipped.append(f"run {run.id}: reanalysis failed: its trajectory {str(trajectory)!r} {unusable}, "
                                   "so there is nothing to analyse again; its previous results are kept. Restore "
                                   "the file, or remove the run directory and `meltdyn run` it again")
                    continue
                # Written aside first: a reanalysis that fails or is killed leaves the previous results in place.
                staging = run.dir / ".reanalysis"
                shutil.rmtree(staging, ignore_errors=True)  # meltdyn's own leftovers of an interrupted attempt
                staging.mkdir()
                try:
                    cost = self._write_analysis(run.trajectory, staging, self.production_target_K(run))
                except Exception as exc:
                    shutil.rmtree(staging)
                    skipped.append(f"run {run.id}: reanalysis failed ({type(exc).__name__}: {exc}); its previous "
                                   "results are kept")
                    continue
                try:
                    provenance = read_json(run.dir / "provenance.json", f"run {run.id}'s provenance")
                except StudyError:
                    provenance = {}
                provenance = provenance if isinstance(provenance, dict) else {}
                archive = _new_directory(run.dir / "superseded" / time.strftime("%Y%m%dT%H%M%S"))
                provenance["analysis"] = {**cost.as_dict(), "packages": package_versions(),
                                          "superseded": str(archive.relative_to(run.dir))}
                write_json_atomic(staging / "provenance.json", provenance)
                for name in ANALYSIS_OUTPUTS:
                    if (run.dir / name).exists():
                        (run.dir / name).rename(archive / name)
                for path in staging.iterdir():
                    path.rename(run.dir / path.name)
                staging.rmdir()
            done.append(run)
        return done, skipped

    def _analyse(self, run: Run, engine_facts: dict[str, Any]) -> None:
        cost = self._write_analysis(run.trajectory, run.dir, self.production_target_K(run))
        provenance = _provenance(run, engine_facts)
        provenance["analysis"] = cost.as_dict()
        write_json_atomic(run.dir / "provenance.json", provenance)

    def production_target_K(self, run: Run) -> float:
        """The temperature a run's production was asked for (its own, or the sweep's)."""
        return stage_temperature(self.spec.protocol.production, run.temperature_K)

    def _write_analysis(self, trajectory: Path, into: Path, target_K: float) -> AnalysisCost:
        """Every observable over a run's trajectory, and the state point it reached: results.h5 and summary.json,
        written into ``into``."""
        spec = self.spec
        observables: dict[str, BaseObservable] = {
            label: self.registry.build("observable", o) for label, o in zip(spec.observable_labels, spec.observables)}
        cost = AnalysisCost()
        results = analyse(trajectory, observables, spec.analysis, cost=cost)
        save_results(into / "results.h5", results, spec.analysis.reference_frame)
        summary = {label: observables[label].summary(res) for label, res in results.items()}
        with H5MDReader(trajectory) as reader:
            summary[STATE_POINT] = state_point.measure(reader, target_K).as_json()
        summary["arrays"] = {label: {n: {"unit": a.unit, "dims": list(a.dims), "shape": list(a.values.shape)}
                                     for n, a in res.items()} for label, res in results.items()}
        write_json_atomic(into / "summary.json", summary)
        return cost

    def _failed(self, runs: Sequence[Run], exc: BaseException, started: float) -> list[str]:
        state = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        lines = []
        for run in runs:
            _remove_leftovers(run.dir)
            try:
                ck = run.checkpoint()
            except StudyError:
                ck = Checkpoint()
            kept = ""
            if ck.file:
                kept = f"; its last checkpoint (stage {ck.stage}, step {ck.step}, {ck.frames} frames) is kept"
                kept += ", and `meltdyn run` continues from it" if state == "interrupted" else ""
            message = storage_fault(exc) or f"{type(exc).__name__}: {exc}"
            try:
                write_json_atomic(run.dir / "status.json", {"state": state, "started": started, "message": message})
            except OSError as again:  # the disk is still full: say so, leave no half-written status behind
                _remove_leftovers(run.dir)
                message += f" (status.json could not be updated: {again.strerror or again})"
            lines.append(f"run {run.id} {state} ({run.dir}): {message}{kept}")
        if not isinstance(exc, Exception):
            raise exc
        return lines


STATES = ("pending", "running", "interrupted", "failed", "completed")
_REMEDY = ("It was changed or damaged outside meltdyn; restore it, or move {run} away and `meltdyn run` that run "
           "again from the start.")
_REANALYSE = ("restore it, or `meltdyn run --reanalyse` the study to write the run's results and summary again from "
              "its trajectory.")


def _brief(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _no_links_out(run: Run) -> None:
    """Refuse a run directory holding a symlink (its checkpoints/, its trajectory, a state file): meltdyn writes
    through those paths and never follows one out of the directory it made."""
    for folder in (run.dir, run.dir / "checkpoints"):
        if folder.is_dir() and not folder.is_symlink():
            for entry in folder.iterdir():
                inside(folder, entry.name, field=f"output_dir (run {run.id})", make=False)


def _unreadable(trajectory: Path) -> str | None:
    """Why a run's trajectory cannot be analysed again (not HDF5, cut short, not meltdyn's layout), or None."""
    try:
        with H5MDReader(trajectory) as reader:
            reader.n_frames  # noqa: B018 (reads the frame index: a foreign layout fails here)
    except (InputError, KeyError, OSError) as exc:
        return f"cannot be read ({str(exc)[:200]})"
    return None


def _checked_summary(summary: Any, path: Path) -> dict[str, Any]:
    """A run's summary.json as meltdyn wrote it: an object whose estimates (and state point) read back as such."""
    problem = None
    if not isinstance(summary, dict):
        problem = f"it holds {_brief(summary)}, not an object"
    else:
        point = summary.get(STATE_POINT)
        estimates = [(f"{label}.{name}", value) for label, entry in summary.items() if isinstance(entry, dict)
                     for name, value in entry.items() if isinstance(value, dict) and "kind" in value]
        if isinstance(point, dict):
            estimates += [(f"{STATE_POINT}.{key}", point[key]) for key in ("temperature_K",
                                                                            "potential_energy_eV_per_atom") if key in point]
        elif point is not None:
            problem = f"{STATE_POINT} is {_brief(point)}, not an object"
        for where, value in estimates:
            try:
                Estimate.from_json(value)
            except (KeyError, TypeError, ValueError) as exc:
                problem = f"{where} is {_brief(value)}, not an estimate meltdyn writes ({exc})"
                break
    if problem:
        raise StudyError(f"{path}: not a summary meltdyn wrote ({problem}); " + _REANALYSE)
    return summary


def _mark_run(directory: Path) -> None:
    if kind_of(directory) != "run":
        write_json_atomic(directory / MARK, {"kind": "run"})


def _earlier_study(directory: Path) -> bool:
    """A study directory an earlier meltdyn made before it marked them: only run directories (each with its
    spec.json) and meltdyn's own report; adopted, so `meltdyn run` resumes it."""
    found_run = False
    for entry in directory.iterdir():
        if entry.is_symlink():
            return False
        if entry.name == "report" and entry.is_dir():
            continue
        if not (entry.is_dir() and (entry / "spec.json").is_file()):
            return False
        found_run = True
    return found_run


def _remove_leftovers(run_dir: Path) -> None:
    """Remove the temporary files a write cut short (a full disk, a size limit) left in a run directory."""
    for folder in (run_dir, run_dir / "checkpoints"):
        try:
            for path in folder.glob("*.tmp"):
                if path.is_file() and not path.is_symlink():
                    path.unlink(missing_ok=True)
        except OSError:
            pass


ANALYSIS_OUTPUTS = ("results.h5", "summary.json", "provenance.json", "plots")
"""What a run's analysis writes (plots by ``meltdyn plot``): moved aside, never overwritten, by a reanalysis."""


def _new_directory(path: Path) -> Path:
    """``path``, or ``path-1``, ``path-2``, ... if it exists: made, empty, never one that was there."""
    candidate, k = path, 0
    while True:
        try:
            candidate.mkdir(parents=True)
            return candidate
        except FileExistsError:
            k += 1
            candidate = path.with_name(f"{path.name}-{k}")


SIMULATED = "simulated"
"""The engine facts' entry for what the simulation recorded of its system, potential and seeds."""


def _simulated(ctx: RunContext) -> dict[str, Any]:
    return {"system": ctx.system.info, "potential": ctx.potential.describe(), "seeds": dict(ctx.seeds.used)}


def _provenance(run: Run, engine_facts: dict[str, Any]) -> dict[str, Any]:
    engine = {k: v for k, v in engine_facts.items() if k != SIMULATED}
    simulated = engine_facts[SIMULATED]
    versions = package_versions()
    seeds = {**simulated["seeds"], **engine.get("seeds", {})}
    return {"fingerprint": fingerprint(run.resolved_spec(), {"root": run.study.spec.seed, **seeds}, versions),
            "seed": run.study.spec.seed, "seeds": seeds, "python": sys.version,
            "platform": platform.platform(), "packages": versions, "deterministic": run.study.spec.deterministic,
            "plugins": {e.name: {"kind": e.kind, "distribution": e.distribution, "version": e.version}
                        for e in run.study.registry.all_entries()},
            "system": simulated["system"], "potential": simulated["potential"], "engine": engine}


def validate_study(data: dict[str, Any], registry: Registry) -> BaseModel:
    """Validate a study mapping's shape against the registered plugins; raise StudyError listing every problem."""
    model = study_model(registry)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise errors.invalid(exc, model, "study") from None


def load_study(source: str | Path | dict[str, Any], registry: Registry | None = None,
               output_dir: str | Path | None = None, *, check: bool = True) -> Study:
    """Load and fully validate a study from a YAML file or a mapping; plugins are discovered unless given.

    ``check=False`` validates the study's shape only, without the checks against this machine and the plugins
    (:func:`~meltdyn.study.preflight.preflight`): for a worker handed a study its client has checked, to analyse runs.
    """
    registry = registry or discover()
    data = dict(source) if isinstance(source, dict) else read_study_file(source)
    spec = validate_study(data, registry)
    out = usable(output_dir or spec.output_dir, "output_dir")
    executor = registry.get("executor", spec.executor.plugin).definition
    local = executor.outline(registry.params_of("executor", spec.executor)).local
    if not check:
        outline, problems = outline_study(spec, registry, local)
        if problems:
            raise StudyError("invalid study:\n  " + "\n  ".join(problems))
        return Study(spec, registry, out, outline)
    return Study(spec, registry, out, preflight(spec, registry, out, local))


__all__ = ["Run", "Study", "load_study", "validate_study"]
