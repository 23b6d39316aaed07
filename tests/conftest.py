from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from meltdyn.hooks.data import AtomicSystem
from meltdyn.hooks.registry import Registry, discover
from meltdyn.plugins.systems.sodium_silicate import SodiumSilicate, SodiumSilicateParams
from meltdyn.testing import kill_during_production as _kill

collect_ignore = ["plugin_example", "plugin_pair_rdf"]  # their tests run where they are installed
# (plugins/test_third_party_plugin.py)

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
TINY_STUDY: dict[str, Any] = yaml.safe_load((EXAMPLES / "tiny.yaml").read_text())
MELTDYN = [sys.executable, "-m", "meltdyn.cli"]


def build_system(params: SodiumSilicateParams, composition: str | float, temperature_K: float,
                 seed: int) -> AtomicSystem:
    """A Na2O-SiO2 melt from the built-in system plugin."""
    return SodiumSilicate(params).build(composition, temperature_K, seed)


def kill_during_production(study_file: Path, out: Path, min_frames: int = 10) -> dict[str, Any]:
    """SIGKILL `meltdyn run` of the tiny study once production has flushed ``min_frames``; return its progress."""
    return _kill(study_file, out / "NS2_T3000K_r0", min_frames, output_dir=out)


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


@pytest.fixture(scope="module")
def good_model(tmp_path_factory):
    """An untrained PaiNN model directory, as `meltdyn train` writes one."""
    from meltdyn.plugins.potentials.painn.runtime import save_untrained

    directory = tmp_path_factory.mktemp("painn") / "model"
    save_untrained(directory, ["Na", "Si", "O"])
    return directory
