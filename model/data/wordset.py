"""The wording evaluation set (`sam-data wordset`): validation recordings asked in the ways people ask.

Three kinds of audio, all from validation recordings: single clips heard alone (a person often asks
about the one sound that just happened), mixed scenes of 1-20 s, and live streams of minutes asked
at their end. Every item has a `wording`:
- `trained` and `held_out`: the same question about the same audio, in a trained wording family and
  in a held-out one (never used in training), paired by `pair`;
- `handwritten`: a question of handwritten.jsonl that no training stem says word for word, and
  `twin`: the same question in trained wording, paired with it by `pair`; `handwritten2` and `twin2`,
  `handwritten3`/`twin3` to `handwritten5`/`twin5` the same for the later hand-written sets
  (model/data/handwritten.py). Its trained wording is the grammar's own (stems.txt), never the people's families.
Written like `sam-data valset`: scenes/*.wav, scenes.jsonl, items.jsonl.
"""
from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from model.data.corpus import load_corpus
from model.data.dataset import clip_bank
from model.data.handwritten import WRITTEN_SETS, Written, ask_written, load_written, twin, unseen
from model.data.wording import grammar_stems
from model.data.mixer import ClipBank, MixConfig, Scene, mix_scene, single_clip
from model.data.questions import GENERATORS, Asker, ask_pair
from model.data.tasks import QA
from model.data.valset import write_wav

PAIRS_PER_SCENE = 4
CLIP_KINDS = ("open", "yesno", "tf", "mcq", "type", "count", "description", "tags", "unknowable")
STREAM_S = (60.0, 240.0)
QUIET_SHARE = 0.08


@dataclass(frozen=True)
class WordsetReport:
    """What `write_wordset` wrote."""

    out: Path
    scenes: dict[str, int]
    items: dict[str, int]
    hours: float

    def __str__(self) -> str:
        scenes = ", ".join(f"{v} {k}s" for k, v in self.scenes.items())
        items = ", ".join(f"{k} {v}" for k, v in self.items.items())
        return f"{self.out}: {scenes} ({self.hours:.2f} h); items: {items}"


def _scenes(bank: ClipBank, n_clips: int, n_scenes: int, n_streams: int, seed: int):
    """(name, context, Scene) for every recording of the set, in a fixed order."""
    for i in range(n_clips):
        yield f"clip{i:04d}", "clip", single_clip(bank, random.Random(f"words/{seed}/clip/{i}"))
    for i in range(n_scenes):
        rng = random.Random(f"words/{seed}/scene/{i}")
        quiet = i < round(n_scenes * QUIET_SHARE)
        scene = mix_scene(bank, rng, replace(MixConfig(), background_prob=0.5), n_events=0) if quiet else \
            mix_scene(bank, rng, MixConfig())
        yield f"scene{i:04d}", "scene", scene
    for i in range(n_streams):
        rng = random.Random(f"words/{seed}/stream/{i}")
        yield f"stream{i:04d}", "stream", mix_scene(bank, rng, MixConfig(), duration_s=rng.uniform(*STREAM_S))


def _item(name: str, context: str, wording: str, pair: str, qa: QA) -> dict:
    return {"scene": f"scenes/{name}.wav", "context": context, "wording": wording, "pair": pair,
            "question": qa.question, "answer": qa.answer, "kind": qa.kind, "form": qa.form, "family": qa.family,
            "options": list(qa.options), "labels": list(qa.labels), "about": qa.about, "value": qa.value}


