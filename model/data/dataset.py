"""Training data: scenes mixed on the fly from the corpus, with one question and answer each.

`SceneDataset` is map-style: item i is drawn from a generator seeded by (seed, epoch, i), so the
data is identical whatever the number of DataLoader workers or ranks. Curriculum stages pick
the task kinds (STAGES). `text_corpus` yields plain text for language-model pretraining.
"""
from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from torch.utils.data import Dataset

from model.audio import SAMPLE_RATE
from model.data.augment import AugmentConfig, augment
from model.data.corpus import Corpus, load_corpus
from model.data.mixer import ClipBank, ClipRef, MixConfig, Scene, mix_scene
from model.data.questions import KINDS, Asker, ask
from model.data.tasks import describe

# Task kinds per curriculum stage (LTU-style): tagging, then captions and open questions, then all.
STAGES: dict[str, tuple[str, ...]] = {
    "tagging": ("tags",),
    "captions": ("description", "tags", "open"),
    "instruct": KINDS,
}


@dataclass
class DataConfig:
    """What the dataset draws: corpus, split, task kinds, scene lengths, augmentation, held-out packages."""

    corpus: str = "data/corpus.tar"
    split: str = "train"
    kinds: tuple[str, ...] = KINDS
    min_duration_s: float = 1.0
    max_duration_s: float = 20.0
    stream_prob: float = 0.08  # share of long streams (for "recent" questions)
    stream_duration_s: tuple[float, float] = (40.0, 180.0)
    augment: bool = True
    augment_cfg: AugmentConfig = field(default_factory=AugmentConfig)
    exclude_packages: tuple[str, ...] = ()
    length: int = 50_000  # items per epoch
    seed: int = 0

    def __post_init__(self):
        unknown = [k for k in self.kinds if k not in KINDS]
        if unknown:
            raise ValueError(f"unknown task kinds {unknown}; choose from {KINDS} (or a stage: {list(STAGES)})")
        if not 0 < self.min_duration_s <= self.max_duration_s:
            raise ValueError(f"scene durations {self.min_duration_s}-{self.max_duration_s} s: need 0 < min <= max")


def clip_bank(corpus: Corpus) -> ClipBank:
    """The mixer's view of a corpus."""
    refs = [ClipRef(r.id, r.label, r.category, corpus.classes[r.label].kind, r.duration_s) for r in corpus.records]
    return ClipBank(refs, corpus.audio)


def multi_hot(scene: Scene, class_names: list[str]) -> torch.Tensor:
    """(n_classes,) float32 with ones at the classes present (events and background)."""
    index = {c: i for i, c in enumerate(class_names)}
    y = torch.zeros(len(class_names))
    for label in scene.labels:
        y[index[label]] = 1.0
    return y


class SceneDataset(Dataset):
    """Items {'audio': (n,) float32, 'question', 'answer', 'kind', 'labels': (n_classes,) multi-hot}."""

    def __init__(self, cfg: DataConfig, corpus: Corpus | None = None):
        self.cfg = cfg
        full = corpus if corpus is not None else load_corpus(cfg.corpus)
        self.class_names = full.class_names
        self.corpus = full.subset(cfg.split, cfg.exclude_packages)
        self.bank = clip_bank(self.corpus)
        self.mix = MixConfig(min_duration_s=cfg.min_duration_s, max_duration_s=cfg.max_duration_s)
        self.asker = Asker.create(self.corpus.classes)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Draw a different (still deterministic) set of scenes for each epoch."""
        self.epoch = epoch

    def __len__(self) -> int:
        return self.cfg.length

    def scene(self, index: int) -> tuple[Scene, random.Random]:
        """The scene of item `index` and the generator positioned after drawing it."""
        rng = random.Random(f"{self.cfg.seed}/{self.epoch}/{index}")
        duration = None
        if rng.random() < self.cfg.stream_prob:
            duration = rng.uniform(*self.cfg.stream_duration_s)
        return mix_scene(self.bank, rng, self.mix, duration_s=duration), rng

    def __getitem__(self, index: int) -> dict:
        scene, rng = self.scene(index)
        qa = ask(scene, rng, self.cfg.kinds, self.asker)
        audio = scene.audio
        if self.cfg.augment:
            audio = augment(audio, np.random.default_rng(rng.getrandbits(64)), self.cfg.augment_cfg)
        return {"audio": torch.from_numpy(np.ascontiguousarray(audio, np.float32)), "question": qa.question,
                "answer": qa.answer, "kind": qa.kind, "labels": multi_hot(scene, self.class_names)}


def collate(items: list[dict]) -> dict:
    """Batch items: audio zero-padded to the longest, `lengths` in samples, texts as lists."""
    lengths = torch.tensor([len(it["audio"]) for it in items])
    audio = torch.zeros(len(items), int(lengths.max()))
    for i, it in enumerate(items):
        audio[i, : len(it["audio"])] = it["audio"]
    return {"audio": audio, "lengths": lengths, "question": [it["question"] for it in items],
            "answer": [it["answer"] for it in items], "kind": [it["kind"] for it in items],
            "labels": torch.stack([it["labels"] for it in items])}


def text_corpus(cfg: DataConfig, n: int, corpus: Corpus | None = None) -> Iterator[str]:
    """`n` plain-text items for LM pretraining: question + answer pairs, descriptions, class glossary lines.

    Scenes are planned on silent stand-in audio (only clip lengths matter), so this is fast.
    """
    full = corpus if corpus is not None else load_corpus(cfg.corpus)
    sub = full.subset(cfg.split, cfg.exclude_packages)
    refs = [ClipRef(r.id, r.label, r.category, full.classes[r.label].kind, r.duration_s) for r in sub.records]
    lengths = {r.id: max(1, int(r.duration_s * SAMPLE_RATE)) for r in sub.records}
    bank = ClipBank(refs, lambda cid: np.full(lengths[cid], 0.1, np.float32))
    mix = replace(MixConfig(min_duration_s=cfg.min_duration_s, max_duration_s=cfg.max_duration_s), noise_floor_db=None)
    glossary = [_gloss(c) for c in full.classes.values()]
    asker = Asker.create(full.classes)
    for i in range(n):
        rng = random.Random(f"text/{cfg.seed}/{i}")
        if rng.random() < 0.05:
            yield rng.choice(glossary)
            continue
        duration = rng.uniform(*cfg.stream_duration_s) if rng.random() < cfg.stream_prob else None
        scene = mix_scene(bank, rng, mix, duration_s=duration)
        if rng.random() < 0.2:
            yield describe(scene)
        else:
            qa = ask(scene, rng, cfg.kinds, asker)
            yield f"{qa.question}\n{qa.answer}"


def _gloss(c) -> str:
    syn = ", ".join(c.synonyms)
    return f"{c.name}: a {c.kind if c.kind != 'sound' else c.category + ' sound'}" + (f"; also called {syn}." if syn else ".")
