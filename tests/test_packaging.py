"""meltdyn states ranges, not pins: installed into an environment whose torch is newer than the CI lock's, it keeps
that torch (a GPU cluster's, say) instead of downgrading it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NEWER_TORCH = "2.11.0"  # newer than the lock's (.ci/constraints.txt) and within the stated range


def _fake_installed(venv: Path, name: str, version: str) -> None:
    """Make ``name==version`` look installed in ``venv`` to pip (a dist-info without files) — what the resolver
    sees of a real install, without downloading one."""
    purelib = subprocess.run([str(venv / "bin" / "python"), "-c",
                              "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    info = Path(purelib) / f"{name}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "INSTALLER").write_text("pip\n")
    (info / "RECORD").write_text("")


@pytest.mark.slow
@pytest.mark.subprocess
def test_installing_meltdyn_keeps_a_newer_torch(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    _fake_installed(venv, "torch", NEWER_TORCH)
    report = tmp_path / "report.json"
    # --dry-run resolves exactly as an install would (the machine's own pip configuration and indexes included)
    # and writes what it would install; nothing is installed.
    done = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--dry-run", "--quiet",
                           "--report", str(report), str(ROOT)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    planned = {item["metadata"]["name"].lower(): item["metadata"]["version"]
               for item in json.loads(report.read_text())["install"]}
    assert "meltdyn" in planned and "schnetpack" in planned, "the resolution did not include meltdyn's dependencies"
    assert "torch" not in planned, f"installing meltdyn would replace torch {NEWER_TORCH} by {planned.get('torch')}"
    assert "openmmtorch" not in planned, "openmm-torch is an extra (it is built against one torch), not a dependency"


def test_the_ci_lock_pins_what_the_ranges_allow():
    """The lock (.ci/constraints.txt) is one point inside pyproject's ranges: each pinned requirement of meltdyn
    satisfies them, so the tested set is an installable one."""
    from packaging.requirements import Requirement
    import tomllib

    lock = {}
    for line in (ROOT / ".ci" / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            lock[name.strip().lower().replace("_", "-")] = version.strip()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = [Requirement(r) for r in project["dependencies"]]
    requirements += [Requirement(r) for extra in project["optional-dependencies"].values() for r in extra]
    for requirement in requirements:
        name = requirement.name.lower().replace("_", "-")
        assert name in lock, f"{requirement} is not pinned in .ci/constraints.txt"
        assert requirement.specifier.contains(lock[name], prereleases=True), \
            f".ci/constraints.txt pins {name}=={lock[name]}, outside pyproject's {requirement}"
