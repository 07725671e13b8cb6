"""The scene mixer: pure and seeded. Clips + a random generator -> a labelled, timestamped stream.

A scene is 1 s to several minutes of 16 kHz audio with 0-4 foreground events (more on long
streams), an optional looping background (rain, wind, crowd, ...), a faint noise floor, and
exact event times. With a background, each event's SNR (event power over background power,
both measured over the event's samples) is exactly the one drawn; without one, the event's
RMS level in dBFS is. Clips may be played faster or slower than recorded (MixConfig.speed).
"""
from __future__ import annotations

import functools
import random
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from model.audio import SAMPLE_RATE

BACKGROUND_CLASSES = ("rain", "wind", "stream", "waterfall", "waves", "crowd", "traffic", "forest", "crickets",
                      "fire", "machinery", "electric hum")
LONG_SCENE_S = 30.0  # scenes longer than this are streams: events scale with duration
RECENT_S = 10.0  # the "just now" window at the end of a stream
SINGLE_PAD_S = 0.3  # silence around a single clip, as a recording of one sound has
FADE_S = 0.01  # fade at cut clip edges, so crops never click


@dataclass(frozen=True)
class ClipRef:
    """What the mixer needs to know of a corpus clip."""

    id: str
    label: str
    category: str
    kind: str  # speech, music or sound
    duration_s: float


@dataclass(frozen=True)
class Event:
    """A foreground sound in a scene; times are exact (sample-aligned) seconds."""

    start_s: float
    end_s: float
    label: str
    category: str
    kind: str
    clip_id: str
    level_db: float  # RMS of the event in the mix, dBFS
    snr_db: float | None  # over the background; None without one


@dataclass(frozen=True)
class Background:
    """The looping background sound of a scene."""

    label: str
    category: str
    clip_id: str
    level_db: float


@dataclass
class Scene:
    """A mixed stream and everything that is true about it."""

    audio: np.ndarray  # (n,) float32 at SAMPLE_RATE
    events: list[Event]
    background: Background | None
    quiet: list[tuple[float, float]]  # stretches of at least MixConfig.quiet_min_s without events
    duration_s: float

    @property
    def labels(self) -> list[str]:
        """Classes present, background first, then events in order of onset, without repeats."""
        names = ([self.background.label] if self.background else []) + [e.label for e in self.events]
        return list(dict.fromkeys(names))


@dataclass(frozen=True)
class MixConfig:
    """Ranges the mixer draws from."""

    min_duration_s: float = 1.0
    max_duration_s: float = 20.0
    max_events: int = 4
    events_per_minute: float = 5.0  # for streams longer than LONG_SCENE_S
    empty_prob: float = 0.06  # scenes without foreground events
    background_prob: float = 0.45
    repeat_prob: float = 0.3  # an event repeats an earlier class (for counting)
    overlap_prob: float = 0.2
    snr_db: tuple[float, float] = (0.0, 20.0)
    level_db: tuple[float, float] = (-38.0, -16.0)
    background_level_db: tuple[float, float] = (-42.0, -24.0)
    noise_floor_db: tuple[float, float] | None = (-75.0, -62.0)  # microphone hiss; None for none
    quiet_min_s: float = 1.0
    recent_prob: float = 0.6  # streams whose last event falls in the final RECENT_S
    speed: tuple[float, float] | None = None  # range of clip playback speeds (pitch and tempo); None: as recorded


@dataclass
class ClipBank:
    """Clips to mix and how to fetch their samples."""

    clips: list[ClipRef]
    audio: Callable[[str], np.ndarray]
    by_label: dict[str, list[ClipRef]] = field(init=False)

    def __post_init__(self):
        self.by_label = defaultdict(list)
        for c in sorted(self.clips, key=lambda c: c.id):
            self.by_label[c.label].append(c)
        if not self.by_label:
            raise ValueError("the clip bank is empty: no clips to mix (check the split and held-out packages)")
        self.foreground = sorted(self.by_label)
        self.background = sorted(c for c in BACKGROUND_CLASSES if c in self.by_label)


