"""A small MDCT transform codec in numpy: decodes with numpy and the standard library alone.

The training machine has numpy and torch but no libsndfile, so FLAC and OGG cannot be read there.
Raw 16-bit PCM of the corpus would not fit the 45 MB archive (about 4 hours need ~460 MB), so the
pack step stores every clip with this codec at about 20-30 kbit/s:

- MDCT with a 512-sample sine window and a 256-sample hop (16 ms), 256 coefficients per frame;
- per frame and band (BAND_EDGES, wider towards high frequencies) an RMS scale, stored as a
  3 dB-step integer and delta-coded along time;
- coefficients quantised with a step of `STEP_REL[band] * scale / quality`, as int8;
- bands where nothing survived quantisation are refilled on decoding with seeded noise at the
  band's RMS (noise filling), so the spectral envelope the log-mel encoder sees is kept;
- both integer planes, band-major, compressed with LZMA.

Lossy: the waveform differs but the log-mel spectrum stays close (the pack report gives the
log-mel error); transient smearing within 16 ms and noise-filled high bands are the trade-off.

Opus in OGG (libsndfile, through the soundfile package) holds both front ends closer at equal size
(`python -m model.bench.codec`): `encode_opus` writes it and `decode` reads either kind of stream.
"""
from __future__ import annotations

import io
import lzma
import struct
import zlib
from functools import lru_cache

import numpy as np

from model.audio import SAMPLE_RATE

HOP = 256  # samples per MDCT frame (16 ms at 16 kHz)
WINDOW = 2 * HOP  # sine window length
BAND_EDGES = np.array([0, 4, 8, 12, 16, 20, 24, 28, 32, 40, 48, 56, 64, 72, 80, 88, 96, 112, 128, 144, 160,
                       176, 216, 256])  # MDCT bins: 31.25 Hz each
N_BANDS = len(BAND_EDGES) - 1
# Quantiser step relative to the band RMS: fine at low frequencies, coarse above ~3 kHz.
STEP_REL = np.concatenate([np.full(16, 0.6), np.full(4, 1.0), np.full(3, 1.6)])
SCALE_DB = 3.0  # dB per scale step
MAGIC = b"SMC1"
OGG_MAGIC = b"OggS"  # the first bytes of every OGG stream
OPUS = "OGG-OPUS"  # the archive index's name for Opus clips
assert len(STEP_REL) == N_BANDS and BAND_EDGES[-1] == HOP


@lru_cache(maxsize=1)
def _basis() -> np.ndarray:
    """(WINDOW, HOP) windowed MDCT basis; its transpose (times 2/HOP) inverts it with overlap-add."""
    n = np.arange(WINDOW)[:, None] + 0.5 + HOP / 2
    k = np.arange(HOP)[None, :] + 0.5
    window = np.sin(np.pi * (np.arange(WINDOW) + 0.5) / WINDOW)[:, None]
    return (window * np.cos(np.pi / HOP * n * k)).astype(np.float32)


