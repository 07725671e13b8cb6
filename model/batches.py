"""Training batches for sam-train: scenes of one length per batch, mixed by DataLoader workers.

Augmentation chains are drawn with each scene; the workers apply them (augment_on="cpu"), or the
training loop applies the whole batch's at once on its device (augment_on="device", about four
times less CPU work per scene).

Each item of a batch is a scene from the corpus mixer with one question and answer. All scenes
of a batch share one duration (a whole number of encoder blocks), so the batch stacks without
padding: padding audio would put silence between a scene and its question, which changes what
"what did you just hear?" means. Long-stream batches (for the streaming questions) are smaller
so that every batch costs about the same.
"""
from __future__ import annotations

import itertools
import math
import random
import signal
from dataclasses import dataclass, replace
from typing import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from .audio import SAMPLE_RATE
from .data.augment import Chain, apply, draw
from .data.corpus import Corpus, load_corpus
from .data.dataset import DataConfig, clip_bank, multi_hot, text_corpus
from .data.mixer import MixConfig, Scene, mix_scene
from .data.questions import KINDS, STREAM_KINDS, TRAINING_VARIED, Asker, ask
from .data.tasks import KINDS as CLASSIC_KINDS, QA, make_qa

TASK_KINDS = KINDS
WORDINGS = ("varied", "classic")
__all__ = ["Batch", "BatchSpec", "TASK_KINDS", "batch_loader", "corpus_text", "load_corpus", "validation_batches"]


@dataclass(frozen=True)
class BatchSpec:
    kinds: tuple[str, ...]
    batch_size: int
    seconds: tuple[float, float]
    long_fraction: float
    long_seconds: tuple[float, float]
    augment: bool
    hold_out: tuple[str, ...]
    block_samples: int
    stream_focus: float = 0.7  # share of long-stream items asked a streaming question
    quiet_prob: float = 0.15  # scenes without foreground events: saying "nothing" must be learnt as well as names
    quiet_background_prob: float = 0.7  # of those, the share over a background (rain, traffic, ...) rather than hiss
    speed: tuple[float, float] = (0.9, 1.1)  # with augment: each clip's playback speed, a new recording for the model
    augment_on: str = "cpu"  # "device": chains are drawn here and applied on the training device (augment_torch)
    wording: str = "varied"  # questions in people's many wordings (questions.py), or tasks.py's fixed ones

    def __post_init__(self):
        if self.wording not in WORDINGS:
            raise ValueError(f"wording {self.wording!r}: choose one of {WORDINGS}")
        if self.wording == "classic":  # the kinds only the varied wording asks are left out
            kept = tuple(k for k in self.kinds if k in CLASSIC_KINDS)
            if not kept:
                raise ValueError(f"kinds {list(self.kinds)} need the varied wording; the classic one asks only "
                                 f"{CLASSIC_KINDS}")
            object.__setattr__(self, "kinds", kept)


@dataclass
class Batch:
    audio: torch.Tensor  # (B, n) float32 at 16 kHz, n a multiple of block_samples
    questions: list[str]
    answers: list[str]
    kinds: list[str]
    labels: torch.Tensor  # (B, n_classes) multi-hot of the classes present
    texts: list[str]  # "question\nanswer" for the LM's text objective
    chains: list[Chain] | None = None  # augmentations still to apply, one per row (augment_on="device")
    scenes: list[Scene] | None = None  # what is true of each row's scene (its audio left out)

    @property
    def seconds(self) -> float:
        return self.audio.shape[-1] / SAMPLE_RATE

    def pin_memory(self) -> "Batch":
        self.audio, self.labels = self.audio.pin_memory(), self.labels.pin_memory()
        return self


