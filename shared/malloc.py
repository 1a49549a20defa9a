"""Keeping a long-running process's heap small on glibc (Linux); no-ops elsewhere.

Two glibc defaults make a threaded server's resident memory grow past what it uses:
- every thread that allocates may get its own arena (up to 8 per core), and memory freed in
  one arena is not reused by another: the API's threads cost ~16 MB more than with two arenas;
- memory freed after a burst (loading the ONNX model allocates its weights twice) stays mapped
  until `malloc_trim` hands it back: ~12 MB after the model loads;
- big blocks go to the heap once the mmap threshold has risen, and a dropped model's weights
  then stay resident.
"""

from __future__ import annotations

import ctypes
import functools
import sys

M_ARENA_MAX = -8  # from glibc's malloc.h
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 1 << 20  # blocks this big get pages of their own, returned when freed


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)  # the process's own symbols, libc's included
        return libc if hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None
    except OSError:  # musl or an unusual libc: nothing to tune
        return None


def limit_arenas(arenas: int = 2) -> None:
    """Call before the process starts its threads. Also fixes the mmap threshold: by default
    glibc raises it after a big block is freed, so the next model's weights land in the heap
    and stay there after it is dropped (the API kept ~40 MB after handing queries back to a
    worker)."""
    libc = _glibc()
    if libc is not None:
        libc.mallopt(M_ARENA_MAX, arenas)
        libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)


def release_free_memory() -> None:
    """Return freed heap pages to the system (after a burst of allocations)."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)
