"""Seeded waveform augmentations for robustness to real microphones.

A chain of transforms is drawn first (`draw`: a few numbers per scene, cheap) and applied after
(`apply`, numpy, one waveform), so the drawing can happen where scenes are mixed and the
applying where it is fastest: `model.data.augment_torch` applies the same chains to a whole
batch on the training device, and `apply` is its reference. Each transform keeps the length,
so event timestamps stay true. `augment` draws and applies in one call.

The two random signals a chain needs (a room's reverberation tail and additive noise) come
from the chain's own seed, or are passed in, so that both implementations can be compared on
the same signals.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from model.audio import SAMPLE_RATE

EARLY_S = 0.005  # first reflections arrive after ~5 ms
NOISE_EXPONENTS = (0.0, 0.5, 1.0)  # amplitude ~ f^-exp: white, pink, brown


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


@dataclass(frozen=True)
class Colour:
    """A smooth microphone response: high-pass and low-pass corners, tilt in dB per octave, one resonance."""

    highpass_hz: float
    lowpass_hz: float
    tilt_db: float
    peak_hz: float
    peak_db: float
    q: float


@dataclass(frozen=True)
class Reverb:
    rt60_s: float
    wet: float


@dataclass(frozen=True)
class Noise:
    exponent: float  # 0 white, 0.5 pink, 1 brown
    snr_db: float


@dataclass(frozen=True)
class Chain:
    """One scene's transforms, applied in this order; None skips one."""

    colour: Colour | None
    reverb: Reverb | None
    band_hz: int | None  # resample to this rate and back
    noise: Noise | None
    clip_drive_db: float | None
    gain_db: float
    seed: int  # of the reverberation tail and the noise

    def ir_length(self) -> int:
        return int(self.reverb.rt60_s * SAMPLE_RATE) if self.reverb else 0


def draw(rng: np.random.Generator, cfg: AugmentConfig = AugmentConfig()) -> Chain:
    """A random chain; the same generator state gives the same chain."""
    colour = reverb = noise = None
    band = drive = None
    if rng.random() < cfg.colour_prob:
        colour = Colour(rng.uniform(50, 400), rng.uniform(3000, 7800), rng.uniform(-6, 6), rng.uniform(500, 5000),
                        rng.uniform(-6, 8), rng.uniform(0.5, 3))
    if rng.random() < cfg.reverb_prob:
        reverb = Reverb(rng.uniform(*cfg.rt60_s), rng.uniform(*cfg.wet))
    if rng.random() < cfg.resample_prob:
        band = int(rng.choice(cfg.resample_rates))
    if rng.random() < cfg.noise_prob:
        noise = Noise(float(rng.choice(NOISE_EXPONENTS)), rng.uniform(*cfg.noise_snr_db))
    if rng.random() < cfg.clip_prob:
        drive = rng.uniform(*cfg.clip_drive_db)
    return Chain(colour, reverb, band, noise, drive, rng.uniform(*cfg.gain_db), int(rng.integers(2**63)))


def random_signals(chain: Chain, n: int) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The chain's reverberation-tail noise (ir_length) and additive noise (fast_len(n)), from its seed."""
    rng = np.random.default_rng(chain.seed)
    tail = rng.standard_normal(chain.ir_length()) if chain.reverb else None
    noise = rng.standard_normal(fast_len(n)) if chain.noise else None
    return tail, noise


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


def colour_response(c: Colour, f: np.ndarray) -> np.ndarray:
    """The colouring's gain at frequencies `f` (Hz)."""
    resp = 1 / np.sqrt(1 + (c.highpass_hz / np.maximum(f, 1.0)) ** 4) / np.sqrt(1 + (f / c.lowpass_hz) ** 8)
    tilt = c.tilt_db * np.log2(np.maximum(f, 100.0) / 1000)
    bump = c.peak_db * np.exp(-0.5 * (np.log2(np.maximum(f, 1.0) / c.peak_hz) * c.q * 2) ** 2)
    return resp * 10 ** ((tilt + bump) / 20)


def room_impulse(r: Reverb, tail: np.ndarray) -> np.ndarray:
    """A synthetic room impulse response from white noise `tail`: direct path plus a decaying, darkening tail."""
    t = np.arange(len(tail)) / SAMPLE_RATE
    decayed = tail * 10 ** (-3 * t / r.rt60_s)  # -60 dB at rt60
    decayed = np.convolve(decayed, np.ones(4) / 4, mode="same")  # walls absorb high frequencies
    decayed[: int(EARLY_S * SAMPLE_RATE)] = 0
    ir = decayed / (np.sqrt(np.sum(decayed**2)) + 1e-12)
    ir[0] = 1.0
    return ir


def apply(x: np.ndarray, chain: Chain, tail: np.ndarray | None = None, noise: np.ndarray | None = None) -> np.ndarray:
    """Apply `chain` to one float32 waveform (the reference implementation); the signals default to the seed's."""
    y = np.asarray(x, np.float64)
    n = len(y)
    if n == 0:
        return np.asarray(x, np.float32)
    if (chain.reverb and tail is None) or (chain.noise and noise is None):
        seeded_tail, seeded_noise = random_signals(chain, n)
        tail = seeded_tail if tail is None else tail
        noise = seeded_noise if noise is None else noise
    size = fast_len(n)
    f = np.fft.rfftfreq(size, 1 / SAMPLE_RATE)
    if chain.colour:
        y = np.fft.irfft(np.fft.rfft(y, size) * colour_response(chain.colour, f), size)[:n]
    if chain.reverb:
        ir = room_impulse(chain.reverb, tail)
        conv = fast_len(n + len(ir) - 1)
        wet = np.fft.irfft(np.fft.rfft(y, conv) * np.fft.rfft(ir, conv), conv)[:n]
        out = (1 - chain.reverb.wet) * y + chain.reverb.wet * wet
        y = out * (_rms(y) / (_rms(out) + 1e-12))
    if chain.band_hz:
        spec = np.fft.rfft(y, size)
        spec[int(len(spec) * chain.band_hz / SAMPLE_RATE) :] = 0
        y = np.fft.irfft(spec, size)[:n]
    if chain.noise:
        shaped = np.fft.irfft(np.fft.rfft(noise) / np.maximum(f, 20.0) ** chain.noise.exponent, size)[:n]
        level = _rms(y) * 10 ** (-chain.noise.snr_db / 20)
        y = y + shaped * (level / (_rms(shaped) + 1e-12))
    if chain.clip_drive_db is not None:  # amplify so the peak lands drive dB over full scale, hard-clip, scale back
        drive = 10 ** (chain.clip_drive_db / 20) / (np.abs(y).max() + 1e-12)
        y = np.clip(y * drive, -1, 1) / drive
    y = y * 10 ** (chain.gain_db / 20)
    return np.clip(y, -1.0, 1.0).astype(np.float32)


def augment(x: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig = AugmentConfig()) -> np.ndarray:
    """Draw a chain from `rng` and apply it; same generator state -> same output."""
    return apply(x, draw(rng, cfg))


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))
