"""Which directories meltdyn may write into: only those it made and marked.

Every writer (``run``, ``analyse``, ``train``, ``report``, ``plot``, conversion) claims its output directory with
:func:`claim` after its inputs are validated and before it writes anything. A directory is meltdyn's when it holds
the mark file :data:`MARK` naming what it holds (a study, an analysis, a trained model, a report); a directory
without one is claimed only when it is new or empty, so nothing a user made there is ever overwritten. Nothing is
claimed inside another of meltdyn's directories (a run's, its checkpoints) unless the writer names that parent as
its own (a study's report, a run's plots), and a path inside an output directory is never a symlink: meltdyn does
not follow one out of the directory it owns.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable
from pathlib import Path

from meltdyn.base.errors import StudyError

MARK = ".meltdyn"
"""The mark file: JSON ``{"kind": ...}``. Its presence is what makes a directory meltdyn's to write into."""

KINDS = ("study", "run", "analysis", "training", "report", "plots", "export", "learning")
HOLDS = {"learning": ("training", "study")}
"""Kinds whose directories hold meltdyn directories of other kinds (an active-learning loop's iterations each train a
model and run a study), in folders of their own."""


def kind_of(directory: Path) -> str | None:
    """What meltdyn made ``directory`` for, or None if it is not marked as meltdyn's."""
    try:
        mark = json.loads((directory / MARK).read_text())
    except (OSError, ValueError):
        return None
    kind = mark.get("kind") if isinstance(mark, dict) else None
    return kind if kind in KINDS else None


def _legacy_run(directory: Path) -> bool:
    """A run directory an earlier meltdyn made before run directories were marked: spec.json and status.json."""
    try:
        return (directory / "spec.json").is_file() and (directory / "status.json").is_file()
    except OSError:
        return False


def _owning_ancestor(path: Path) -> Path | None:
    for parent in path.parents:
        if kind_of(parent) is not None or _legacy_run(parent):
            return parent
    return None


def usable(path: str | Path, field: str) -> Path:
    """``path`` as an absolute, resolved path, or a :class:`StudyError` naming ``field`` if no directory can be
    there (a NUL byte, a name too long for the file system, a symlink loop). Nothing is made or touched."""
    shown = str(path)
    if "\0" in shown:
        raise StudyError(f"{field}: {shown!r} holds a NUL byte, which no path can; choose another directory")
    try:
        resolved = Path(path).resolve(strict=False)
        max_name = os.pathconf("/", "PC_NAME_MAX") if os.path.isdir("/") else 255
        if len(os.fsencode(str(resolved))) >= os.pathconf("/", "PC_PATH_MAX") or any(
                len(os.fsencode(part)) > max_name for part in resolved.parts):
            raise OSError(36, "File name too long")
        resolved.exists()
    except (OSError, RuntimeError, ValueError) as exc:  # a symlink loop, a name too long
        reason = getattr(exc, "strerror", None) or str(exc)
        raise StudyError(f"{field}: {shown[:200]!r}{'...' if len(shown) > 200 else ''} cannot be used as a "
                         f"directory ({reason}); choose another directory") from None
    return resolved


def claim(path: Path, kind: str, *, field: str, within: Path | None = None,
          adopt: Callable[[Path], bool] | None = None) -> Path:
    """Make ``path`` meltdyn's directory for ``kind`` (or confirm it already is) and return it, resolved.

    ``field`` names the setting the path came from, for the error. ``within`` is a meltdyn directory this one may
    sit inside (a study's own report); any other marked ancestor is refused. ``adopt`` recognises a directory an
    earlier meltdyn made before directories were marked (it is then marked, not refused).
    """
    if kind not in KINDS:
        raise ValueError(f"kind {kind!r}; known: {KINDS}")
    shown = str(path)
    resolved = usable(path, field)
    ancestor = _owning_ancestor(resolved)
    if ancestor is not None and (within is None or ancestor != within.resolve()) \
            and kind not in HOLDS.get(kind_of(ancestor) or "", ()):
        raise StudyError(f"{field}: {shown!r} is inside {str(ancestor)!r}, which meltdyn made for a "
                         f"{kind_of(ancestor) or 'run'}; meltdyn does not write inside another of its directories. "
                         "Choose a directory outside it.")
    try:
        try:
            resolved.mkdir(parents=True)
            made = True
        except FileExistsError:  # there before, or made a moment ago by a concurrent meltdyn: see what it holds
            made = False
        if not made:
            if not resolved.is_dir():
                raise StudyError(f"{field}: {shown!r} exists and is not a directory; meltdyn will not replace it. "
                                 "Choose another directory.")
            found = kind_of(resolved)
            if found == kind:
                return resolved
            if found is not None:
                raise StudyError(f"{field}: {shown!r} is a meltdyn {found} directory, not a {kind} one; "
                                 "choose another directory")
            # A concurrent meltdyn's mark still being written is meltdyn's own.
            entries = sorted(p.name for p in resolved.iterdir() if not _mark_in_progress(p.name))
            if MARK in entries and kind_of(resolved) == kind:  # marked between the two looks
                return resolved
            if entries and not (adopt is not None and adopt(resolved)):
                raise StudyError(f"{field}: {shown!r} already holds {entries[:5]}, which meltdyn did not make; "
                                 "meltdyn writes only into new or empty directories, or ones it made. "
                                 "Choose another directory, or move those files away yourself.")
        _write_mark(resolved, kind)
    except OSError as exc:
        raise StudyError(f"{field}: {shown!r} cannot be used ({exc.strerror or exc})") from None
    return resolved


def _write_mark(directory: Path, kind: str) -> None:
    # A temporary name of this writer's own: two meltdyns claiming one new directory must not replace each other's.
    tmp = directory / f"{MARK}.{uuid.uuid4().hex}.tmp"
    tmp.write_text(json.dumps({"kind": kind}) + "\n")
    os.replace(tmp, directory / MARK)


def _mark_in_progress(name: str) -> bool:
    return name.startswith(f"{MARK}.") and name.endswith(".tmp")


def inside(owned: Path, name: str, *, field: str, make: bool = True) -> Path:
    """``owned / name``, a path meltdyn may write: never a symlink, never outside ``owned``; made if ``make``."""
    path = owned / name
    if path.is_symlink():
        raise StudyError(f"{field}: {str(path)!r} is a symlink (to {os.readlink(path)!r}); meltdyn does not follow "
                         f"one out of {str(owned)!r}. Remove the link, or choose another directory.")
    if path.exists() and not path.resolve().is_relative_to(owned.resolve()):
        raise StudyError(f"{field}: {str(path)!r} leads outside {str(owned)!r}; meltdyn does not write there")
    if make:
        try:
            path.mkdir(exist_ok=True)
        except FileExistsError:
            raise StudyError(f"{field}: {str(path)!r} exists and is not a directory; meltdyn did not make it "
                             "and will not replace it") from None
        except OSError as exc:
            raise StudyError(f"{field}: {str(path)!r} cannot be made ({exc.strerror or exc})") from None
    return path
