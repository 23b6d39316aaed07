"""Every hostile study file in tests/hostile/ is refused by `meltdyn run` before anything is written: no traceback,
no hang, no file created, and an error that names the field and the value (each file's ``# expect:`` line)."""

from __future__ import annotations

import contextlib
import io
import signal
from pathlib import Path

import pytest

from meltdyn.cli import main

CORPUS = sorted((Path(__file__).parent / "hostile").glob("*.yaml"))
SECONDS = 60


def test_the_corpus_is_large():
    assert len(CORPUS) >= 100


def _expected(path: Path) -> list[str]:
    first = path.read_text(errors="replace").splitlines()[0]
    assert first.startswith("# expect: "), path.name
    return first.removeprefix("# expect: ").split(" | ")


def _timeout(signum, frame):
    raise TimeoutError(f"no answer in {SECONDS} s")


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_a_hostile_study_is_refused_cleanly(path, tmp_path, monkeypatch):
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    err = io.StringIO()
    previous = signal.signal(signal.SIGALRM, _timeout)
    signal.alarm(SECONDS)
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            rc = main(["run", "-q", str(path)])
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    message = err.getvalue()
    assert rc == 2, message
    assert "Traceback" not in message
    for needle in _expected(path):
        assert needle in message, f"{needle!r} not in: {message}"
    assert list(work.iterdir()) == [], "a refused study wrote files"
