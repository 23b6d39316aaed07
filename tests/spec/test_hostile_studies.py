"""Every hostile study file in tests/hostile/ is refused by `meltdyn run` before anything is written: no traceback,
no hang, no file created, and an error that names the field and the value (each file's ``# expect:`` line)."""

from __future__ import annotations

from pathlib import Path

import pytest

from refusals import assert_clean_refusal, run_cli

CORPUS = sorted((Path(__file__).resolve().parents[1] / "hostile").glob("*.yaml"))


def test_the_corpus_is_large():
    assert len(CORPUS) >= 100


def _expected(path: Path) -> list[str]:
    first = path.read_text(errors="replace").splitlines()[0]
    assert first.startswith("# expect: "), path.name
    return first.removeprefix("# expect: ").split(" | ")


@pytest.mark.subprocess
@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_a_hostile_study_is_refused_cleanly(path, tmp_path, monkeypatch):
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    rc, message = run_cli(["run", "-q", str(path)])
    assert_clean_refusal(rc, message, _expected(path))
    assert list(work.iterdir()) == [], "a refused study wrote files"
