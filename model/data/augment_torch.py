"""The augmentation chains of `model.data.augment`, applied to a whole batch on the training device.

Scene mixing stays on the CPU; the FFT-heavy augmentations (more than half of the CPU's work
per scene) run here on the (batch, samples) tensor, each row with its own drawn chain. Rows
skip the transforms their chain does not have. `augment.apply` is the reference: given the
same random signals, the two agree to float32 precision.
"""
from __future__ import annotations

import dataclasses

import torch
from torch import Tensor

from model.audio import SAMPLE_RATE
from model.data.augment import EARLY_S, Chain, Colour, fast_len


def signals(chains: list[Chain], n: int, device: torch.device) -> tuple[Tensor, Tensor]:
    """Per row: reverberation-tail noise (B, longest tail) and additive noise (B, fast_len(n)), from the seeds."""
    longest = max((c.ir_length() for c in chains), default=0)
    tails = torch.zeros(len(chains), longest, device=device)
    noises = torch.zeros(len(chains), fast_len(n), device=device)
    for i, c in enumerate(chains):
        if not (c.reverb or c.noise):
            continue
        gen = torch.Generator(device=device).manual_seed(c.seed)
        if c.reverb:
            tails[i, : c.ir_length()] = torch.randn(c.ir_length(), generator=gen, device=device)
        if c.noise:
            noises[i] = torch.randn(noises.shape[1], generator=gen, device=device)
    return tails, noises


def augment_batch(x: Tensor, chains: list[Chain], tails: Tensor | None = None, noises: Tensor | None = None) -> Tensor:
    """x (B, n) float32 -> the augmented batch; `tails`/`noises` as `signals` returns (default: from the seeds)."""
    B, n = x.shape
    if B != len(chains):
        raise ValueError(f"{B} rows but {len(chains)} augmentation chains")
    if n == 0:
        return x
    if tails is None or noises is None:
        tails, noises = signals(chains, n, x.device)
    y = x.float()
    f = torch.fft.rfftfreq(fast_len(n), 1 / SAMPLE_RATE, device=x.device)[None]  # (1, F) Hz
    steps = (("colour", lambda y: _colour(y, chains, f)), ("reverb", lambda y: _reverb(y, chains, tails)),
             ("band_hz", lambda y: _band_limit(y, chains)), ("noise", lambda y: _noise(y, chains, noises, f)),
             ("clip_drive_db", lambda y: _clip(y, chains)))  # the order of augment.apply
    for field, transform in steps:
        has = [getattr(c, field) is not None for c in chains]
        if any(has):  # decided on the host: no device sync
            y = torch.where(_column(has, x.device) > 0, transform(y), y)  # rows without it keep their audio
    return (y * 10 ** (_column([c.gain_db for c in chains], x.device) / 20)).clamp(-1.0, 1.0)


def _column(values: list, device: torch.device) -> Tensor:
    """One number per row as a (B, 1) float32 column."""
    return torch.tensor(values, dtype=torch.float32, device=device)[:, None]


def _colour(y: Tensor, chains: list[Chain], f: Tensor) -> Tensor:
    p = [c.colour or _NO_COLOUR for c in chains]
    hp, lp, tilt, peak_f, peak_db, q = (_column([getattr(c, k) for c in p], y.device) for k in _COLOUR_FIELDS)
    resp = 1 / torch.sqrt(1 + (hp / f.clamp_min(1.0)) ** 4) / torch.sqrt(1 + (f / lp) ** 8)  # (B, F)
    gain_db = tilt * torch.log2(f.clamp_min(100.0) / 1000)
    gain_db = gain_db + peak_db * torch.exp(-0.5 * (torch.log2(f.clamp_min(1.0) / peak_f) * q * 2) ** 2)
    size = 2 * (f.shape[1] - 1)
    return torch.fft.irfft(torch.fft.rfft(y, size) * (resp * 10 ** (gain_db / 20)), size)[:, : y.shape[1]]


