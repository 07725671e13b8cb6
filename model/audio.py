"""Audio front end: constants, input checked at the door, loading to 16 kHz mono, and EAT's Kaldi fbank.

Every audio constant lives here once. Feature extraction is pure (tensor in, tensor out); the
one class that touches files is `AudioFile` (with `load_audio` over it).
"""
from __future__ import annotations

import functools
import warnings
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .resample import Resampler

SAMPLE_RATE = 16_000  # Hz, what the encoder hears
FRAME_SHIFT = 160  # samples: 10 ms between fbank frames
FRAME_LENGTH = 400  # samples: 25 ms analysis window
N_MELS = 128  # mel bins
PATCH = 16  # fbank frames (time) and mel bins (frequency) per 16x16 patch
FREQ_PATCHES = N_MELS // PATCH  # 8 patches per time column
FRAMES_PER_TOKEN = PATCH  # 10 ms frames per 160 ms LM token
SAMPLES_PER_TOKEN = FRAMES_PER_TOKEN * FRAME_SHIFT  # 2560 samples = 160 ms
TOKENS_PER_SECOND = SAMPLE_RATE / SAMPLES_PER_TOKEN  # 6.25
CLIP_FRAMES = 1024  # EAT's 10.24 s input
FBANK_MEAN, FBANK_STD = -4.268, 4.569  # EAT's AudioSet normalisation: (x - mean) / (2 * std)
# Frames end at the newest sample: frame i covers samples [160 i - 240, 160 i + 160), so N samples
# give exactly N / 160 frames and a frame never needs audio from the future (streaming-exact).
LEFT_PAD = FRAME_LENGTH - FRAME_SHIFT  # 240 samples of history before the first frame

assert N_MELS % PATCH == 0 and SAMPLES_PER_TOKEN == 2560 and TOKENS_PER_SECOND == 6.25
assert CLIP_FRAMES // FRAMES_PER_TOKEN == 64  # 64 LM tokens per 10.24 s clip

LEVEL_WINDOW = SAMPLE_RATE // 10  # samples: levels are measured over 100 ms
QUIET_DB = -50.0  # dBFS: sam-live's energy gate calls audio never louder than this (per 100 ms) quiet
FLOOR_DB = -120.0  # dBFS reported for digital silence
NOISE_FLOOR_DB = -70.0  # dBFS: the faint fixed hiss under all audio the model hears (model.audio.with_floor)


def dbfs(x: np.ndarray) -> float:
    """RMS level of `x` in dB relative to full scale."""
    if x.size == 0:
        return FLOOR_DB
    rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))
    return max(FLOOR_DB, 20.0 * np.log10(rms + 1e-12))


def loudest_dbfs(x: np.ndarray) -> float:
    """Level of the loudest whole 100 ms window of `x` (all of `x` when shorter): what the gate compares."""
    if x.size < LEVEL_WINDOW:
        return dbfs(x)
    n = x.size // LEVEL_WINDOW
    return max(dbfs(w) for w in np.split(x[: n * LEVEL_WINDOW], n))


AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aiff", ".aif")
MIN_RATE, MAX_RATE = 1_000, 384_000  # Hz: outside is a damaged header, not audio (at 1 Hz each sample
# would become 16 000 at 16 kHz: a 96 KB file asked for 24 GB)
MAX_AMPLITUDE = 1_000.0  # |sample| heard as is up to 60 dB over full scale; far beyond, squares overflow
# float32 in the fbank and poison the state, so larger samples are clipped
READ_SAMPLES = 1 << 20  # samples (frames x channels) asked of the decoder at a time: 4 MB of float32
BLOCK_SECONDS = 10  # s of 16 kHz audio per block a file is heard in
BLOCK_SAMPLES = BLOCK_SECONDS * SAMPLE_RATE
assert BLOCK_SAMPLES % LEVEL_WINDOW == 0  # blocks hold whole level windows, so levels add up across blocks


