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

from model.audio import SAMPLE_RATE, SAMPLES_PER_TOKEN, AudioFile

LIVE, LOST, ENDED = "live", "lost", "ended"
# Samples a replayed file is decoded in (1.28 s, a hop): its reader stays open for the whole session, and
# with the 4 MB reads a whole-file reader makes, its buffers would hold about 12 MB more.
DECODE_SAMPLES = 8 * SAMPLES_PER_TOKEN


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

    # Optional: `repaired_samples` (int), damaged samples the source made safe before handing them out;
    # the engine warns once a session when it grows (live/engine.py, Engine._finite). Test stubs lack it.


class FileSource:
    """Replays samples in real time (like a microphone) or as fast as the engine reads them."""

    READ_BLOCK = 0.05  # s: the smallest block handed out in real time
    FAST_BLOCK = 1.28  # s: block handed out per read when replaying as fast as possible

    def __init__(self, samples: np.ndarray | Recording, *, name: str, realtime: bool = True,
                 duration: float | None = None):
        if isinstance(samples, np.ndarray):
            if samples.ndim != 1 or samples.size == 0:
                raise ValueError(f"{name}: needs a non-empty mono recording")
            samples = InMemory(np.ascontiguousarray(samples, dtype=np.float32))
        self.recording = samples
        self.name = name
        self.realtime = realtime
        # Loop the recording until `duration` s when given (benchmarks), else play it once.
        self.total = int(round(duration * SAMPLE_RATE)) if duration else None
        self._pos = 0
        self._ended = False
        self._t0: float | None = None

    @classmethod
    def open(cls, path: str | Path, *, realtime: bool = True, duration: float | None = None) -> "FileSource":
        """A file replayed at 16 kHz mono, decoded as it plays (an hour holds a block in memory, not 230 MB);
        ValueError naming the file when it cannot be read or holds no audio."""
        return cls(Decoded(path), name=str(path), realtime=realtime, duration=duration)

    def start(self) -> None:
        self._t0 = time.monotonic()

    def stop(self) -> None:
        self._t0 = None

    @property
    def condition(self) -> SourceCondition:
        return SourceCondition(ENDED, "end of recording") if self._ended else SourceCondition(LIVE)

    @property
    def dropped_seconds(self) -> float:
        return 0.0

    @property
    def overflows(self) -> int:
        return 0

    @property
    def repaired_samples(self) -> int:
        return self.recording.repaired

    @property
    def position(self) -> float:
        """Seconds handed out so far."""
        return self._pos / SAMPLE_RATE

    def read(self, timeout: float) -> np.ndarray:
        """The samples due by now (real time) or the next block (fast); empty at the end."""
        assert self._t0 is not None, "start() the source first"
        if self._ended:
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
        if self.total is not None:  # looped to `duration`
            n = min(n, self.total - self._pos)
        parts = [self.recording.take(n)]
        while self.total is not None and (got := sum(p.size for p in parts)) < n:
            self.recording.rewind()
            parts.append(self.recording.take(n - got))
        out = np.concatenate(parts) if len(parts) > 1 else parts[0]
        self._pos += out.size
        self._ended = self._pos >= self.total if self.total is not None else self.recording.exhausted
        return out


class Recording(Protocol):
    """Samples handed out in order, from the start again after `rewind`."""

    @property
    def exhausted(self) -> bool: ...  # everything has been handed out

    def take(self, n: int) -> np.ndarray: ...  # (n,) float32 at 16 kHz, fewer only at the end

    def rewind(self) -> None: ...

    @property
    def repaired(self) -> int: ...  # damaged samples made safe so far


class InMemory:
    """A recording held in memory (checked by the engine, not here)."""

    repaired = 0

    def __init__(self, samples: np.ndarray):
        self.samples = samples
        self._pos = 0

    @property
    def exhausted(self) -> bool:
        return self._pos >= self.samples.size

    def take(self, n: int) -> np.ndarray:
        out = self.samples[self._pos:self._pos + n]
        self._pos += out.size
        return out

    def rewind(self) -> None:
        self._pos = 0


class Decoded:
    """A recording decoded from its file as it is taken: a decoder block in memory, however long the file.

    Damaged samples are repaired as `load_audio` repairs them and counted in `repaired` (the engine
    warns); a file damaged part-way raises ValueError when the replay reaches the damage (the engine
    then stops listening and says why).
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._file: AudioFile | None = None
        self._repaired_before = 0  # by the readers of earlier passes
        self.rewind()  # a file that cannot be opened or decoded is refused here
        if self.exhausted:
            raise ValueError(f"{self.path}: the file holds no audio samples")

    @property
    def exhausted(self) -> bool:
        return self._decoded_all and not self._held.size

    @property
    def repaired(self) -> int:
        """Damaged samples heard as silence or clipped so far, at the file's rate."""
        return self._repaired_before + (self._file.guard.repaired if self._file is not None else 0)

    def rewind(self) -> None:
        if self._file is not None:
            self._file.close()
            self._repaired_before += self._file.guard.repaired
        self._file = AudioFile(self.path, warn=False)
        self._blocks = self._file.blocks(DECODE_SAMPLES, read=DECODE_SAMPLES)
        self._held = np.zeros(0, np.float32)  # decoded, not yet taken
        self._decoded_all = False
        self._decode(1)

    def take(self, n: int) -> np.ndarray:
        self._decode(n + 1)  # one more, so that `exhausted` is known as soon as the last sample is taken
        out, self._held = self._held[:n], self._held[n:]
        return out

    def _decode(self, n: int) -> None:
        """Decode blocks until `n` samples are held or the file ends (it is then closed)."""
        parts = [self._held]
        while sum(p.size for p in parts) < n and not self._decoded_all:
            block = next(self._blocks, None)
            if block is None:
                self._decoded_all = True
                self._file.close()
            else:
                parts.append(block)
        if len(parts) > 1:
            self._held = np.concatenate(parts)