def _reverb(y: Tensor, chains: list[Chain], tails: Tensor) -> Tensor:
    n = y.shape[1]
    ir = _room_impulses(chains, tails)  # (B, longest tail)
    conv = fast_len(n + ir.shape[1] - 1)  # linear, not circular, convolution for every row
    wet_signal = torch.fft.irfft(torch.fft.rfft(y, conv) * torch.fft.rfft(ir, conv), conv)[:, :n]
    wet = _column([c.reverb.wet if c.reverb else 0.0 for c in chains], y.device)
    out = (1 - wet) * y + wet * wet_signal
    return out * (_rms(y) / (_rms(out) + 1e-12))


def _band_limit(y: Tensor, chains: list[Chain]) -> Tensor:
    size = fast_len(y.shape[1])
    bins = size // 2 + 1
    cut = _column([int(bins * c.band_hz / SAMPLE_RATE) if c.band_hz else bins for c in chains], y.device)
    keep = torch.arange(bins, device=y.device)[None] < cut  # (B, F)
    return torch.fft.irfft(torch.fft.rfft(y, size) * keep, size)[:, : y.shape[1]]


def _noise(y: Tensor, chains: list[Chain], noises: Tensor, f: Tensor) -> Tensor:
    size = 2 * (f.shape[1] - 1)
    exponent = _column([c.noise.exponent if c.noise else 0.0 for c in chains], y.device)
    snr = _column([c.noise.snr_db if c.noise else 0.0 for c in chains], y.device)
    shaped = torch.fft.irfft(torch.fft.rfft(noises[:, :size]) / f.clamp_min(20.0) ** exponent, size)[:, : y.shape[1]]
    level = _rms(y) * 10 ** (-snr / 20)
    return y + shaped * (level / (_rms(shaped) + 1e-12))


def _clip(y: Tensor, chains: list[Chain]) -> Tensor:
    drive = 10 ** (_column([c.clip_drive_db or 0.0 for c in chains], y.device) / 20)
    drive = drive / (y.abs().amax(1, keepdim=True) + 1e-12)
    return torch.clamp(y * drive, -1, 1) / drive


_COLOUR_FIELDS = tuple(f.name for f in dataclasses.fields(Colour))  # highpass_hz, lowpass_hz, ..., q


_NO_COLOUR = Colour(50.0, 8000.0, 0.0, 1000.0, 0.0, 1.0)  # for rows without colouring (their result is discarded)


def _room_impulses(chains: list[Chain], tails: Tensor) -> Tensor:
    """(B, longest tail) impulse responses as `augment.room_impulse` makes them; zero past each row's own length."""
    B, m = tails.shape
    dev = tails.device
    lengths = torch.tensor([c.ir_length() for c in chains], device=dev)[:, None]
    rt60 = torch.tensor([c.reverb.rt60_s if c.reverb else 1.0 for c in chains], device=dev)[:, None]
    t = torch.arange(m, device=dev)[None] / SAMPLE_RATE
    inside = torch.arange(m, device=dev)[None] < lengths
    decayed = torch.where(inside, tails * 10 ** (-3 * t / rt60), 0.0)
    # numpy's convolve(..., ones(4) / 4, mode="same"): out[i] = mean(d[i-2 .. i+1]), zeros outside the tail
    padded = torch.nn.functional.pad(decayed, (2, 1))
    smooth = padded.unfold(1, 4, 1).mean(-1)
    smooth = torch.where(inside, smooth, 0.0)
    smooth[:, : int(EARLY_S * SAMPLE_RATE)] = 0
    ir = smooth / (smooth.square().sum(1, keepdim=True).sqrt() + 1e-12)
    ir[:, 0] = 1.0
    return ir


def _rms(y: Tensor) -> Tensor:
    return y.square().mean(1, keepdim=True).sqrt()

