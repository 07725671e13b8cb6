"""Loudness: the meter, the energy gate that reports quiet as quiet, and onset detection.

Levels are dBFS over 100 ms windows. The gate is a product decision beside the model: when
nothing in a description's window rose above `quiet_db`, the feed says "quiet" without asking
the model, so silence is never described as invented sounds. An onset (a window rising
`onset_rise_db` above the slowly tracked background and above the gate) asks for a description
soon, so a new sound reaches the feed without waiting for the next periodic one.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from model.audio import FLOOR_DB, LEVEL_WINDOW as WINDOW, QUIET_DB, dbfs

BACKGROUND_RISE = 0.02  # per window: the background follows louder sound over ~5 s, quieter at once


@dataclass
class Window:
    end: int  # absolute sample index (16 kHz) where the window ends
    rms_db: float
    peak_db: float
    onset: bool


class LevelTracker:
    """Cuts the stream into 100 ms windows; remembers the loudest since `take_loudest`."""

    def __init__(self, quiet_db: float = QUIET_DB, onset_rise_db: float = 12.0, start: int = 0):
        self.quiet_db = quiet_db
        self.onset_rise_db = onset_rise_db
        self.background = FLOOR_DB
        self._pos = start  # absolute index of the first sample in `_rest`
        self._rest = np.zeros(0, np.float32)
        self._loudest = FLOOR_DB
        self._was_loud = False

    def push(self, samples: np.ndarray) -> list[Window]:
        """Add samples; return each completed 100 ms window."""
        buf = np.concatenate([self._rest, samples]) if self._rest.size else samples
        n = buf.size // WINDOW
        out = []
        for i in range(n):
            w = buf[i * WINDOW:(i + 1) * WINDOW]
            out.append(self._measure(w, self._pos + (i + 1) * WINDOW))
        self._rest = buf[n * WINDOW:].copy()
        self._pos += n * WINDOW
        return out

    def _measure(self, w: np.ndarray, end: int) -> Window:
        db = dbfs(w)
        peak = float(np.max(np.abs(w)))
        peak_db = max(FLOOR_DB, 20.0 * np.log10(peak + 1e-12))
        loud = db > max(self.quiet_db, self.background + self.onset_rise_db)
        onset = loud and not self._was_loud
        self._was_loud = loud
        if db < self.background:
            self.background = db
        else:
            self.background += (db - self.background) * BACKGROUND_RISE
        self._loudest = max(self._loudest, db)
        return Window(end, db, peak_db, onset)

    def take_loudest(self) -> float:
        """The loudest window since the last call (dBFS), and start a new span."""
        loudest, self._loudest = self._loudest, FLOOR_DB
        return loudest
