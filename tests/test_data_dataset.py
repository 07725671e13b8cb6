"""The training dataset: deterministic for a seed (with workers too), task kinds, labels, augmentation."""
import itertools
import json

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from model.data.augment import AugmentConfig, augment, fast_len
from model.data.corpus import load_corpus
from model.data.dataset import STAGES, DataConfig, SceneDataset, collate, text_corpus
from model.data.valset import load_valset, read_wav, write_valset
from test_data_build import make_corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return load_corpus(make_corpus(tmp_path_factory.mktemp("ds")))


def config(**kw) -> DataConfig:
    base = dict(corpus="unused", max_duration_s=6.0, stream_duration_s=(20.0, 30.0), length=64, seed=5)
    return DataConfig(**{**base, **kw})


def same(a: dict, b: dict) -> bool:
    return (torch.equal(a["audio"], b["audio"]) and torch.equal(a["labels"], b["labels"])
            and (a["question"], a["answer"], a["kind"]) == (b["question"], b["answer"], b["kind"]))


def test_items_are_deterministic_for_a_seed(corpus):
    a, b = SceneDataset(config(), corpus), SceneDataset(config(), corpus)
    assert all(same(a[i], b[i]) for i in (0, 7, 21))
    c = SceneDataset(config(seed=6), corpus)
    assert not all(same(a[i], c[i]) for i in range(4))
    a.set_epoch(1)
    assert not all(same(a[i], b[i]) for i in range(4))


def test_workers_do_not_change_the_data(corpus):
    ds = SceneDataset(config(length=12), corpus)
    one = list(DataLoader(ds, batch_size=4, collate_fn=collate, num_workers=0))
    two = list(DataLoader(ds, batch_size=4, collate_fn=collate, num_workers=2))
    for x, y in zip(one, two):
        assert torch.equal(x["audio"], y["audio"]) and x["answer"] == y["answer"]
        assert x["audio"].dtype == torch.float32 and x["labels"].shape == (4, len(corpus.class_names))


def test_kinds_split_and_labels(corpus):
    ds = SceneDataset(config(kinds=STAGES["tagging"], augment=False), corpus)
    val_ids = {r.id for r in corpus.subset("validation").records}
    assert not {r.id for r in ds.corpus.records} & val_ids
    for i in range(20):
        item = ds[i]
        assert item["kind"] in ("tags", "description")
        scene, _ = ds.scene(i)
        names = [corpus.class_names[j] for j in torch.nonzero(item["labels"]).flatten().tolist()]
        assert sorted(names) == sorted(scene.labels)
        assert item["answer"] == (", ".join(scene.labels) or "silence") or item["kind"] == "description"
    with pytest.raises(ValueError, match="unknown task kinds"):
        config(kinds=("tags", "riddles"))


def test_augment_is_seeded_and_keeps_length():
    x = (0.1 * np.random.default_rng(0).standard_normal(16000 * 3 + 7)).astype(np.float32)
    cfg = AugmentConfig(colour_prob=1, reverb_prob=1, noise_prob=1, resample_prob=1, clip_prob=1)
    a = augment(x, np.random.default_rng(3), cfg)
    b = augment(x, np.random.default_rng(3), cfg)
    c = augment(x, np.random.default_rng(4), cfg)
    assert len(a) == len(x) and np.array_equal(a, b) and not np.array_equal(a, c)
    assert np.abs(a).max() <= 1.0
    for n in (1, 7, 48_001, 2_253_209):
        m = fast_len(n)
        assert m >= n and m < 1.25 * n + 8


def test_text_corpus_and_valset(corpus, tmp_path):
    texts = list(itertools.islice(text_corpus(config(), 30, corpus), 30))
    assert len(texts) == 30 and all(isinstance(t, str) and t for t in texts)
    assert texts == list(text_corpus(config(), 30, corpus))
    report = write_valset(corpus.root, tmp_path / "val", n_scenes=12, seed=1)
    items = load_valset(tmp_path / "val")
    assert report.items == len(items) and report.scenes == 12
    scenes = (tmp_path / "val" / "scenes.jsonl").read_text().splitlines()
    assert '"type": "quiet"' in scenes[0] and '"type": "stream"' in scenes[1]
    audio = read_wav(tmp_path / "val" / items[0]["scene"])
    assert audio.dtype == np.float32 and len(audio) > 0
    again = write_valset(corpus.root, tmp_path / "val2", n_scenes=12, seed=1)
    assert (tmp_path / "val" / "items.jsonl").read_text() == (tmp_path / "val2" / "items.jsonl").read_text()
    assert again.items == report.items


