"""Corpus building on audio the test makes: clip processing, duplicates, caps, the split, the tables."""
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from model.audio import SAMPLE_RATE
from model.data.build import BuildConfig, Source, write_corpus
from model.data.catalog import read_catalog, split_for
from model.data.clips import ClipConfig, active_rms_db, content_hash, process, trim_silence
from model.data.labels import DROP, load_classes, load_rules
from model.data.sources import PACKAGE_NAMES

SR = SAMPLE_RATE
LABELS = ("dog", "door", "piano", "speech", "rain", "wind", "bell", "car horn")


def _recording(label: str, k: int) -> np.ndarray:
    rng = np.random.default_rng(hash((label, k)) % 2**32)
    seconds = 20.0 if label in ("rain", "wind") and k == 0 else rng.uniform(0.5, 2.5)
    t = np.arange(int(seconds * SR)) / SR
    f0 = 150 + 90 * LABELS.index(label) + 13 * k
    body = np.sin(2 * np.pi * f0 * t) * np.exp(-t * (1 + k)) + 0.05 * rng.standard_normal(len(t))
    if label in ("rain", "wind"):
        body = 0.3 * rng.standard_normal(len(t))
    pad = np.zeros(int(0.3 * SR))
    return (0.4 * np.concatenate([pad, body, pad])).astype(np.float32)


def make_corpus(root: Path, recordings_per_class: int = 5) -> Path:
    """A small corpus folder (as `sam-data build` writes it) from generated recordings."""
    raw = root / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    sources = []
    for label in LABELS:
        for k in range(recordings_per_class):
            path = raw / f"{label.replace(' ', '_')}-{k}.wav"
            sf.write(path, _recording(label, k), SR)
            sources.append(Source(f"test-pkg:{path.name}", "test-pkg", str(path), path.name, label,
                                  f"test-pkg:{path.name}", f"test-pkg:{label}"))
    dup = raw / "dog-copy.wav"  # same audio as dog-0 under another name: must be dropped as a duplicate
    sf.write(dup, _recording("dog", 0), SR)
    sources.append(Source("test-pkg:dog-copy.wav", "test-pkg", str(dup), dup.name, "dog", "test-pkg:dog-copy", "x"))
    silent = raw / "silent.wav"
    sf.write(silent, np.zeros(SR, np.float32), SR)
    sources.append(Source("test-pkg:silent.wav", "test-pkg", str(silent), silent.name, "door", "test-pkg:silent", "y"))
    out = root / "corpus"
    write_corpus(sources, BuildConfig(out=out, workers=1, val_fraction=0.3, min_recordings=1), log=lambda s: None)
    return out


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return make_corpus(tmp_path_factory.mktemp("data"))


def test_clip_processing_trims_normalises_and_windows():
    cfg = ClipConfig()
    x = np.concatenate([np.zeros(SR), 0.05 * np.sin(np.arange(SR) / 3), np.zeros(SR)]).astype(np.float32)
    trimmed = trim_silence(x, cfg)
    assert len(trimmed) < 1.1 * SR and len(trimmed) >= SR
    [(start, clip)] = process(x, cfg)
    assert abs(active_rms_db(clip, cfg) - cfg.target_db) < 0.5 and np.abs(clip).max() <= cfg.peak
    long = (0.1 * np.random.default_rng(0).standard_normal(40 * SR)).astype(np.float32)
    pieces = process(long, cfg)
    assert len(pieces) == cfg.max_windows
    assert all(len(p) == int(cfg.window_s * SR) for _, p in pieces)
    assert process(np.zeros(SR, np.float32), cfg) == []


def test_catalog_has_no_duplicate_hashes_and_skips_are_logged(corpus):
    records = read_catalog(corpus / "catalog.jsonl")
    hashes = [r.hash for r in records]
    assert len(hashes) == len(set(hashes))
    log = (corpus / "build_log.jsonl").read_text()
    assert "dog-copy" in log and "duplicate" in log and "silent" in log
    for r in records:  # hashes describe the stored audio
        x, rate = sf.read(corpus / "clips" / f"{r.id}.flac", dtype="float32")
        assert rate == SR and content_hash(x) == r.hash and abs(len(x) / SR - r.duration_s) < 1e-3


