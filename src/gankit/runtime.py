"""Process-wide runtime settings that make CPU work faster without changing what it computes."""
from __future__ import annotations

import ctypes
import sys

__all__ = ["keep_freed_memory"]


def keep_freed_memory() -> bool:
    """Let glibc's malloc keep freed memory for reuse instead of returning it to the OS.

    By default, blocks from 128 KiB (the threshold grows only up to 32 MiB, and trimming
    undoes the rest) are mmap'ed per allocation and unmapped on free, so every training
    step faults its activations' pages in afresh: ~2,200 minor page faults per step for
    the paper MLP (about 10% of its CPU time), ~15 with this. Computes nothing differently.
    Process-wide; a no-op where the C library is not glibc."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
        return bool(libc.mallopt(M_MMAP_THRESHOLD, 32 << 20)) and bool(libc.mallopt(M_TRIM_THRESHOLD, 512 << 20))
    except (OSError, AttributeError):
        return False
