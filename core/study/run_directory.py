"""A run's directory and what meltdyn keeps in it: the claim on it, its lock, its status, its checkpoints, its
results and summary, and the archive of the analyses a reanalysis superseded.

Everything here reads defensively (a state file damaged outside meltdyn is refused by name, with what to do) and
writes atomically; nothing a user put in a directory is overwritten or adopted.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

from meltdyn.analysis.results import Results, load_results
from meltdyn.analysis.summaries import summary_problem
from meltdyn.base.errors import InputError, StudyError
from meltdyn.base.fingerprint import package_versions
from meltdyn.base.jsonio import read_json, write_json_atomic
from meltdyn.base.ownership import MARK, inside, kind_of
from meltdyn.base.storage import describe as storage_fault
from meltdyn.engine.checkpoints import Checkpoint
from meltdyn.spec.migrations import upgrade_resolved_spec
from meltdyn.study.locks import RunLock
from meltdyn.trajectory.h5md import H5MDReader

STATES = ("pending", "running", "interrupted", "failed", "completed")
ANALYSIS_OUTPUTS = ("results.h5", "summary.json", "provenance.json", "plots")
"""What a run's analysis writes (plots by ``meltdyn plot``): moved aside, never overwritten, by a reanalysis."""
_REMEDY = ("It was changed or damaged outside meltdyn; restore it, or move {run} away and `meltdyn run` that run "
           "again from the start.")
_REANALYSE = ("restore it, or `meltdyn run --reanalyse` the study to write the run's results and summary again from "
              "its trajectory.")


