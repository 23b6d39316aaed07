"""Keep freed memory in the process while a torch model runs on the CPU every MD step.

PyTorch's CPU tensors come straight from the C library's malloc. An MD step with a message-passing network
allocates and frees the same pair tensors (pairs × features: megabytes at 200 atoms, ~40 MB at 3,000) every step.
glibc serves large blocks with fresh ``mmap`` pages and hands freed memory back to the kernel, so each step
pays for page faults and for the kernel zeroing those pages again — measured here as most of the system time of
a PaiNN MD run and about half its wall time at 3,000 atoms. Serving every block from the heap and never
trimming it makes the step reuse the same memory. The price: the process keeps its heap's high-water mark,
fragmentation included — 2.2 GB instead of 1.5 GB at 3,000 atoms (benchmarks/README.md). jemalloc or tcmalloc,
which PyTorch's CPU performance guide recommends, make the same trade; glibc's ``mallopt`` gets it without
preloading a second allocator.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_NEVER_TRIM = 2**31 - 1

log = logging.getLogger(__name__)


def keep_freed_memory() -> bool:
    """Ask glibc to serve every allocation from its heap and never return freed heap memory to the kernel.

    Process-wide and lasting. Returns whether it took effect: False where the C library is not glibc (the
    settings do not exist there) — nothing changes then.
    """
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return False
    libc = ctypes.CDLL(libc_name)
    if not hasattr(libc, "gnu_get_libc_version"):
        return False
    accepted = libc.mallopt(_M_MMAP_MAX, 0) == 1 and libc.mallopt(_M_TRIM_THRESHOLD, _NEVER_TRIM) == 1
    if accepted:
        log.debug("glibc: heap-only allocation, no trimming (PaiNN MD on the CPU)")
    return accepted
