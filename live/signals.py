"""SIGINT, SIGTERM and SIGHUP end a session: the first saves what it can, a later one ends at once.

A session that is saving (a slow or failing disk) must still be stoppable, so the handler counts:
the first signal asks for a clean stop, the second calls `hurry` (the app leaves without waiting
for the save), and any further one, or the second when there is no `hurry`, ends the process by
that signal as if no handler were installed.
"""
from __future__ import annotations

import os
import signal
import threading
from contextlib import contextmanager
from typing import Callable, Iterator

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def end_now(signum: int) -> None:
    """End the process by `signum`, unhandled: what was written stays, nothing more is saved."""
    name = signal.Signals(signum).name
    os.write(2, f"sam-live: {name} again: ending now without waiting for the state to be saved\n".encode())
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


@contextmanager
def stop_on_signals(stop: Callable[[], None], hurry: Callable[[], None] | None = None) -> Iterator[None]:
    """While inside, the first stop signal calls `stop`, the second `hurry`, and a further one ends the process.

    Outside the main thread no handler can be installed; the caller is then stopped by whoever owns it.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    steps = [stop] + ([hurry] if hurry is not None else [])

    def handler(signum: int, frame: object) -> None:
        received.append(signum)
        if len(received) > len(steps):
            end_now(signum)
        else:
            steps[len(received) - 1]()

    previous = {s: signal.signal(s, handler) for s in STOP_SIGNALS}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
