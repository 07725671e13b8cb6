"""Streaming band-limited resampling from a device's rate to 16 kHz.

Resampling each captured block on its own would click at every block edge, so this keeps the
filter's left context between calls. The filter is a Hann-windowed sinc with the parameters of
torchaudio's default (`lowpass_filter_width=6`, `rolloff=0.99`); pushed block by block, the
output equals `model.audio.resample` over the whole signal (tests/test_live_capture.py).
"""
from __future__ import annotations

import math

import numpy as np

LOWPASS_WIDTH = 6  # zero crossings of the sinc on each side
ROLLOFF = 0.99  # cutoff as a fraction of the lower Nyquist frequency


def polyphase_kernel(up: int, down: int) -> tuple[np.ndarray, int]:
    """Filter taps for output phase p over input offsets [-pad, down + pad): (up, down + 2 pad), pad."""
    base = min(up, down) * ROLLOFF
    pad = math.ceil(LOWPASS_WIDTH * down / base)  # input samples of context on each side
    offsets = np.arange(-pad, down + pad, dtype=np.float64)  # input samples from the group start
    phases = np.arange(up, dtype=np.float64)[:, None] * down / up  # output positions, input units
    x = np.clip((offsets[None, :] - phases) * base / down, -LOWPASS_WIDTH, LOWPASS_WIDTH)
    window = np.cos(x * math.pi / LOWPASS_WIDTH / 2) ** 2
    return (np.sinc(x) * window * base / down), pad


class StreamingResampler:
    """Push (n,) float32 blocks at `rate`, get 16 kHz (or `target`) samples out as they are ready."""

    def __init__(self, rate: int, target: int = 16_000):
        g = math.gcd(int(rate), int(target))
        self.up, self.down = int(target) // g, int(rate) // g
        self.identity = self.up == self.down
        kernel, self.pad = polyphase_kernel(self.up, self.down)
        self.kernel_t = np.ascontiguousarray(kernel.T.astype(np.float32))  # (down + 2 pad, up)
        self._buf = np.zeros(self.pad, np.float32)  # input from the next group's start - pad
        self._seen = 0  # input samples pushed
        self._made = 0  # output samples returned

    def push(self, block: np.ndarray) -> np.ndarray:
        """Resample the next block; returns every output sample whose input context is complete."""
        block = np.asarray(block, np.float32).reshape(-1)
        self._seen += block.size
        if self.identity:
            self._made += block.size
            return block
        self._buf = np.concatenate([self._buf, block])
        return self._drain()

    def flush(self) -> np.ndarray:
        """The last samples, as if the signal ended with silence (the whole-clip result's tail)."""
        if self.identity:
            return np.zeros(0, np.float32)
        self._buf = np.concatenate([self._buf, np.zeros(self.pad + self.down, np.float32)])
        out = self._drain()
        total = math.ceil(self.up * self._seen / self.down)
        keep = max(0, total - (self._made - out.size))
        self._made -= out.size - min(keep, out.size)
        return out[:keep]

    def _drain(self) -> np.ndarray:
        width = self.down + 2 * self.pad
        groups = (self._buf.size - 2 * self.pad) // self.down
        if groups <= 0:
            return np.zeros(0, np.float32)
        frames = np.lib.stride_tricks.sliding_window_view(self._buf, width)[::self.down][:groups]
        out = (frames @ self.kernel_t).reshape(-1)  # (groups * up,)
        self._buf = self._buf[groups * self.down:]
        self._made += out.size
        return out
