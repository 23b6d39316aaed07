"""Storage faults are ordinary failures: a file-size limit or a full disk marks the run failed with the reason,
leaves no temporary file, and the next run continues from the last checkpoint to the trajectory an uninterrupted
run writes, bit for bit (OpenMM Reference is deterministic).
"""

from __future__ import annotations

import copy
import errno
import json
import resource
import shutil
import subprocess
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml

from conftest import MELTDYN, TINY_STUDY
from meltdyn.base.storage import describe, ensure_room, reopen_cut_short

RUN = "NS2_T3000K_r0"


def _study(tmp_path: Path, name: str) -> Path:
    """The tiny study with a production long enough (about 200 frames) for a fault to strike mid-way."""
    study = copy.deepcopy(TINY_STUDY)
    study["output_dir"] = str(tmp_path / name)
    study["protocol"]["stages"][-1]["duration_ps"] = 1.0
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(study))
    return path


def _run(study: Path, file_size_limit: int | None = None) -> subprocess.CompletedProcess:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_size_limit, file_size_limit))

    return subprocess.run([*MELTDYN, "run", "-q", str(study)], capture_output=True, text=True, timeout=600,
                          preexec_fn=limit if file_size_limit else None)


def _positions(out: Path) -> np.ndarray:
    with h5py.File(out / RUN / "trajectory.h5", "r") as f:
        return f["particles/all/position/value"][:]


def _checkpointed_frames(out: Path) -> int:
    return json.loads((out / RUN / "checkpoints" / "progress.json").read_text())["frames"]


def _assert_failed_cleanly(result: subprocess.CompletedProcess, out: Path, reason: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert f"storage fault: {reason}" in result.stderr
    status = json.loads((out / RUN / "status.json").read_text())
    assert status["state"] == "failed" and status["message"].startswith(f"storage fault: {reason}")
    assert not list(out.rglob("*.tmp")), "a write cut short left its temporary file"


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> tuple[Path, np.ndarray]:
    tmp = tmp_path_factory.mktemp("reference")
    result = _run(_study(tmp, "reference"))
    assert result.returncode == 0, result.stderr
    out = tmp / "reference"
    return out, _positions(out)


@pytest.mark.slow
@pytest.mark.subprocess
def test_a_file_size_limit_fails_the_run_and_the_next_run_continues_exactly(tmp_path, uninterrupted):
    reference_dir, reference = uninterrupted
    study = _study(tmp_path, "limited")
    out = tmp_path / "limited"
    half = (reference_dir / RUN / "trajectory.h5").stat().st_size // 2
    _assert_failed_cleanly(_run(study, file_size_limit=half), out, "a file-size limit was reached")
    assert 0 < _checkpointed_frames(out) < len(reference)

    resumed = _run(study)  # the limit lifted
    assert resumed.returncode == 0, resumed.stderr
    assert np.array_equal(_positions(out), reference)
    assert (out / RUN / "summary.json").is_file()


@pytest.mark.slow
@pytest.mark.subprocess
def test_a_trajectory_a_fault_cut_short_is_cut_back_to_its_checkpoint(tmp_path, uninterrupted):
    """What a write that no check foresaw leaves (another process filled the disk between the check and the
    write): the file's last bytes missing, its superblock recording a longer file. Made like that here: frames
    past the checkpoint written, then the file's tail cut off."""
    reference_dir, reference = uninterrupted
    study = _study(tmp_path, "cut")
    out = tmp_path / "cut"
    half = (reference_dir / RUN / "trajectory.h5").stat().st_size // 2
    assert _run(study, file_size_limit=half).returncode == 2
    frames = _checkpointed_frames(out)
    path = out / RUN / "trajectory.h5"
    with h5py.File(path, "r+") as f:
        for name in ("position", "box/edges"):
            group = f[f"particles/all/{name}"]
            for key in ("value", "step", "time"):
                group[key].resize(frames + 8, axis=0)
                group[key][frames:] = 1.0
    size = path.stat().st_size
    with path.open("r+b") as f:
        f.truncate(size - 600)
    with pytest.raises(OSError, match="truncated file"):
        h5py.File(path, "r")

    resumed = _run(study)
    assert resumed.returncode == 0, resumed.stderr
    assert np.array_equal(_positions(out), reference)


@pytest.mark.slow
@pytest.mark.subprocess
def test_a_full_disk_fails_the_run_and_the_next_run_continues_exactly(tmp_path, uninterrupted):
    """On a small tmpfs (needs root and the right to mount; skipped where the machine does not allow it)."""
    _, reference = uninterrupted
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=400k", "tmpfs", str(disk)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        study = _study(disk, "full")
        out = disk / "full"
        _assert_failed_cleanly(_run(study), out, "the disk is full")
        assert _checkpointed_frames(out) < len(reference)
        subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True)
        resumed = _run(study)
        assert resumed.returncode == 0, resumed.stderr
        assert np.array_equal(_positions(out), reference)
    finally:
        shutil.rmtree(disk / "full", ignore_errors=True)
        subprocess.run(["umount", str(disk)], check=False)


@pytest.mark.parametrize("exc, reason", [
    (OSError(errno.ENOSPC, "No space left on device", "/x/trajectory.h5"), "the disk is full"),
    (OSError(errno.EFBIG, "File too large"), "a file-size limit was reached"),
    (OSError(errno.EDQUOT, "Disk quota exceeded"), "the disk quota is exceeded"),
    # HDF5 names the errno only in its message
    (RuntimeError("Can't decrement id ref count (file write failed: time = Thu Dec  3 14:56:34 2026\n, filename = "
                  "'/x/trajectory.h5', file descriptor = 4, errno = 27, error message = 'File too large')"),
     "a file-size limit was reached"),
])
def test_storage_faults_are_told_apart_and_say_what_to_do(exc, reason):
    message = describe(exc)
    assert message.startswith(f"storage fault: {reason}") and "run the same command again" in message


@pytest.mark.parametrize("exc", [OSError(errno.EACCES, "Permission denied"), RuntimeError("errno = 13"),
                                 ValueError("no space")])
def test_other_errors_are_not_storage_faults(exc):
    assert describe(exc) is None


def test_a_file_that_was_not_cut_short_is_left_alone(tmp_path):
    path = tmp_path / "whole.h5"
    with h5py.File(path, "w") as f:
        f["x"] = np.arange(10)
    before = path.read_bytes()
    assert not reopen_cut_short(path)
    assert path.read_bytes() == before
    other = tmp_path / "not-hdf5.h5"
    other.write_bytes(b"plain text, not HDF5" * 10)
    assert not reopen_cut_short(other)


def test_room_is_checked_against_the_size_limit_and_the_free_space(tmp_path, monkeypatch):
    path = tmp_path / "t.h5"
    path.write_bytes(b"x" * 1000)
    ensure_room(path, 10_000)  # this file system has room, and no limit is set
    with pytest.raises(OSError, match="bytes are free") as full:
        ensure_room(path, 10**18)
    assert full.value.errno == errno.ENOSPC

    class NoSize:  # what some FUSE and network mounts report: no blocks, none free
        f_blocks = f_bavail = 0
        f_frsize = 4096

    monkeypatch.setattr("meltdyn.base.storage.os.statvfs", lambda _: NoSize())
    ensure_room(path, 10**18)  # nothing known of its room: left to the write