def single_clip(bank: ClipBank, rng: random.Random) -> Scene:
    """One clip heard alone, as a recording of one sound is (a class drawn uniformly, then one of its
    clips, at most 15 s, with SINGLE_PAD_S of the noise floor around it)."""
    clip = rng.choice(bank.by_label[rng.choice(bank.foreground)])
    signal = bank.audio(clip.id)[: int(15 * SAMPLE_RATE)]
    pad = int(SINGLE_PAD_S * SAMPLE_RATE)
    return render(bank, len(signal) + 2 * pad, [(clip, pad, signal, rng.uniform(-32.0, -18.0))], None, rng)


def mix_scene(bank: ClipBank, rng: random.Random, cfg: MixConfig = MixConfig(),
              duration_s: float | None = None, n_events: int | None = None) -> Scene:
    """Draw and render one scene; the same `rng` state and bank give the same scene."""
    duration = duration_s if duration_s is not None else rng.uniform(cfg.min_duration_s, cfg.max_duration_s)
    n = int(round(duration * SAMPLE_RATE))
    background = None
    if bank.background and rng.random() < cfg.background_prob:
        clip = rng.choice(bank.by_label[rng.choice(bank.background)])
        background = (clip, rng.uniform(*cfg.background_level_db))
    if n_events is None:
        n_events = _n_events(rng, cfg, duration)
    picks = [(clip, start, signal, rng.uniform(*(cfg.snr_db if background else cfg.level_db)))
             for clip, start, signal in _place(bank, rng, cfg, n, n_events)]
    if picks and duration > LONG_SCENE_S and rng.random() < cfg.recent_prob:
        clip, _, signal, db = picks[-1]  # streams often end with something to ask "what was that?" about
        lo = max(0, n - int(RECENT_S * SAMPLE_RATE))
        picks[-1] = (clip, rng.randint(lo, max(lo, n - len(signal))), signal, db)
    return render(bank, n, picks, background, rng, cfg)


def render(bank: ClipBank, n: int, picks: list, background: tuple[ClipRef, float] | None,
           rng: random.Random, cfg: MixConfig = MixConfig()) -> Scene:
    """Mix placed clips into `n` samples: picks are (clip, start sample, signal, SNR or level in dB).

    With a background (clip, level dBFS) the pick's number is its SNR over the background within the
    event's span; without one it is the event's RMS level in dBFS.
    """
    out = np.zeros(n, np.float64)
    bg_signal, bg = None, None
    if background is not None:
        clip, level = background
        bg_signal = _loop(np.asarray(_played(bank.audio(clip.id), rng, cfg), np.float64), n, rng, level)
        bg = Background(clip.label, clip.category, clip.id, round(float(level), 2))
        out += bg_signal
    events = []
    for clip, start, signal, db in picks:
        signal = np.asarray(signal, np.float64)[: n - start]
        power = float(np.mean(signal**2)) + 1e-20
        if bg_signal is not None:
            target = float(np.mean(bg_signal[start : start + len(signal)] ** 2)) * 10 ** (db / 10)
        else:
            target = 10 ** (db / 10)
        signal = signal * np.sqrt(target / power)
        out[start : start + len(signal)] += signal
        level = 10 * np.log10(float(np.mean(signal**2)) + 1e-20)
        events.append(Event(start / SAMPLE_RATE, (start + len(signal)) / SAMPLE_RATE, clip.label, clip.category,
                            clip.kind, clip.id, round(float(level), 2),
                            round(float(db), 2) if bg_signal is not None else None))
    if cfg.noise_floor_db is not None:
        floor = 10 ** (rng.uniform(*cfg.noise_floor_db) / 20)
        out += np.random.default_rng(rng.getrandbits(32)).standard_normal(n) * floor
    events.sort(key=lambda e: (e.start_s, e.end_s))
    duration = n / SAMPLE_RATE
    return Scene(out.astype(np.float32), events, bg, quiet_stretches(events, duration, cfg.quiet_min_s), duration)


def _n_events(rng: random.Random, cfg: MixConfig, duration: float) -> int:
    if rng.random() < cfg.empty_prob:
        return 0
    if duration > LONG_SCENE_S:
        mean = cfg.events_per_minute * duration / 60
        return max(1, int(round(rng.uniform(0.6, 1.4) * mean)))
    return rng.randint(1, cfg.max_events)


