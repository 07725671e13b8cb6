"""Typing clips strung together from bucklespring's recordings of single key presses and releases."""
from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from model.audio import SAMPLE_RATE, load_audio
from model.data.synth import Rendered

KEY_GROUPS = 8  # keys are split into groups; a clip uses one group, so splits never share a key recording
HOLD_S = (0.05, 0.12)  # press -> release
GAP_S = (0.06, 0.35)  # release -> next press


def typing_clips(key_dir: Path, work: Path, per_group: int = 5, seed: int = 7) -> Iterator[Rendered]:
    """Write `per_group` typing clips for each key group under `work`; label 'typing'."""
    presses = sorted(key_dir.glob("*-0.wav"))
    if not presses:
        raise ValueError(f"{key_dir}: no bucklespring key recordings (*-0.wav); is bucklespring-data unpacked?")
    rng = random.Random(seed)
    work.mkdir(parents=True, exist_ok=True)
    for g in range(KEY_GROUPS):
        keys = presses[g::KEY_GROUPS]
        for k in range(per_group):
            out = work / f"typing-{g}-{k}.wav"
            if not out.exists():
                _write_wav(out, _type(keys, rng))
            yield Rendered(out, "typing", "bucklespring-data", f"bucklespring/keys-{g}")


def _type(keys: list[Path], rng: random.Random) -> np.ndarray:
    """Concatenate random key presses and releases with human-like timing, 2-6 s long."""
    total = int(rng.uniform(2.0, 6.0) * SAMPLE_RATE)
    out = np.zeros(total + SAMPLE_RATE, np.float32)
    t = int(0.05 * SAMPLE_RATE)
    while t < total:
        press = rng.choice(keys)
        release = press.with_name(press.name.replace("-0.wav", "-1.wav"))
        gain = rng.uniform(0.6, 1.0)
        t = _add(out, load_audio(press).numpy() * gain, t) + int(rng.uniform(*HOLD_S) * SAMPLE_RATE)
        if release.exists():
            t = _add(out, load_audio(release).numpy() * gain, t)
        t += int(rng.uniform(*GAP_S) * SAMPLE_RATE)
    return out[:total]


def _add(out: np.ndarray, x: np.ndarray, t: int) -> int:
    n = min(len(x), len(out) - t)
    out[t : t + n] += x[:n]
    return t


def _write_wav(path: Path, x: np.ndarray) -> None:
    import soundfile as sf

    sf.write(str(path), x, SAMPLE_RATE, subtype="PCM_16")
