"""Process-wide settings that keep sam-live small and steady beside a browser.

- One malloc arena. glibc gives each thread that allocates its own arena (up to eight per core) and
  keeps what a thread frees for that thread's next allocation, so the engine's two threads each hold
  the high-water mark of their short-lived buffers besides the main thread's: about 24 MiB more.
- Bounded oneDNN caches. bf16 products run on oneDNN, whose primitive cache and ideep's LRU cache keep
  compiled kernels for every shape seen, up to 1024 each: about 1.5 MiB more for each new length of
  typed question, for the whole session. Both read their capacity from the environment on first use
  (0 is not a capacity: ideep then crashes).
- One PyTorch thread per engine thread. The listener and the speaker already run side by side; a team
  of threads under each oversubscribes a laptop's cores, and waits on any one a browser delays.

docs/BENCHMARKS.md (section 5) has the measurements. Settings a user made in the environment are kept.
"""
from __future__ import annotations

import ctypes
import os
import sys

M_ARENA_MAX = -8  # mallopt's parameter number in glibc's <malloc.h>
ARENAS = 1
KERNEL_CACHE = 32  # compiled oneDNN kernels kept: a session's steady shapes and a few question lengths
KERNEL_CACHE_VARIABLES = ("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "LRU_CACHE_CAPACITY")
THREADS = 1  # PyTorch threads under each engine thread


def keep_small(threads: int = THREADS) -> None:
    """Apply the settings to this process: before any model is loaded and before the engine's threads start."""
    import torch

    limit_malloc_arenas()
    for name in KERNEL_CACHE_VARIABLES:
        os.environ.setdefault(name, str(KERNEL_CACHE))
    torch.set_num_threads(threads)


def limit_malloc_arenas(arenas: int = ARENAS) -> bool:
    """Ask glibc for at most `arenas` malloc arenas; False where that does not apply: not Linux, a libc
    without mallopt (musl), or MALLOC_ARENA_MAX set by the user."""
    if not sys.platform.startswith("linux") or "MALLOC_ARENA_MAX" in os.environ:
        return False
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)  # the process's own libc
    return mallopt is not None and mallopt(M_ARENA_MAX, arenas) == 1
