"""Audio sources: the interface the engine reads from, and a file replayed as if live.

A source hands out 16 kHz float32 mono samples. `read` never blocks longer than its timeout,
`condition` says whether it is live, has lost its device or has ended, and the drop counters say
how much audio never reached the engine. The microphone source is in `live/microphone.py`.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from model.audio import SAMPLE_RATE

LIVE, LOST, ENDED = "live", "lost", "ended"


@dataclass(frozen=True)
class SourceCondition:
    """`status` is LIVE, LOST (device gone, retrying) or ENDED (a recording finished)."""

    status: str
    detail: str = ""


class AudioSource(Protocol):
    name: str  # for the status line and the log

    def start(self) -> None: ...

    def read(self, timeout: float) -> np.ndarray: ...  # (n,) float32 at 16 kHz; n may be 0

    def stop(self) -> None: ...

    @property
    def condition(self) -> SourceCondition: ...

    @property
    def dropped_seconds(self) -> float: ...  # audio lost before the engine saw it

    @property
    def overflows(self) -> int: ...  # overflow reports from the device


class FileSource:
    """Replays samples in real time (like a microphone) or as fast as the engine reads them."""

    READ_BLOCK = 0.05  # s: the smallest block handed out in real time
    FAST_BLOCK = 1.28  # s: block handed out per read when replaying as fast as possible

    def __init__(self, samples: np.ndarray, *, name: str, realtime: bool = True,
                 duration: float | None = None):
        if samples.ndim != 1 or samples.size == 0:
            raise ValueError(f"{name}: needs a non-empty mono recording")
        self.samples = np.ascontiguousarray(samples, dtype=np.float32)
        self.name = name
        self.realtime = realtime
        # Loop the recording until `duration` s when given (benchmarks), else play it once.
        self.total = int(round(duration * SAMPLE_RATE)) if duration else self.samples.size
        self._pos = 0
        self._t0: float | None = None

    @classmethod
    def open(cls, path: str | Path, *, realtime: bool = True, duration: float | None = None) -> "FileSource":
        """A file replayed at 16 kHz mono; ValueError naming the file when it cannot be read."""
        from model.audio import load_audio

        return cls(load_audio(path).numpy(), name=str(path), realtime=realtime, duration=duration)

    def start(self) -> None:
        self._t0 = time.monotonic()

    def stop(self) -> None:
        self._t0 = None

    @property
    def condition(self) -> SourceCondition:
        return SourceCondition(ENDED, "end of recording") if self._pos >= self.total else SourceCondition(LIVE)

    @property
    def dropped_seconds(self) -> float:
        return 0.0

    @property
    def overflows(self) -> int:
        return 0

    @property
    def position(self) -> float:
        """Seconds handed out so far."""
        return self._pos / SAMPLE_RATE

    def read(self, timeout: float) -> np.ndarray:
        """The samples due by now (real time) or the next block (fast); empty at the end."""
        assert self._t0 is not None, "start() the source first"
        if self._pos >= self.total:
            time.sleep(timeout)
            return np.zeros(0, np.float32)
        if not self.realtime:
            return self._take(int(self.FAST_BLOCK * SAMPLE_RATE))
        wanted = self._pos + int(self.READ_BLOCK * SAMPLE_RATE)
        wait = (wanted / SAMPLE_RATE) - (time.monotonic() - self._t0)
        if wait > 0:
            time.sleep(min(wait, timeout))
        due = int((time.monotonic() - self._t0) * SAMPLE_RATE)
        return self._take(max(0, due - self._pos))

    def _take(self, n: int) -> np.ndarray:
        n = min(n, self.total - self._pos)
        idx = (self._pos + np.arange(n)) % self.samples.size if self.total > self.samples.size else None
        out = self.samples[idx] if idx is not None else self.samples[self._pos:self._pos + n]
        self._pos += n
        return out
