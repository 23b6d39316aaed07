"""Where an engine's run stands, written atomically beside the state files it points to."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from meltdyn.results import write_json_atomic


@dataclass
class Checkpoint:
    """Where a run stands: stage index, steps done in it, production frames on disk, the engine's state file."""

    stage: int = 0
    step: int = 0
    frames: int = 0
    file: str | None = None

    @property
    def mid_stage(self) -> bool:
        return self.step > 0 or self.frames > 0

    @classmethod
    def load(cls, directory: Path) -> Checkpoint:
        path = directory / "progress.json"
        return cls(**json.loads(path.read_text())) if path.exists() else cls()

    def commit(self, directory: Path, name: str, data: bytes) -> Checkpoint:
        """Write state ``data`` as ``name``, point progress.json at it, then remove the file it pointed to.

        A crash at any moment leaves progress.json naming a complete state file.
        """
        old = Checkpoint.load(directory).file
        tmp = directory / (name + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, directory / name)
        self.file = name
        write_json_atomic(directory / "progress.json", self.__dict__)
        if old and old != name:
            (directory / old).unlink(missing_ok=True)
        return self


def load_facts(directory: Path) -> dict[str, dict]:
    """Stage timings and measurements of earlier sessions of this run (empty for a new run)."""
    path = directory / "facts.json"
    return json.loads(path.read_text()) if path.exists() else {"stage_seconds": {}, "measured": {}}


def save_facts(directory: Path, facts: dict[str, dict]) -> None:
    """Written before the stage's completion checkpoint, so a finished stage never loses what it measured."""
    write_json_atomic(directory / "facts.json", facts)