class RunDirectory:
    """The directory of run ``run_id`` inside the study directory ``study_dir``."""

    def __init__(self, study_dir: Path, run_id: str):
        self.study_dir = study_dir
        self.id = run_id
        self.path = study_dir / run_id

    @property
    def trajectory(self) -> Path:
        """The run's production trajectory (H5MD)."""
        return self.path / "trajectory.h5"

    def lock(self) -> RunLock:
        """The run's lock, acquired on entering a ``with`` block (``lock.held`` says whether it was)."""
        return RunLock(self.path)

    # -- reading ------------------------------------------------------------------------------------------------------

    @property
    def status(self) -> dict[str, Any]:
        """What status.json says, except that a run left 'running' by a process that has since died (killed, or a
        cluster worker lost) is 'interrupted': nobody is running it, and `meltdyn run` continues it."""
        path = self.path / "status.json"
        if not path.exists():
            return {"state": "pending"}
        status = read_json(path, f"run {self.id}'s status", remedy=_REMEDY.format(run=self.path))
        if not isinstance(status, dict) or status.get("state") not in STATES:
            raise StudyError(f"{path}: not a status meltdyn wrote (it holds {_brief(status)}; a status is an object "
                             f"whose 'state' is one of {list(STATES)}). " + _REMEDY.format(run=self.path))
        lock = self.lock()
        if status["state"] == "running" and lock.holder_ended():
            return {**status, "state": "interrupted",
                    "message": f"the process running it ({lock.describe_holder()}) ended before it finished; "
                               "`meltdyn run` continues from its last checkpoint"}
        return status

    @property
    def completed(self) -> bool:
        return self.status["state"] == "completed"

    def checkpoint(self) -> Checkpoint:
        return Checkpoint.load(self.path / "checkpoints")

    def results(self) -> Results:
        if not self.completed:
            raise StudyError(f"run {self.id} is {self.status['state']}, it has no results yet")
        return load_results(self.path / "results.h5", remedy=_REANALYSE)

    def summary(self) -> dict[str, Any]:
        path = self.path / "summary.json"
        if not path.is_file():
            raise StudyError(f"{path} is missing, though run {self.id} is completed; " + _REANALYSE)
        return _checked_summary(read_json(path, f"run {self.id}'s summary", remedy=_REANALYSE), path)

    def unusable_trajectory(self) -> str | None:
        """Why the trajectory cannot be analysed again (missing, not HDF5, cut short, a foreign layout), or None."""
        if not self.trajectory.is_file():
            return "is missing"
        try:
            with H5MDReader(self.trajectory) as reader:
                reader.n_frames  # noqa: B018 (reads the frame index: a foreign layout fails here)
        except (InputError, KeyError, OSError) as exc:
            return f"cannot be read ({str(exc)[:200]})"
        return None

    # -- writing ------------------------------------------------------------------------------------------------------

    def changes(self, resolved_spec: dict[str, Any]) -> list[str]:
        """How ``resolved_spec`` differs from the spec this directory's run was made from, one ``field: was → now``
        per difference (at most :data:`SHOWN_CHANGES`); empty when it is the same run or there is none yet."""
        spec_path = self.path / "spec.json"
        if not spec_path.exists():
            return []
        previous = read_json(spec_path, f"run {self.id}'s spec", remedy=_REMEDY.format(run=self.path))
        if not isinstance(previous, dict):
            raise StudyError(f"{spec_path}: not a spec meltdyn wrote (it holds {_brief(previous)}, not an "
                             "object). " + _REMEDY.format(run=self.path))
        # A run made by meltdyn 0.2 resumes once its study file is in the 0.3 layout (spec.json is left as it is).
        found = _differences(upgrade_resolved_spec(previous, resolved_spec), resolved_spec, "")
        return found[:SHOWN_CHANGES] + ([f"and {len(found) - SHOWN_CHANGES} more"] if len(found) > SHOWN_CHANGES
                                        else [])

    def claim(self, resolved_spec: dict[str, Any]) -> bool:
        """Make or re-enter the directory for the run ``resolved_spec`` describes; return False if that run is
        already complete. A directory meltdyn did not make for this very run (no spec.json, or one from another
        spec) is refused, never adopted: nothing a user produced is overwritten."""
        where = f"output_dir (run {self.id})"
        directory = inside(self.study_dir, self.id, field=where, make=False)
        if directory.exists() and not directory.is_dir():
            raise StudyError(f"{where}: {str(directory)!r} exists and is not a directory; meltdyn did not make it and "
                             "will not replace it. Move it away or choose another output_dir.")
        spec_path = self.path / "spec.json"
        if spec_path.exists():
            self._no_links_out()
            changes = self.changes(resolved_spec)
            if changes:
                raise StudyError(
                    f"{self.path} holds a run made from a different spec; meltdyn never overwrites it. "
                    f"Use another output_dir, or move that directory away yourself. Changed: {'; '.join(changes)}")
            self._mark()
            return not self.completed
        if self.path.exists() and any(self.path.iterdir()):
            found = sorted(p.name for p in self.path.iterdir())
            raise StudyError(f"{self.path} exists and holds {found[:5]} but no spec.json: meltdyn did not make it "
                             "and will not write into it. Move it away or choose another output_dir.")
        # Made whole (mark and spec.json) beside it and renamed into place, so that a concurrent meltdyn claiming
        # the same run finds either nothing or a complete directory, never one half made.
        staging = self.study_dir / f".{self.id}.claiming-{uuid.uuid4().hex}"
        staging.mkdir()
        write_json_atomic(staging / MARK, {"kind": "run"})
        write_json_atomic(staging / "spec.json", resolved_spec)
        try:
            os.rename(staging, self.path)  # atomic; replaces nothing but an empty directory
        except OSError:
            shutil.rmtree(staging)
            if not spec_path.exists():
                raise
            return self.claim(resolved_spec)  # a concurrent meltdyn made it first: enter it as one made before
        return True

    def set_running(self, started: float) -> None:
        write_json_atomic(self.path / "status.json", {"state": "running", "started": started})

    def set_completed(self, started: float, message: str | None = None) -> None:
        """Simulated and analysed; ``message`` says what to know first (a production that stopped early)."""
        write_json_atomic(self.path / "status.json", {"state": "completed", "started": started,
                                                      "finished": time.time(),
                                                      **({"message": message} if message else {})})

    def set_failed(self, exc: BaseException, started: float) -> str:
        """Record why the run stopped (interrupted by Ctrl-C, or failed) and what of it is kept; return the line
        that says so."""
        state = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        self.remove_leftovers()
        try:
            ck = self.checkpoint()
        except StudyError:
            ck = Checkpoint()
        kept = ""
        if ck.file:
            kept = f"; its last checkpoint (stage {ck.stage}, step {ck.step}, {ck.frames} frames) is kept"
            kept += ", and `meltdyn run` continues from it" if state == "interrupted" else ""
        message = storage_fault(exc) or f"{type(exc).__name__}: {exc}"
        try:
            write_json_atomic(self.path / "status.json", {"state": state, "started": started, "message": message})
        except OSError as again:  # the disk is still full: say so, leave no half-written status behind
            self.remove_leftovers()
            message += f" (status.json could not be updated: {again.strerror or again})"
        return f"run {self.id} {state} ({self.path}): {message}{kept}"

    def remove_leftovers(self) -> None:
        """Remove the temporary files a write cut short (a full disk, a size limit) left in the directory."""
        for folder in (self.path, self.path / "checkpoints"):
            try:
                for path in folder.glob("*.tmp"):
                    if path.is_file() and not path.is_symlink():
                        path.unlink(missing_ok=True)
            except OSError:
                pass

    def staging(self) -> Path:
        """An empty folder in the directory where a reanalysis writes its outputs before they replace the old."""
        staging = self.path / ".reanalysis"
        shutil.rmtree(staging, ignore_errors=True)  # meltdyn's own leftovers of an interrupted attempt
        staging.mkdir()
        return staging

    def supersede(self, staging: Path, analysis: dict[str, Any]) -> Path:
        """Move the previous analysis' outputs to ``superseded/<time>/`` (a new folder, never one that was there),
        and the staged ones in; provenance keeps what the simulation recorded, with ``analysis`` as its analysis."""
        try:
            provenance = read_json(self.path / "provenance.json", f"run {self.id}'s provenance")
        except StudyError:
            provenance = {}
        provenance = provenance if isinstance(provenance, dict) else {}
        archive = _new_directory(self.path / "superseded" / time.strftime("%Y%m%dT%H%M%S"))
        provenance["analysis"] = {**analysis, "packages": package_versions(),
                                  "superseded": str(archive.relative_to(self.path))}
        write_json_atomic(staging / "provenance.json", provenance)
        for name in ANALYSIS_OUTPUTS:
            if (self.path / name).exists():
                (self.path / name).rename(archive / name)
        for path in staging.iterdir():
            path.rename(self.path / path.name)
        staging.rmdir()
        return archive

    def _mark(self) -> None:
        if kind_of(self.path) != "run":
            write_json_atomic(self.path / MARK, {"kind": "run"})

    def _no_links_out(self) -> None:
        """Refuse a run directory holding a symlink (its checkpoints/, its trajectory, a state file): meltdyn writes
        through those paths and never follows one out of the directory it made."""
        for folder in (self.path, self.path / "checkpoints"):
            if folder.is_dir() and not folder.is_symlink():
                for entry in folder.iterdir():
                    inside(folder, entry.name, field=f"output_dir (run {self.id})", make=False)


