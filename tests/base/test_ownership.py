"""One ownership rule for every writer, and every state file read defensively (issue 20), through the command line.

``meltdyn run``, ``analyse``, ``train``, ``report`` and ``plot`` write only into directories meltdyn made and
marked; they refuse any other non-empty one and any inside another of meltdyn's directories (a run's, its
checkpoints), never follow a symlink out of their output, and make nothing before their inputs are validated. Every
state file of a run (spec.json, status.json, summary.json, results.h5, the checkpoints, a PaiNN model) is read
defensively. Each refusal here exits 2 with a message naming the path or field and what to do, shows no traceback,
and leaves every file under the test's directory as it was: the same entries, the same bytes, the same mtimes.

One tiny run is made per module; each case damages its own copy of it.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import pytest
import yaml

from conftest import TINY_STUDY
from refusals import run_cli
from training_inputs import base_spec, good_frames

RUN = "NS2_T3000K_r0"
MINE = b"the user's own bytes, not meltdyn's\n"
LOCK = ".lock"
"""A run's lock file: meltdyn rewrites who holds it whenever a command takes the lock; nothing else of it counts."""


# ------------------------------------------------------------------------------------------------------- helpers

def snapshot(root: Path) -> dict[str, tuple[Any, ...]]:
    """Every entry under ``root``, symlinks never followed: a directory, a link and where it points, a file's bytes
    and mtime."""
    found: dict[str, tuple[Any, ...]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            info = path.lstat()
            key = str(path.relative_to(root))
            if stat.S_ISLNK(info.st_mode):
                found[key] = ("link", os.readlink(path))
            elif stat.S_ISDIR(info.st_mode):
                found[key] = ("dir",)
            else:
                found[key] = ("file", path.read_bytes(), info.st_mtime_ns)
    return found


def changes(before: dict[str, tuple[Any, ...]], after: dict[str, tuple[Any, ...]]) -> list[str]:
    """Entries made, removed or changed, but for a run's lock file that was already there."""
    return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k)
                  and not (Path(k).name == LOCK and k in before and k in after))


def refused(root: Path, argv: list[str], needles: list[str | tuple[str, ...]],
            may_change: Callable[[str], bool] = lambda entry: False) -> str:
    """Run the command line in a fresh working directory under ``root``; assert exit 2, no traceback, a message
    holding every needle (case aside; a tuple: one of its wordings), and nothing under ``root`` made, removed or
    changed (but what ``may_change``: meltdyn's own bookkeeping in its own run directory). Returns the message."""
    cwd = root / "cwd"
    cwd.mkdir(exist_ok=True)
    before = snapshot(root)
    rc, message = run_cli(argv, cwd)
    assert rc == 2, message
    assert "Traceback" not in message, message
    for needle in needles:
        wordings = needle if isinstance(needle, tuple) else (needle,)
        assert any(w.lower() in message.lower() for w in wordings), f"{needle!r} not in: {message}"
    changed = [k for k in changes(before, snapshot(root)) if not may_change(k)]
    assert changed == [], f"made, removed or changed: {changed}; the message was: {message}"
    return message


BUGS: dict[str, str] = {}
"""Cases that fail because of a bug in a file this change does not touch: what is wrong, where."""


def cases(names: Any, ids: list[str] | None = None) -> list[Any]:
    """``names`` as parameters, each case of :data:`BUGS` expected to fail (strictly: a fix makes it pass)."""
    names = list(names)
    ids = ids or [str(n) for n in names]
    return [pytest.param(*(n if isinstance(n, tuple) else (n,)), id=i,
                         marks=[pytest.mark.xfail(strict=True, reason=BUGS[i])] if i in BUGS else [])
            for n, i in zip(names, ids)]


