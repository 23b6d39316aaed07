"""Where a run stands, written atomically beside the engine state file it points to (part of the engine kit)."""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from meltdyn.base.jsonio import read_json, write_json_atomic

PROGRESS = "progress.json"
FACTS = "facts.json"


@dataclass
class Checkpoint:
    """Where a run stands: stage index, steps done in it, production frames on disk, the engine's state file.

    ``trajectory`` is the token of the trajectory file this run's production owns: written here before the file is
    created, so a trajectory is resumed only if this run made it, whenever the run was interrupted. ``carry``
    holds what a stage accumulates besides the engine state (the NPT cell sums), committed with it.
    """

    stage: int = 0
    step: int = 0
    frames: int = 0
    file: str | None = None
    trajectory: str | None = None
    carry: dict[str, Any] = field(default_factory=dict)
    sha256: str | None = None
    """The SHA-256 of the state file's bytes, recorded when it was committed: a state file garbled since is refused
    by name instead of being handed to the engine (checkpoints meltdyn wrote before it recorded one have none)."""

    @property
    def mid_stage(self) -> bool:
        return self.step > 0 or self.frames > 0

    @property
    def position(self) -> tuple[int, int, int]:
        return self.stage, self.step, self.frames

    @classmethod
    def load(cls, directory: Path) -> Checkpoint:
        """The checkpoint in ``directory`` (a fresh one if there is none); a damaged progress.json is a
        :class:`~meltdyn.base.errors.StudyError` naming it, never a traceback."""
        from meltdyn.base.errors import StudyError

        path = directory / PROGRESS
        if not path.exists():
            return cls()
        remedy = (f"it was changed or damaged outside meltdyn; restore it, or remove {directory.parent} to run "
                  "this run again from the start")
        data = read_json(path, "a run's checkpoint", remedy)
        try:
            if not isinstance(data, dict):
                raise TypeError("not an object")
            ck = cls(**data)
            if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0
                       for v in (ck.stage, ck.step, ck.frames)):
                raise TypeError("stage, step and frames must be counts")
            if ck.file is not None and (not isinstance(ck.file, str) or Path(ck.file).name != ck.file):
                raise TypeError(f"file {ck.file!r} is not a name in {directory}")
            if ck.file is not None and not (directory / ck.file).is_file():
                raise TypeError(f"the state file it names, {ck.file!r}, is missing")
            if ck.trajectory is not None and not isinstance(ck.trajectory, str) or not isinstance(ck.carry, dict):
                raise TypeError("trajectory must be a token and carry an object")
            if ck.sha256 is not None and not (isinstance(ck.sha256, str) and len(ck.sha256) == 64
                                              and all(c in "0123456789abcdef" for c in ck.sha256)):
                raise TypeError(f"sha256 {str(ck.sha256)[:70]!r} is not a SHA-256 digest")
        except TypeError as exc:
            raise StudyError(f"{path} is damaged: {exc}; {remedy}") from None
        return ck

    def read_state(self, directory: Path) -> bytes | None:
        """The state file's bytes, exactly as committed; a file changed since (or unreadable) is a
        :class:`~meltdyn.base.errors.StudyError` naming it, never bytes the engine chokes on."""
        from meltdyn.base.errors import StudyError

        if not self.file:
            return None
        path = directory / self.file
        remedy = (f"it was changed or damaged outside meltdyn; restore it, or remove {directory.parent} to run "
                  "this run again from the start")
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise StudyError(f"{path} (a run's checkpointed state) cannot be read: {exc.strerror or exc}; {remedy}"
                             ) from None
        if self.sha256 is not None and hashlib.sha256(data).hexdigest() != self.sha256:
            raise StudyError(f"{path} (a run's checkpointed state) is damaged: its bytes are not those meltdyn "
                             f"wrote (their SHA-256 is not the one {PROGRESS} recorded); {remedy}")
        return data

    def commit(self, directory: Path, data: bytes) -> Checkpoint:
        """Write state ``data`` under a new name, point progress.json at it, then remove the file it pointed to.

        A crash at any moment leaves progress.json naming a complete state file.
        """
        old = Checkpoint.load(directory).file
        name = f"stage{self.stage}_step{self.step}_frame{self.frames}.state"
        tmp = directory / (name + ".tmp")
        try:
            tmp.write_bytes(data)
            os.replace(tmp, directory / name)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        self.file = name
        self.sha256 = hashlib.sha256(data).hexdigest()
        self.record(directory)
        if old and old != name:
            (directory / old).unlink(missing_ok=True)
        return self

    def record(self, directory: Path) -> None:
        """Rewrite progress.json alone (same state file), e.g. to claim a trajectory before creating it."""
        write_json_atomic(directory / PROGRESS, asdict(self))


def load_facts(directory: Path) -> dict[str, dict]:
    """Stage timings and measurements of earlier sessions of this run (empty for a new run)."""
    from meltdyn.base.errors import StudyError

    path = directory / FACTS
    if not path.exists():
        return {"stage_seconds": {}, "measured": {}}
    remedy = f"restore it, or remove {directory.parent} to run this run again from the start"
    facts = read_json(path, "a run's stage facts", remedy)
    if not isinstance(facts, dict) or not all(isinstance(facts.get(k), dict) for k in ("stage_seconds", "measured")):
        raise StudyError(f"{path} is damaged: not the object of stage_seconds and measured meltdyn writes; {remedy}")
    return facts


def save_facts(directory: Path, facts: dict[str, dict]) -> None:
    """Written before the stage's completion checkpoint, so a finished stage never loses what it measured."""
    write_json_atomic(directory / FACTS, facts)
