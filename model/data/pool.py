"""Process pools for the data tools: forked workers that stop when their pool stops them.

A forked worker inherits its parent's signal handlers. Where the parent has a SIGTERM handler of its
own (sam-live's stop-and-save, a test recording signals), a worker would run that handler when
`Pool.terminate()` sends SIGTERM, and go on waiting for work; the pool then waits for it forever.
Each worker therefore takes back the default action of the signals that stop a process.
"""
from __future__ import annotations

import signal
from multiprocessing import get_context
from multiprocessing.pool import Pool

STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


def fork_pool(workers: int, torch_threads: int | None = None) -> Pool:
    """A pool of `workers` forked processes (each with `torch_threads` PyTorch threads when given)."""
    return get_context("fork").Pool(workers, initializer=_init_worker, initargs=(torch_threads,))


def _init_worker(torch_threads: int | None) -> None:
    for s in STOP_SIGNALS:
        signal.signal(s, signal.SIG_DFL)
    if torch_threads is not None:
        import torch

        torch.set_num_threads(torch_threads)