def check_rate(rate: float, source: str) -> int:
    """`rate` as an int when audio can have it; ValueError naming `source`, the rate and the fix otherwise."""
    numeric = isinstance(rate, (int, float, np.integer, np.floating)) and not isinstance(rate, bool)
    if not numeric or not np.isfinite(rate) or rate != int(rate):
        raise ValueError(f"{source}: sample rate {rate!r} is not a whole number of Hz; re-export the audio at "
                         f"16 kHz or 48 kHz")
    if not MIN_RATE <= rate <= MAX_RATE:
        raise ValueError(f"{source}: sample rate {int(rate)} Hz is outside {MIN_RATE}-{MAX_RATE} Hz, so the header "
                         f"is damaged or this is not sound; re-export it as WAV or FLAC at 16 kHz or 48 kHz")
    return int(rate)


class SampleGuard:
    """One source's audio checked at the door: its rate once, then each block made safe to hear.

    NaN and infinite samples become 0 and samples beyond +-MAX_AMPLITUDE are clipped, with one
    warning for the whole source (none with warn=False, for a second pass over the same file): one
    such sample would otherwise poison the model's state for good.
    """

    def __init__(self, rate: float, source: str, warn: bool = True):
        self.rate = check_rate(rate, source)
        self.source, self.warn = source, warn
        self.samples = 0  # samples checked so far
        self.repaired = 0  # samples replaced or clipped so far

    def __call__(self, block: np.ndarray) -> np.ndarray:
        """The block as float32 with every sample finite and within +-MAX_AMPLITUDE."""
        block = np.atleast_1d(np.asarray(block, np.float32))
        bad = ~np.isfinite(block) | (np.abs(block) > MAX_AMPLITUDE)
        if bad.any():
            if self.warn and not self.repaired:
                first = self.samples + int(np.argmax(bad.reshape(block.shape[0], -1).any(axis=1)))
                warnings.warn(f"{self.source}: damaged samples from {first / self.rate:.2f} s on (NaN, infinite or "
                              f"beyond +-{MAX_AMPLITUDE:g}) are heard as silence or clipped", stacklevel=2)
            self.repaired += int(bad.sum())
            block = np.clip(np.nan_to_num(block, nan=0.0, posinf=0.0, neginf=0.0), -MAX_AMPLITUDE, MAX_AMPLITUDE)
        self.samples += block.shape[0]
        return block


def _check_path(path: Path) -> None:
    if not path.exists():
        raise ValueError(f"{path}: no such file")
    if path.is_dir():
        raise ValueError(f"{path}: is a directory, not an audio file")
    if not path.is_file():
        raise ValueError(f"{path}: not a regular file (a FIFO, device or socket); save the audio to a file first")
    if path.stat().st_size == 0:
        raise ValueError(f"{path}: the file is empty")