def earlier_study(directory: Path) -> bool:
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


def _brief(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _checked_summary(summary: Any, path: Path) -> dict[str, Any]:
    """A run's summary.json as this meltdyn writes it: an object whose quantities (and state point) read back."""
    problem = (f"it holds {_brief(summary)}, not an object" if not isinstance(summary, dict)
               else summary_problem(summary))
    if problem:
        raise StudyError(f"{path}: not a summary this meltdyn reads ({problem}); " + _REANALYSE)
    return summary


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


SHOWN_CHANGES = 5
"""Differences between a run's spec and the study file's named in a refusal; the rest are counted."""


_ABSENT = object()


def _differences(was: Any, now: Any, where: str) -> list[str]:
    """``field: was → now`` for every leaf in which two specs differ (lists by index, mappings by key)."""
    if isinstance(was, dict) and isinstance(now, dict):
        return [d for key in sorted(set(was) | set(now), key=str)
                for d in _differences(was.get(key, _ABSENT), now.get(key, _ABSENT),
                                      f"{where}.{key}" if where else str(key))]
    if isinstance(was, list) and isinstance(now, list) and len(was) == len(now):
        return [d for k, (a, b) in enumerate(zip(was, now)) for d in _differences(a, b, f"{where}[{k}]")]
    if was == now:
        return []
    return [f"{where}: {'absent' if was is _ABSENT else _brief(was)} → {'absent' if now is _ABSENT else _brief(now)}"]
