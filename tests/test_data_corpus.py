"""The numpy codec, Opus archives, the 45 MB pack step and loading the archive where libsndfile is missing."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from model.audio import SAMPLE_RATE, features
from model.data import codec
from model.data.catalog import read_catalog
from model.data.corpus import load_corpus
from model.data.pack import pack
from test_data_build import make_corpus

SR = SAMPLE_RATE


def test_mdct_reconstructs_exactly_without_quantisation():
    x = np.random.default_rng(0).standard_normal(3 * SR + 123).astype(np.float32) * 0.1
    y = codec.imdct(codec.mdct(x), len(x))
    assert np.abs(x - y).max() < 1e-5


def test_codec_keeps_the_log_mel_spectrum_at_a_low_bit_rate():
    rng = np.random.default_rng(1)
    t = np.arange(2 * SR) / SR
    x = (0.3 * np.sin(2 * np.pi * 440 * t) * np.exp(-t) + 0.02 * rng.standard_normal(len(t))).astype(np.float32)
    blob = codec.encode(x, quality=0.5)
    y = codec.decode(blob)
    assert len(y) == len(x)
    kbps = len(blob) * 8 / (len(x) / SR) / 1000
    assert kbps < 64, kbps  # 16-bit PCM would be 256 kbit/s
    err = float((features(torch.from_numpy(x)) - features(torch.from_numpy(y))).abs().mean())
    assert err < 0.15, err
    assert np.array_equal(codec.decode(blob), y)  # noise filling is seeded by the stream
    with pytest.raises(ValueError):
        codec.decode(b"nope" + blob[4:])


@pytest.fixture(scope="module")
def packed(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("pack")
    corpus = make_corpus(root)
    full = pack(corpus, root / "corpus.tar", budget_mb=5.0, workers=1, codec_name="smc")
    assert full.clips == len(read_catalog(corpus / "catalog.jsonl")) and not full.dropped
    return corpus, root / "corpus.tar"


def test_pack_meets_the_budget_by_dropping_clips(packed):
    corpus, tar = packed
    records = read_catalog(corpus / "catalog.jsonl")
    small = pack(corpus, tar.with_name("small.tar"), budget_mb=0.25, workers=1, codec_name="smc")
    assert small.size_mb <= 0.25 and small.dropped and small.clips == len(records) - len(small.dropped)
    again = pack(corpus, tar.with_name("small.tar"), budget_mb=0.25, workers=1, codec_name="smc")  # up to date: not re-encoded
    assert again.dropped == small.dropped and again.seconds == small.seconds


def test_archive_loads_with_numpy_only(packed):
    corpus, tar = packed
    # a fresh interpreter where importing soundfile fails, as on the training machine
    code = (f"import sys; sys.modules['soundfile'] = None\n"
            f"from model.data.corpus import load_corpus\n"
            f"c = load_corpus({str(tar)!r}, workers=2)\n"
            f"import json; print(json.dumps({{r.id: float(abs(c.audio(r.id)).max()) for r in c.records}}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).parents[1])
    peaks = json.loads(out.stdout.strip().splitlines()[-1])
    records = read_catalog(corpus / "catalog.jsonl")
    assert set(peaks) == {r.id for r in records} and all(p > 0.01 for p in peaks.values())
    a, b = load_corpus(tar), load_corpus(corpus)
    r = a.records[0]
    x, y = a.audio(r.id), b.audio(r.id)
    assert len(x) == len(y)
    err = float((features(torch.from_numpy(x)) - features(torch.from_numpy(y))).abs().mean())
    assert err < 0.2


def test_subset_holds_out_packages_and_splits(packed):
    corpus, _ = packed
    c = load_corpus(corpus)
    val = c.subset("validation")
    assert {r.split for r in val.records} == {"validation"}
    with pytest.raises(ValueError, match="no clips"):
        c.subset("train", exclude_packages=("test-pkg",))


def test_an_opus_archive_of_one_split_keeps_every_clip_whole(packed):
    corpus, tar = packed
    records = [r for r in read_catalog(corpus / "catalog.jsonl") if r.split == "train"]
    report = pack(corpus, tar.with_name("opus.tar"), budget_mb=5.0, workers=1, codec_name="opus", split="train")
    assert report.codec == "opus" and report.clips == len(records) and not report.dropped
    a, b = load_corpus(tar.with_name("opus.tar")), load_corpus(corpus)
    assert [r.id for r in a.records] == [r.id for r in records]
    assert json.loads((a.root / "index.json").read_text())["codec"] == codec.OPUS
    for r in records[:5]:
        x, y = a.audio(r.id), b.audio(r.id)
        assert len(x) == len(y)  # Opus's pre-skip and end trimming leave the clip's length as it was
        err = float((features(torch.from_numpy(x)) - features(torch.from_numpy(y))).abs().mean())
        assert err < 0.2, err
    with pytest.raises(ValueError, match="no clips"):
        pack(corpus, tar.with_name("none.tar"), budget_mb=5.0, workers=1, split="nonesuch")
    with pytest.raises(ValueError, match="codec"):
        pack(corpus, tar.with_name("none.tar"), budget_mb=5.0, workers=1, codec_name="mp3")


def test_an_opus_clip_without_soundfile_says_what_to_install():
    blob = codec.encode_opus(np.zeros(SR, np.float32), 0.97)
    code = (f"import sys; sys.modules['soundfile'] = None\n"
            f"from model.data import codec\n"
            f"codec.decode({blob!r})")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(__file__).parents[1])
    assert out.returncode != 0 and "pip install soundfile" in out.stderr
