"""Masking of the encoder's input features while training (SpecAugment, Park et al. 2019).

Each scene loses a few bands of mel bins and a few short stretches of frames, set to 0: the
features' mean after `model.audio.normalize`. A model that cannot rely on any one band or moment
of a training recording has to learn the sound rather than the recording, which is what the gap
between heard and unheard recordings asks for. Stretches are kept short by default because the
questions ask about timing and counts: a masked 160 ms may hide part of an event, not a whole one.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from model.audio import CLIP_FRAMES


@dataclass(frozen=True)
class FeatureMasks:
    freq: int = 0  # bands of mel bins masked per scene
    freq_width: int = 0  # mel bins: the widest band
    time: int = 0  # stretches of frames masked per 10.24 s of audio
    time_width: int = 0  # 10 ms frames: the longest stretch

    def __bool__(self) -> bool:
        return bool(self.freq and self.freq_width) or bool(self.time and self.time_width)


def mask_features(feats: Tensor, masks: FeatureMasks, generator: torch.Generator | None = None) -> Tensor:
    """(B, frames, mels) -> the same with each row's own drawn bands and stretches set to 0."""
    B, T, F = feats.shape
    stretches = masks.time * max(1, round(T / CLIP_FRAMES))
    hit = (_bands(B, F, masks.freq, masks.freq_width, feats.device, generator)[:, None, :]
           | _bands(B, T, stretches, masks.time_width, feats.device, generator)[:, :, None])  # (B, T, F)
    return feats.masked_fill(hit, 0.0)


def _bands(rows: int, size: int, count: int, widest: int, device: torch.device,
           generator: torch.Generator | None) -> Tensor:
    """(rows, size) bool: per row, `count` bands of widths drawn from 0..widest, placed uniformly."""
    if not (count and widest):
        return torch.zeros(rows, size, dtype=torch.bool, device=device)
    widest = min(widest, size)
    width = torch.randint(0, widest + 1, (rows, count, 1), generator=generator, device=device)
    start = (torch.rand(rows, count, 1, generator=generator, device=device) * (size - width + 1)).long()
    pos = torch.arange(size, device=device)
    return ((pos >= start) & (pos < start + width)).any(dim=1)
