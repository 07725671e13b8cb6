"""Audio front end: loading, the batched fbank against torchaudio's Kaldi fbank, streaming."""
import numpy as np
import pytest
import soundfile as sf
import torch
import torch.nn.functional as F
from torchaudio.compliance import kaldi

from model import audio as A


def test_fbank_equals_torchaudio_kaldi():
    x = torch.randn(2, 16000 + 333) * 0.1
    ours = A.fbank(x)
    for b in range(2):
        ref = kaldi.fbank(F.pad(x[b], (A.LEFT_PAD, 0))[None], htk_compat=True, window_type="hanning",
                          num_mel_bins=A.N_MELS, dither=0.0, sample_frequency=A.SAMPLE_RATE)
        assert ours[b].shape == ref.shape
        assert torch.allclose(ours[b], ref, atol=1e-3)


def test_frames_and_tokens_per_clip():
    x = torch.zeros(int(10.24 * A.SAMPLE_RATE))
    assert A.fbank(x).shape == (A.CLIP_FRAMES, A.N_MELS)
    assert A.CLIP_FRAMES // A.FRAMES_PER_TOKEN == 64


def test_streaming_fbank_with_history_equals_whole():
    x = torch.randn(16000 * 3) * 0.2
    whole = A.fbank(x)
    parts, start = [], 0
    for end in (4000, 16000, 16000 + 4800, 48000):  # multiples of FRAME_SHIFT
        hist = x[start - A.LEFT_PAD:start] if start else None
        parts.append(A.fbank(x[start:end], history=hist))
        start = end
    assert torch.allclose(torch.cat(parts), whole, atol=1e-5)


@pytest.mark.parametrize("rate,channels,fmt", [(44100, 2, "WAV"), (8000, 1, "FLAC"), (22050, 1, "OGG")])
def test_load_audio_any_rate_and_channels(tmp_path, rate, channels, fmt):
    t = np.arange(rate) / rate
    tone = 0.5 * np.sin(2 * np.pi * 440 * t)
    data = np.stack([tone] * channels, axis=1) if channels > 1 else tone
    path = tmp_path / f"a.{fmt.lower()}"
    sf.write(path, data, rate, format=fmt)
    x = A.load_audio(path)
    assert x.dtype == torch.float32 and x.dim() == 1
    assert abs(x.numel() - A.SAMPLE_RATE) <= 2
    spectrum = torch.fft.rfft(x).abs()
    assert abs(spectrum.argmax().item() - 440) <= 2  # 1 s of audio: bin k is k Hz


def test_load_audio_errors_name_the_file(tmp_path):
    with pytest.raises(ValueError, match="missing.wav: no such file"):
        A.load_audio(tmp_path / "missing.wav")
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(ValueError, match="empty.wav: the file is empty"):
        A.load_audio(tmp_path / "empty.wav")
    (tmp_path / "text.wav").write_text("hello, not audio")
    with pytest.raises(ValueError, match="text.wav: not a readable audio file"):
        A.load_audio(tmp_path / "text.wav")
    sf.write(tmp_path / "zero.wav", np.zeros(0), 16000)
    with pytest.raises(ValueError, match="zero.wav"):
        A.load_audio(tmp_path / "zero.wav")


def test_loudest_level_is_the_gates_loudest_window():
    from live.levels import LevelTracker

    rng = np.random.default_rng(0)
    x = (0.001 * rng.standard_normal(16000 * 3)).astype(np.float32)  # a -60 dBFS floor
    x[20000:20800] += 0.2  # a 50 ms click inside one 100 ms window
    windows = LevelTracker().push(x)
    assert A.loudest_dbfs(x) == pytest.approx(max(w.rms_db for w in windows), abs=1e-9)
    assert A.loudest_dbfs(x) > A.QUIET_DB > A.loudest_dbfs(x[:20000])  # the click opens the gate; the floor does not
    assert A.loudest_dbfs(x[:16000]) == pytest.approx(-60, abs=0.5)  # the loudest of ten noisy windows
    assert A.loudest_dbfs(np.zeros(100, np.float32)) == A.FLOOR_DB


@pytest.mark.parametrize("n", [3000, 1500, 200])  # the last part longer than the pad, shorter, shorter than history
def test_pad_tail_continues_the_sound_instead_of_dropping_to_silence(n):
    block = 2048
    rng = np.random.default_rng(0)
    audio = torch.from_numpy(rng.standard_normal((2, n)).astype(np.float32)) * 0.01  # a steady -40 dBFS hiss
    padded = A.pad_tail(audio, block)
    assert padded.shape == (2, 2 * block if n > block else block)
    assert torch.equal(padded[:, :n], audio)  # the recording itself is untouched
    assert torch.equal(padded[:, n], audio[:, -1])  # a mirror: the pad starts where the recording ends
    tail = padded[:, n:]
    assert (tail.pow(2).mean().sqrt() / audio.pow(2).mean().sqrt()).item() == pytest.approx(1.0, abs=0.25)
    assert torch.equal(A.pad_tail(padded, block), padded)  # whole blocks: nothing to add
    # a stream flushed at its end pads alike when it passes what it heard before its last part
    cut = n // block * block
    before = audio[:, :cut][:, -A.LEFT_PAD:]
    assert torch.equal(A.pad_tail(audio[:, cut:], block, before)[:, -(padded.shape[1] - n):], tail)


def test_with_floor_adds_the_same_faint_hiss_to_a_stream_and_to_the_whole_recording():
    period = 2048
    audio = torch.zeros(1, 3 * period)
    whole, before = A.with_floor(audio, period)
    assert A.dbfs(whole.numpy()) == pytest.approx(A.NOISE_FLOOR_DB, abs=0.5)  # digital silence becomes the floor
    assert torch.equal(before, whole[:, -A.LEFT_PAD:])  # the history before the start is the floor's too
    sound = torch.randn(1, 3 * period) * 0.1
    floored, _ = A.with_floor(sound, period)
    assert torch.allclose(floored - sound, whole, atol=1e-7)  # a fixed hiss, not drawn afresh
    first, _ = A.with_floor(sound[:, :period], period)
    second, before2 = A.with_floor(sound[:, period:], period, history=sound[:, period - A.LEFT_PAD:period])
    assert torch.equal(torch.cat([first, second], 1), floored)  # pieces on block boundaries: the same samples
    assert torch.equal(before2, floored[:, period - A.LEFT_PAD:period])
