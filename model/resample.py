"""Streaming band-limited resampling: blocks in at one rate, out at another, equal to the whole-clip result.

The filter is torchaudio's default (a Hann-windowed sinc, `lowpass_filter_width=6`,
`rolloff=0.99`), so pushing a signal block by block gives `model.audio.resample` over the
whole of it (tests/test_hostile_audio.py). Output sample j of phase p = j mod up sits at input
position j * down / up; its taps are the inputs within the filter's half-width of it. The table
is (up, taps), not torchaudio's (up, down + 2 width), so an odd rate (44 101 Hz: up 16 000,
down 44 101) costs megabytes, not gigabytes.
"""
from __future__ import annotations

import math

import numpy as np

LOWPASS_WIDTH = 6  # zero crossings of the sinc on each side
ROLLOFF = 0.99  # cutoff as a fraction of the lower Nyquist frequency
DENSE_LIMIT = 1 << 20  # entries: a (down + 2 K + 1, up) matrix up to this size runs as one matmul
CHUNK_ELEMENTS = 1 << 21  # input samples gathered per step, so memory stays bounded whatever the block


def phase_table(up: int, down: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Weights (up, taps), each phase's first input offset (up,) from its group start, and K.

    Phase p reads inputs group_start + first[p] + k for k < taps; K bounds how far a tap
    reaches outside its group's `down` inputs on either side.
    """
    base = min(up, down) * ROLLOFF
    half = LOWPASS_WIDTH * down / base  # input samples on each side with a non-zero weight
    K = math.ceil(half)
    phases = np.arange(up)
    first = phases * down // up - K  # floor(p down / up) - K, exact in integers
    offsets = first[:, None] + np.arange(2 * K + 2)[None]  # (up, taps) input offsets
    t = (offsets * up - phases[:, None] * down) * (base / (up * down))  # zero crossings from the output
    t = np.clip(t, -LOWPASS_WIDTH, LOWPASS_WIDTH)
    window = np.cos(t * math.pi / LOWPASS_WIDTH / 2) ** 2
    return np.sinc(t) * window * (base / down), first, K


class Resampler:
    """Push (n,) float32 blocks at `rate`; get `target` Hz samples out as soon as their inputs are in."""

    def __init__(self, rate: int, target: int, dense_limit: int = DENSE_LIMIT):
        g = math.gcd(int(rate), int(target))
        self.up, self.down = int(target) // g, int(rate) // g
        weights, first, self.K = phase_table(self.up, self.down)
        self.span = self.down + 2 * self.K + 1  # inputs one group's outputs read, from group start - K
        self.cols = first[:, None] + self.K + np.arange(weights.shape[1])[None]  # (up, taps) into a span
        self.weights = weights.astype(np.float32)
        self.dense = None
        if self.up * self.span <= dense_limit:
            self.dense = np.zeros((self.span, self.up), np.float32)  # (span, up): a span's outputs by matmul
            self.dense[self.cols, np.arange(self.up)[:, None]] = self.weights
        self._buf = np.zeros(self.K, np.float32)  # input from the next group's start - K (zeros before t = 0)
        self._seen = 0  # input samples pushed
        self._made = 0  # output samples returned

    def push(self, block: np.ndarray) -> np.ndarray:
        """Resample the next block: every output whose inputs have all arrived."""
        block = np.asarray(block, np.float32).reshape(-1)
        self._seen += block.size
        if self.up == self.down:
            self._made += block.size
            return block
        self._buf = np.concatenate([self._buf, block])
        return self._drain()

    def flush(self) -> np.ndarray:
        """The last outputs, as if silence followed; the total is ceil(n up / down), torchaudio's length."""
        if self.up == self.down:
            return np.zeros(0, np.float32)
        self._buf = np.concatenate([self._buf, np.zeros(self.span, np.float32)])
        out = self._drain()
        total = -(-self._seen * self.up // self.down)
        keep = max(0, total - (self._made - out.size))
        self._made -= out.size - min(keep, out.size)
        return out[:keep]

    def _drain(self) -> np.ndarray:
        groups = (self._buf.size - self.span) // self.down + 1 if self._buf.size >= self.span else 0
        step = max(1, CHUNK_ELEMENTS // (self.up * self.weights.shape[1] if self.dense is None else self.span))
        outs = [self._groups(g, min(step, groups - g)) for g in range(0, groups, step)]
        self._buf = self._buf[groups * self.down:]
        out = np.concatenate(outs) if outs else np.zeros(0, np.float32)
        self._made += out.size
        return out

    def _groups(self, start: int, n: int) -> np.ndarray:
        """Outputs of groups start .. start + n - 1 of the buffer: (n * up,)."""
        buf = self._buf[start * self.down:(start + n - 1) * self.down + self.span]
        if self.dense is not None:
            spans = np.lib.stride_tricks.sliding_window_view(buf, self.span)[::self.down]  # (n, span)
            return (spans @ self.dense).reshape(-1)
        index = np.arange(n)[:, None, None] * self.down + self.cols[None]  # (n, up, taps)
        return np.einsum("npk,pk->np", buf[index], self.weights).reshape(-1)
