"""Progress says something from the first second and renders where a bar cannot: in a log (no terminal) and on a
terminal that reports 0 columns, as lines; on a real terminal, as a bar."""

from __future__ import annotations

import fcntl
import io
import os
import pty
import struct
import sys
import termios

import pytest

from meltdyn.base.progress import Progress


def test_a_log_gets_a_line_per_stage_and_per_note(monkeypatch):
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    progress = Progress(prefix="run ")
    progress.note("building the system and the potential")
    progress.stage("[1] nvt", 2000, 0.001, done_steps=800)
    progress.advance(100)
    assert err.getvalue().splitlines() == ["run building the system and the potential",
                                           "run [1] nvt: 2000 steps (2 ps), resumed at step 800"]


def test_quiet_says_nothing(monkeypatch):
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    progress = Progress(False)
    progress.note("x")
    progress.stage("[1] nvt", 10, 0.001)
    assert err.getvalue() == ""


@pytest.mark.parametrize("columns, mode", [(0, "lines"), (80, "bar")])
def test_a_terminal_of_no_columns_gets_lines_not_a_blank_bar(monkeypatch, columns, mode):
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 0 if columns == 0 else 24, columns, 0, 0))
    with os.fdopen(follower, "w") as terminal:
        monkeypatch.setattr(sys, "stderr", terminal)
        assert Progress().mode == mode
    os.close(leader)