class BatchStream(IterableDataset):
    """An endless stream of batches; worker w of W draws batches w, w + W, ... of a seeded sequence."""

    def __init__(self, corpus: Corpus, spec: BatchSpec, seed: int, start: int = 0):
        self.corpus, self.spec, self.seed, self.start = corpus, spec, seed, start

    def __iter__(self) -> Iterator[Batch]:
        info = get_worker_info()
        wid, n_workers = (info.id, info.num_workers) if info else (0, 1)
        train = self.corpus.subset("train", self.spec.hold_out)
        bank = clip_bank(train)
        names = self.corpus.class_names
        for b in itertools.count(self.start + wid, n_workers):
            yield self.batch(random.Random(f"{self.seed}/{b}"), bank, names, train)

    def question(self, scene, rng: random.Random, kinds: tuple[str, ...], train: Corpus) -> QA:
        """One question about `scene`, in the spec's wording."""
        if self.spec.wording == "classic":
            return make_qa(scene, rng, tuple(k for k in kinds if k in CLASSIC_KINDS) or ("description",),
                           train.classes)
        if self._asker is None or self._asker.classes is not train.classes:
            self._asker = Asker.create(train.classes, "train", varied=TRAINING_VARIED)
        return ask(scene, rng, kinds, self._asker)

    _asker: Asker | None = None

    def batch(self, rng: random.Random, bank, names: list[str], train: Corpus) -> Batch:
        s = self.spec
        long = rng.random() < s.long_fraction
        lo, hi = s.long_seconds if long else s.seconds
        blocks = max(1, math.ceil(rng.uniform(lo, hi) * SAMPLE_RATE / s.block_samples))
        n = blocks * s.block_samples
        size = s.batch_size if not long else max(2, round(s.batch_size * sum(s.seconds) / sum(s.long_seconds)))
        items, chains, facts = [], [], []
        speed = s.speed if s.augment else None
        busy = MixConfig(empty_prob=0.0, speed=speed)
        quiet = MixConfig(background_prob=s.quiet_background_prob, speed=speed)
        for _ in range(size):
            if rng.random() < s.quiet_prob:
                scene = mix_scene(bank, rng, quiet, duration_s=n / SAMPLE_RATE, n_events=0)
            else:
                scene = mix_scene(bank, rng, busy, duration_s=n / SAMPLE_RATE)
            kinds = STREAM_KINDS if long and rng.random() < s.stream_focus else s.kinds
            kinds = tuple(k for k in kinds if k in s.kinds) or s.kinds
            qa = self.question(scene, rng, kinds, train)
            audio = scene.audio[:n]
            if s.augment:
                chain = draw(np.random.default_rng(rng.getrandbits(64)))
                if s.augment_on == "cpu":
                    audio = apply(audio, chain)
                else:
                    chains.append(chain)
            text_qa = self.question(scene, rng, TASK_KINDS, train)
            items.append((np.pad(audio, (0, n - len(audio))), qa, multi_hot(scene, names), text_qa))
            facts.append(replace(scene, audio=None))
        return Batch(torch.from_numpy(np.stack([a for a, *_ in items]).astype(np.float32)),
                     [q.question for _, q, _, _ in items], [q.answer for _, q, _, _ in items],
                     [q.kind for _, q, _, _ in items], torch.stack([y for _, _, y, _ in items]),
                     [f"{t.question}\n{t.answer}" for *_, t in items], chains or None, facts)


def validation_batches(corpus: Corpus, spec: BatchSpec, seed: int, n: int) -> list[Batch]:
    """`n` fixed batches mixed from validation-split recordings, unaugmented: what the held-out loss is measured on."""
    val = corpus.subset("validation", spec.hold_out)
    stream = BatchStream(corpus, replace(spec, augment=False), seed)
    bank = clip_bank(val)
    return [stream.batch(random.Random(f"validation/{seed}/{b}"), bank, corpus.class_names, val) for b in range(n)]


def batch_loader(corpus: Corpus, spec: BatchSpec, seed: int, workers: int, start: int = 0) -> DataLoader:
    """Batches start, start + 1, ... of the seeded sequence, from `workers` processes (0: this one).

    The DataLoader takes one batch from each worker in turn, so the order does not depend on
    the number of workers, and a resumed run continues the same sequence.
    """
    return DataLoader(BatchStream(corpus, spec, seed, start), batch_size=None, num_workers=workers,
                      pin_memory=torch.cuda.is_available(), prefetch_factor=4 if workers else None,
                      persistent_workers=False, worker_init_fn=_leave_stops_to_the_trainer)


def _leave_stops_to_the_trainer(worker_id: int) -> None:
    """Workers ignore SIGINT and SIGTERM. Ctrl-C, or a stop sent to the whole process group, reaches
    the workers too; a worker killed by it would end the trainer with an error before it saves. The
    trainer ends its step, saves, and shuts the workers down itself."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def corpus_text(corpus: Corpus, seed: int, n: int = 20_000) -> Iterator[str]:
    """Text to train the tokenizer on: questions and answers of every kind, and the class glossary."""
    return text_corpus(DataConfig(corpus=str(corpus.root), kinds=TASK_KINDS, seed=seed), n, corpus=corpus)
