"""How much the presence head weighs, and from which probability it calls a sound there: chosen on scenes of the
validation split (recordings no part of the model was trained on, of the sources it was trained on).

Each scene (mixed as model.presence mixes its validation scenes) is asked "Do you hear a X?" about one class
it holds and one near class it does not (the training data's `absent_classes`), in the last ten seconds of a
stream. Each question keeps the three witnesses the answer weighs: the language model's confidence in "yes"
(model/watch.yes_confidence), the tags' log-odds (tags.asked_evidence) and the presence head's highest
probability for the class; every weight and threshold of the grid is then replayed on them.

    python -m model.evaluation.presence --batches 60 --out docs/results/presence_choice.json
"""
from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import numpy as np
import torch

from ..tags import log_odds

WEIGHTS = (0.5, 1.0, 2.0, 4.0)
THRESHOLDS = (0.15, 0.2, 0.3, 0.4, 0.5, 0.6)


@torch.inference_mode()
def witnesses(model, corpus, batches: int, seed: int) -> list[dict]:
    """Per question: its class, whether it sounds (1/0), the LM's P(yes), the tags' and the head's readings."""
    from ..answer_forms import asked_scores
    from ..audio import SAMPLE_RATE
    from ..data.mixer import LONG_SCENE_S, RECENT_S
    from ..data.tasks import absent_classes
    from ..presence import mixed_batches
    from ..tags import asked_evidence
    from ..watch import yes_confidence
    from ..yamnet import NUM_CLASSES

    part, mixed = mixed_batches(model, corpus, "validation", (), f"validation/{seed}", batches,
                                "asking validation scenes")
    own = {c: NUM_CLASSES + i for i, c in enumerate(model.cfg.presence)}
    rows = []
    for b, batch in enumerate(mixed):
        for i, scene in enumerate(batch.scenes):
            rng = random.Random(f"q/{b}/{i}")
            long = scene.duration_s > LONG_SCENE_S
            heard = {e.label for e in scene.events if not long or e.end_s > scene.duration_s - RECENT_S}
            heard |= {scene.background.label} if scene.background else set()
            asked = [(rng.choice(sorted(heard)), 1)] if heard else []
            absent = absent_classes(scene, rng, part.classes, 1, near=rng.choice(sorted(heard)) if heard else None)
            if absent and absent[0] not in {e.label for e in scene.events}:
                asked.append((absent[0], 0))
            asked = [(c, y) for c, y in asked if c in own]
            if not asked:
                continue
            state = model.hear(batch.audio[i, : round(scene.duration_s * SAMPLE_RATE)])
            texts = [f"Do you hear a {c}?" for c, _ in asked]
            yes = yes_confidence(model.lm, model.tokenizer, state.lm, texts).tolist()
            for (c, y), text, p in zip(asked, texts, yes):
                scores = asked_scores(text, state.tags)
                rows.append({"class": c, "present": y, "lm": p, "tags": asked_evidence(scores, text),
                             "head": float(scores[own[c]])})
    return rows


def grid(rows: list[dict], heard_weight: float) -> dict:
    """Right, "yes" to present and "yes" to absent classes: the language model alone, with the tags, and with the
    head at every weight and threshold, its log-odds within +-8 as tags.evidence caps them ("both ways") or only
    for a sound, as the answers read it (tags.own_support)."""
    y = np.array([r["present"] for r in rows], bool)
    lm = np.array([log_odds(r["lm"]) for r in rows])
    tags = np.array([r["tags"] or 0.0 for r in rows])
    head = np.array([log_odds(r["head"]) for r in rows])

    def said(score: np.ndarray) -> dict:
        yes = score > 0
        return {"right": round(float((yes == y).mean()), 4), "yes_present": round(float(yes[y].mean()), 4),
                "yes_absent": round(float(yes[~y].mean()), 4)}

    out = {"n": int(len(y)), "present": int(y.sum()), "language model": said(lm),
           f"with the tags at {heard_weight}": said(lm + heard_weight * tags)}
    for low, way in ((-8.0, "both ways"), (0.0, "only for")):
        for w in WEIGHTS:
            for t in THRESHOLDS:
                out[f"and the head {way} at {w}, threshold {t}"] = said(
                    lm + heard_weight * tags + w * np.clip(head - log_odds(t), low, 8))
    return out


def main(argv: list[str] | None = None) -> int:
    from ..answer_forms import HEARD_WEIGHT
    from ..checkpoint import default_checkpoint, load_sam
    from ..data.corpus import load_corpus

    p = argparse.ArgumentParser(prog="python -m model.evaluation.presence", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--checkpoint", type=Path, help="a model with a presence head (default: the model in assets/)")
    p.add_argument("--corpus", default="data/corpus.tar", help="corpus folder or packed archive")
    p.add_argument("--batches", type=int, default=60, help="batches of 16 validation scenes")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, help="write the grid here as JSON")
    args = p.parse_args(argv)
    try:
        model = load_sam(args.checkpoint or default_checkpoint()).eval()
        corpus = load_corpus(args.corpus)
    except ValueError as e:
        raise SystemExit(f"error: {e}") from e
    if model.presence is None:
        raise SystemExit("error: this model has no presence head; make one with `python -m model.presence`")
    rows = witnesses(model, corpus, args.batches, args.seed)
    res = grid(rows, HEARD_WEIGHT)
    print(f"{res['n']} questions, {res['present']} about a sound that is there")
    for name, r in res.items():
        if isinstance(r, dict):
            print(f"  {name:46s} right {r['right']:.3f}  'yes' to present {r['yes_present']:.3f}, "
                  f"to absent {r['yes_absent']:.3f}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({**res, "questions": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
