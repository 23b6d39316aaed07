"""One process at a time per run directory: an OS-level lock that names its holder.

``flock`` on ``RUN_DIR/.lock``: the kernel releases it when the holding process ends, however it ends, so a lock
left by a killed process is free again without anyone cleaning up. The file says who holds it (host, pid, start,
command) for the message another process shows. On network file systems ``flock`` is only as good as the file
system's locking (NFSv4 and Lustre provide it).
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

LOCK_FILE = ".lock"


class RunLock:
    def __init__(self, run_dir: Path):
        self.path = run_dir / LOCK_FILE
        self._fd: int | None = None
        self.held = False

    def acquire(self) -> bool:
        """Take the lock without waiting; False if another process holds it."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        holder = {"host": socket.gethostname(), "pid": os.getpid(), "since": time.time(), "command": sys.argv[:4]}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode(), 0)
        self._fd = fd
        self.held = True
        return True

    def holder(self) -> dict[str, Any]:
        """Who holds (or last held) the lock, as the holder wrote it."""
        try:
            return json.loads(self.path.read_text() or "{}")
        except (OSError, ValueError):
            return {}

    def holder_ended(self) -> bool:
        """True when the last holder was a process on this host that no longer exists: whatever it was doing, it
        did not finish. (A holder on another host cannot be asked; it is never said to have ended.)"""
        h = self.holder()
        if h.get("host") != socket.gethostname() or not isinstance(h.get("pid"), int):
            return False
        try:
            os.kill(h["pid"], 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # it exists, owned by another user
            return False
        return False

    def describe_holder(self) -> str:
        h = self.holder()
        if not h:
            return "another process"
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(h.get("since", 0)))
        return f"pid {h.get('pid')} on {h.get('host')} since {since}"

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
            self.held = False

    def __enter__(self) -> RunLock:
        """``with RunLock(d) as lock:`` tries the lock on entry (without waiting); ``lock.held`` says whether this
        process has it, and it is released on exit."""
        self.held = self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
