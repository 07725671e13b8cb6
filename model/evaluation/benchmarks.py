"""Public benchmarks: AudioCaps/Clotho-style captions and OpenAQA-style questions."""
from __future__ import annotations

import argparse
from typing import Any

from ..audio import load_audio
from ..metrics import ClassNames, cider_d, micro_prf, normalize
from ..sam import SAM
from .answering import progress
from .scoring import corpus_class_names


def captions_benchmark(model: SAM, items, names: ClassNames, max_new_tokens: int) -> dict[str, Any]:
    """Describe each clip; CIDEr-D against its references, and class recall through the synonyms."""
    preds = []
    for it in progress(items, "captions", len(items)):
        preds.append(model.describe(model.hear(load_audio(it.audio)), max_new_tokens=max_new_tokens).text)
    gold = [set().union(*(names.named(r) for r in it.references)) for it in items]
    prf = micro_prf([names.named(p) for p in preds], gold)
    return {"n": len(items), "cider_d": cider_d(preds, [it.references for it in items]),
            "class_precision": prf.precision, "class_recall": prf.recall}


def qa_benchmark(model: SAM, items, max_new_tokens: int) -> dict[str, Any]:
    """Exact match (normalised) and answer-token F1 against OpenAQA-style references."""
    em, f1 = 0, 0.0
    for it in progress(items, "questions", len(items)):
        pred = model.ask(model.hear(load_audio(it.audio)), it.question, max_new_tokens=max_new_tokens).text
        p, g = normalize(pred).split(), normalize(it.answer).split()
        em += p == g
        common = sum(min(p.count(w), g.count(w)) for w in set(p))
        f1 += 2 * common / (len(p) + len(g)) if p and g else float(p == g)
    return {"n": len(items), "exact_match": em / max(len(items), 1), "token_f1": f1 / max(len(items), 1)}


def public_benchmarks(model: SAM, args: argparse.Namespace) -> dict[str, Any]:
    """The public benchmarks the command line names, each with its count of missing audio files."""
    from ..public_data import load_audiocaps, load_clotho, load_openaqa

    names = corpus_class_names()
    out: dict[str, Any] = {}
    for flag, loader in (("audiocaps", load_audiocaps), ("clotho", load_clotho)):
        csv_path = getattr(args, flag)
        if csv_path is None:
            continue
        if args.audio_dir is None:
            raise ValueError(f"--{flag} needs --audio-dir")
        items, missing = loader(csv_path, args.audio_dir)
        out[flag] = {**captions_benchmark(model, items, names, 64), "missing_audio": len(missing)}
    if args.openaqa is not None:
        items, missing = load_openaqa(args.openaqa, args.audio_root)
        out["openaqa"] = {**qa_benchmark(model, items, 64), "missing_audio": len(missing)}
    return out
