"""`sam-data demo`: a short demo scene from corpus clips (assets/demo.ogg) and its events and credits."""
from __future__ import annotations

import json
import random
from dataclasses import asdict, replace
from pathlib import Path

from model.audio import SAMPLE_RATE
from model.data.corpus import load_corpus
from model.data.dataset import clip_bank
from model.data.mixer import MixConfig, render
from model.data.tasks import describe

DURATION_S = 45.0
BACKGROUND = ("rain", -36.0)  # class, level in dBFS
# (class, onset in seconds, SNR over the rain in dB, preferred path fragment): a few clear events.
SCRIPT = (("dog", 3.0, 14.0, "dog"), ("door", 9.5, 12.0, "doors_door"), ("speech", 15.0, 16.0, "voices/Default/"),
          ("bell", 23.0, 12.0, "bell"), ("footsteps", 28.5, 12.0, "Footsteps/"), ("car horn", 35.0, 12.0, ""))
MAX_BYTES = 2_000_000
SEED = 7


def _pick(corpus, bank, label: str, hint: str):
    """The longest clip of `label` of 0.4-6 s, preferring paths containing `hint` (ties: by id)."""
    records = [r for r in corpus.records if r.label == label and 0.4 <= r.duration_s <= 6.0]
    records = [r for r in records if hint and hint in r.path] or records
    if not records:
        raise ValueError(f"{corpus.root}: no {label!r} clip of 0.4-6 s for the demo; rebuild the corpus")
    record = min(records, key=lambda r: (-r.duration_s, r.id))
    return next(c for c in bank.clips if c.id == record.id), record


def write_demo(corpus_path: str | Path, out: str | Path) -> str:
    """Mix the scripted demo scene, write it as OGG Vorbis and a JSON of events and credits."""
    import soundfile as sf

    out = Path(out)
    corpus = load_corpus(corpus_path)
    bank = clip_bank(corpus)
    rng = random.Random(SEED)
    bg_clip = next((c for c in bank.clips if c.label == BACKGROUND[0] and c.duration_s >= 6.0), None)
    if bg_clip is None:
        raise ValueError(f"{corpus.root}: no {BACKGROUND[0]!r} clip of 6 s or more for the demo background")
    bg_record = next(r for r in corpus.records if r.id == bg_clip.id)
    picks, records = [], [bg_record]
    for label, onset, snr, hint in SCRIPT:
        clip, record = _pick(corpus, bank, label, hint)
        picks.append((clip, int(onset * SAMPLE_RATE), corpus.audio(clip.id), snr))
        records.append(record)
    scene = render(bank, int(DURATION_S * SAMPLE_RATE), picks, (bg_clip, BACKGROUND[1]), rng,
                   replace(MixConfig(), noise_floor_db=None))
    out.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(out), scene.audio, SAMPLE_RATE, format="OGG", subtype="VORBIS")
    if out.stat().st_size > MAX_BYTES:
        raise RuntimeError(f"{out}: {out.stat().st_size} bytes, over the {MAX_BYTES} limit for the demo")
    credits = [{"clip": r.id, "class": r.label, "package": r.package, "path": r.path, "licence": r.licence}
               for r in records]
    meta = {"audio": out.name, "sample_rate": SAMPLE_RATE, "duration_s": scene.duration_s,
            "description": describe(scene), "background": asdict(scene.background),
            "events": [asdict(e) for e in scene.events], "credits": credits}
    out.with_suffix(".json").write_text(json.dumps(meta, indent=1) + "\n")
    return f"{out}: {scene.duration_s:.0f} s, {out.stat().st_size / 1e3:.0f} kB; {describe(scene)}"
