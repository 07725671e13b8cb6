"""Hostile and broken audio at the door: damaged rates and samples, long files in bounded memory, a fuzz run."""
import json
import os
import resource
import struct
import subprocess
import sys
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import torchaudio.functional as AF

from model import audio as A
from model import cli
from model.checkpoint import save_sam
from model.config import SAMConfig
from model.resample import Resampler
from model.sam import SAM
from model.tokenizer import Tokenizer


def wav_bytes(rate: int, channels: int, bits: int, body: bytes, fmt_tag: int = 1,
              data_claim: int | None = None) -> bytes:
    """A RIFF/WAVE file as its header says, whatever the header says (rates, channels and sizes unchecked)."""
    align = max(1, channels * bits // 8)
    fmt = struct.pack("<HHIIHH", fmt_tag, channels % 2**16, rate % 2**32, rate * align % 2**32, align % 2**16, bits)
    claim = len(body) if data_claim is None else data_claim
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", claim % 2**32) + body
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks


def tone(seconds: float, rate: int, hz: float = 440.0, channels: int = 1) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    x = 0.5 * np.sin(2 * np.pi * hz * t)
    return np.stack([x] * channels, axis=1) if channels > 1 else x


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    tok = Tokenizer.train(["a dog barks", "quiet", "what do you hear?"] * 30, vocab_size=290)
    save_sam(SAM(SAMConfig.from_name("sam-tiny"), tok), root / "ck")
    return root / "ck"


@pytest.fixture(scope="module")
def tiny():
    tok = Tokenizer.train(["a dog barks", "quiet", "what do you hear?"] * 30, vocab_size=290)
    return SAM(SAMConfig.from_name("sam-tiny"), tok).eval()


@pytest.mark.parametrize("rate", [1, 999, 384_001, 10**9])
def test_a_rate_outside_1k_to_384k_is_refused_naming_the_file_the_rate_and_the_fix(tmp_path, rate):
    path = tmp_path / "odd.wav"
    path.write_bytes(wav_bytes(rate, 1, 16, np.zeros(200, np.int16).tobytes()))  # small: old code resampled it
    with pytest.raises(ValueError, match=rf"odd\.wav: sample rate {rate} Hz is outside 1000-384000 Hz.*re-export"):
        A.load_audio(path)


def test_rates_are_checked_for_the_live_side_too():
    assert A.check_rate(48_000.0, "mic") == 48_000
    for bad in (0, 44_100.5, "44100", True, float("nan")):
        with pytest.raises(ValueError, match="mic: sample rate"):
            A.check_rate(bad, "mic")


def test_nan_inf_and_absurd_samples_are_repaired_with_one_warning(tmp_path, monkeypatch):
    monkeypatch.setattr(A, "READ_SAMPLES", 4000)  # many reads, so the damage spans several blocks
    x = tone(2.0, 16_000).astype(np.float32)
    damaged = x.copy()
    damaged[[100, 9000, 20000]] = [np.nan, np.inf, -np.inf]
    damaged[30000] = 1e30  # finite, but its square overflows float32 in the fbank
    sf.write(tmp_path / "bad.wav", damaged, 16_000, subtype="FLOAT")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        heard = A.load_audio(tmp_path / "bad.wav")
    assert [str(w.message) for w in caught] == [
        f"{tmp_path / 'bad.wav'}: damaged samples from 0.01 s on (NaN, infinite or beyond +-1000) are heard as "
        "silence or clipped"]
    assert torch.isfinite(heard).all()
    expected = x.copy()
    expected[[100, 9000, 20000]] = 0.0
    expected[30000] = A.MAX_AMPLITUDE
    assert torch.equal(heard, torch.from_numpy(expected))


def test_a_loud_tone_with_nan_samples_leaves_a_finite_state(tiny, tmp_path):
    x = tone(3.0, 16_000).astype(np.float32)
    x[::997] = np.nan
    sf.write(tmp_path / "nan.wav", x, 16_000, subtype="FLOAT")
    with pytest.warns(UserWarning, match="damaged samples"):
        state = cli.hear_file(tiny, tmp_path / "nan.wav")
        level, _ = cli.file_level(tmp_path / "nan.wav")
    assert torch.isfinite(state.lm.ssm).all() and torch.isfinite(state.lm.conv).all()
    assert torch.isfinite(state.encoder.keys).all() and torch.isfinite(state.history).all()
    assert level == pytest.approx(A.dbfs(tone(0.1, 16_000)), abs=0.5)  # the tone, not NaN and not "quiet"


def test_sam_caption_warns_once_in_one_line_and_hears_the_tone_under_the_damage(model_dir, tmp_path, capsys):
    x = tone(3.0, 16_000).astype(np.float32)
    x[::997] = np.nan
    sf.write(tmp_path / "nan.wav", x, 16_000, subtype="FLOAT")
    assert cli.caption_main([str(tmp_path / "nan.wav"), "--checkpoint", str(model_dir), "--json",
                             "--max-new-tokens", "2"]) == 0
    out = capsys.readouterr()
    assert out.err.splitlines() == [f"sam-caption: warning: {tmp_path / 'nan.wav'}: damaged samples from 0.00 s on "
                                    "(NaN, infinite or beyond +-1000) are heard as silence or clipped"]
    row = json.loads(out.out)
    assert row["gated"] is False and row["seconds"] == 3.0  # loud, so the model was asked


@pytest.mark.parametrize("rate", [1000, 8000, 11025, 22050, 37800, 44100, 48000, 96000, 384000])
@pytest.mark.parametrize("dense_limit", [1 << 20, 0])  # a one-matmul table and the gathered taps
def test_resampling_in_blocks_equals_torchaudio_over_the_whole_signal(rate, dense_limit):
    rng = np.random.default_rng(rate)
    x = rng.standard_normal(int(rate * 1.37))
    # float64, as torchaudio builds its kernel in the input's dtype and float32 rounds off at 1e-4 for odd rates
    ref = AF.resample(torch.from_numpy(x), rate, A.SAMPLE_RATE).numpy()
    r = Resampler(rate, A.SAMPLE_RATE, dense_limit=dense_limit)
    outs, i = [], 0
    while i < x.size:
        n = int(rng.integers(1, rate // 3 + 2))
        outs.append(r.push(x[i:i + n]))
        i += n
    out = np.concatenate([*outs, r.flush()])
    assert out.shape == ref.shape
    assert np.abs(out - ref).max() < 1e-5


def test_an_odd_rate_resamples_in_megabytes_not_gigabytes(tmp_path):
    rate = 44_101  # gcd with 16 kHz is 1: torchaudio's kernel would be 16 000 x 44 135 taps (2.8 GB)
    sf.write(tmp_path / "odd.wav", tone(1.5, rate, hz=1000), rate)
    assert Resampler(rate, A.SAMPLE_RATE).weights.nbytes < 4 * 1024**2
    x = A.load_audio(tmp_path / "odd.wav")
    assert x.numel() == -(-int(1.5 * rate) * A.SAMPLE_RATE // rate)
    peak = torch.fft.rfft(x[:16_000]).abs().argmax().item()  # 1 s: bin k is k Hz
    assert abs(peak - 1000) <= 1


@pytest.mark.parametrize("rate,channels", [(44_100, 2), (8_000, 1), (16_000, 1)])
def test_hearing_a_file_in_blocks_equals_hearing_it_whole(tiny, tmp_path, rate, channels):
    rng = np.random.default_rng(rate)
    data = (0.3 * rng.standard_normal((int(23.3 * rate), channels))).astype(np.float32)
    sf.write(tmp_path / "long.wav", data, rate, subtype="FLOAT")  # 23.3 s: two whole blocks and a part
    whole = AF.resample(torch.from_numpy(data.astype(np.float64).mean(axis=1)), rate, A.SAMPLE_RATE).float()
    slow = tiny.hear(whole)  # the reference: the whole recording, one pass of the whole-clip encoder
    fast = cli.hear_file(tiny, tmp_path / "long.wav")
    assert fast.samples_seen == slow.samples_seen == whole.numel()
    for a, b in ((fast.lm.ssm, slow.lm.ssm), (fast.lm.conv, slow.lm.conv), (fast.encoder.keys, slow.encoder.keys),
                 (fast.history, slow.history)):
        assert torch.allclose(a, b, atol=1e-4, rtol=1e-4)
    assert fast.pending.numel() == slow.pending.numel() == 0
    said = [tiny.describe(s, max_new_tokens=6).text for s in (fast, slow)]
    assert said[0] == said[1]


def test_the_reader_never_asks_the_decoder_for_more_than_a_bounded_read(tmp_path, monkeypatch):
    asked = []
    read = sf.SoundFile.read

    def spy(self, frames=-1, *args, **kwargs):
        asked.append((frames, self.channels))
        return read(self, frames, *args, **kwargs)

    monkeypatch.setattr(sf.SoundFile, "read", spy)
    monkeypatch.setattr(A, "READ_SAMPLES", 1 << 16)
    sf.write(tmp_path / "six.wav", np.zeros((44_100 * 12, 6), np.int16), 44_100)
    with A.AudioFile(tmp_path / "six.wav") as f:
        sizes = [b.size for b in f.blocks()]
    assert len(asked) > 10 and all(0 < frames and frames * ch <= 1 << 16 for frames, ch in asked)
    assert sizes[:-1] == [A.BLOCK_SAMPLES] * (len(sizes) - 1) and sum(sizes) == 12 * A.SAMPLE_RATE


def _peak_reading(path: Path) -> int:
    tracemalloc.start()
    try:
        with A.AudioFile(path) as f:
            total = sum(b.size for b in f.blocks())
        assert total > 0
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_while_reading_does_not_grow_with_the_length(tmp_path, monkeypatch):
    monkeypatch.setattr(A, "READ_SAMPLES", 1 << 16)  # so that the short file, too, takes many reads
    rng = np.random.default_rng(0)
    for minutes in (1, 8):
        sf.write(tmp_path / f"{minutes}.wav", (rng.standard_normal(8_000 * 60 * minutes) * 3000).astype(np.int16),
                 8_000)
    short, long = _peak_reading(tmp_path / "1.wav"), _peak_reading(tmp_path / "8.wav")
    assert long < 1.2 * short  # eight times the audio in the memory of one
    assert long < 8 * 60 * A.SAMPLE_RATE * 4 / 10  # a tenth of the whole file as 16 kHz float32


class _Terminal:
    """stderr as a terminal, so tqdm draws; what it drew is kept."""

    def __init__(self):
        self.text = ""

    def write(self, s):
        self.text += s

    def flush(self):
        pass

    def isatty(self):
        return True


def test_a_long_file_shows_a_progress_bar_on_stderr_and_a_short_one_does_not(model_dir, tmp_path, monkeypatch, capsys):
    sf.write(tmp_path / "a.wav", tone(3.0, 16_000), 16_000)
    args = [str(tmp_path / "a.wav"), "--checkpoint", str(model_dir), "--max-new-tokens", "2"]
    for long_after, drawn in ((60, False), (2, True)):
        monkeypatch.setattr(cli, "LONG_FILE_SECONDS", long_after)
        term = _Terminal()
        monkeypatch.setattr(sys, "stderr", term)
        assert cli.caption_main(args) == 0
        assert ("hearing a.wav" in term.text and "/3.0" in term.text) is drawn  # its length as the total
    assert capsys.readouterr().out.count("a.wav: ") == 2


def test_a_fifo_is_not_called_empty(tmp_path):
    os.mkfifo(tmp_path / "pipe.wav")
    with pytest.raises(ValueError, match="pipe.wav: not a regular file"):
        A.load_audio(tmp_path / "pipe.wav")


# -- fuzz -------------------------------------------------------------------------------------------
RATES = [0, 1, 2, 999, 1000, 8000, 11025, 16000, 22050, 44100, 44101, 48000, 96000, 384000, 384001, 10**6, 10**9,
         2**32 - 1]
FUZZ_MEMORY = 6 * 1024**3  # bytes of address space: torch alone maps about 3 GB; a 1 Hz header once wanted 24 GB


def _fuzz_file(rng: np.random.Generator) -> bytes:
    kind = rng.integers(6)
    body = rng.integers(0, 256, int(rng.integers(0, 12_000)), dtype=np.uint8).tobytes()
    if kind == 0:  # random bytes
        return body
    if kind == 1:  # a RIFF start, then noise
        return b"RIFF" + body
    if kind == 2:  # a float body with NaN, infinities and absurd values among the samples
        x = rng.standard_normal(int(rng.integers(1, 20_000))).astype(np.float32)
        x[rng.integers(0, x.size, 20)] = rng.choice([np.nan, np.inf, -np.inf, 1e38, -3e30], 20)
        return wav_bytes(int(rng.choice([8000, 16000, 44100])), 1, 32, x.tobytes(), fmt_tag=3)
    rate = int(rng.choice(RATES)) if rng.random() < 0.6 else int(rng.integers(1, 100_000))
    claim = [None, 0, 2**32 - 1, int(rng.integers(0, 2**32))][int(rng.integers(4))]
    if kind == 5:  # every header field random
        channels, bits = int(rng.choice([0, 1, 2, 3, 8, 255, 1024, 65535])), int(rng.choice([0, 7, 8, 16, 24, 32, 64]))
        fmt_tag = int(rng.choice([0, 1, 2, 3, 0x55, int(rng.integers(2**16))]))
        return wav_bytes(rate, channels, bits, body, fmt_tag, claim)
    data = wav_bytes(rate, int(rng.choice([1, 2, 6])), int(rng.choice([8, 16, 24, 32])), body, 1, claim)
    return data[: int(rng.integers(12, len(data) + 1))] if kind == 4 else data  # 4: cut anywhere


def _limited():
    resource.setrlimit(resource.RLIMIT_AS, (FUZZ_MEMORY, FUZZ_MEMORY))


def test_fuzzed_wavs_each_get_an_answer_or_a_one_line_error(model_dir, tmp_path):
    rng = np.random.default_rng(23)
    files = []
    for i in range(300):
        files.append(tmp_path / f"f{i:03d}.wav")
        files[-1].write_bytes(_fuzz_file(rng))
    script = Path(sys.executable).parent / "sam-caption"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    res = subprocess.run([str(script), *map(str, files), "--checkpoint", str(model_dir), "--json",
                          "--max-new-tokens", "2", "--no-gate"], capture_output=True, text=True, timeout=120,
                         preexec_fn=_limited, env=env)
    assert res.returncode in (0, 1), res.stderr[-3000:]
    assert all(line.startswith("sam-caption: warning: ") for line in res.stderr.splitlines()), res.stderr[-3000:]
    rows = [json.loads(line) for line in res.stdout.splitlines()]
    assert [r["audio"] for r in rows] == [str(f) for f in files]
    answered = [r for r in rows if isinstance(r.get("description"), str)]
    failed = [r for r in rows if "error" in r]
    assert len(answered) + len(failed) == len(files) and answered and failed
    for r in failed:  # ours: one line that names the file, never a stray exception's type
        assert r["error"].startswith(r["audio"] + ": ") and "\n" not in r["error"], r["error"]
