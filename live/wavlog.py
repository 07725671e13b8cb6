"""Session audio that survives kill -9: WAV segments whose header is updated after every write.

Each segment is a 16 kHz, 16-bit mono WAV of at most a minute. A write appends the samples,
then rewrites the data and RIFF sizes in the header, each with one `pwrite` on an unbuffered
descriptor; a segment is created under a temporary name with its header and renamed into place.
So a process killed at any moment, or a write that fails (a full disk), leaves only complete WAV
files whose header covers every sample but, at worst, those of the last write. Files are created
with O_EXCL | O_NOFOLLOW: never through a planted link.
"""
from __future__ import annotations

import os
import re
import struct
import time
from pathlib import Path

import numpy as np

from model.audio import SAMPLE_RATE
from model.files import create_fresh, write_all

from .folder import real_dir

SEGMENT_SECONDS = 60.0  # s per file
HEADER_BYTES = 44
BYTES_PER_SAMPLE = 2  # 16-bit PCM
SYNC_EVERY = 2.0  # s of wall time between fsyncs (kill -9 needs none; a power cut does)
_SEGMENT = re.compile(r"^(\d{6})\.wav$")


def wav_header(data_bytes: int) -> bytes:
    """The 44-byte header of a 16 kHz 16-bit mono PCM WAV holding `data_bytes` of samples."""
    return struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + data_bytes, b"WAVE", b"fmt ", 16, 1, 1, SAMPLE_RATE,
                       SAMPLE_RATE * BYTES_PER_SAMPLE, BYTES_PER_SAMPLE, 8 * BYTES_PER_SAMPLE, b"data", data_bytes)


def segments(folder: str | Path) -> list[Path]:
    """The segment files of a session's audio folder, in order."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    try:
        return sorted(p for p in folder.iterdir() if _SEGMENT.match(p.name))
    except OSError as e:
        raise RuntimeError(f"{folder}: cannot list the audio segments ({e})") from e


class SegmentWriter:
    """Appends float32 16 kHz samples to numbered WAV segments in `folder`; OSError when a write fails."""

    def __init__(self, folder: str | Path, segment_seconds: float = SEGMENT_SECONDS):
        self.folder = real_dir(Path(folder))
        self.segment_samples = int(segment_seconds * SAMPLE_RATE)
        existing = segments(self.folder)
        self._next_index = int(existing[-1].stem) + 1 if existing else 0  # a resumed session continues
        self._fd: int | None = None
        self._samples = 0  # in the open segment
        self._last_sync = time.monotonic()

    @property
    def next_index(self) -> int:
        """The number the next segment file will have."""
        return self._next_index

    @property
    def path(self) -> Path | None:
        """The segment being written."""
        return self.folder / f"{self._next_index - 1:06d}.wav" if self._fd is not None else None

    def write(self, samples: np.ndarray) -> None:
        """Append samples (float32 in [-1, 1]); they are in the file when this returns."""
        pcm = (np.clip(samples, -1.0, 1.0) * 32767.0).round().astype("<i2")
        while pcm.size:
            if self._fd is None or self._samples >= self.segment_samples:
                self._open_next()
            take = min(pcm.size, self.segment_samples - self._samples)
            self._append(pcm[:take].tobytes())
            self._samples += take
            pcm = pcm[take:]
        if time.monotonic() - self._last_sync > SYNC_EVERY and self._fd is not None:
            os.fsync(self._fd)
            self._last_sync = time.monotonic()

    def close(self) -> None:
        """Sync and close the open segment; the descriptor is closed even when the sync fails."""
        fd, self._fd = self._fd, None
        if fd is not None:
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def _open_next(self) -> None:
        self.close()
        path = self.folder / f"{self._next_index:06d}.wav"
        tmp = path.with_suffix(".tmp")
        fd = create_fresh(tmp, os.O_RDWR)  # a leftover of a kill, or a planted link: removed, never followed
        try:
            write_all(fd, wav_header(0), 0)
            os.replace(tmp, path)  # the segment appears with a valid header, or not at all
        except OSError:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            raise
        self._fd, self._samples = fd, 0
        self._next_index += 1

    def _append(self, data: bytes) -> None:
        assert self._fd is not None
        data_bytes = self._samples * BYTES_PER_SAMPLE
        write_all(self._fd, data, HEADER_BYTES + data_bytes)  # a failure here leaves the header as it was
        data_bytes += len(data)
        write_all(self._fd, struct.pack("<I", data_bytes), 40)  # the data chunk's size first: readers use it
        write_all(self._fd, struct.pack("<I", 36 + data_bytes), 4)


def segment_frames(path: Path) -> int:
    """Samples in one segment, by its header; ValueError naming the file when it is not a readable WAV."""
    import soundfile as sf

    try:
        info = sf.info(str(path))
    except (sf.SoundFileError, OSError) as e:
        raise ValueError(f"{path}: not a readable WAV segment ({e}); move it away to go on without it") from e
    if info.channels != 1 or info.samplerate != SAMPLE_RATE:
        raise ValueError(f"{path}: {info.channels} channels at {info.samplerate} Hz, not a segment sam-live wrote "
                         f"(mono, {SAMPLE_RATE} Hz); move it away to go on without it")
    return info.frames


def read_samples(path: Path, start: int = 0, frames: int = -1) -> np.ndarray:
    """`frames` samples of one segment from sample `start` (all to its end with -1), float32 at 16 kHz."""
    import soundfile as sf

    try:
        data, _ = sf.read(str(path), dtype="float32", start=start, frames=frames)
    except (sf.SoundFileError, OSError) as e:
        raise ValueError(f"{path}: not a readable WAV segment ({e}); move it away to go on without it") from e
    return data


def read_segments(folder: str | Path, start: int = 0) -> np.ndarray:
    """All recorded samples from sample `start` on, as float32 at 16 kHz."""
    parts, pos = [], 0
    for path in segments(folder):
        n = segment_frames(path)
        if pos + n > start:
            parts.append(read_samples(path, start=max(0, start - pos)))
        pos += n
    return np.concatenate(parts) if parts else np.zeros(0, np.float32)


def recorded_samples(folder: str | Path) -> int:
    """Samples in all segments, by their headers."""
    return sum(segment_frames(p) for p in segments(folder))
