"""The block-causal ViT audio encoder.

EAT's layout: 16x16 patches over (time, 128 mel) fbank, i.e. 8 frequency patches per 160 ms
column, flattened time-major, a Conv2d patch embedding named `patch_embed.proj`, pre-norm
transformer blocks with timm's names (`norm1, attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2`)
and a final `norm`, so EAT-base weights map onto it.

Streaming needs a bounded, causal receptive field, so attention is block-causal: columns are
grouped into blocks of `block_columns` (1.28 s), and a block attends to itself and to the
`context_blocks` blocks before it. Time position enters as rotary embeddings on the column
index *within that window*, which is the same for every block: the encoder is shift-invariant
and a stream of any length encodes exactly like a clip. Frequency position is a learned
embedding per patch row.

  forward(feats)          whole clip, every block's window at once (training, offline)
  stream(feats, cache)    block after block with a cache of the last context_blocks blocks'
                          keys and values (streaming); equal to forward (a test holds them)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .audio import FREQ_PATCHES, N_MELS, PATCH
from .config import EncoderConfig


@dataclass
class EncoderCache:
    """Un-rotated keys and values of the last `context_blocks` blocks, per layer."""

    keys: Tensor  # (depth, b, heads, n_cached_patches, head_dim)
    values: Tensor  # (depth, b, heads, n_cached_patches, head_dim)

    def fork(self) -> "EncoderCache":
        return EncoderCache(self.keys.clone(), self.values.clone())


def rotary_tables(positions: Tensor, head_dim: int, theta: float) -> tuple[Tensor, Tensor]:
    """cos and sin (n, head_dim/2) for integer positions."""
    inv_freq = theta ** (-torch.arange(0, head_dim, 2, dtype=torch.float32, device=positions.device) / head_dim)
    angles = positions.float()[:, None] * inv_freq[None]
    return angles.cos(), angles.sin()


def rotate(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotary embedding on the last dim of x (..., n, head_dim), pairs (2i, 2i+1)."""
    x1, x2 = x.float().unflatten(-1, (-1, 2)).unbind(-1)
    out = torch.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)
    return out.flatten(-2).to(x.dtype)


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def split(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(..., n, dim) -> q, k, v each (..., heads, n, head_dim)."""
        qkv = self.qkv(x).unflatten(-1, (3, self.heads, -1))  # (..., n, 3, heads, hd)
        q, k, v = qkv.movedim(-3, 0).unbind(0)
        return q.transpose(-3, -2), k.transpose(-3, -2), v.transpose(-3, -2)

    def merge(self, y: Tensor) -> Tensor:
        """(..., heads, n, head_dim) -> (..., n, dim) through the output projection."""
        return self.proj(y.transpose(-3, -2).flatten(-2))


class Mlp(nn.Module):
    """Linear -> GELU -> Linear (timm's names; the connector uses it too)."""

    def __init__(self, d_in: int, hidden: int, d_out: int | None = None):
        super().__init__()
        self.fc1 = nn.Linear(d_in, hidden)
        self.fc2 = nn.Linear(hidden, d_out or d_in)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


Attend = Callable[[Tensor, Tensor, Tensor], Tensor]  # (q, k, v) of a block's patches -> attention output


class EncoderBlock(nn.Module):
    def __init__(self, cfg: EncoderConfig):
        super().__init__()
        self.norm1 = nn.LayerNorm(cfg.dim, eps=cfg.norm_eps)
        self.attn = Attention(cfg.dim, cfg.heads)
        self.norm2 = nn.LayerNorm(cfg.dim, eps=cfg.norm_eps)
        self.mlp = Mlp(cfg.dim, int(cfg.dim * cfg.mlp_ratio))

    def forward(self, x: Tensor, attend: Attend) -> tuple[Tensor, Tensor, Tensor]:
        """Pre-norm attention (its windowing is `attend`'s) and MLP; also this block's keys and values."""
        q, k, v = self.attn.split(self.norm1(x))
        x = x + self.attn.merge(attend(q, k, v))
        return x + self.mlp(self.norm2(x)), k, v


class PatchEmbed(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.proj = nn.Conv2d(1, dim, kernel_size=PATCH, stride=PATCH)


class AudioEncoder(nn.Module):
    """fbank (b, frames, 128) -> patch features (b, columns, 8, dim), block-causal."""

    def __init__(self, cfg: EncoderConfig):
        super().__init__()
        self.cfg = cfg
        self.patch_embed = PatchEmbed(cfg.dim)
        self.freq_embed = nn.Parameter(torch.randn(FREQ_PATCHES, cfg.dim) * 0.02)
        self.blocks = nn.ModuleList(EncoderBlock(cfg) for _ in range(cfg.depth))
        self.norm = nn.LayerNorm(cfg.dim, eps=cfg.norm_eps)
        self.head_dim = cfg.dim // cfg.heads
        self.block_patches = cfg.block_columns * FREQ_PATCHES
        self.block_frames = cfg.block_columns * PATCH

    def zero_cache(self, batch_size: int, device: torch.device | str, dtype: torch.dtype) -> EncoderCache:
        empty = torch.zeros(self.cfg.depth, batch_size, self.cfg.heads, 0, self.head_dim, device=device, dtype=dtype)
        return EncoderCache(empty, empty.clone())

    def patchify(self, feats: Tensor) -> Tensor:
        """(b, frames, 128) -> (b, columns * 8, dim), time-major, with frequency embeddings."""
        b, frames, mels = feats.shape
        if mels != N_MELS or frames % PATCH:
            raise ValueError(f"encoder needs (batch, frames, {N_MELS}) with frames a multiple of {PATCH}, "
                             f"got {tuple(feats.shape)}")
        x = self.patch_embed.proj(feats.to(self.freq_embed.dtype)[:, None])  # (b, dim, columns, 8)
        x = x.permute(0, 2, 3, 1) + self.freq_embed  # (b, columns, 8, dim)
        return x.flatten(1, 2)

    def _rotary(self, n_columns: int, start: int, device: torch.device) -> tuple[Tensor, Tensor]:
        """Tables for window columns start .. start + n_columns - 1, repeated per frequency patch."""
        cols = torch.arange(start, start + n_columns, device=device).repeat_interleave(FREQ_PATCHES)
        return rotary_tables(cols, self.head_dim, self.cfg.rope_theta)

    def forward(self, feats: Tensor, return_cache: bool = False) -> Tensor | tuple[Tensor, EncoderCache]:
        """Whole clip: every block attends to its window at once. frames must fill whole blocks.

        With return_cache, also the cache stream() would hold after these blocks, so a stream
        can continue from a clip encoded offline.
        """
        b, frames, _ = feats.shape
        if frames % self.block_frames:
            raise ValueError(f"{frames} frames do not fill whole blocks of {self.block_frames}; pad the audio to "
                             f"a multiple of {self.block_frames * 10} ms")
        K, P, bc = self.cfg.context_blocks, self.block_patches, self.cfg.block_columns
        n_blocks = frames // self.block_frames
        x = self.patchify(feats).unflatten(1, (n_blocks, P))  # (b, nB, P, dim)
        q_cos, q_sin = self._rotary(bc, K * bc, x.device)
        k_cos, k_sin = self._rotary((K + 1) * bc, 0, x.device)
        # Window slot j of block i holds block i - K + j; slots before the clip start are masked.
        slot_block = torch.arange(n_blocks, device=x.device)[:, None] - K + torch.arange(K + 1, device=x.device)
        valid = (slot_block >= 0).repeat_interleave(P, dim=1)  # (nB, (K+1) P)
        mask = valid[None, :, None, None, :]  # (1, nB, 1, 1, (K+1) P)

        def attend(q: Tensor, k: Tensor, v: Tensor) -> Tensor:  # each (b, nB, H, P, hd)
            k_win, v_win = (self._windows(t, K) for t in (k, v))  # (b, nB, H, (K+1) P, hd)
            return F.scaled_dot_product_attention(rotate(q, q_cos, q_sin), rotate(k_win, k_cos, k_sin), v_win,
                                                  attn_mask=mask)

        cached_k, cached_v = [], []
        for blk in self.blocks:
            x, k, v = blk(x, attend)
            if return_cache:
                cached_k.append(self._last_blocks(k, K))
                cached_v.append(self._last_blocks(v, K))
        out = self.norm(x).flatten(1, 2).unflatten(1, (-1, FREQ_PATCHES))
        if return_cache:
            return out, EncoderCache(torch.stack(cached_k), torch.stack(cached_v))
        return out

    @staticmethod
    def _keep(t: Tensor, n: int) -> Tensor:
        """The last n patches of (..., patches, hd)."""
        return t[..., t.shape[-2] - min(n, t.shape[-2]):, :]

    @staticmethod
    def _last_blocks(t: Tensor, K: int) -> Tensor:
        """(b, nB, H, P, hd) -> (b, H, min(K, nB) P, hd): the blocks a stream would keep."""
        last = t[:, t.shape[1] - min(K, t.shape[1]):]
        return last.permute(0, 2, 1, 3, 4).flatten(2, 3)

    @staticmethod
    def _windows(t: Tensor, K: int) -> Tensor:
        """(b, nB, H, P, hd) -> (b, nB, H, (K+1) P, hd): each block with the K blocks before it."""
        padded = F.pad(t, (0, 0, 0, 0, 0, 0, K, 0))  # K zero blocks in front
        win = padded.unfold(1, K + 1, 1)  # (b, nB, H, P, hd, K+1)
        return win.permute(0, 1, 2, 5, 3, 4).flatten(3, 4)

    def stream(self, feats: Tensor, cache: EncoderCache) -> tuple[Tensor, EncoderCache]:
        """Whole blocks, one after another, continuing from `cache`; returns features and the new cache."""
        b, frames, _ = feats.shape
        if frames % self.block_frames:
            raise ValueError(f"stream() takes whole blocks of {self.block_frames} frames, got {frames}")
        outs = []
        for i in range(frames // self.block_frames):
            out, cache = self._stream_block(feats[:, i * self.block_frames:(i + 1) * self.block_frames], cache)
            outs.append(out)
        if not outs:
            return feats.new_zeros(b, 0, FREQ_PATCHES, self.cfg.dim), cache
        return torch.cat(outs, dim=1), cache

    def _stream_block(self, feats: Tensor, cache: EncoderCache) -> tuple[Tensor, EncoderCache]:
        K, P, bc = self.cfg.context_blocks, self.block_patches, self.cfg.block_columns
        x = self.patchify(feats)  # (b, P, dim)
        n_cached = cache.keys.shape[-2] // P
        q_cos, q_sin = self._rotary(bc, K * bc, x.device)
        k_cos, k_sin = self._rotary((n_cached + 1) * bc, (K - n_cached) * bc, x.device)
        new_k, new_v = [], []
        for i, blk in enumerate(self.blocks):
            window: dict[str, Tensor] = {}

            def attend(q: Tensor, k: Tensor, v: Tensor, i: int = i) -> Tensor:  # each (b, H, P, hd)
                k = window["k"] = torch.cat([cache.keys[i].to(k.dtype), k], dim=-2)  # cached blocks, then this
                v = window["v"] = torch.cat([cache.values[i].to(v.dtype), v], dim=-2)
                return F.scaled_dot_product_attention(rotate(q, q_cos, q_sin), rotate(k, k_cos, k_sin), v)

            x, _, _ = blk(x, attend)
            new_k.append(self._keep(window["k"], K * P))
            new_v.append(self._keep(window["v"], K * P))
        out = self.norm(x).unflatten(1, (bc, FREQ_PATCHES))
        return out, EncoderCache(torch.stack(new_k), torch.stack(new_v))
