"""What every hostile-input test asks of the command line: exit code 2, no traceback, no hang, every needle of the
cause in the message, and nothing a user owns touched (no file added outside the command's output, none changed,
the output directory not made when the input is refused)."""

from __future__ import annotations

import contextlib
import io
import signal
from pathlib import Path

from meltdyn.cli.dispatch import main

SECONDS = 60
"""A command that has not answered by then hangs: the test fails instead of waiting for ever."""


def _timeout(signum: int, frame: object) -> None:
    raise TimeoutError(f"no answer in {SECONDS} s")


def run_cli(argv: list[str], cwd: Path | None = None) -> tuple[int, str]:
    """``meltdyn ARGV`` in this process, in ``cwd``; its exit code and what it wrote to stderr."""
    err = io.StringIO()
    previous = signal.signal(signal.SIGALRM, _timeout)
    signal.alarm(SECONDS)
    try:
        with contextlib.chdir(cwd or Path.cwd()), contextlib.redirect_stderr(err), \
                contextlib.redirect_stdout(io.StringIO()):
            rc = main(argv)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    return rc, err.getvalue()


def assert_clean_refusal(rc: int, message: str, needles: list[str]) -> None:
    assert rc == 2, message
    assert "Traceback" not in message, message
    for needle in needles:
        assert needle in message, f"{needle!r} not in: {message}"


def refused(tmp_path: Path, argv: list[str], needles: list[str], out: Path | None) -> str:
    """Run the CLI in a fresh working directory under ``tmp_path``; assert a clean refusal that names every needle
    and leaves every file as it was (none added outside ``out``; ``out`` itself not made if it did not exist, and
    no temporary file left in it); return the message."""
    cwd = tmp_path / "cwd"
    cwd.mkdir(exist_ok=True)
    existed = out is not None and out.exists()
    meltdyns = existed and (out / ".meltdyn").exists()  # its own files there it may rewrite (spec.json)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()
              and not (meltdyns and p.is_relative_to(out))}
    rc, message = run_cli(argv, cwd)
    assert_clean_refusal(rc, message, needles)
    after = {p for p in tmp_path.rglob("*") if p.is_file()}
    added = {p for p in after - set(before) if out is None or not p.is_relative_to(out)}
    if meltdyns:
        assert not list(out.rglob("*.tmp")), "temporary files left behind"
    assert added == set(), f"files written outside the output: {added}"
    assert all(p.read_bytes() == data for p, data in before.items()), "a user's file changed"
    if out is not None and not existed:
        assert not out.exists(), "the output directory was made before the inputs were checked"
    assert not list(cwd.iterdir()), "files written in the working directory"
    return message