class AudioFile:
    """An audio file opened to be heard at 16 kHz mono in blocks, with memory bounded whatever its length.

    ValueError naming the file and the fix when it cannot be heard (missing, not audio, a rate
    outside MIN_RATE-MAX_RATE); RuntimeError when the disk fails under it. `warn`: as SampleGuard's.
    """

    def __init__(self, path: str | Path, warn: bool = True):
        import soundfile as sf

        self.path = Path(path)
        _check_path(self.path)
        try:
            self._file = sf.SoundFile(str(self.path))
        except (sf.SoundFileError, RuntimeError, TypeError) as e:
            raise ValueError(f"{self.path}: not a readable audio file ({e}); use WAV, FLAC or OGG") from e
        except OSError as e:
            raise RuntimeError(f"{self.path}: could not be opened ({e})") from e
        try:
            self.guard = SampleGuard(self._file.samplerate, str(self.path), warn)
        except ValueError:
            self._file.close()
            raise
        self.rate, self.channels, self.frames = self.guard.rate, self._file.channels, max(self._file.frames, 0)

    @property
    def seconds(self) -> float:
        """Length in seconds as the header gives it."""
        return self.frames / self.rate

    def __enter__(self) -> "AudioFile":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._file.close()

    def blocks(self, block: int = BLOCK_SAMPLES, read: int | None = None) -> Iterator[np.ndarray]:
        """(block,) float32 pieces of 16 kHz mono audio, the last shorter, read once through the file; the
        decoder never reads more than `read` samples at a time (READ_SAMPLES by default; a live replay, which
        keeps the reader open for the whole session, asks for less), whether it lasts a minute or two hours."""
        yield from _rechunk(self._resampled(read or READ_SAMPLES), block)

    def _resampled(self, read: int) -> Iterator[np.ndarray]:
        resampler = Resampler(self.rate, SAMPLE_RATE)
        # at most `read` samples into the decoder's buffer, and at most `read` out of the resampler
        frames = max(1, min(read // self.channels, read * self.rate // SAMPLE_RATE))
        for data in self._reads(frames):
            yield resampler.push(self.guard(data.mean(axis=1)))
        yield resampler.flush()

    def _reads(self, frames: int) -> Iterator[np.ndarray]:
        import soundfile as sf

        done = 0
        while True:
            try:
                data = self._file.read(frames, dtype="float32", always_2d=True)
            except (sf.SoundFileError, RuntimeError) as e:
                raise ValueError(f"{self.path}: damaged audio after {done / self.rate:.1f} s ({e})") from e
            except OSError as e:
                raise RuntimeError(f"{self.path}: reading failed after {done / self.rate:.1f} s ({e})") from e
            if data.shape[0] == 0:
                return
            done += data.shape[0]
            yield data


def _rechunk(pieces: Iterator[np.ndarray], block: int) -> Iterator[np.ndarray]:
    """The concatenation of `pieces` cut into (block,) arrays, the last shorter (none when empty)."""
    held: list[np.ndarray] = []
    size = 0
    for piece in pieces:
        held.append(piece)
        size += piece.size
        if size >= block:
            joined = np.concatenate(held)
            cut = size // block * block
            yield from np.split(joined[:cut], cut // block)
            held, size = [joined[cut:]], size - cut
    if size:
        yield np.concatenate(held)


def load_audio(path: str | Path) -> Tensor:
    """Any WAV/FLAC/OGG file -> (n,) float32 mono at 16 kHz; ValueError naming the file otherwise."""
    with AudioFile(path) as f:
        blocks = list(f.blocks())
    if not blocks:
        raise ValueError(f"{path}: the file holds no audio samples")
    return torch.from_numpy(np.concatenate(blocks))


def resample(audio: Tensor, rate: int, target: int = SAMPLE_RATE) -> Tensor:
    """(..., n) at `rate` Hz -> (..., m) at `target` Hz (torchaudio's band-limited resampler)."""
    if rate == target:
        return audio
    import torchaudio.functional as AF

    return AF.resample(audio, rate, target)


def _kaldi_mel_banks(device: torch.device) -> Tensor:
    from torchaudio.compliance.kaldi import get_mel_banks

    banks, _ = get_mel_banks(N_MELS, _padded_window(), float(SAMPLE_RATE), 20.0, 0.0, 100.0, -500.0, 1.0)
    return F.pad(banks, (0, 1)).to(device)  # (N_MELS, n_fft / 2 + 1): Kaldi drops the Nyquist bin


def _padded_window() -> int:
    return 1 << (FRAME_LENGTH - 1).bit_length()  # 512: FFT size, next power of two


def fbank(audio: Tensor, history: Tensor | None = None) -> Tensor:
    """Kaldi log-mel fbank with EAT's settings, batched: (b, n) or (n,) samples -> (b, n // 160, 128).

    Equal to torchaudio.compliance.kaldi.fbank(htk_compat=True, window_type='hanning',
    num_mel_bins=128, dither=0) over the audio with LEFT_PAD samples of `history` (zeros when
    None) in front (a test holds them together), but batched and on any device. Streaming passes
    the previous chunk's last LEFT_PAD samples as history. Not normalised: see `normalize`.
    """
    squeeze = audio.dim() == 1
    x = audio[None] if squeeze else audio
    if history is None:
        x = F.pad(x.float(), (LEFT_PAD, 0))
    else:
        x = torch.cat([history.reshape(x.shape[0], LEFT_PAD).to(x), x], dim=-1).float()
    n_frames = (x.shape[-1] - FRAME_LENGTH) // FRAME_SHIFT + 1
    if n_frames <= 0:
        out = x.new_zeros(x.shape[0], 0, N_MELS)
        return out[0] if squeeze else out
    frames = x.unfold(-1, FRAME_LENGTH, FRAME_SHIFT)  # (b, T, 400)
    frames = frames - frames.mean(-1, keepdim=True)  # remove DC offset
    prev = torch.cat([frames[..., :1], frames[..., :-1]], dim=-1)
    frames = frames - 0.97 * prev  # pre-emphasis, first sample against itself as Kaldi does
    window = torch.hann_window(FRAME_LENGTH, periodic=False, device=x.device, dtype=x.dtype)
    spec = torch.fft.rfft(frames * window, n=_padded_window()).abs().pow(2)  # (b, T, 257)
    mel = spec @ _kaldi_mel_banks(x.device).T
    out = torch.log(mel.clamp_min(torch.finfo(torch.float32).eps))
    return out[0] if squeeze else out


def pad_tail(audio: Tensor, block: int, history: Tensor | None = None) -> Tensor:
    """(b, n) audio padded at the end to whole `block`s with its own last moments, mirrored.

    A model is trained on scenes of whole blocks over a noise floor and never hears digital
    silence, so a step from the room to exact zeros reads as a sharp sound: padded with zeros,
    sam-small described 0.71 of quiet validation scenes with a sound that was not there (most of
    them "wood block" at the very end), mirrored 0.12. The mirror's source is the final partial
    block and up to LEFT_PAD samples before it, `history` being the audio that preceded `audio`
    (none at the start of a stream), so a whole recording and a stream flushed at its end are
    padded alike. A source shorter than the gap is mirrored back and forth.
    """
    n = audio.shape[-1]
    gap, part = (-n) % block, n % block
    if gap == 0:
        return audio
    before = audio[:, :0] if history is None else history.to(audio)
    source = torch.cat([before, audio[:, : n - part]], -1)[:, -LEFT_PAD:]
    source = torch.cat([source, audio[:, n - part:]], -1)
    mirrored = torch.cat([source.flip(-1), source], -1)  # one period of the back-and-forth mirror
    reps = -(-gap // mirrored.shape[-1])
    return torch.cat([audio, mirrored.repeat(1, reps)[:, :gap]], -1)


@functools.lru_cache(maxsize=8)
def _floor_table(period: int, device: str) -> Tensor:
    g = torch.Generator().manual_seed(0)
    return (torch.randn(period, generator=g) * 10 ** (NOISE_FLOOR_DB / 20)).to(device)


def with_floor(audio: Tensor, period: int, history: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """(b, n) audio with a faint fixed hiss added, and its LEFT_PAD samples of history (zeros when None) with the same.

    Training scenes always lie over a noise floor (-75 to -62 dBFS), so the model has never heard
    digital silence, and exact zeros around a sound mislead it: two seconds of zeros before and
    after a validation scene raised the share of descriptions naming a sound that is not there
    from 0.63 to 0.87, where a -70 dBFS hiss raised it to 0.68. So everything the model hears lies
    over a -70 dBFS floor, which real microphones and recordings are mostly above anyway.

    The hiss repeats every `period` samples and `audio` must start on a multiple of it (a stream's
    blocks do), so a stream heard in pieces gets the same samples as the whole recording.
    """
    table = _floor_table(period, str(audio.device)).to(audio.dtype)
    n = audio.shape[-1]
    floored = audio + table.repeat(-(-n // period))[:n]
    before = audio.new_zeros(audio.shape[0], LEFT_PAD) if history is None else history.reshape(-1, LEFT_PAD).to(audio)
    return floored, before + table[-LEFT_PAD:]


def normalize(feats: Tensor) -> Tensor:
    """EAT's normalisation of log-mel features."""
    return (feats - FBANK_MEAN) / (2 * FBANK_STD)


def features(audio: Tensor, history: Tensor | None = None) -> Tensor:
    """Normalised fbank: (b, n) or (n,) samples at 16 kHz -> (b, n // 160, 128)."""
    return normalize(fbank(audio, history))
