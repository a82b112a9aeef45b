"""Make glibc keep freed memory for reuse: the CPU speed of full-resolution SR models.

At LR 112x80 every x4 feature map of DSRNet is 36.7 MB, just above glibc's largest automatic
mmap threshold (32 MB). With stock settings each such tensor is a fresh mmap that is unmapped
again when freed, so every forward pays ~9000 page faults per map: DSRNet-S measured
1.73 s instead of 1.36 s per forward on the 2-core CPU (`bench perf backend`, README).
PyTorch's CPU tuning guide recommends a caching allocator (jemalloc/tcmalloc) for the same
reason; raising glibc's mmap and trim thresholds with mallopt is the dependency-free
equivalent.

Cost: up to `threshold` bytes of freed memory may stay mapped to the process instead of going
back to the OS. Opt out with SEWER_BENCH_STOCK_MALLOC=1.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # <malloc.h>
DEFAULT_THRESHOLD = 1 << 30  # 1 GiB: larger than any single activation the benchmarks make


def keep_freed_memory(threshold: int = DEFAULT_THRESHOLD) -> str:
    """Raise glibc's mmap/trim thresholds to `threshold` bytes; returns what was done (for
    manifests and perf reports). A no-op off glibc or when opted out."""
    if os.environ.get("SEWER_BENCH_STOCK_MALLOC") == "1":
        return "glibc default (SEWER_BENCH_STOCK_MALLOC=1)"
    if not sys.platform.startswith("linux"):
        return "platform default"
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and other libcs have no mallopt
        return "platform default (no glibc mallopt)"
    ok = mallopt(M_MMAP_THRESHOLD, threshold) == 1 and mallopt(M_TRIM_THRESHOLD, threshold) == 1
    return (f"glibc mallopt mmap_threshold=trim_threshold={threshold}" if ok
            else "glibc default (mallopt refused)")
