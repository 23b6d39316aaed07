from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from meltdyn.registry import Registry, discover

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
TINY_STUDY: dict[str, Any] = yaml.safe_load((EXAMPLES / "tiny.yaml").read_text())


@pytest.fixture(scope="session")
def registry() -> Registry:
    return discover()


@pytest.fixture
def tiny_study(tmp_path) -> dict[str, Any]:
    study = copy.deepcopy(TINY_STUDY)
    study["output_dir"] = str(tmp_path / "out")
    return study
