"""Seeded waveform augmentations for robustness to real microphones, pure numpy.

Each transform takes a float32 waveform at 16 kHz and a numpy Generator and returns a new
waveform of the same length, so event timestamps stay true. `augment` applies a random subset.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from model.audio import SAMPLE_RATE


@dataclass(frozen=True)
class AugmentConfig:
    """Probabilities and ranges of each transform."""

    gain_db: tuple[float, float] = (-12.0, 8.0)
    colour_prob: float = 0.6  # microphone-like EQ: band limits, tilt and a resonance
    reverb_prob: float = 0.35
    rt60_s: tuple[float, float] = (0.15, 0.9)  # reverberation time of the synthetic room
    wet: tuple[float, float] = (0.1, 0.5)
    noise_prob: float = 0.4
    noise_snr_db: tuple[float, float] = (10.0, 40.0)  # over the signal's mean power
    resample_prob: float = 0.2
    resample_rates: tuple[int, ...] = (8000, 11025, 12000)  # band limit of cheap microphones and codecs
    clip_prob: float = 0.1
    clip_drive_db: tuple[float, float] = (3.0, 15.0)


def gain(x: np.ndarray, rng: np.random.Generator, db: tuple[float, float]) -> np.ndarray:
    """Scale by a random gain in dB."""
    return x * np.float32(10 ** (rng.uniform(*db) / 20))


def fast_len(n: int) -> int:
    """The smallest 2^a 3^b 5^c >= n: FFTs of such lengths are fast (odd lengths can be 100x slower)."""
    best = 1 << max(0, (n - 1).bit_length())
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            m = p35 << max(0, (-(-n // p35) - 1).bit_length())
            best = min(best, m)
            p35 *= 3
        p5 *= 5
    return best


def colour(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random smooth microphone response: high-pass, low-pass, spectral tilt and one resonance."""
    size = fast_len(len(x))
    spec = np.fft.rfft(x, size)
    f = np.fft.rfftfreq(size, 1 / SAMPLE_RATE)
    hp, lp = rng.uniform(50, 400), rng.uniform(3000, 7800)
    resp = 1 / np.sqrt(1 + (hp / np.maximum(f, 1.0)) ** 4) / np.sqrt(1 + (f / lp) ** 8)
    tilt_db = rng.uniform(-6, 6) * np.log2(np.maximum(f, 100.0) / 1000)
    peak_f, peak_db, q = rng.uniform(500, 5000), rng.uniform(-6, 8), rng.uniform(0.5, 3)
    bump = peak_db * np.exp(-0.5 * (np.log2(np.maximum(f, 1.0) / peak_f) * q * 2) ** 2)
    resp = resp * 10 ** ((tilt_db + bump) / 20)
    return np.fft.irfft(spec * resp, size)[: len(x)].astype(np.float32)


def room_impulse(rng: np.random.Generator, rt60_s: tuple[float, float]) -> np.ndarray:
    """A synthetic room impulse response: direct path plus exponentially decaying, darkening noise."""
    rt60 = rng.uniform(*rt60_s)
    n = int(rt60 * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    tail = rng.standard_normal(n) * 10 ** (-3 * t / rt60)  # -60 dB at rt60
    tail = np.convolve(tail, np.ones(4) / 4, mode="same")  # walls absorb high frequencies
    tail[: int(0.005 * SAMPLE_RATE)] = 0  # first reflections arrive after ~5 ms
    ir = tail / (np.sqrt(np.sum(tail**2)) + 1e-12)
    ir[0] = 1.0
    return ir.astype(np.float32)


def reverb(x: np.ndarray, rng: np.random.Generator, rt60_s: tuple[float, float], wet: tuple[float, float]) -> np.ndarray:
    """Convolve with a synthetic room, mix dry and wet, keep the length and the RMS."""
    ir = room_impulse(rng, rt60_s)
    size = fast_len(len(x) + len(ir) - 1)
    y = np.fft.irfft(np.fft.rfft(x, size) * np.fft.rfft(ir, size), size)[: len(x)]
    w = rng.uniform(*wet)
    out = (1 - w) * x + w * y
    return (out * (_rms(x) / (_rms(out) + 1e-12))).astype(np.float32)


def noise(x: np.ndarray, rng: np.random.Generator, snr_db: tuple[float, float]) -> np.ndarray:
    """Add white, pink or brown noise at a random SNR under the signal's mean power."""
    n = fast_len(len(x))
    colour_exp = rng.choice((0.0, 0.5, 1.0))  # amplitude ~ f^-exp: white, pink, brown
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / SAMPLE_RATE)
    shaped = np.fft.irfft(spec / np.maximum(f, 20.0) ** colour_exp, n)[: len(x)]
    level = _rms(x) * 10 ** (-rng.uniform(*snr_db) / 20)
    return (x + shaped * (level / (_rms(shaped) + 1e-12))).astype(np.float32)


def band_limit(x: np.ndarray, rng: np.random.Generator, rates: tuple[int, ...]) -> np.ndarray:
    """Resample down to a lower rate and back (a brick-wall loss of the top band, as cheap devices do)."""
    rate = int(rng.choice(rates))
    size = fast_len(len(x))
    spec = np.fft.rfft(x, size)
    spec[int(len(spec) * rate / SAMPLE_RATE) :] = 0
    return np.fft.irfft(spec, size)[: len(x)].astype(np.float32)


def clip(x: np.ndarray, rng: np.random.Generator, drive_db: tuple[float, float]) -> np.ndarray:
    """Overdrive: amplify so the peak lands `drive_db` over full scale, hard-clip, scale back."""
    peak = np.abs(x).max() + 1e-12
    drive = 10 ** (rng.uniform(*drive_db) / 20) / peak
    return (np.clip(x * drive, -1, 1) / drive).astype(np.float32)


def augment(x: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig = AugmentConfig()) -> np.ndarray:
    """A random chain of the transforms above; same generator state -> same output."""
    y = np.asarray(x, np.float32)
    if len(y) == 0:
        return y
    if rng.random() < cfg.colour_prob:
        y = colour(y, rng)
    if rng.random() < cfg.reverb_prob:
        y = reverb(y, rng, cfg.rt60_s, cfg.wet)
    if rng.random() < cfg.resample_prob:
        y = band_limit(y, rng, cfg.resample_rates)
    if rng.random() < cfg.noise_prob:
        y = noise(y, rng, cfg.noise_snr_db)
    if rng.random() < cfg.clip_prob:
        y = clip(y, rng, cfg.clip_drive_db)
    y = gain(y, rng, cfg.gain_db)
    return np.clip(y, -1.0, 1.0).astype(np.float32)


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))
