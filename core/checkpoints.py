"""Where a run stands, written atomically beside the engine state file it points to (part of the engine kit)."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from meltdyn.results import write_json_atomic

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

    @property
    def mid_stage(self) -> bool:
        return self.step > 0 or self.frames > 0

    @property
    def position(self) -> tuple[int, int, int]:
        return self.stage, self.step, self.frames

    @classmethod
    def load(cls, directory: Path) -> Checkpoint:
        path = directory / PROGRESS
        return cls(**json.loads(path.read_text())) if path.exists() else cls()

    def read_state(self, directory: Path) -> bytes | None:
        return (directory / self.file).read_bytes() if self.file else None

    def commit(self, directory: Path, data: bytes) -> Checkpoint:
        """Write state ``data`` under a new name, point progress.json at it, then remove the file it pointed to.

        A crash at any moment leaves progress.json naming a complete state file.
        """
        old = Checkpoint.load(directory).file
        name = f"stage{self.stage}_step{self.step}_frame{self.frames}.state"
        tmp = directory / (name + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, directory / name)
        self.file = name
        self.record(directory)
        if old and old != name:
            (directory / old).unlink(missing_ok=True)
        return self

    def record(self, directory: Path) -> None:
        """Rewrite progress.json alone (same state file), e.g. to claim a trajectory before creating it."""
        write_json_atomic(directory / PROGRESS, asdict(self))


def load_facts(directory: Path) -> dict[str, dict]:
    """Stage timings and measurements of earlier sessions of this run (empty for a new run)."""
    path = directory / FACTS
    return json.loads(path.read_text()) if path.exists() else {"stage_seconds": {}, "measured": {}}


def save_facts(directory: Path, facts: dict[str, dict]) -> None:
    """Written before the stage's completion checkpoint, so a finished stage never loses what it measured."""
    write_json_atomic(directory / FACTS, facts)
