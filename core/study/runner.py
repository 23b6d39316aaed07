"""Studies: a validated spec expanded into runs (the sweep), carried out batch by batch by an executor and analysed.

Each run's state lives in its :class:`~meltdyn.study.run_directory.RunDirectory` (claim, lock, status, archive);
what its provenance records is :mod:`meltdyn.study.provenance`; executors see a study through
:class:`~meltdyn.hooks.contracts.StudyHandle`.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from meltdyn.analysis import state_point
from meltdyn.analysis.results import Results, save_results
from meltdyn.analysis.streaming import AnalysisCost, analyse
from meltdyn.analysis.summaries import run_summary
from meltdyn.base import errors
from meltdyn.base.errors import StudyError
from meltdyn.base.jsonio import write_json_atomic
from meltdyn.base.ownership import claim, inside, usable
from meltdyn.base.progress import Progress
from meltdyn.base.seeds import SeedBook
from meltdyn.engine.checkpoints import Checkpoint, load_facts
from meltdyn.engine.trust import MIN_FRAMES, TRUST_STOP, stop_flag, too_short
from meltdyn.hooks.contracts import BaseObservable, Engine, RunContext
from meltdyn.hooks.data import StudyOutline
from meltdyn.hooks.registry import Registry, discover
from meltdyn.spec.models import stage_temperature
from meltdyn.spec.studyfile import read_study_file
from meltdyn.study.model import study_model
from meltdyn.study.monitor import StudyMonitor
from meltdyn.study.preflight import outline_study, preflight, run_id
from meltdyn.study.provenance import SIMULATED, provenance, simulated
from meltdyn.study.run_directory import RunDirectory, earlier_study
from meltdyn.trajectory.h5md import H5MDReader

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Run:
    """One point of the sweep (composition, temperature, replica) and its directory."""

    study: Study
    composition: str | float
    temperature_K: float
    replica: int

    @property
    def id(self) -> str:
        return run_id(self.composition, self.temperature_K, self.replica)

    @property
    def directory(self) -> RunDirectory:
        """Where the run's state lives: claim, lock, status, checkpoints, results, superseded analyses."""
        return RunDirectory(self.study.output_dir, self.id)

    @property
    def dir(self) -> Path:
        return self.directory.path

    @property
    def trajectory(self) -> Path:
        """The run's production trajectory (H5MD)."""
        return self.directory.trajectory

    @property
    def status(self) -> dict[str, Any]:
        """The run's state: pending, running, interrupted, failed or completed (see :attr:`RunDirectory.status`)."""
        return self.directory.status

    @property
    def completed(self) -> bool:
        return self.directory.completed

    def checkpoint(self) -> Checkpoint:
        return self.directory.checkpoint()

    def results(self) -> Results:
        return self.directory.results()

    def summary(self) -> dict[str, Any]:
        return self.directory.summary()

    def seeds(self) -> SeedBook:
        """This run's seeds, all derived from the study's seed and the run id."""
        return SeedBook(self.study.spec.seed, self.id)

    def resolved_spec(self) -> dict[str, Any]:
        """What this run is: the study's spec without the other runs, where they go and how they are executed."""
        spec = self.study.spec.model_dump(mode="json", exclude={"sweep", "output_dir", "executor"})
        spec["run"] = {"id": self.id, "composition": self.composition, "temperature_K": self.temperature_K,
                       "replica": self.replica}
        return spec


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
        claim(self.output_dir, "study", field="output_dir", adopt=earlier_study)
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
        """Make or re-enter the study's directory and the run's; return False if the run is already complete. A
        directory meltdyn did not make for this very run is refused, never adopted (:meth:`RunDirectory.claim`)."""
        claim(self.output_dir, "study", field="output_dir", adopt=earlier_study)
        return run.directory.claim(run.resolved_spec())

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
            lock = run.directory.lock()
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
                run.directory.set_running(started)
            try:
                reporter.note("building the system and the potential")
                contexts = self._contexts(held, reporter)
                reporter.note(f"starting the {self.spec.engine.plugin} engine")
                engine: Engine = self.registry.build("engine", self.spec.engine)
                facts = engine.run(contexts)
            except BaseException as exc:
                reporter.close()
                return {}, self._failed(held, exc, started)
            # What provenance needs of the system and potential, recorded now: the analysis builds neither.
            return {run.id: {**record, "started": started, SIMULATED: simulated(ctx)}
                    for run, ctx, record in zip(held, contexts, facts)}, []
        finally:
            for lock in locks:
                lock.release()

    def analyse(self, run: Run, engine_facts: dict[str, Any]) -> list[str]:
        """Analyse a simulated run and write its results, summary and provenance; a line if it failed."""
        with run.directory.lock() as lock:
            if not lock.held:
                log.warning("run %s is being analysed by %s; left to it", run.id, lock.describe_holder())
                return []
            started = engine_facts.get("started", time.time())
            try:
                self._analyse(run, engine_facts)
            except BaseException as exc:
                return self._failed([run], exc, started)
            stopped = engine_facts.get(TRUST_STOP)
            run.directory.set_completed(started, stop_flag(stopped) if stopped else None)
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
            with run.directory.lock() as lock:
                if not lock.held:
                    skipped.append(f"run {run.id} is held by {lock.describe_holder()}; left to it")
                    continue
                unusable = run.directory.unusable_trajectory()
                if unusable:
                    skipped.append(f"run {run.id}: reanalysis failed: its trajectory {str(run.trajectory)!r} "
                                   f"{unusable}, so there is nothing to analyse again; its previous results are kept. "
                                   "Restore the file, or remove the run directory and `meltdyn run` it again")
                    continue
                # Written aside first: a reanalysis that fails or is killed leaves the previous results in place.
                staging = run.directory.staging()
                try:
                    stopped = load_facts(run.dir / "checkpoints").get(TRUST_STOP)
                    cost = self._write_analysis(run.trajectory, staging, self.production_target_K(run), stopped)
                except Exception as exc:
                    shutil.rmtree(staging)
                    skipped.append(f"run {run.id}: reanalysis failed ({type(exc).__name__}: {exc}); its previous "
                                   "results are kept")
                    continue
                run.directory.supersede(staging, cost.as_dict())
            done.append(run)
        return done, skipped

    def _analyse(self, run: Run, engine_facts: dict[str, Any]) -> None:
        cost = self._write_analysis(run.trajectory, run.dir, self.production_target_K(run),
                                    engine_facts.get(TRUST_STOP))
        record = provenance(run.resolved_spec(), self.spec, self.registry, engine_facts)
        record["analysis"] = cost.as_dict()
        write_json_atomic(run.dir / "provenance.json", record)

    def production_target_K(self, run: Run) -> float:
        """The temperature a run's production was asked for (its own, or the sweep's)."""
        return stage_temperature(self.spec.protocol.production, run.temperature_K)

    def _write_analysis(self, trajectory: Path, into: Path, target_K: float, stopped: dict[str, Any] | None = None
                        ) -> AnalysisCost:
        """Every observable over a run's trajectory, and the state point it reached: results.h5 and summary.json,
        written into ``into``. A production that ``stopped`` early (:mod:`meltdyn.engine.trust`) is analysed as it
        stands, its state point flagged; one stopped before it had two frames has nothing to analyse."""
        spec = self.spec
        if stopped:
            with H5MDReader(trajectory) as reader:
                frames = reader.n_frames
            if frames < MIN_FRAMES:
                raise StudyError(too_short(stopped, frames))
        observables: dict[str, BaseObservable] = {
            label: self.registry.build("observable", o) for label, o in zip(spec.observable_labels, spec.observables)}
        cost = AnalysisCost()
        results = analyse(trajectory, observables, spec.analysis, cost=cost)
        save_results(into / "results.h5", results, spec.analysis.reference_frame)
        with H5MDReader(trajectory) as reader:
            point = state_point.measure(reader, target_K).as_json()
        if stopped:
            point[TRUST_STOP] = stopped
            point["flags"].append(stop_flag(stopped))
        write_json_atomic(into / "summary.json", run_summary(observables, results, point))
        return cost

    def _failed(self, runs: Sequence[Run], exc: BaseException, started: float) -> list[str]:
        lines = [run.directory.set_failed(exc, started) for run in runs]
        if not isinstance(exc, Exception):
            raise exc
        return lines


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
