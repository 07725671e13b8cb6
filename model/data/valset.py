"""The fixed validation set on disk: scenes as 16-bit WAV plus `items.jsonl` and `scenes.jsonl`.

Scenes use validation-split clips unless asked otherwise (`write_valset`). The mix covers
ordinary scenes, quiet-only scenes (with and without a background) and long streams for the
streaming questions. WAV keeps it readable with the standard library alone (`load_valset`) on
machines without libsndfile.
"""
from __future__ import annotations

import json
import random
import wave
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from model.audio import SAMPLE_RATE
from model.data.clips import PCM_SCALE, to_pcm16
from model.data.corpus import load_corpus
from model.data.dataset import clip_bank
from model.data.mixer import MixConfig, Scene, mix_scene, single_clip
from model.data.tasks import GENERATORS, KINDS

ITEMS_PER_SCENE = 4  # questions of different kinds asked about each scene
QUIET_SHARE = 0.08
STREAM_SHARE = 0.1
STREAM_S = (60.0, 180.0)


@dataclass(frozen=True)
class ValsetReport:
    """What `write_valset` wrote."""

    out: Path
    scenes: int
    items: int
    hours: float
    per_kind: dict[str, int]

    def __str__(self) -> str:
        kinds = ", ".join(f"{k} {v}" for k, v in self.per_kind.items())
        return f"{self.out}: {self.scenes} scenes, {self.items} items, {self.hours:.2f} h ({kinds})"


def _plan(i: int, n: int) -> str:
    """Scene type by position: the first shares are quiet scenes and streams, the rest ordinary."""
    if i < round(n * QUIET_SHARE):
        return "quiet"
    if i < round(n * (QUIET_SHARE + STREAM_SHARE)):
        return "stream"
    return "scene"


def write_valset(corpus: str | Path, out: str | Path, n_scenes: int = 400, seed: int = 20240,
                 packages: tuple[str, ...] = (), split: str | None = None,
                 exclude: tuple[str, ...] = (), single: bool = False) -> ValsetReport:
    """Mix `n_scenes` validation scenes, ask up to ITEMS_PER_SCENE questions each, write them under `out`.

    `split="train"` mixes the training recordings instead: the same test on clips the model has
    heard, so the gap to the validation split measures how far it generalises beyond them.
    `split="all"` mixes both.

    With `packages`, the scenes use clips of those source packages and no other, from both splits
    unless `split` says otherwise: the set for a model trained with those packages held out.
    `exclude` leaves packages out: the in-distribution set for that model.
    `single`: every scene is one clip heard alone (no background, no other sound), as a person asks
    about the one sound that just happened.
    """
    split = split or ("all" if packages else "validation")
    if split not in ("train", "validation", "all"):
        raise ValueError(f"split {split!r}: choose 'train', 'validation' or 'all'")
    out = Path(out)
    full = load_corpus(corpus)
    present = {r.package for r in full.records}
    unknown = (set(packages) | set(exclude)) - present
    if unknown:
        raise ValueError(f"{corpus}: no clips from package(s) {sorted(unknown)}; "
                         f"its packages are: {' '.join(sorted(present))}")
    if set(packages) & set(exclude):
        raise ValueError(f"package(s) {sorted(set(packages) & set(exclude))} both asked for and excluded")
    others = tuple(sorted(present - set(packages))) if packages else ()
    val = full.subset(None if split == "all" else split, others + tuple(exclude))
    (out / "scenes").mkdir(parents=True, exist_ok=True)
    bank = clip_bank(val)
    mix = MixConfig()
    per_kind = {k: 0 for k in KINDS}
    total_s, n_items = 0.0, 0
    with (out / "items.jsonl").open("w") as items, (out / "scenes.jsonl").open("w") as scenes:
        for i in range(n_scenes):
            rng = random.Random(f"val/{seed}/{i}")
            plan = "clip" if single else _plan(i, n_scenes)
            if plan == "clip":
                scene = single_clip(bank, rng)
            elif plan == "quiet":
                scene = mix_scene(bank, rng, replace(mix, background_prob=0.5), n_events=0)
            elif plan == "stream":
                scene = mix_scene(bank, rng, mix, duration_s=rng.uniform(*STREAM_S))
            else:
                scene = mix_scene(bank, rng, mix)
            name = f"scenes/{i:05d}.wav"
            write_wav(out / name, scene.audio)
            total_s += scene.duration_s
            scenes.write(json.dumps(_scene_json(name, plan, scene)) + "\n")
            for qa in _questions(scene, rng, full.classes):
                items.write(json.dumps({"scene": name, "question": qa.question, "answer": qa.answer,
                                        "kind": qa.kind}) + "\n")
                per_kind[qa.kind] += 1
                n_items += 1
    return ValsetReport(out, n_scenes, n_items, total_s / 3600, per_kind)


def _questions(scene: Scene, rng: random.Random, classes) -> list:
    kinds = list(KINDS)
    rng.shuffle(kinds)
    if scene.duration_s > STREAM_S[0]:
        kinds.remove("recent")
        kinds.insert(0, "recent")  # streams always get a streaming question
    out = []
    for kind in kinds:
        qa = GENERATORS[kind](scene, rng, classes)
        if qa is not None:
            out.append(qa)
        if len(out) == ITEMS_PER_SCENE:
            break
    return out


def _scene_json(name: str, plan: str, scene: Scene) -> dict:
    return {"scene": name, "type": plan, "duration_s": scene.duration_s, "events": [asdict(e) for e in scene.events],
            "background": asdict(scene.background) if scene.background else None, "quiet": scene.quiet}


def write_wav(path: Path, audio: np.ndarray) -> None:
    """float32 samples -> 16-bit mono WAV at SAMPLE_RATE (standard library only)."""
    pcm = to_pcm16(audio)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(pcm.tobytes())


def read_wav(path: Path) -> np.ndarray:
    """A 16-bit mono WAV written by `write_wav` -> float32 samples."""
    with wave.open(str(path), "rb") as w:
        if w.getsampwidth() != 2 or w.getnchannels() != 1 or w.getframerate() != SAMPLE_RATE:
            raise ValueError(f"{path}: expected 16-bit mono {SAMPLE_RATE} Hz WAV; regenerate with sam-data valset")
        return np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / PCM_SCALE


def load_valset(folder: str | Path) -> list[dict]:
    """The items of a validation set, each with 'path': its scene's WAV (read it with `read_wav`)."""
    folder = Path(folder)
    path = folder / "items.jsonl"
    if not path.exists():
        raise ValueError(f"{folder}: no items.jsonl; write the set with `sam-data valset --out {folder}`")
    items = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    for it in items:
        it["path"] = str(folder / it["scene"])
    return items