def test_valset_of_training_recordings_uses_only_them(corpus, tmp_path):
    train_ids = {r.id for r in corpus.subset("train").records}
    val_ids = {r.id for r in corpus.subset("validation").records}
    for split, allowed in (("train", train_ids), ("validation", val_ids)):
        write_valset(corpus.root, tmp_path / split, n_scenes=8, seed=2, split=split)
        used = set()
        for line in (tmp_path / split / "scenes.jsonl").read_text().splitlines():
            sc = json.loads(line)
            used |= {e["clip_id"] for e in sc["events"]} | ({sc["background"]["clip_id"]} if sc["background"] else set())
        assert used and used <= allowed
    with pytest.raises(ValueError, match="split"):
        write_valset(corpus.root, tmp_path / "bad", n_scenes=2, split="test")
    assert not (tmp_path / "bad").exists()


def _clips_used(folder) -> set[str]:
    used = set()
    for line in (folder / "scenes.jsonl").read_text().splitlines():
        sc = json.loads(line)
        used |= {e["clip_id"] for e in sc["events"]} | ({sc["background"]["clip_id"]} if sc["background"] else set())
    return used


def test_valset_by_package_keeps_to_the_packages_and_splits_asked(tmp_path):
    root = make_corpus(tmp_path / "two", recordings_per_class=4)
    catalog = root / "catalog.jsonl"
    lines = [json.loads(line) for line in catalog.read_text().splitlines()]
    for r in lines:  # a second source package: every dog, piano and rain recording
        if r["label"] in ("dog", "piano", "rain"):
            r["package"] = "other-pkg"
    catalog.write_text("".join(json.dumps(r) + "\n" for r in lines))
    corpus = load_corpus(root)
    ids = {(p, s): {r.id for r in corpus.records if r.package == p and r.split == s}
           for p in ("test-pkg", "other-pkg") for s in ("train", "validation")}
    assert all(ids.values())
    cases = {"held": (dict(packages=("other-pkg",)), ids["other-pkg", "train"] | ids["other-pkg", "validation"]),
             "held_val": (dict(packages=("other-pkg",), split="validation"), ids["other-pkg", "validation"]),
             "rest": (dict(exclude=("other-pkg",)), ids["test-pkg", "validation"])}
    for name, (kw, allowed) in cases.items():
        write_valset(root, tmp_path / name, n_scenes=10, seed=3, **kw)
        used = _clips_used(tmp_path / name)
        assert used and used <= allowed, name
    assert len(_clips_used(tmp_path / "held") & ids["other-pkg", "train"]) > 0  # both splits by default
    with pytest.raises(ValueError, match="no-such-pkg"):
        write_valset(root, tmp_path / "bad", n_scenes=2, exclude=("no-such-pkg",))
    with pytest.raises(ValueError, match="both asked for and excluded"):
        write_valset(root, tmp_path / "bad", n_scenes=2, packages=("other-pkg",), exclude=("other-pkg",))
    assert not (tmp_path / "bad").exists()


def test_a_single_clip_valset_hears_one_validation_clip_alone_per_scene(corpus, tmp_path):
    report = write_valset(corpus.root, tmp_path / "single", n_scenes=10, seed=4, single=True)
    val_ids = {r.id for r in corpus.subset("validation").records}
    scenes = [json.loads(line) for line in (tmp_path / "single" / "scenes.jsonl").read_text().splitlines()]
    assert len(scenes) == report.scenes == 10
    for sc in scenes:
        assert sc["type"] == "clip" and sc["background"] is None and len(sc["events"]) == 1
        assert sc["events"][0]["clip_id"] in val_ids
        audio = read_wav(tmp_path / "single" / sc["scene"])
        assert abs(len(audio) / 16000 - sc["duration_s"]) < 0.01
    assert report.items > 0 and report.per_kind["open"] + report.per_kind["mcq"] > 0