def change_speed(x: np.ndarray, factor: float) -> np.ndarray:
    """`x` played `factor` times faster, as a tape would be: shorter and higher in pitch for factor > 1.

    The factor is rounded to hundredths: the clip is resampled from 100 x factor "Hz" to 100, so
    the ratio of whole numbers keeps the resampler cheap. A long Kaiser-windowed sinc cuts what
    would pass above the Nyquist frequency instead of folding it back (torchaudio's default
    window lets a quarter of it through).
    """
    faster = int(round(factor * 100))
    if faster == 100:
        return x
    with torch.no_grad():
        return _resampler(faster)(torch.from_numpy(np.asarray(x, np.float32))).numpy()


@functools.lru_cache(maxsize=None)
def _resampler(faster: int):
    """The resampling kernel for one speed, built once per process (building it costs as much as using it)."""
    import torchaudio.transforms as T

    return T.Resample(faster, 100, lowpass_filter_width=24, rolloff=0.94, resampling_method="sinc_interp_kaiser")


def _played(x: np.ndarray, rng: random.Random, cfg: MixConfig) -> np.ndarray:
    """A clip as this scene plays it: at a drawn speed when the config asks for one (draws nothing otherwise)."""
    return change_speed(x, rng.uniform(*cfg.speed)) if cfg.speed else x


def _loop(x: np.ndarray, n: int, rng: random.Random, level_db: float) -> np.ndarray:
    """`x` looped from a random offset to `n` samples, scaled to `level_db` RMS."""
    offset = rng.randrange(len(x))
    loop = np.tile(x, -(-(n + offset) // len(x)))[offset : offset + n]
    return loop * (10 ** (level_db / 20) / (np.sqrt(np.mean(loop**2)) + 1e-12))


def _place(bank: ClipBank, rng: random.Random, cfg: MixConfig, n: int, n_events: int):
    """Choose clips (classes uniformly) and sample-exact onsets; crop clips longer than the scene."""
    taken: list[tuple[int, int]] = []
    labels: list[str] = []
    for _ in range(n_events):
        if labels and rng.random() < cfg.repeat_prob:
            label = rng.choice(labels)
        else:
            label = rng.choice(bank.foreground)
        labels.append(label)
        clip = rng.choice(bank.by_label[label])
        signal = np.asarray(_played(bank.audio(clip.id), rng, cfg), np.float64)
        limit = max(1, int(n * rng.uniform(0.3, 0.9))) if len(signal) >= n else len(signal)
        if len(signal) > limit:
            cut = rng.randrange(len(signal) - limit + 1)
            signal = _fade(signal[cut : cut + limit])
        start = _onset(rng, cfg, n, len(signal), taken)
        taken.append((start, start + len(signal)))
        yield clip, start, signal


def _onset(rng: random.Random, cfg: MixConfig, n: int, length: int, taken: list[tuple[int, int]]) -> int:
    """A start sample; avoids overlap with earlier events unless an overlap is drawn or no room is left."""
    last = n - length
    if rng.random() < cfg.overlap_prob or not taken:
        return rng.randint(0, last)
    for _ in range(30):
        s = rng.randint(0, last)
        if all(s + length <= a or s >= b for a, b in taken):
            return s
    return rng.randint(0, last)


def _fade(x: np.ndarray) -> np.ndarray:
    k = min(int(FADE_S * SAMPLE_RATE), len(x) // 2)
    if k:
        ramp = np.linspace(0.0, 1.0, k)
        x = x.copy()
        x[:k] *= ramp
        x[-k:] *= ramp[::-1]
    return x


def quiet_stretches(events: list[Event], duration: float, min_s: float) -> list[tuple[float, float]]:
    """Intervals of at least `min_s` in [0, duration] where no event sounds."""
    out, t = [], 0.0
    for e in sorted(events, key=lambda e: e.start_s):
        if e.start_s - t >= min_s:
            out.append((round(t, 3), round(e.start_s, 3)))
        t = max(t, e.end_s)
    if duration - t >= min_s:
        out.append((round(t, 3), round(duration, 3)))
    return out
