"""fp32 against bf16 weights on this CPU: how the answers and the first-token logits differ.

The shipped checkpoint stores bf16, so both models hold the same weight values; they differ only
in the precision the activations are computed in. Each validation scene is heard by both, and each
of its questions asked of both (greedy, as sam-live answers): the share of answers that are the
same text, the accuracy of each, and for the first answer token the top-1 agreement, the KL
divergence and the largest logit difference. A few hundred questions, not a full evaluation.
"""
from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

import torch

from ..audio import load_audio
from ..checkpoint import DEFAULT_NAME, default_checkpoint, load_sam
from ..data.valset import load_valset
from ..evaluation.answering import Item
from ..evaluation.scoring import corpus_class_names, correct
from ..generate import answer_logits
from ..prompt import prompt_ids
from ..sam import SAM
from .timing import report

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def read_items(valset: Path, limit: int) -> list[Item]:
    """The first `limit` items of a validation set folder (`data.valset.load_valset`)."""
    return [Item(r["path"], r["question"], r["answer"], r["kind"]) for r in load_valset(valset)[:limit]]


@torch.inference_mode()
def first_logits(model: SAM, state: Any, question: str) -> torch.Tensor:
    """The logits (V,) of the first answer token, as `generate` chooses it (padding and markers masked)."""
    tok = model.tokenizer
    logits, _ = model.lm(torch.tensor([prompt_ids(tok, question)]), state=state.lm.fork())
    return answer_logits(model.lm, tok, logits[:, -1].float())[0]


def compare(models: dict[str, SAM], items: list[Item], max_new_tokens: int) -> dict[str, Any]:
    """Answers and first-token logits of every item under each model, and how they differ."""
    names = corpus_class_names()
    answers: dict[str, list[str]] = {k: [] for k in models}
    top1, kl, max_diff = [], [], []
    states: dict[str, Any] = {}
    scene = None
    for it in items:
        if it.scene != scene:
            scene = it.scene
            audio = load_audio(scene)
            states = {k: m.hear(audio) for k, m in models.items()}
        logits = {k: first_logits(m, states[k], it.question) for k, m in models.items()}
        ref, low = (logits[k] for k in DTYPES)
        finite = torch.isfinite(ref)
        top1.append(bool(ref.argmax() == low.argmax()))
        p, q = torch.log_softmax(ref[finite], -1), torch.log_softmax(low[finite], -1)
        kl.append(float((p.exp() * (p - q)).sum()))
        max_diff.append(float((ref[finite] - low[finite]).abs().max()))
        for k, m in models.items():
            answers[k].append(m.ask(states[k], it.question, max_new_tokens=max_new_tokens).text.strip())
    same = [a == b for a, b in zip(*answers.values())]
    res: dict[str, Any] = {"items": len(items), "scenes": len({it.scene for it in items}),
                           "same_answer": sum(same) / len(items), "first_token_top1_agreement": sum(top1) / len(items),
                           "first_token_kl_median": statistics.median(kl), "first_token_kl_max": max(kl),
                           "first_token_max_logit_diff_median": statistics.median(max_diff)}
    for k in models:
        right = [correct(it, a, names) for it, a in zip(items, answers[k])]
        res[f"accuracy_{k}"] = sum(right) / len(items)
    differing = [(it.question, a, b) for it, a, b, s in zip(items, *answers.values(), same) if not s]
    res["differing_examples"] = differing[:5]
    return res


def main(checkpoint: Path | None, valset: Path, limit: int, max_new_tokens: int, out: Path | None) -> None:
    """Load the checkpoint at both dtypes, compare them on `limit` validation items, print the numbers."""
    checkpoint = checkpoint or default_checkpoint()
    if checkpoint is None:
        raise ValueError(f"no checkpoint: {DEFAULT_NAME} is not installed; give one with --checkpoint DIR")
    models = {k: load_sam(checkpoint, dtype=d) for k, d in DTYPES.items()}
    items = read_items(valset, limit)
    print(f"== {checkpoint}: fp32 vs bf16 on the first {len(items)} items of {valset}, "
          f"{torch.get_num_threads()} threads ==")
    report(compare(models, items, max_new_tokens), out, "precision")
