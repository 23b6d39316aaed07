"""Storage faults as ordinary failures: room checked before a trajectory grows, a cut-short file made whole again.

A full disk (ENOSPC), a file-size limit (EFBIG, from ``RLIMIT_FSIZE``) or an exhausted quota (EDQUOT) in the
middle of an HDF5 write leaves the file's metadata pointing past its end, and HDF5 then refuses to open it. So the
trajectory writer asks :func:`ensure_room` before every flush and fails *before* writing, leaving the file as the
last flush left it; and for what no check can foresee (another process filling the disk between the check and the
write), :func:`reopen_cut_short` makes such a file openable again so that production is cut back to its last
checkpointed frame instead of refusing the file.
"""

from __future__ import annotations

import errno
import os
import re
import resource
import struct
from pathlib import Path

STORAGE_FAULTS = {errno.ENOSPC: "the disk is full", errno.EFBIG: "a file-size limit was reached",
                  errno.EDQUOT: "the disk quota is exceeded"}
"""The errors meltdyn treats as storage faults: the run is marked failed with this reason, and continues later."""

METADATA_MARGIN_BYTES = 64 * 1024
"""Room kept beyond a flush's data for the HDF5 metadata it updates (chunk index nodes, object headers)."""


def describe(exc: BaseException) -> str | None:
    """The storage fault ``exc`` is, in words with what to do, or None if it is not one."""
    code = getattr(exc, "errno", None)
    if code is None and isinstance(exc, (OSError, RuntimeError)):
        # HDF5 reports a failed write in its message only: "... errno = 27, error message = 'File too large' ..."
        found = re.search(r"errno = (\d+)", str(exc))
        code = int(found.group(1)) if found else None
    if code not in STORAGE_FAULTS:
        return None
    filename = getattr(exc, "filename", None) or (re.findall(r"filename = '([^']*)'", str(exc)) or [None])[0]
    where = f", {filename}" if filename else ""
    return (f"storage fault: {STORAGE_FAULTS[code]} ({getattr(exc, 'strerror', None) or os.strerror(code)}{where}); "
            "free space or raise the limit, then run the same command again to continue from the last checkpoint")


def ensure_room(path: Path, nbytes: int) -> None:
    """Raise the OSError a write of ``nbytes`` more to ``path`` would meet (a size limit, a full disk), before it."""
    size = path.stat().st_size if path.exists() else 0
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    if limit != resource.RLIM_INFINITY and size + nbytes > limit:
        raise OSError(errno.EFBIG, f"the file would grow past the file-size limit of {limit:,} bytes "
                                   f"(it holds {size:,}, the next write needs about {nbytes:,} more)", str(path))
    stat = os.statvfs(path.parent)
    free = stat.f_bavail * stat.f_frsize
    # A file system that reports no size at all (f_blocks 0: some FUSE and network mounts) tells nothing about its
    # room; only the write can.
    if stat.f_blocks and nbytes > free:
        raise OSError(errno.ENOSPC, f"{free:,} bytes are free on its file system, the next write needs about "
                                    f"{nbytes:,}", str(path))


def _stored_eof(path: Path) -> int | None:
    """The end-of-file address an HDF5 file's version-0/1 superblock records, or None if it has no such one."""
    with path.open("rb") as f:
        head = f.read(64)
    if not head.startswith(b"\x89HDF\r\n\x1a\n") or head[8] not in (0, 1) or head[13] != 8:
        return None  # not HDF5, or a superblock layout (v2/v3, 4-byte offsets) this repair does not read
    offset = 40 if head[8] == 0 else 44  # version 1 adds four bytes (indexed storage K) before the addresses
    (eof,) = struct.unpack_from("<Q", head, offset)
    return eof


def reopen_cut_short(path: Path) -> bool:
    """Pad an HDF5 file cut short by a storage fault to the length its superblock records; True if it was.

    The bytes past the real end belong to the write that failed, which no checkpoint names: the caller truncates
    the datasets back to the last checkpointed frame and checks what it reads.
    """
    eof = _stored_eof(path)
    size = path.stat().st_size
    if eof is None or eof <= size:
        return False
    os.truncate(path, eof)
    return True
