from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from meltdyn.registry import Registry, discover

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
TINY_STUDY: dict[str, Any] = yaml.safe_load((EXAMPLES / "tiny.yaml").read_text())


MELTDYN = [sys.executable, "-m", "meltdyn.cli"]


def kill_during_production(study_file: Path, out: Path, min_frames: int = 10) -> dict[str, Any]:
    """Start `meltdyn run` and SIGKILL it once production has flushed ``min_frames``; return its progress."""
    progress = out / "NS2_T3000K_r0" / "checkpoints" / "progress.json"
    proc = subprocess.Popen([*MELTDYN, "run", "-q", str(study_file), "--output-dir", str(out)])
    deadline = time.time() + 120
    while time.time() < deadline:
        if progress.exists() and json.loads(progress.read_text()).get("frames", 0) >= min_frames:
            break
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return json.loads(progress.read_text())


def nve_energy_record(context: Any, integrator: Any, blocks: int, steps: int) -> tuple[np.ndarray, float]:
    """Total energy (kJ/mol) after each of ``blocks`` × ``steps`` Verlet steps, and the final kinetic energy."""
    totals = []
    for _ in range(blocks):
        integrator.step(steps)
        state = context.getState(getEnergy=True)
        totals.append((state.getPotentialEnergy() + state.getKineticEnergy())._value)
    return np.array(totals), state.getKineticEnergy()._value


@pytest.fixture(scope="session")
def registry() -> Registry:
    return discover()


@pytest.fixture
def tiny_study(tmp_path) -> dict[str, Any]:
    study = copy.deepcopy(TINY_STUDY)
    study["output_dir"] = str(tmp_path / "out")
    return study
