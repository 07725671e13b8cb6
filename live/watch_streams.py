"""Streams to measure watches on: target sounds at known times among distractors and backgrounds.

A stream is made of segments of SEGMENT_S, each rendered by the training mixer
(model/data/mixer.render: its levels, SNRs over the background and noise floor) with a background
of its own or none, so a half-hour stream passes through many scenes. Targets are placed
TARGET_GAP_S apart, their classes taken in turn; distractors (any other class) fall between them
without touching a target. A stream without targets is the same with none placed and every
watched class left out.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np

from model.audio import SAMPLE_RATE

SEGMENT_S = 120.0  # s of stream per background
TARGET_GAP_S = (25.0, 45.0)  # s between target onsets: more than an alert's hold, so events stay apart
MAX_TARGET_S = 8.0  # longer target clips are cut to this
DISTRACTORS_PER_MINUTE = 4.0
CLEAR_S = 1.0  # s kept free of distractors around a target


@dataclass(frozen=True)
class Sound:
    """A sound placed on the stream (stream seconds)."""

    start_s: float
    end_s: float
    label: str
    target: bool


@dataclass
class WatchStream:
    """A mixed stream and what sounds in it when."""

    audio: np.ndarray  # (n,) float32, 16 kHz
    sounds: list[Sound]
    backgrounds: list[tuple[float, float, str]]  # (start s, end s, class) of each segment that has one

    @property
    def seconds(self) -> float:
        return self.audio.size / SAMPLE_RATE

    def targets(self, classes: tuple[str, ...] | set[str]) -> list[Sound]:
        """The target sounds of `classes`, in order."""
        return [s for s in self.sounds if s.target and s.label in classes]


def mix_watch_stream(bank, minutes: float, rng: random.Random, targets: list[str], exclude: set[str]) -> WatchStream:
    """`minutes` of stream from `bank` (a model.data.mixer.ClipBank): `targets` (classes, taken in turn) at
    known onsets, distractors from the classes neither targeted nor in `exclude`."""
    from model.data.mixer import MixConfig

    missing = [t for t in targets if t not in bank.by_label]
    if missing:
        raise ValueError(f"no recordings of {', '.join(missing)} in this split: leave them out of the targets")
    cfg = MixConfig()
    distractors = [c for c in bank.foreground if c not in exclude and c not in targets]
    backgrounds = [c for c in bank.background if c not in exclude and c not in targets]
    order = list(targets)
    rng.shuffle(order)
    total = int(round(minutes * 60 * SAMPLE_RATE))
    audio, sounds, bgs, turn = [], [], [], 0
    for offset in range(0, total, int(SEGMENT_S * SAMPLE_RATE)):
        n = min(int(SEGMENT_S * SAMPLE_RATE), total - offset)
        picks = []
        if order:
            picks, turn = _targets(bank, rng, n, order, turn)
        picks += _distractors(bank, rng, n, distractors, [(s, s + len(x)) for _, s, x, _ in picks])
        background = None
        if backgrounds and rng.random() < cfg.background_prob:
            background = (rng.choice(bank.by_label[rng.choice(backgrounds)]), rng.uniform(*cfg.background_level_db))
        scene, flags = _render(bank, n, picks, background, rng, cfg, n_targets=sum(1 for p in picks if p[3]))
        t0 = offset / SAMPLE_RATE
        sounds += [Sound(t0 + e.start_s, t0 + e.end_s, e.label, target) for e, target in zip(scene.events, flags)]
        if scene.background is not None:
            bgs.append((t0, t0 + n / SAMPLE_RATE, scene.background.label))
        audio.append(scene.audio)
    return WatchStream(np.concatenate(audio) if audio else np.zeros(0, np.float32), sounds, bgs)


def _targets(bank, rng: random.Random, n: int, order: list[str], turn: int) -> tuple[list, int]:
    """Target picks (clip, start, signal, is_target) TARGET_GAP_S apart in a segment of n samples."""
    picks, t = [], rng.uniform(*TARGET_GAP_S) / 2
    while True:
        clip = rng.choice(bank.by_label[order[turn % len(order)]])
        signal = _cut(np.asarray(bank.audio(clip.id), np.float64), rng, int(MAX_TARGET_S * SAMPLE_RATE))
        start = int(t * SAMPLE_RATE)
        if start + len(signal) > n - int(CLEAR_S * SAMPLE_RATE):
            return picks, turn
        picks.append((clip, start, signal, True))
        turn += 1
        t += rng.uniform(*TARGET_GAP_S)


def _distractors(bank, rng: random.Random, n: int, classes: list[str], taken: list[tuple[int, int]]) -> list:
    """Distractor picks about DISTRACTORS_PER_MINUTE, none within CLEAR_S of a target."""
    if not classes:
        return []
    clear = int(CLEAR_S * SAMPLE_RATE)
    count = int(round(DISTRACTORS_PER_MINUTE * n / SAMPLE_RATE / 60 * rng.uniform(0.6, 1.4)))
    picks = []
    for _ in range(count):
        clip = rng.choice(bank.by_label[rng.choice(classes)])
        signal = _cut(np.asarray(bank.audio(clip.id), np.float64), rng, n // 3)
        for _ in range(30):
            start = rng.randint(0, max(0, n - len(signal)))
            if all(start + len(signal) + clear <= a or start >= b + clear for a, b in taken):
                picks.append((clip, start, signal, False))
                break
    return picks


def _cut(signal: np.ndarray, rng: random.Random, limit: int) -> np.ndarray:
    """At most `limit` samples of `signal`, from a random place, faded in and out as the mixer fades a crop."""
    from model.data.mixer import FADE_S

    if len(signal) <= limit:
        return signal
    cut = rng.randrange(len(signal) - limit + 1)
    signal = signal[cut: cut + limit].copy()
    k = min(int(FADE_S * SAMPLE_RATE), len(signal) // 2)
    if k:  # no clicks at the cut edges
        ramp = np.linspace(0.0, 1.0, k)
        signal[:k] *= ramp
        signal[-k:] *= ramp[::-1]
    return signal


def _render(bank, n: int, picks: list, background, rng: random.Random, cfg, n_targets: int):
    """The mixer's rendering of the picks (level or SNR drawn as it draws them), and each event's target flag."""
    from model.data.mixer import render

    drawn = [(clip, start, signal, rng.uniform(*(cfg.snr_db if background else cfg.level_db)))
             for clip, start, signal, _ in picks]
    scene = render(bank, n, drawn, background, rng, cfg)
    # render sorts its events by (start, end); the picks' flags follow the same order
    order = sorted(range(len(picks)), key=lambda i: (picks[i][1], picks[i][1] + len(picks[i][2])))
    flags = [picks[i][3] for i in order]
    assert sum(flags) == n_targets and len(flags) == len(scene.events)
    return scene, flags
