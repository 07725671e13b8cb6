"""An evaluation set of the sounds only added classes name (`sam-data valset --added`).

model/data/added_eval.tsv lists recordings the corpus drops (labels.tsv), each with the class
audioset.tsv adds that its file name says it is ("keys.wav": keys jangling), reviewed by hand. No
model trained on the corpus has heard them. Each recording is heard alone and asked what it is, and
yes or no about its own sound and about another added class of the table: a measure of naming and
hearing sounds that our 163 classes lack.
"""
from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..audio import SAMPLE_RATE
from .clips import process

HERE = Path(__file__).parent
ADDED_EVAL_TSV = HERE / "added_eval.tsv"
OPEN_STEMS = ("What is that sound?", "What was that?", "What's making that noise?", "what's that noise",
              "What do you think that sound is?")
MAX_S = 10.0  # seconds of each recording kept: its first processed window


@dataclass(frozen=True)
class AddedRecording:
    package: str
    path: str  # inside the package's audio root (sources.audio_root)
    name: str  # the added class's plain name (audioset.tsv)


def read_added_eval(path: Path = ADDED_EVAL_TSV) -> list[AddedRecording]:
    """added_eval.tsv -> its rows, checked: an allowed package and an added class; ValueError naming the line."""
    from .audioset import default_map
    from .sources import PACKAGE_NAMES

    added = {r.name for r in default_map() if r.action == "new"}
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        cols = line.split("\t")
        if len(cols) != 3:
            raise ValueError(f"{path}:{n}: {len(cols)} columns where package, path and class are expected")
        package, file, name = cols
        if package not in PACKAGE_NAMES:
            raise ValueError(f"{path}:{n}: {package!r} is not a corpus source (model/data/sources.py)")
        if name not in added:
            raise ValueError(f"{path}:{n}: {name!r} is not the plain name of a class audioset.tsv adds")
        rows.append(AddedRecording(package, file, name))
    return rows


def asked_about(name: str) -> str:
    """How a yes/no question names an added class: 'a burp', but 'keys jangling', 'artillery', 'dishes'."""
    bare = name.endswith(("ing", "s", "ery")) or " " in name and name.split()[-1].endswith("ing")
    return name if bare else f"a {name}"


def items_for(rec: AddedRecording, scene: str, others: list[str], rng: random.Random) -> list[dict]:
    """What a recording is asked: what it is, and yes or no about its class and about another one."""
    absent = rng.choice([o for o in others if o != rec.name])
    return [{"scene": scene, "question": rng.choice(OPEN_STEMS), "answer": rec.name, "kind": "open"},
            {"scene": scene, "question": f"Did you hear {asked_about(rec.name)}?", "answer": "yes", "kind": "tf"},
            {"scene": scene, "question": f"Did you hear {asked_about(absent)}?", "answer": "no", "kind": "tf"}]


def write_added_set(out: str | Path, cache: str | Path = "data/cache", seed: int = 20261206) -> str:
    """Write the set (scenes/, scenes.jsonl, items.jsonl) under `out` from the packages in `cache` (fetched
    there when missing); a one-line summary."""
    from ..audio import load_audio
    from .sources import audio_root, fetch
    from .valset import write_wav

    out, cache = Path(out), Path(cache)
    recs = read_added_eval()
    rng = random.Random(seed)
    names = sorted({r.name for r in recs})
    (out / "scenes").mkdir(parents=True, exist_ok=True)
    scenes, items = [], []
    for k, rec in enumerate(recs):
        file = audio_root(rec.package, fetch(rec.package, cache)) / rec.path
        if not file.exists():
            raise ValueError(f"{file}: listed in {ADDED_EVAL_TSV.name} but not in package {rec.package}; "
                             f"remove its row or fix the path")
        windows = process(load_audio(file).numpy())
        if not windows:
            raise ValueError(f"{file}: silent or too short to keep; remove its row from {ADDED_EVAL_TSV.name}")
        audio = np.asarray(windows[0][1], dtype=np.float32)[: int(MAX_S * SAMPLE_RATE)]
        scene = f"scenes/{k:05d}.wav"
        write_wav(out / scene, audio)
        scenes.append({"scene": scene, "type": "clip", "duration_s": len(audio) / SAMPLE_RATE, "added": rec.name,
                       "source": f"{rec.package}:{rec.path}", "background": None, "quiet": [],
                       "events": [{"start_s": 0.0, "end_s": len(audio) / SAMPLE_RATE, "label": rec.name,
                                   "category": "added", "kind": "sound"}]})
        items += items_for(rec, scene, names, rng)
    (out / "scenes.jsonl").write_text("".join(json.dumps(s) + "\n" for s in scenes))
    (out / "items.jsonl").write_text("".join(json.dumps(i) + "\n" for i in items))
    return f"{out}: {len(scenes)} recordings of {len(names)} added classes, {len(items)} items"
