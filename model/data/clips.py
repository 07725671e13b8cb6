"""Clip processing, pure numpy: trim silence, normalise loudness, cut long ambiences, hash content."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from model.audio import SAMPLE_RATE

FRAME = SAMPLE_RATE // 100  # 10 ms analysis frames for silence and loudness


@dataclass(frozen=True)
class ClipConfig:
    """How raw recordings become corpus clips."""

    silence_db: float = -45.0  # frames this far below the loudest frame count as silence
    margin_s: float = 0.02  # kept around the trimmed sound so onsets stay intact
    target_db: float = -20.0  # active-frame RMS loudness of every stored clip, dBFS
    peak: float = 0.95  # never louder than this after normalising
    min_s: float = 0.15  # shorter sounds are skipped
    long_s: float = 12.0  # longer recordings are cut into windows
    window_s: float = 8.0  # window length for long ambiences and music
    max_windows: int = 3  # windows kept per long recording (spread evenly)


def frame_db(x: np.ndarray) -> np.ndarray:
    """RMS level of each 10 ms frame in dBFS: (n,) -> (n // FRAME,)."""
    n = len(x) // FRAME
    if n == 0:
        return np.full(1, 10 * np.log10(np.mean(x.astype(np.float64) ** 2) + 1e-20))
    frames = x[: n * FRAME].astype(np.float64).reshape(n, FRAME)
    return 10 * np.log10(np.mean(frames**2, axis=1) + 1e-20)


def trim_silence(x: np.ndarray, cfg: ClipConfig = ClipConfig()) -> np.ndarray:
    """Drop leading and trailing frames quieter than `silence_db` below the loudest frame."""
    db = frame_db(x)
    loud = np.flatnonzero(db > db.max() + cfg.silence_db)
    if len(loud) == 0:
        return x[:0]
    margin = int(cfg.margin_s * SAMPLE_RATE)
    start = max(0, loud[0] * FRAME - margin)
    end = min(len(x), (loud[-1] + 1) * FRAME + margin)
    return x[start:end]


def active_rms_db(x: np.ndarray, cfg: ClipConfig = ClipConfig()) -> float:
    """Loudness of the sounding part: RMS in dBFS over frames within `silence_db` of the loudest."""
    db = frame_db(x)
    active = db[db > db.max() + cfg.silence_db]
    return float(10 * np.log10(np.mean(10 ** (active / 10)) + 1e-20))


def normalise(x: np.ndarray, cfg: ClipConfig = ClipConfig()) -> np.ndarray:
    """Scale to `target_db` active loudness, then down if the peak would pass `peak`."""
    gain = 10 ** ((cfg.target_db - active_rms_db(x, cfg)) / 20)
    y = x * gain
    peak = np.abs(y).max()
    if peak > cfg.peak:
        y = y * (cfg.peak / peak)
    return y.astype(np.float32)


def windows(x: np.ndarray, cfg: ClipConfig = ClipConfig()) -> list[tuple[int, np.ndarray]]:
    """Cut a recording longer than `long_s` into evenly spread (start_sample, window) pieces."""
    if len(x) <= cfg.long_s * SAMPLE_RATE:
        return [(0, x)]
    w = int(cfg.window_s * SAMPLE_RATE)
    count = min(cfg.max_windows, len(x) // w)
    starts = np.linspace(0, len(x) - w, count).astype(int)
    return [(int(s), x[s : s + w]) for s in starts]


PCM_SCALE = 32768.0  # float <-> int16 as libsndfile reads it: sample / 32768


def to_pcm16(x: np.ndarray) -> np.ndarray:
    """float samples -> the int16 samples stored on disk."""
    return np.clip(np.round(np.asarray(x, np.float64) * PCM_SCALE), -32768, 32767).astype("<i2")


def content_hash(x: np.ndarray) -> str:
    """SHA-1 of the clip as stored (16-bit): equal audio gives equal hashes, before and after a FLAC trip."""
    return hashlib.sha1(to_pcm16(x).tobytes()).hexdigest()


def process(x: np.ndarray, cfg: ClipConfig = ClipConfig()) -> list[tuple[int, np.ndarray]]:
    """Raw 16 kHz mono -> normalised clips (with their start sample); [] when too short or silent."""
    if len(x) == 0 or not np.isfinite(x).all() or np.abs(x).max() < 1e-4:
        return []
    out = []
    for start, piece in windows(trim_silence(x, cfg), cfg):
        piece = trim_silence(piece, cfg)
        if len(piece) >= cfg.min_s * SAMPLE_RATE:
            out.append((start, normalise(piece, cfg)))
    return out