def _pairs(name: str, context: str, scene: Scene, seed: int, trained: Asker, held: Asker) -> list[dict]:
    """Up to PAIRS_PER_SCENE questions of different kinds, each in trained and held-out wording."""
    kinds = [k for k in (CLIP_KINDS if context == "clip" else GENERATORS) if k != "yesno"]
    random.Random(f"words/{seed}/{name}/kinds").shuffle(kinds)
    kinds.insert(0, "yesno")  # the question people ask most
    out = []
    for kind in kinds:
        pair = ask_pair(scene, f"words/{seed}/{name}/{kind}", kind, trained, held)
        if pair is None:
            continue
        pid = f"{name}/{kind}"
        out += [_item(name, context, "trained", pid, pair[0]), _item(name, context, "held_out", pid, pair[1])]
        if len(out) == 2 * PAIRS_PER_SCENE:
            break
    return out


def _written(recordings: list[tuple[str, str, Scene]], written: list[Written], seed: int, trained: Asker,
             per_context: int, wording: str = "handwritten", twin_wording: str = "twin") -> list[dict]:
    """Each hand-written question asked of up to `per_context` recordings of each context it suits, with both
    answers where it names a class (a recording with the sound and one without), and its trained twin."""
    out = []
    by_context: dict[str, list[tuple[str, Scene]]] = {}
    for name, context, scene in recordings:
        by_context.setdefault(context, []).append((name, scene))
    for w in written:
        for context in w.contexts[:1] if w.kind == "unknowable" else w.contexts:  # the sound cannot change its answer
            pool = list(by_context.get(context, []))
            rng = random.Random(f"words/{seed}/{w.id}/{context}")
            rng.shuffle(pool)
            taken: Counter = Counter()
            for name, scene in pool:
                qa = ask_written(w, scene, rng, trained)
                if qa is None:
                    continue
                polarity = qa.answer if qa.form in ("yesno", "tf") or (w.cls and w.kind == "count") else ""
                if polarity and w.kind == "count":
                    polarity = "none" if qa.answer == "0" else "some"
                if taken[polarity] >= (1 if polarity else per_context):
                    continue
                taken[polarity] += 1
                pid = f"{name}/{w.id}"
                out.append(_item(name, context, wording, pid, qa))
                same = twin(w, qa, scene, random.Random(f"words/{seed}/{pid}/twin"), trained)
                if same is not None:
                    out.append(_item(name, context, twin_wording, pid, same))
                if sum(taken.values()) >= per_context:
                    break
    return out


def write_wordset(corpus: str | Path, out: str | Path, n_clips: int = 160, n_scenes: int = 240, n_streams: int = 16,
                  seed: int = 20261205, per_context: int = 2) -> WordsetReport:
    """Mix the recordings from validation clips, ask them every wording's questions, write them under `out`."""
    out = Path(out)
    full = load_corpus(corpus)
    bank = clip_bank(full.subset("validation"))
    grammar = grammar_stems()  # the people's families train, but leave the set as it was
    trained, held = Asker.create(full.classes, "train", stems=grammar), Asker.create(full.classes, "held_out",
                                                                                     stems=grammar)
    (out / "scenes").mkdir(parents=True, exist_ok=True)
    recordings = list(_scenes(bank, n_clips, n_scenes, n_streams, seed))
    items: list[dict] = []
    with (out / "scenes.jsonl").open("w") as f:
        for name, context, scene in recordings:
            write_wav(out / "scenes" / f"{name}.wav", scene.audio)
            f.write(json.dumps({"scene": f"scenes/{name}.wav", "type": context, "duration_s": scene.duration_s,
                                "events": [asdict(e) for e in scene.events],
                                "background": asdict(scene.background) if scene.background else None,
                                "quiet": scene.quiet}) + "\n")
            items += _pairs(name, context, scene, seed, trained, held)
    for path, wording, twin_wording in WRITTEN_SETS:
        items += _written(recordings, unseen(load_written(path), grammar), seed, trained, per_context, wording,
                          twin_wording)
    (out / "items.jsonl").write_text("".join(json.dumps(it) + "\n" for it in items))
    hours = sum(s.duration_s for _, _, s in recordings) / 3600
    return WordsetReport(out, dict(Counter(c for _, c, _ in recordings)), dict(Counter(it["wording"] for it in items)),
                         hours)