def mdct(x: np.ndarray) -> np.ndarray:
    """(n,) samples -> (frames, HOP) coefficients; frames = ceil(n / HOP) + 1."""
    frames = -(-len(x) // HOP) + 1
    padded = np.zeros((frames + 1) * HOP, np.float32)
    padded[HOP : HOP + len(x)] = x
    blocks = np.lib.stride_tricks.sliding_window_view(padded, WINDOW)[::HOP][:frames]
    return blocks @ _basis()


def imdct(coefs: np.ndarray, n: int) -> np.ndarray:
    """(frames, HOP) coefficients -> (n,) samples (time-domain aliasing cancels by overlap-add)."""
    blocks = (coefs @ _basis().T) * (2.0 / HOP)  # (frames, WINDOW)
    out = np.zeros((len(coefs) + 1) * HOP, np.float32)
    out[: len(coefs) * HOP] += blocks[:, :HOP].reshape(-1)
    out[HOP : (len(coefs) + 1) * HOP] += blocks[:, HOP:].reshape(-1)
    return out[HOP : HOP + n]


def _band_rms(coefs: np.ndarray) -> np.ndarray:
    """(frames, HOP) -> (frames, N_BANDS) RMS per band."""
    sq = np.add.reduceat(coefs.astype(np.float64) ** 2, BAND_EDGES[:-1], axis=1)
    return np.sqrt(sq / np.diff(BAND_EDGES))


def encode(x: np.ndarray, quality: float = 1.0) -> bytes:
    """(n,) float32 samples in [-1, 1] -> compressed bytes; higher `quality` = finer quantiser."""
    coefs = mdct(np.asarray(x, np.float32))
    idx = np.clip(np.round(20 * np.log10(_band_rms(coefs) + 1e-9) / SCALE_DB), -127, 127).astype(np.int16)
    idx = np.maximum(idx, -127)
    scale = _scale(idx)
    step = np.repeat(scale * STEP_REL / quality, np.diff(BAND_EDGES), axis=1)
    q = np.clip(np.round(coefs / step), -127, 127).astype(np.int8)
    delta = np.diff(idx, axis=0, prepend=np.zeros((1, N_BANDS), np.int16)).astype(np.int8)
    payload = delta.T.tobytes() + q.T.tobytes()  # band-major: zero runs of quiet high bins stay together
    header = MAGIC + struct.pack("<IIf", len(x), len(coefs), quality)
    return header + lzma.compress(payload, preset=6)


def _scale(idx: np.ndarray) -> np.ndarray:
    return (10 ** (idx.astype(np.float32) * SCALE_DB / 20)).astype(np.float32)


def encode_opus(x: np.ndarray, level: float) -> bytes:
    """(n,) float32 samples at 16 kHz -> Opus in OGG; `level` is libsndfile's compression level in [0, 1]
    (higher: fewer bits; 0.97 is about 15 kbit/s)."""
    sf = _soundfile()
    buf = io.BytesIO()
    sf.write(buf, np.asarray(x, np.float32), SAMPLE_RATE, format="OGG", subtype="OPUS", compression_level=level)
    return buf.getvalue()


def _soundfile():
    try:
        import soundfile
    except ImportError as e:
        raise ValueError("these clips are Opus in OGG, which needs the soundfile package: pip install soundfile") from e
    return soundfile


def decode(blob: bytes) -> np.ndarray:
    """Bytes from `encode` or `encode_opus` -> (n,) float32 samples; noise filling is seeded by the bytes
    (deterministic)."""
    if blob[:4] == OGG_MAGIC:
        x, rate = _soundfile().read(io.BytesIO(blob), dtype="float32")
        if rate != SAMPLE_RATE or x.ndim != 1:
            raise ValueError(f"an OGG clip of {rate} Hz and shape {x.shape}, not 16 kHz mono; re-pack the corpus")
        return x
    if blob[:4] != MAGIC:
        raise ValueError("not a SAM clip codec stream (bad magic); re-pack the corpus with sam-data pack")
    n, frames, quality = struct.unpack("<IIf", blob[4:16])
    payload = lzma.decompress(blob[16:])
    delta = np.frombuffer(payload, np.int8, N_BANDS * frames).reshape(N_BANDS, frames).T
    q = np.frombuffer(payload, np.int8, HOP * frames, offset=N_BANDS * frames).reshape(HOP, frames).T
    scale = _scale(np.cumsum(delta.astype(np.int16), axis=0))
    widths = np.diff(BAND_EDGES)
    step = np.repeat(scale * STEP_REL / quality, widths, axis=1)
    coefs = q.astype(np.float32) * step
    coefs += _noise_fill(coefs, q == 0, scale, zlib.crc32(blob))
    return imdct(coefs, n)


def _noise_fill(coefs: np.ndarray, zero: np.ndarray, scale: np.ndarray, seed: int) -> np.ndarray:
    """Noise for zero-quantised bins, at the energy the band lost to quantisation."""
    widths = np.diff(BAND_EDGES)
    kept = np.add.reduceat(coefs.astype(np.float64) ** 2, BAND_EDGES[:-1], axis=1)
    n_zero = np.add.reduceat(zero.astype(np.float64), BAND_EDGES[:-1], axis=1)
    missing = np.maximum(scale.astype(np.float64) ** 2 * widths - kept, 0.0)
    level = np.sqrt(missing / np.maximum(n_zero, 1.0)).astype(np.float32)
    noise = np.random.default_rng(seed).standard_normal(coefs.shape).astype(np.float32)
    return noise * np.repeat(level, widths, axis=1) * zero