def write_yaml(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


def tiny(output_dir: Path | str) -> dict[str, Any]:
    study = copy.deepcopy(TINY_STUDY)
    study["output_dir"] = str(output_dir)
    return study


@dataclass
class Case:
    """A test's directory (``root``, every file under it checked) holding its own copy of the completed study."""

    root: Path
    out: Path  # the study's output_dir
    study: Path  # the study file
    run: Path  # the completed run's directory

    def analysis(self, out: Path | str, **change: Any) -> Path:
        """An analysis file of the run's trajectory into ``out``."""
        spec = {"trajectory": str(self.run / "trajectory.h5"), "output_dir": str(out),
                "observables": [{"plugin": "msd"}], **change}
        return write_yaml(self.root / "analysis.yaml", spec)

    def training(self, out: Path | str, **change: Any) -> Path:
        """A training file of a tiny extxyz reference set into ``out`` (checked before anything is trained)."""
        data = self.root / "ref.extxyz"
        if not data.exists():
            data.write_text(good_frames())
        spec = base_spec(out, data)  # type: ignore[arg-type]
        for section, values in change.items():
            spec[section].update(values)
        return write_yaml(self.root / "train.yaml", spec)

    def resumable(self) -> None:
        """Make the run one `meltdyn run` continues from its checkpoint (as if it had been interrupted)."""
        (self.run / "status.json").write_text(json.dumps({"state": "interrupted", "started": 0.0,
                                                          "message": "interrupted by the test"}))

    @property
    def checkpoints(self) -> Path:
        return self.run / "checkpoints"

    def progress(self) -> dict[str, Any]:
        return json.loads((self.checkpoints / "progress.json").read_text())


@pytest.fixture(scope="module")
def completed(tmp_path_factory) -> Path:
    """A study directory with one completed tiny run, made once for the module through `meltdyn run`."""
    root = tmp_path_factory.mktemp("completed").resolve()
    rc, message = run_cli(["run", "-q", str(write_yaml(root / "study.yaml", tiny(root / "runs")))], root)
    assert rc == 0, message
    assert json.loads((root / "runs" / RUN / "status.json").read_text())["state"] == "completed"
    return root / "runs"


@pytest.fixture
def case(tmp_path, completed) -> Case:
    root = tmp_path.resolve()
    out = root / "runs"
    shutil.copytree(completed, out, symlinks=True)
    return Case(root, out, write_yaml(root / "study.yaml", tiny(out)), out / RUN)


WRITERS: dict[str, Callable[[Case, Path | str], list[str]]] = {
    "run": lambda c, out: ["run", "-q", str(c.study), "--output-dir", str(out)],
    "analyse": lambda c, out: ["analyse", str(c.analysis(out))],
    "train": lambda c, out: ["train", "-q", str(c.training(out))],
    "report": lambda c, out: ["report", str(c.study), "--to", str(out)],
    "export": lambda c, out: ["export", str(c.study), "--to", str(out)],
}
"""Each writer's command line with ``out`` as its output directory."""
FIELD = {"run": "output_dir", "analyse": "output_dir", "train": "output_dir", "report": "--to", "export": "--to"}


# ------------------------------------------------------------------------------- a directory with a user's files

USERS = {
    "analyse-summary-spec-cost": ("analyse", ["summary.json", "spec.json", "cost.json"]),
    "train-model-parity": ("train", ["model.json", "parity.png"]),
    "report-html-table": ("report", ["report.html", "table.csv"]),
    "run-results-notes": ("run", ["results.h5", "notes.txt"]),
    "export-structure-notes": ("export", ["NS2_T3000K_r0.extxyz", "notes.txt"]),
}


@pytest.mark.subprocess
@pytest.mark.parametrize("name", USERS)
def test_a_writer_refuses_a_directory_holding_a_users_files(name, case):
    writer, files = USERS[name]
    mine = case.root / "mine"
    mine.mkdir()
    for file in files:
        (mine / file).write_bytes(MINE)
    refused(case.root, WRITERS[writer](case, mine),
            [FIELD[writer], str(mine), "already holds", *files, "which meltdyn did not make", "choose another"])


@pytest.mark.subprocess
def test_plot_refuses_a_plots_directory_the_user_made_in_a_run(case):
    plots = case.run / "plots"
    plots.mkdir()
    (plots / "msd.png").write_bytes(MINE)  # the name meltdyn's own figure would take
    (plots / "notes.txt").write_bytes(MINE)
    refused(case.root, ["plot", str(case.study)], ["plots", str(plots), "msd.png", "notes.txt", "choose another"])


# ------------------------------------------------------------------------------ inside another meltdyn directory

PLACES: dict[str, Callable[[Case], Path]] = {
    "inside-a-run": lambda c: c.run / "mine",
    "inside-its-checkpoints": lambda c: c.checkpoints / "mine",
    "its-checkpoints": lambda c: c.checkpoints,
    "the-run-itself": lambda c: c.run,
}


@pytest.mark.subprocess
@pytest.mark.parametrize("writer", WRITERS)
@pytest.mark.parametrize("place", PLACES)
def test_a_writer_refuses_a_directory_inside_another_runs(place, writer, case):
    target = PLACES[place](case)
    refused(case.root, WRITERS[writer](case, target), [FIELD[writer], str(case.run), "choose a"])


# ---------------------------------------------------------------------------- symlinks out of an output directory

def _move_out(c: Case, entry: Path) -> Path:
    """Move ``entry`` out of the study to ``elsewhere/`` and leave a symlink to it where it was; return the target."""
    target = c.root / "elsewhere" / entry.name
    target.parent.mkdir(exist_ok=True)
    entry.rename(target)
    entry.symlink_to(target, target_is_directory=True)
    return target


def _link_to_empty(c: Case, entry: Path) -> Path:
    target = c.root / "elsewhere"
    target.mkdir()
    if entry.exists():
        shutil.rmtree(entry)
    entry.symlink_to(target, target_is_directory=True)
    return target


def _run_linked_out(c: Case, command: list[str]) -> list[str]:
    """A complete run moved out of the study and linked back: it looks like meltdyn's, but lies elsewhere."""
    _move_out(c, c.run)
    return [*command, str(c.study)]


def _checkpoints_linked_out(c: Case) -> list[str]:
    c.resumable()
    _move_out(c, c.checkpoints)
    return ["run", "-q", str(c.study)]


def _plots_linked_out(c: Case) -> list[str]:
    _link_to_empty(c, c.run / "plots")
    return ["plot", str(c.study)]


def _report_linked_out(c: Case) -> list[str]:
    _link_to_empty(c, c.out / "report")
    return ["report", str(c.study)]


SYMLINKS: dict[str, tuple[Callable[[Case], list[str]], str]] = {
    "run-dir-links-out-run": (lambda c: _run_linked_out(c, ["run", "-q"]), RUN),
    "run-dir-links-out-plot": (lambda c: _run_linked_out(c, ["plot"]), RUN),
    "run-dir-links-out-reanalyse": (lambda c: _run_linked_out(c, ["run", "--reanalyse"]), RUN),
    "checkpoints-link-out-run": (_checkpoints_linked_out, "checkpoints"),
    "plots-link-out": (_plots_linked_out, "plots"),
    "report-dir-links-out": (_report_linked_out, "report"),
}


@pytest.mark.subprocess
@pytest.mark.parametrize("name", cases(SYMLINKS))
def test_a_symlink_out_of_the_output_directory_is_never_followed(name, case):
    setup, entry = SYMLINKS[name]
    refused(case.root, setup(case), ["symlink", entry, "elsewhere"])


# ----------------------------------------------------------------------------- paths no directory can be made at

def _loop(root: Path) -> Path:
    (root / "loop-a").symlink_to(root / "loop-b")
    (root / "loop-b").symlink_to(root / "loop-a")
    return root / "loop-a" / "out"


def _a_file(root: Path) -> Path:
    (root / "a-file").write_bytes(MINE)
    return root / "a-file"


BAD_PATHS: dict[str, tuple[Callable[[Path], str | Path], list[str | tuple[str, ...]]]] = {
    "nul-byte": (lambda r: f"{r}/out\0put", ["NUL"]),
    "name-4000-chars": (lambda r: r / ("x" * 4000), ["too long", "choose another"]),
    # An analysis file's output_dir is refused by its schema (at most 4096 characters), the others by the path.
    "path-5000-chars": (lambda r: r.joinpath(*["y" * 99] * 50), [("too long", "at most 4096"),
                                                                 ("choose another", "at most 4096")]),
    "symlink-loop": (_loop, ["loop-a", "symlink loop", "choose another"]),
    "a-regular-file": (_a_file, ["a-file", "not a directory", "choose another"]),
}


@pytest.mark.subprocess
@pytest.mark.parametrize(("path", "writer"), cases([(p, w) for p in BAD_PATHS for w in WRITERS],
                                                  [f"{p}-{w}" for p in BAD_PATHS for w in WRITERS]))
def test_an_output_path_no_directory_can_be_at_is_refused_and_nothing_is_made(path, writer, case):
    make, needles = BAD_PATHS[path]
    target = make(case.root)
    refused(case.root, WRITERS[writer](case, target), [FIELD[writer], *needles])


@pytest.mark.subprocess
def test_a_run_directory_that_is_a_regular_file_is_refused_and_kept(case):
    shutil.rmtree(case.run)
    case.run.write_bytes(MINE)
    refused(case.root, ["run", "-q", str(case.study)], [str(case.run), "not a directory", "move it away"])


# --------------------------------------------------------------------------- nothing made before inputs are valid

def _invalid_study(c: Case, out: Path) -> Path:
    study = tiny(out)
    study["engine"]["platform"] = "TPU"
    return write_yaml(c.root / "invalid.yaml", study)


INVALID: dict[str, tuple[Callable[[Case, Path], list[str]], list[str]]] = {
    "run-bad-platform": (lambda c, out: ["run", "-q", str(_invalid_study(c, out))], ["engine.platform", "'TPU'"]),
    "report-bad-platform": (lambda c, out: ["report", str(_invalid_study(c, out))], ["engine.platform"]),
    "report-to-bad-platform": (lambda c, out: ["report", str(_invalid_study(c, c.root / "absent")), "--to",
                                               str(out)], ["engine.platform"]),
    "analyse-unknown-observable": (lambda c, out: ["analyse", str(c.analysis(out, observables=[{"plugin": "nope"}]))],
                                   ["observables", "'nope'"]),
    "analyse-missing-trajectory": (lambda c, out: ["analyse", str(c.analysis(out, trajectory=str(c.root / "no.h5")))],
                                   ["trajectory", "no.h5", "not a file"]),
    "train-zero-features": (lambda c, out: ["train", "-q", str(c.training(out, model={"features": 0}))],
                            ["model.features"]),
    "train-missing-data": (lambda c, out: ["train", "-q", str(c.training(
        out, reference_data={"paths": [str(c.root / "absent-*.extxyz")]}))], ["reference_data.paths[0]",
                                                                              "matches no file"]),
}


@pytest.mark.subprocess
@pytest.mark.parametrize("name", INVALID)
def test_an_invalid_input_makes_no_output_directory(name, case):
    argv, needles = INVALID[name]
    out = case.root / "new" / "deeper"
    refused(case.root, argv(case, out), needles)
    assert not (case.root / "new").exists()


@pytest.mark.subprocess
@pytest.mark.parametrize("command", ["validate", "results", "plot"])
def test_reading_a_study_that_never_ran_makes_nothing(command, case):
    study = write_yaml(case.root / "fresh.yaml", tiny(case.root / "new" / "deeper"))
    before = snapshot(case.root)
    rc, message = run_cli([command, str(study)], case.root)
    assert rc == 0, message
    assert changes(before, snapshot(case.root)) == []


@pytest.mark.subprocess
def test_a_report_of_a_study_that_never_ran_makes_nothing(case):
    """Nothing to report: refused, and the study's output_dir is not made (were it made, a later `meltdyn run`
    would find a directory it did not make there)."""
    study = write_yaml(case.root / "fresh.yaml", tiny(case.root / "new"))
    refused(case.root, ["report", str(study)], ["no run", "meltdyn run"])
    assert not (case.root / "new").exists()


# -------------------------------------------------------------------------------- writers into their own directory

@pytest.mark.slow
@pytest.mark.subprocess
@pytest.mark.parametrize("where", ["default", "new-dir", "empty-dir"])
def test_a_report_goes_into_a_new_or_empty_directory_and_again_into_its_own(where, case):
    to = {"default": None, "new-dir": case.root / "new" / "report", "empty-dir": case.root / "empty"}[where]
    if where == "empty-dir":
        to.mkdir()
    report = to or case.out / "report"
    argv = ["report", str(case.study)] + (["--to", str(to)] if to else [])
    before = snapshot(case.root)
    for attempt in range(2):  # the second goes into the report directory the first made
        rc, message = run_cli(argv, case.root)
        assert rc == 0, f"attempt {attempt}: {message}"
    assert json.loads((report / ".meltdyn").read_text()) == {"kind": "report"}
    assert {"report.html", "table.csv"} <= {p.name for p in report.iterdir()}
    made = report.relative_to(case.root)
    outside = [k for k in changes(before, snapshot(case.root)) if not Path(k).is_relative_to(made)
               and Path(k) not in made.parents]
    assert outside == [], "a report wrote outside its directory"


@pytest.mark.subprocess
@pytest.mark.parametrize("earlier", ["none", "unmarked-figures"])
def test_plot_draws_into_the_runs_own_plots_and_again(earlier, case):
    """Into plots/ it makes, and again into it; figures an earlier meltdyn drew there before it marked plots/ (one
    PNG and PDF per observable, nothing else) are its own too."""
    plots = case.run / "plots"
    if earlier == "unmarked-figures":
        plots.mkdir()
        for name in ("msd.png", "msd.pdf"):
            (plots / name).write_bytes(b"an earlier meltdyn's figure")
    before = snapshot(case.root)
    for attempt in range(2):
        rc, message = run_cli(["plot", str(case.study)], case.root)
        assert rc == 0, f"attempt {attempt}: {message}"
    assert json.loads((plots / ".meltdyn").read_text()) == {"kind": "plots"}
    assert {"msd.png", "msd.pdf"} <= {p.name for p in plots.iterdir()}
    assert (plots / "msd.png").read_bytes().startswith(b"\x89PNG")
    outside = [k for k in changes(before, snapshot(case.root)) if not Path(k).is_relative_to(f"runs/{RUN}/plots")]
    assert outside == [], "plot wrote outside the run's plots/"


# ------------------------------------------------------------------------------------------ damaged state files

def _write(name: str, data: bytes | str | Callable[[bytes], bytes]) -> Callable[[Case], None]:
    """Overwrite the run's file ``name`` with ``data`` (or what ``data`` makes of its bytes)."""
    def damage(c: Case) -> None:
        path = c.run / name
        content = data(path.read_bytes()) if callable(data) else data
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    return damage


def _remove(name: str) -> Callable[[Case], None]:
    return lambda c: (c.run / name).unlink()


def _foreign_results(c: Case) -> None:
    path = c.run / "results.h5"
    path.unlink()
    with h5py.File(path, "w") as f:
        f["msd"] = [1.0, 2.0]  # a dataset where meltdyn keeps a group of arrays


def _older_results(c: Case) -> None:
    """results.h5 as meltdyn 0.2 wrote it: species in the array names, no layout attribute."""
    path = c.run / "results.h5"
    path.unlink()
    with h5py.File(path, "w") as f:
        f.attrs["reference_frame"] = "centre_of_mass"
        f["msd/msd_Na"] = [0.0, 1.0]
        f["msd/msd_Na"].attrs.update({"unit": "angstrom^2", "dims": ["lag"], "description": ""})


def _progress(change: Callable[[Case, dict[str, Any]], None]) -> Callable[[Case], None]:
    def damage(c: Case) -> None:
        c.resumable()
        progress = c.progress()
        change(c, progress)
        (c.checkpoints / "progress.json").write_text(json.dumps(progress))
    return damage


def _escaping_state(c: Case, progress: dict[str, Any]) -> None:
    state = c.checkpoints / progress["file"]
    shutil.copy2(state, c.run / "x")  # a real state file, but outside checkpoints/
    progress["file"] = "../x"


def _garbage_progress(c: Case) -> None:
    c.resumable()
    (c.checkpoints / "progress.json").write_bytes(b"\x00\xffnot json")


def _garbage_facts(c: Case) -> None:
    c.resumable()
    (c.checkpoints / "facts.json").write_text("{\"stage_seconds\": ")


def _garbled_state(c: Case) -> None:
    """Back to the start of the NVT stage, from a state file that was garbled since it was written."""
    c.resumable()
    progress = c.progress()
    state = c.checkpoints / progress["file"]
    state.write_bytes(b"\x00garbled" + state.read_bytes()[8:])
    progress.update(stage=1, step=0, frames=0, trajectory=None, carry={})
    (c.checkpoints / "progress.json").write_text(json.dumps(progress))


READERS = ["validate", "results", "run", "plot", "report"]
RESTORE = "restore it"
REANALYSE = "meltdyn run --reanalyse"
STATE_FILE = "<the state file progress.json names>"

DAMAGES: dict[str, tuple[Callable[[Case], None], list[str], list[str]]] = {
    "spec-json-corrupt": (_write("spec.json", '{"name": "tiny", '), ["run"], ["spec.json", "not JSON", RESTORE]),
    "spec-json-a-list": (_write("spec.json", "[]"), ["run"], ["spec.json", "not a spec", RESTORE]),
    "spec-json-empty": (_write("spec.json", ""), ["run"], ["spec.json", "empty", RESTORE]),
    "status-json-a-list": (_write("status.json", "[1, 2]"), READERS, ["status.json", "[1, 2]", RESTORE]),
    "status-json-garbage": (_write("status.json", b"\xff\xfe\x00garbage"), READERS, ["status.json", "damaged",
                                                                                     RESTORE]),
    "status-json-unknown-state": (_write("status.json", '{"state": "exploded"}'), READERS,
                                  ["status.json", "'state'", "completed", RESTORE]),
    "summary-json-missing": (_remove("summary.json"), ["results", "report"], ["summary.json", "missing", REANALYSE]),
    "summary-json-garbage": (_write("summary.json", "{{{"), ["results", "report"], ["summary.json", "not JSON",
                                                                                   REANALYSE]),
    "summary-json-a-list": (_write("summary.json", "[]"), ["results", "report"], ["summary.json", "not an object",
                                                                                 REANALYSE]),
    "summary-json-foreign-state-point": (_write("summary.json", '{"layout": 2, "msd": {}, "state_point": '
                                                                '{"temperature_K": "hot"}}'),
                                         ["results", "report"], ["summary.json", "state_point", REANALYSE]),
    "summary-json-older-layout": (_write("summary.json", '{"msd": {"D_Na": {"value": 1.0, "kind": "value"}}}'),
                                  ["results", "report"], ["summary.json", "layout 1", "labelled axes", REANALYSE]),
    "summary-json-foreign-quantity": (_write("summary.json", '{"layout": 2, "msd": {"quantities": {"D": {"dims": '
                                                             '["species"], "estimates": [1]}}}}'),
                                      ["results", "report"], ["summary.json", "msd", REANALYSE]),
    "results-h5-empty": (_write("results.h5", b""), ["results", "plot", "report"], ["results.h5", "empty", REANALYSE]),
    "results-h5-garbage": (_write("results.h5", b"not hdf5 " * 200), ["results", "plot", "report"],
                           ["results.h5", "damaged", REANALYSE]),
    "results-h5-truncated": (_write("results.h5", lambda b: b[:len(b) // 2]), ["results", "plot", "report"],
                             ["results.h5", "damaged", REANALYSE]),
    "results-h5-foreign": (_foreign_results, ["results", "plot", "report"], ["results.h5", "'msd'", REANALYSE]),
    "results-h5-older-layout": (_older_results, ["results", "plot", "report"], ["results.h5", "layout 1",
                                                                               "labelled axes", REANALYSE]),
    "progress-json-garbage": (_garbage_progress, ["run"], ["progress.json", "not JSON", RESTORE]),
    "progress-json-negative-step": (_progress(lambda c, p: p.update(step=-5)), ["run"],
                                    ["progress.json", "counts", RESTORE]),
    "progress-json-missing-state": (_progress(lambda c, p: p.update(file="stage1_step0_frame0.state")), ["run"],
                                    ["progress.json", "stage1_step0_frame0.state", "missing", RESTORE]),
    "progress-json-bad-digest": (_progress(lambda c, p: p.update(sha256="not a digest")), ["run"],
                                 ["progress.json", "sha256", RESTORE]),
    "progress-json-dot-dot": (_progress(_escaping_state), ["run"], ["progress.json", "'../x'", RESTORE]),
    "facts-json-garbage": (_garbage_facts, ["run"], ["facts.json", "not JSON", RESTORE]),
    "state-file-garbled": (_garbled_state, ["run"], [STATE_FILE, "damaged", RESTORE]),
}
STATUS, FACTS = f"runs/{RUN}/status.json", f"runs/{RUN}/checkpoints/facts.json"
RECORDS_FAILURE = {"facts-json-garbage": {STATUS}, "state-file-garbled": {STATUS, FACTS}}
"""Damage the engine session finds once it has started: it records, in the run's own directory, the run as failed
(status.json) and, before it reads the state file, its own session (facts.json). The damaged file, and everything
else, stays as it was."""


DAMAGE_CASES = [(n, c) for n, (_, commands, _) in DAMAGES.items() for c in commands]


@pytest.mark.subprocess
@pytest.mark.parametrize(("name", "command"), cases(DAMAGE_CASES, [f"{n}-{c}" for n, c in DAMAGE_CASES]))
def test_a_damaged_state_file_is_named_with_what_to_do(name, command, case):
    damage, _, needles = DAMAGES[name]
    damage(case)
    if STATE_FILE in needles:
        needles = [case.progress()["file"] if n == STATE_FILE else n for n in needles]
    argv = {"run": ["run", "-q", str(case.study)]}.get(command, [command, str(case.study)])
    message = refused(case.root, argv, needles, may_change=lambda entry: entry in RECORDS_FAILURE.get(name, ()))
    if name in RECORDS_FAILURE:
        assert json.loads((case.run / "status.json").read_text())["state"] == "failed"
    assert str(case.run) in message


REANALYSIS = {
    "trajectory-missing": (_remove("trajectory.h5"), ["trajectory.h5", "missing", "previous results are kept",
                                                      "restore the file"]),
    "trajectory-garbage": (_write("trajectory.h5", b"not hdf5 " * 300), ["trajectory.h5",
                                                                         "previous results are kept", "restore"]),
    "trajectory-truncated": (_write("trajectory.h5", lambda b: b[:len(b) // 3]),
                             ["trajectory.h5", "previous results are kept", "restore"]),
}


@pytest.mark.subprocess
@pytest.mark.parametrize("name", cases(REANALYSIS))
def test_a_reanalysis_without_a_usable_trajectory_exits_2_and_keeps_the_results(name, case):
    damage, needles = REANALYSIS[name]
    damage(case)
    refused(case.root, ["run", "--reanalyse", str(case.study)], [RUN, "reanalysis failed", *needles])
    assert (case.run / "results.h5").exists() and (case.run / "summary.json").exists()


# --------------------------------------------------------------------------------------------- a PaiNN model

MODELS = {
    "model-json-empty-object": (lambda m: (m / "model.json").write_text("{}"),
                                ["model.json", "architecture: missing", "train the model again"]),
    "best-pt-garbage": (lambda m: (m / "best.pt").write_bytes(b"not torch weights" * 10),
                        ["best.pt", "cannot be read as torch weights"]),
}


@pytest.mark.subprocess
@pytest.mark.parametrize("name", MODELS)
def test_a_damaged_painn_model_is_refused_at_validate(name, case, good_model):
    model = case.root / "model"
    shutil.copytree(good_model, model)
    MODELS[name][0](model)
    study = tiny(case.root / "painn-runs")
    study["potential"] = {"plugin": "painn", "model_dir": str(model)}
    refused(case.root, ["validate", str(write_yaml(case.root / "painn.yaml", study))],
            ["potential.model_dir", str(model), *MODELS[name][1]])
    assert not (case.root / "painn-runs").exists()


def test_meltdyns_claiming_one_new_directory_at_once_all_get_it(tmp_path):
    """Two `meltdyn run`s of one study started together both claim its new output directory: each gets it, marked
    once, whichever made it (the race a concurrent-runs test met: the later mkdir failed with File exists)."""
    from concurrent.futures import ThreadPoolExecutor

    from meltdyn.base.ownership import MARK, claim, kind_of

    for attempt in range(20):
        target = tmp_path / f"new-{attempt}" / "out"
        barrier = __import__("threading").Barrier(8)

        def take() -> Path:
            barrier.wait()
            return claim(target, "study", field="output_dir")

        with ThreadPoolExecutor(8) as pool:
            claimed = list(pool.map(lambda _: take(), range(8)))
        assert set(claimed) == {target.resolve()} and kind_of(target) == "study"
        assert sorted(p.name for p in target.iterdir()) == [MARK]  # no writer's temporary mark left behind
