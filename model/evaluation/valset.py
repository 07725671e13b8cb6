"""The whole run on the corpus validation set (`sam-data valset`), streaming questions included."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ..audio import QUIET_DB, SAMPLE_RATE, loudest_dbfs
from ..data.tasks import JUST_HEARD, nothing_recent, quiet_description
from ..generate import generate_batch
from ..metrics import ClassNames
from ..prompt import DESCRIBE_PROMPT, LIVE_PROMPT, prompt_ids
from ..sam import SAM
from .answering import FEED, MARGINS, ClozeScorer, Item, answer_items, progress, reorder
from .scoring import background_label, corpus_class_names, correct, scene_file, score
from .stats import bits, intervals


MARGIN_S = 2.0  # seconds of zeros before and after a MARGINS scene: files often hold them, training scenes never do


@torch.inference_mode()
def streaming(model: SAM, items: list[Item], scenes: dict[str, dict], read, names: ClassNames,
              minutes: tuple[float, ...], max_new_tokens: int) -> dict[str, Any]:
    """'What did you just hear?' (in each of its phrasings) after `minutes` of earlier audio (other
    validation scenes), for each scene asked it that names a sound."""
    targets = [it for it in items if it.kind == "recent" and it.question in JUST_HEARD]
    targets = [it for it in targets if names.named(it.answer)] or targets
    fillers = [s for s, sc in scenes.items() if sc.get("type") == "scene"]
    if not targets or not fillers:
        return {"streaming": "no stream items with a 'what did you just hear?' question in this set"}
    res: dict[str, Any] = {"streaming_n": len(targets), "correct": {}}
    state, heard, k = model.new_state(), 0.0, 0
    for m in sorted(minutes):
        while heard < m * 60:  # the stream so far: validation scenes one after another
            audio = torch.as_tensor(read(fillers[k % len(fillers)]))
            state = model.listen(audio, state)
            heard += audio.numel() / SAMPLE_RATE
            k += 1
        states, prompts = [], []
        for it in progress(targets, f"streaming after {m:g} min", len(targets)):
            after = model.listen(torch.as_tensor(read(it.scene)), state.fork(), flush=True)
            states.append(after.lm)
            prompts.append(prompt_ids(model.tokenizer, it.question))
        preds = generate_batch(model.lm, model.tokenizer, states, prompts, max_new_tokens)
        right = [correct(it, p, names) for it, p in zip(targets, preds)]
        res[f"streaming_{m:g}min_accuracy"] = sum(right) / len(targets)
        res["correct"][f"streaming_{m:g}min_accuracy"] = bits(right)
    return res


def evaluate_valset(model: SAM, valset: str | Path, batch_size: int = 32, limit: int = 0,
                    stream_minutes: tuple[float, ...] = (1, 5, 30), max_new_tokens: int = 64,
                    forms: bool = True, tags: bool = True) -> dict[str, Any]:
    """All validation metrics of `model` on the set written by `sam-data valset` (`forms` and `tags` as
    `answer_items` takes them)."""
    from ..data.valset import load_valset, read_wav

    valset = Path(valset)
    raw = load_valset(valset)[: limit or None]
    scenes = {str(valset / json.loads(line)["scene"]): json.loads(line)
              for line in (valset / "scenes.jsonl").read_text().splitlines() if line.strip()}
    names = corpus_class_names()
    items = [Item(r["path"], r["question"], r["answer"], r["kind"]) for r in raw]
    items += [reorder(it) for it in items if it.kind == "mcq"]
    described = {it.scene for it in items if it.kind == "description"}
    items += [Item(s, DESCRIBE_PROMPT, quiet_description(background_label(sc)), "description")
              for s, sc in scenes.items()
              if sc.get("type") == "quiet" and s not in described]  # every quiet scene is described
    items += [Item(s, LIVE_PROMPT, nothing_recent(background_label(sc)), FEED)
              for s, sc in scenes.items() if not sc.get("events")]  # and asked sam-live's feed question
    items += [Item(f"{it.scene}#{MARGINS}", it.question, it.answer, it.kind, MARGINS) for it in list(items)
              if it.kind == "description" and scenes.get(it.scene, {}).get("events")]  # inside digital silence
    cache: dict[str, torch.Tensor] = {}

    def read(path: str) -> torch.Tensor:
        """A scene's audio ('#margins': inside MARGIN_S of zeros); the few most recent stay in memory."""
        if path not in cache:
            if len(cache) > 64:
                cache.clear()
            audio = torch.from_numpy(read_wav(Path(scene_file(path))))
            if path.endswith(f"#{MARGINS}"):
                audio = F.pad(audio, (int(MARGIN_S * SAMPLE_RATE),) * 2)
            cache[path] = audio
        return cache[path]

    start = time.perf_counter()
    cloze = ClozeScorer(model, items)
    preds = answer_items(model, items, read, batch_size, max_new_tokens, on_heard=cloze, forms=forms, tags=tags)
    quiet = {it.scene for it in items if it.kind == FEED}  # every scene without events is asked the feed question
    gated = frozenset(s for s in quiet if loudest_dbfs(read(s).numpy()) < QUIET_DB)
    res = {"items": len(items), **score(items, preds, names, scenes, gated), "silence_gated_scenes": len(gated)}
    by_likelihood = cloze.result()
    res["correct"].update(by_likelihood.pop("correct", {}))
    res.update(by_likelihood)
    if stream_minutes:
        stream = streaming(model, items, scenes, read, names, stream_minutes, max_new_tokens)
        res["correct"].update(stream.pop("correct", {}))
        res.update(stream)
    res.update(intervals(res))
    res["eval_seconds"] = time.perf_counter() - start
    res["examples"] = [{"question": it.question, "answer": it.answer, "predicted": p, "kind": it.kind}
                       for it, p in list(zip(items, preds))[:: max(1, len(items) // 40)]]
    res["predictions"] = [{"scene": str(Path(it.scene).relative_to(valset)), "kind": it.kind, "variant": it.variant,
                           "question": it.question, "answer": it.answer, "predicted": p,
                           "correct": correct(it, p, names)} for it, p in zip(items, preds)]
    return res
