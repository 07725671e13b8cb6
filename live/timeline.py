"""Where each run's recorded audio sits on the session's stream clock, and what a saved state missed.

A run that records audio writes segments of its own, numbered from its session.json entry's
`audio_segment`, covering the stream without a gap from its `stream_start` (samples). Segments of
sessions written before runs carried these keys hold the stream from 0 on, one after another.
A resumed session hears, from its saved state on, every recorded sample the state missed, and
silence where nothing was recorded but the log shows the stream went on (a run without audio
that was killed), so that stream times in the log never go back.
"""
from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from model.audio import SAMPLE_RATE

from .events import read_log
from .wavlog import read_samples, segment_frames, segments

AUDIO_DIR = "audio"
EVENTS_FILE = "events.jsonl"
MAX_SILENCE = 600 * SAMPLE_RATE  # samples: the longest unrecorded stretch heard as silence on resume
ROUNDING = SAMPLE_RATE // 2000  # samples: half a millisecond, how far a logged stream time may be off


@dataclass(frozen=True)
class Piece:
    """A stretch of the stream: samples of a segment file, or silence (no file)."""

    start: int  # stream sample of its first sample
    length: int  # samples
    path: Path | None = None
    offset: int = 0  # its first sample within the file

    @property
    def end(self) -> int:
        return self.start + self.length


def _count(run: Any, key: str) -> int | None:
    value = run.get(key) if isinstance(run, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def recorded_pieces(folder: Path, runs: list[Any]) -> list[Piece]:
    """The session's segment files as pieces of its stream; ValueError naming a damaged segment."""
    bounds, starts = [], {}
    for run in runs:
        first = _count(run, "audio_segment")
        if first is not None:
            bounds.append(first)
            if _count(run, "stream_start") is not None:
                starts[first] = run["stream_start"]  # a later run with the same first segment wins
    bounds = sorted(set(bounds))
    cursor: dict[int | None, int] = {None: 0, **starts}
    pieces = []
    for path in segments(folder / AUDIO_DIR):
        at = bisect.bisect_right(bounds, int(path.stem))
        run = bounds[at - 1] if at else None  # None: written before runs were placed on the stream
        if run not in cursor:
            continue  # a run whose start was never recorded: its audio cannot be placed
        n = segment_frames(path)
        pieces.append(Piece(cursor[run], n, path))
        cursor[run] += n
    return sorted(pieces, key=lambda p: p.start)


def logged_until(folder: Path) -> int:
    """The latest stream time in the session's log, in samples (0 for none)."""
    latest = max((e["stream_time"] for e in read_log(folder / EVENTS_FILE)), default=0.0)
    return math.ceil(latest * SAMPLE_RATE)


def unheard(folder: Path, runs: list[Any], heard: int) -> list[Piece]:
    """What a state that heard `heard` samples missed: recorded pieces, silence between and after them."""
    plan, pos = [], heard
    for piece in recorded_pieces(folder, runs):
        if piece.end <= pos:
            continue
        if piece.start > pos:
            plan.append(Piece(pos, min(piece.start - pos, MAX_SILENCE)))
            pos = plan[-1].end
        skip = max(0, pos - piece.start)
        plan.append(Piece(pos, piece.length - skip, piece.path, piece.offset + skip))
        pos = plan[-1].end
    until = logged_until(folder)
    if until > pos + ROUNDING:
        plan.append(Piece(pos, min(until - pos, MAX_SILENCE)))
    return plan


def silence_in(plan: list[Piece]) -> int:
    """Samples of silence in a plan."""
    return sum(p.length for p in plan if p.path is None)


def read_plan(plan: list[Piece]) -> np.ndarray:
    """The samples of a plan, float32 at 16 kHz."""
    parts = [np.zeros(p.length, np.float32) for p in plan]
    for piece, part in zip(plan, parts):
        if piece.path is not None:
            data = read_samples(piece.path, piece.offset, piece.length)  # short only if the file shrank
            part[:data.size] = data
    return np.concatenate(parts) if parts else np.zeros(0, np.float32)