def test_split_is_by_recording(corpus):
    records = read_catalog(corpus / "catalog.jsonl")
    train = {r.recording for r in records if r.split == "train"}
    val = {r.recording for r in records if r.split == "validation"}
    assert train and val and not train & val
    windows = [r for r in records if r.recording.endswith(("rain-0.wav", "wind-0.wav"))]
    assert len(windows) >= 4 and len({r.split for r in windows if r.recording.endswith("rain-0.wav")}) == 1
    assert split_for("x", 0.0) == "train" and split_for("x", 1.0) == "validation"


def test_rerun_is_resumable_and_fast(corpus, tmp_path):
    progress = (corpus / "progress.jsonl").read_text().splitlines()
    before = read_catalog(corpus / "catalog.jsonl")
    again = make_corpus(corpus.parent)  # same sources: everything is in progress.jsonl already
    assert (again / "progress.jsonl").read_text().splitlines() == progress
    assert read_catalog(again / "catalog.jsonl") == before


def test_label_tables_are_consistent():
    classes = load_classes()
    rules = load_rules(classes=classes)
    assert {r.package for r in rules} <= set(PACKAGE_NAMES), "labels.tsv names a package that is not a source"
    assert all(r.label == DROP or r.label in classes for r in rules)
    for c in classes.values():
        assert c.name not in c.synonyms and c.accepts(c.name.upper())


def test_build_names_the_missing_tools(monkeypatch, tmp_path):
    import model.data.sources as sources
    from model.data.build import build

    monkeypatch.setattr(sources.shutil, "which", lambda tool: None if tool in ("mma", "flite") else "/bin/true")
    assert {"mma", "flite"} <= set(sources.missing_tools())
    monkeypatch.setattr("model.data.build.missing_tools", sources.missing_tools)
    with pytest.raises(ValueError, match="flite.*mma|mma.*flite"):
        build(BuildConfig(out=tmp_path / "c", cache=tmp_path / "cache"))
    with pytest.raises(ValueError, match="not a corpus source"):
        sources.fetch("some-other-package", tmp_path)


POOL_UNDER_A_HANDLER = """
import signal, sys
signal.signal(signal.SIGTERM, lambda s, f: None)  # the parent's own handler: it keeps running on SIGTERM
from model.data.pool import fork_pool
with fork_pool(2) as pool:  # leaving the block terminates the idle workers with SIGTERM
    print(sum(pool.map(abs, [-1, -2, -3])))
"""


def test_data_workers_stop_with_their_pool_whatever_handler_the_parent_has():
    import subprocess
    import sys

    try:
        done = subprocess.run([sys.executable, "-c", POOL_UNDER_A_HANDLER], capture_output=True, text=True,
                              timeout=60, cwd=Path(__file__).resolve().parents[1])
    except subprocess.TimeoutExpired:
        pytest.fail("the pool's workers ignored SIGTERM and the pool waited for them")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "6"


def test_uncapped_keeps_every_recording_that_the_cap_leaves_out(tmp_path):
    """--uncapped: every class keeps all its recordings; the clips a capped build keeps are among them, same ids."""
    raw = tmp_path / "raw"
    raw.mkdir()
    sources = []
    for k in range(6):
        path = raw / f"dog-{k}.wav"
        sf.write(path, _recording("dog", k), SR)
        sources.append(Source(f"test-pkg:{path.name}", "test-pkg", str(path), path.name, "dog",
                              f"test-pkg:{path.name}", "test-pkg:dog"))
    common = dict(workers=1, min_recordings=1, recording_cap=1, class_cap=2, caps={})
    capped = write_corpus(sources, BuildConfig(out=tmp_path / "capped", **common), log=lambda s: None)
    whole = write_corpus(sources, BuildConfig(out=tmp_path / "whole", uncapped=True, **common), log=lambda s: None)
    assert len(capped) == 2 and len(whole) == 6
    assert {r.id for r in capped} <= {r.id for r in whole}
