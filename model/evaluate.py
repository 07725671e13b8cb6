"""sam-eval: how good a SAM checkpoint is, said with numbers.

On the corpus validation set (`sam-data valset`, recordings never trained on): multiple-choice
accuracy with every item asked in two option orders (and how often the two answers agree),
true/false, open questions (the answer names the right class or a synonym), counting, order,
loudness, type, tags and descriptions (precision and recall of the classes named against the
scene's, CIDEr-D), the silence false-alarm rate (of descriptions by the model alone and behind
the energy gate of sam-caption and sam-live, and of sam-live's feed question), descriptions of
the same scenes inside two seconds of digital silence (robustness), and "what did you just
hear?" after 1, 5 and 30 minutes of earlier audio. Also AudioCaps/Clotho caption CSVs
and OpenAQA-style JSON when a user has them. Writes report.json and report.md, with a 95%
interval for each proportion and every item's result, so that `--compare` can say whether two
checkpoints really differ, and predictions.jsonl with every answer.
"""
from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
import torch.nn.functional as F

from .audio import QUIET_DB, SAMPLE_RATE, load_audio, loudest_dbfs
from .checkpoint import default_checkpoint, load_sam
from .data.tasks import ABSENT_STEMS, JUST_HEARD, nothing_recent, quiet_description
from .generate import answer_logits, generate_batch
from .metrics import (ClassNames, cider_d, event_classes, mcq_choice, micro_prf, normalize, says_quiet, true_false,
                      wilson_interval)
from .plots import pyplot
from .prompt import DESCRIBE_PROMPT, LIVE_PROMPT, answer_ids, prompt_ids
from .sam import SAM
from .state import MambaState

MCQ_OPTION = re.compile(r"([A-D])\) (.+?)(?= [A-D]\) |$)")


@dataclass
class Item:
    scene: str  # path of the scene's audio
    question: str
    answer: str
    kind: str
    variant: str = ""  # "reordered" for the second option order of a multiple-choice item


def mcq_parts(question: str) -> tuple[str, list[str]]:
    """'stem A) x B) y ...' -> (stem, [x, y, ...])."""
    first = question.find(" A) ")
    if first < 0:
        raise ValueError(f"not a multiple-choice question: {question!r}")
    return question[:first], [m.group(2) for m in MCQ_OPTION.finditer(question[first + 1:])]


def corpus_class_names() -> ClassNames:
    """The corpus classes with their synonyms, as the metrics match them."""
    from .data.labels import load_classes

    return ClassNames.from_table({c.name: c.synonyms for c in load_classes().values()})


def reorder(item: Item) -> Item:
    """The same multiple-choice item with its options in reverse order, answer key moved with them."""
    stem, options = mcq_parts(item.question)
    correct = options["ABCD".index(item.answer[0])]
    options = options[::-1]
    text = " ".join(f"{'ABCD'[i]}) {o}" for i, o in enumerate(options))
    return Item(item.scene, f"{stem} {text}", f"{'ABCD'[options.index(correct)]}) {correct}", item.kind, "reordered")


MARGINS = "margins"  # the variant of a description item whose scene is heard inside digital silence
MARGIN_S = 2.0  # seconds of zeros before and after it: files often hold them, training scenes never do


# -- answering ---------------------------------------------------------------------------------
def answer_items(model: SAM, items: list[Item], read, batch_size: int, max_new_tokens: int,
                 on_heard: Callable[[list[int], MambaState], None] | None = None) -> list[str]:
    """Each scene heard once, its questions asked on forks, answers decoded in batches.

    `on_heard(indices, state)`, when given, sees each scene's heard state with the indices of its
    items, for other scorings of the same hearing.
    """
    by_scene: dict[str, list[int]] = defaultdict(list)
    for i, it in enumerate(items):
        by_scene[it.scene].append(i)
    answers: list[str] = [""] * len(items)
    pending: list[tuple[int, Any, list[int]]] = []
    tok = model.tokenizer

    def flush() -> None:
        texts = generate_batch(model.lm, tok, [s for _, s, _ in pending], [p for *_, p in pending], max_new_tokens)
        for (i, _, _), t in zip(pending, texts):
            answers[i] = t
        pending.clear()

    for scene, idx in _progress(by_scene.items(), "answering", len(by_scene)):
        state = model.hear(torch.as_tensor(read(scene)))
        if on_heard is not None:
            on_heard(idx, state.lm)
        for i in idx:
            pending.append((i, state.lm, prompt_ids(tok, items[i].question)))
        if len(pending) >= batch_size:
            flush()
    if pending:
        flush()
    return answers


CLOZE_QUESTION = "What sound do you hear?"  # an open question every training stage after the tagger asks


@torch.inference_mode()
def cloze_scores(model: SAM, state: MambaState, answers: list[str], question: str = CLOZE_QUESTION) -> list[float]:
    """Log-probability of each answer (its end token included) after `question`, from a heard state.

    The answers are scored together, right-padded: each is read causally, so padding after it
    changes nothing.
    """
    tok, device = model.tokenizer, model.device
    prompt = prompt_ids(tok, question)
    rows = [answer_ids(tok, a) for a in answers]
    width = len(prompt) + max(len(r) for r in rows)
    ids = torch.full((len(rows), width), tok.eot_id, dtype=torch.long, device=device)
    for i, r in enumerate(rows):
        ids[i, : len(prompt) + len(r)] = torch.tensor(prompt + r)
    n = len(rows)
    logits, _ = model.lm(ids, state=state.select([0] * n))  # the one heard state, once per answer
    pred = logits[:, len(prompt) - 1: -1].float()  # position p predicts token p + 1
    logp = torch.log_softmax(answer_logits(model.lm, tok, pred.reshape(-1, pred.shape[-1])), -1).view(pred.shape)
    picked = logp.gather(-1, ids[:, len(prompt):, None])[..., 0]
    return [float(picked[i, : len(r)].sum()) for i, r in enumerate(rows)]


def cloze_choice(model: SAM, state: MambaState, question: str) -> str:
    """Multiple choice without its answer format: the letter of the option likeliest as the answer to
    an open question (the least likely, when the stem asks which sound is absent).

    A model that has never been taught the "B) dog" answer form can still be scored this way, so
    this separates knowing the sounds from knowing the format.
    """
    stem, options = mcq_parts(question)
    scores = cloze_scores(model, state, options)
    pick = min if is_absent_stem(stem) else max
    return "ABCD"[pick(range(len(options)), key=scores.__getitem__)]


def is_absent_stem(stem: str) -> bool:
    """Whether a multiple-choice stem asks for the option that is not in the recording."""
    return stem in ABSENT_STEMS


class ClozeScorer:
    """`cloze_choice` for the multiple-choice items in their first order, from the states
    `answer_items` hears (its `on_heard`); `result()` gives mcq_cloze_accuracy in item order."""

    def __init__(self, model: SAM, items: list[Item]):
        self.model, self.items, self.right = model, items, {}

    def __call__(self, indices: list[int], state: MambaState) -> None:
        for i in indices:
            it = self.items[i]
            if it.kind == "mcq" and not it.variant:
                self.right[i] = cloze_choice(self.model, state, it.question) == it.answer[0]

    def result(self) -> dict[str, Any]:
        right = [self.right[i] for i in sorted(self.right)]
        if not right:
            return {}
        return {"mcq_cloze_accuracy": sum(right) / len(right), "mcq_cloze_n": len(right),
                "correct": {"mcq_cloze_accuracy": _bits(right)}}


def _progress(it, desc: str, total: int) -> Iterator:
    from tqdm import tqdm

    return iter(tqdm(it, desc=desc, total=total, unit="scene", file=sys.stderr, disable=None))


# -- scoring -----------------------------------------------------------------------------------
def score(items: list[Item], preds: list[str], names: ClassNames, scenes: dict[str, dict],
          gated: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Every metric over the answered items; `gated`: scenes sam-live's energy gate calls quiet itself."""
    res: dict[str, Any] = {"correct": {}}  # per item, "1"/"0" in item order: what --compare pairs up
    kinds = defaultdict(list)
    for it, p in zip(items, preds):
        kinds[(it.kind, it.variant)].append((it, p))
    for (kind, variant), rows in sorted(kinds.items()):
        key = kind + (f"_{variant}" if variant else "")
        right = [_correct(it, p, names) for it, p in rows]
        res[f"{key}_accuracy"] = sum(right) / len(rows)
        res[f"{key}_n"] = len(rows)
        res["correct"][f"{key}_accuracy"] = _bits(right)
    res.update(_mcq_agreement(items, preds))
    res.update(_descriptions(items, preds, names, scenes, gated))
    res.update(_feed(items, preds, names, scenes, gated))
    return res


def _bits(right: list[bool]) -> str:
    return "".join("1" if r else "0" for r in right)


def _correct(it: Item, pred: str, names: ClassNames) -> bool:
    gold = it.answer
    if it.kind == "mcq":
        _, options = mcq_parts(it.question)
        return mcq_choice(pred, options) == gold[0]
    if it.kind == "tf":
        return true_false(pred) is not None and true_false(pred) == true_false(gold)
    if it.kind in ("open", "order", "loudness"):
        return gold in names.named(pred) and len(names.named(pred)) == 1
    if it.kind in ("recent", "tags", "description", "feed"):
        want = names.named(gold)
        if not want:  # a quiet answer
            return not names.named(pred) and says_quiet(pred, names) or normalize(pred) == normalize(gold)
        return names.named(pred) == want
    return normalize(pred) == normalize(gold)  # count, type


def _mcq_agreement(items: list[Item], preds: list[str]) -> dict[str, float]:
    """How often the two option orders of an item pick the same option text."""
    chosen: dict[tuple[str, str], dict[str, str | None]] = defaultdict(dict)
    for it, p in zip(items, preds):
        if it.kind != "mcq":
            continue
        _, options = mcq_parts(it.question)
        letter = mcq_choice(p, options)
        key = (it.scene, it.answer.split(") ", 1)[1])
        chosen[key][it.variant] = options["ABCD".index(letter)] if letter else None
    pairs = [v for v in chosen.values() if len(v) == 2]
    if not pairs:
        return {}
    agree = sum(v[""] is not None and v[""] == v["reordered"] for v in pairs) / len(pairs)
    return {"mcq_order_agreement": agree, "mcq_pairs": len(pairs)}


def _descriptions(items: list[Item], preds: list[str], names: ClassNames, scenes: dict[str, dict],
                  gated: frozenset[str]) -> dict[str, Any]:
    """Class precision/recall of descriptions against the scene, false alarms on quiet scenes, CIDEr-D.

    Two precision/recall pairs: every class named against the scene's events and background, and
    (the stricter, "event") the classes named as events against the events alone.

    False alarms are counted for the model alone, and behind the energy gate of sam-caption and
    sam-live, which answers "quiet" for the `gated` scenes before the model is asked.
    """
    rows = [(it, p) for it, p in zip(items, preds) if it.kind == "description" and not it.variant]
    if not rows:
        return {}
    pred_sets, gold_sets, quiet_false, quiet_n, shown_false, quiet_wrong = [], [], 0, 0, 0, 0
    event_sets, event_gold = [], []
    for it, p in rows:
        sc = scenes.get(it.scene, {})
        gold = _gold(sc)
        named = names.named(p)
        if not sc.get("events"):
            false = bool(event_classes(p, names) - gold)  # an event the quiet scene does not hold
            quiet_n += 1
            quiet_false += false
            shown_false += false and it.scene not in gated
            quiet_wrong += bool(named - gold)  # any class it lacks, a misnamed background included
            continue
        pred_sets.append(named)
        gold_sets.append(gold)
        event_sets.append(event_classes(p, names) - _background(sc))  # the background, called an event: no claim
        event_gold.append({e["label"] for e in sc["events"]})
    events = micro_prf(event_sets, event_gold)
    prf = micro_prf(pred_sets, gold_sets)
    out: dict[str, Any] = {"description_class_precision": prf.precision, "description_class_recall": prf.recall,
                           "description_class_f1": prf.f1, "description_cider_d": cider_d([p for _, p in rows],
                                                                                         [[it.answer] for it, _ in rows]),
                           "description_event_precision": events.precision,
                           "description_event_recall": events.recall,
                           "description_by_class": by_class(pred_sets, gold_sets)}
    out.update(_false_sounds(rows, names, scenes, ""))
    margins = [(it, p) for it, p in zip(items, preds) if it.kind == "description" and it.variant == MARGINS]
    if margins:  # the same scenes inside digital silence: robust hearing describes them alike
        prf = micro_prf([names.named(p) for _, p in margins], [_gold(scenes[_base(it.scene)]) for it, _ in margins])
        out.update({"description_class_precision_margins": prf.precision,
                    "description_class_recall_margins": prf.recall, **_false_sounds(margins, names, scenes, "_margins")})
    if quiet_n:
        out["silence_false_alarm_rate"] = quiet_false / quiet_n
        out["silence_false_alarm_rate_gated"] = shown_false / quiet_n
        out["silence_false_class_rate"] = quiet_wrong / quiet_n
        out["silence_scenes"] = quiet_n
    return out


def by_class(predicted: list[set[str]], gold: list[set[str]]) -> dict[str, list[int]]:
    """Per class: [descriptions that name it where it sounds, descriptions where it sounds, that name it where it
    does not]: which classes the model misses and which it invents, sorted by name."""
    counts: dict[str, list[int]] = {}
    for said, there in zip(predicted, gold):
        for c in said | there:
            row = counts.setdefault(c, [0, 0, 0])
            row[0] += c in said and c in there
            row[1] += c in there
            row[2] += c in said and c not in there
    return dict(sorted(counts.items()))


def _false_sounds(rows: list[tuple[Item, str]], names: ClassNames, scenes: dict[str, dict], suffix: str) -> dict:
    """The share of descriptions of scenes with events that name a class the scene does not hold."""
    busy = [(it, p) for it, p in rows if scenes.get(_base(it.scene), {}).get("events")]
    if not busy:
        return {}
    false = sum(bool(names.named(p) - _gold(scenes[_base(it.scene)])) for it, p in busy)
    return {f"description_false_sound_rate{suffix}": false / len(busy), f"description_scenes{suffix}": len(busy)}


def _gold(scene: dict) -> set[str]:
    return {e["label"] for e in scene.get("events", [])} | _background(scene)


def _base(scene: str) -> str:
    """A scene's file, without the variant a '#' adds to its key (e.g. '#margins')."""
    return scene.split("#", 1)[0]


def _feed(items: list[Item], preds: list[str], names: ClassNames, scenes: dict[str, dict],
          gated: frozenset[str]) -> dict[str, Any]:
    """False alarms of sam-live's feed: its question about the last seconds, asked of scenes
    without events, names an event that is not the background; `gated` scenes the gate answers.
    Also how often it names any class the scene lacks, a misnamed background included."""
    rows = [(it, p) for it, p in zip(items, preds) if it.kind == "feed"]
    if not rows:
        return {}
    backgrounds = [_background(scenes.get(it.scene, {})) for it, _ in rows]
    false = [bool(event_classes(p, names) - bg) for (_, p), bg in zip(rows, backgrounds)]
    wrong = [bool(names.named(p) - bg) for (_, p), bg in zip(rows, backgrounds)]
    shown = [f and it.scene not in gated for f, (it, _) in zip(false, rows)]
    return {"silence_false_alarm_rate_feed": sum(shown) / len(rows),
            "silence_false_alarm_rate_feed_ungated": sum(false) / len(rows),
            "silence_false_class_rate_feed": sum(wrong) / len(rows), "silence_feed_scenes": len(rows)}


def _background_label(scene: dict) -> str | None:
    return (scene.get("background") or {}).get("label")


def _background(scene: dict) -> set[str]:
    label = _background_label(scene)
    return {label} if label else set()


# -- streaming -----------------------------------------------------------------------------------
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
        for it in _progress(targets, f"streaming after {m:g} min", len(targets)):
            after = model.listen(torch.as_tensor(read(it.scene)), state.fork(), flush=True)
            states.append(after.lm)
            prompts.append(prompt_ids(model.tokenizer, it.question))
        preds = generate_batch(model.lm, model.tokenizer, states, prompts, max_new_tokens)
        right = [_correct(it, p, names) for it, p in zip(targets, preds)]
        res[f"streaming_{m:g}min_accuracy"] = sum(right) / len(targets)
        res["correct"][f"streaming_{m:g}min_accuracy"] = _bits(right)
    return res


# -- public benchmarks ---------------------------------------------------------------------------
def captions_benchmark(model: SAM, items, names: ClassNames, max_new_tokens: int) -> dict[str, Any]:
    """Describe each clip; CIDEr-D against its references, and class recall through the synonyms."""
    preds = []
    for it in _progress(items, "captions", len(items)):
        preds.append(model.describe(model.hear(load_audio(it.audio)), max_new_tokens=max_new_tokens).text)
    gold = [set().union(*(names.named(r) for r in it.references)) for it in items]
    prf = micro_prf([names.named(p) for p in preds], gold)
    return {"n": len(items), "cider_d": cider_d(preds, [it.references for it in items]),
            "class_precision": prf.precision, "class_recall": prf.recall}


def qa_benchmark(model: SAM, items, max_new_tokens: int) -> dict[str, Any]:
    """Exact match (normalised) and answer-token F1 against OpenAQA-style references."""
    em, f1 = 0, 0.0
    for it in _progress(items, "questions", len(items)):
        pred = model.ask(model.hear(load_audio(it.audio)), it.question, max_new_tokens=max_new_tokens).text
        p, g = normalize(pred).split(), normalize(it.answer).split()
        em += p == g
        common = sum(min(p.count(w), g.count(w)) for w in set(p))
        f1 += 2 * common / (len(p) + len(g)) if p and g else float(p == g)
    return {"n": len(items), "exact_match": em / max(len(items), 1), "token_f1": f1 / max(len(items), 1)}


# -- the whole run ---------------------------------------------------------------------------------
def evaluate_valset(model: SAM, valset: str | Path, batch_size: int = 32, limit: int = 0,
                    stream_minutes: tuple[float, ...] = (1, 5, 30), max_new_tokens: int = 64) -> dict[str, Any]:
    """All validation metrics of `model` on the set written by `sam-data valset`."""
    from .data.valset import load_valset, read_wav

    valset = Path(valset)
    raw = load_valset(valset)[: limit or None]
    scenes = {str(valset / json.loads(line)["scene"]): json.loads(line)
              for line in (valset / "scenes.jsonl").read_text().splitlines() if line.strip()}
    names = corpus_class_names()
    items = [Item(r["path"], r["question"], r["answer"], r["kind"]) for r in raw]
    items += [reorder(it) for it in items if it.kind == "mcq"]
    described = {it.scene for it in items if it.kind == "description"}
    items += [Item(s, DESCRIBE_PROMPT, quiet_description(_background_label(sc)), "description")
              for s, sc in scenes.items()
              if sc.get("type") == "quiet" and s not in described]  # every quiet scene is described
    items += [Item(s, LIVE_PROMPT, nothing_recent(_background_label(sc)), "feed")
              for s, sc in scenes.items() if not sc.get("events")]  # and asked sam-live's feed question
    items += [Item(f"{it.scene}#{MARGINS}", it.question, it.answer, it.kind, MARGINS) for it in list(items)
              if it.kind == "description" and scenes.get(it.scene, {}).get("events")]  # inside digital silence
    cache: dict[str, torch.Tensor] = {}

    def read(path: str) -> torch.Tensor:
        """A scene's audio ('#margins': inside MARGIN_S of zeros); the few most recent stay in memory."""
        if path not in cache:
            if len(cache) > 64:
                cache.clear()
            audio = torch.from_numpy(read_wav(Path(_base(path))))
            if path.endswith(f"#{MARGINS}"):
                audio = F.pad(audio, (int(MARGIN_S * SAMPLE_RATE),) * 2)
            cache[path] = audio
        return cache[path]

    start = time.perf_counter()
    cloze = ClozeScorer(model, items)
    preds = answer_items(model, items, read, batch_size, max_new_tokens, on_heard=cloze)
    quiet = {it.scene for it in items if it.kind == "feed"}  # every scene without events is asked the feed question
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
                           "correct": _correct(it, p, names)} for it, p in zip(items, preds)]
    return res


# -- reporting -----------------------------------------------------------------------------------
COUNTS = {"mcq_order_agreement": "mcq_pairs", "silence_false_alarm_rate": "silence_scenes",
          "silence_false_alarm_rate_gated": "silence_scenes", "silence_false_alarm_rate_feed": "silence_feed_scenes",
          "silence_false_alarm_rate_feed_ungated": "silence_feed_scenes", "silence_false_class_rate": "silence_scenes",
          "silence_false_class_rate_feed": "silence_feed_scenes",
          "description_false_sound_rate": "description_scenes",
          "description_false_sound_rate_margins": "description_scenes_margins"}  # proportion -> its number of items


def _count_of(key: str, res: dict[str, Any]) -> int | None:
    """How many items the proportion `key` of a report is taken over, when the report says."""
    if key in COUNTS:
        return res.get(COUNTS[key])
    if key.startswith("streaming_") and key.endswith("min_accuracy"):
        return res.get("streaming_n")
    if key.endswith("_accuracy"):
        return res.get(key.removesuffix("_accuracy") + "_n")
    return None


def intervals(res: dict[str, Any]) -> dict[str, list[float]]:
    """A 95% Wilson interval, as `<key>_ci95`, for every proportion whose item count the report holds.

    It says which differences between two reports could be noise: with 53 items, an accuracy of
    0.38 is known only to within about 0.13 either way.
    """
    out = {}
    for k, v in res.items():
        n = _count_of(k, res)
        if isinstance(v, float) and isinstance(n, int) and n > 0:
            out[f"{k}_ci95"] = [round(x, 4) for x in wilson_interval(round(v * n), n)]
    return out


def mcnemar_p(only_a: int, only_b: int) -> float:
    """Two-sided exact McNemar p-value: could the items only A got right and those only B got right
    differ this much by chance, were the two equally good? (A binomial test of the split at 1/2.)"""
    n, k = only_a + only_b, min(only_a, only_b)
    if n == 0:
        return 1.0
    return min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2**n)


def compare(old: dict[str, Any], new: dict[str, Any]) -> str:
    """Two reports of the same valset, item by item: each accuracy's change and how sure it is.

    Pairing the items makes this far sharper than two separate intervals: only the items that
    one checkpoint gets right and the other wrong bear on the difference.
    """
    a, b = old.get("valset", old), new.get("valset", new)
    for name, r in (("first", a), ("second", b)):
        if "correct" not in r:
            raise ValueError(f"the {name} report has no per-item results (it was written before sam-eval kept "
                             "them): evaluate that checkpoint again")
    lines = ["| metric | first | second | change | only first right | only second right | p (McNemar) |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    pooled_x = pooled_y = ""
    for key in a["correct"]:
        x, y = a["correct"][key], b["correct"].get(key)
        if y is None:
            continue
        if len(x) != len(y):
            raise ValueError(f"{key}: {len(x)} items against {len(y)}: the reports are not of the same valset")
        lines.append(_paired_row(key, x, y))
        if pooled(key):
            pooled_x, pooled_y = pooled_x + x, pooled_y + y
    if pooled_x:
        lines.append(_paired_row(POOLED_ROW, pooled_x, pooled_y))
    return "\n".join(lines) + "\n"


POOLED_ROW = "all items, each once"


def pooled(key: str) -> bool:
    """Whether `key`'s items enter the pooled row: not the description items heard again inside
    zeros (margins), nor the multiple-choice items scored again by likelihood (cloze)."""
    return not key.endswith(("_margins_accuracy", "_cloze_accuracy"))


def _paired_row(name: str, x: str, y: str) -> str:
    """One table row of `compare` from two per-item bit strings of equal length."""
    only_a = sum(p == "1" and q == "0" for p, q in zip(x, y))
    only_b = sum(p == "0" and q == "1" for p, q in zip(x, y))
    acc_a, acc_b = x.count("1") / len(x), y.count("1") / len(y)
    return (f"| {name} | {acc_a:.3f} | {acc_b:.3f} | {acc_b - acc_a:+.3f} | {only_a} | {only_b} | "
            f"{mcnemar_p(only_a, only_b):.3g} |")


def chart_rows(reports: dict[str, dict[str, Any]]) -> dict[str, dict[str, tuple[float, float, float]]]:
    """Per kind of question, each report's accuracy and 95% interval, from its per-item results.

    The kinds are those every report has, but the re-hearings inside zeros; the last row pools
    every item once, as `compare` does.
    """
    sets = {name: r.get("valset", r).get("correct") for name, r in reports.items()}
    missing = [name for name, c in sets.items() if not c]
    if missing:
        raise ValueError(f"{', '.join(missing)}: no per-item results (written before sam-eval kept them): "
                         "evaluate that checkpoint again")
    kinds = [k for k in next(iter(sets.values())) if "_margins" not in k and all(k in c for c in sets.values())]
    rows: dict[str, dict[str, tuple[float, float, float]]] = {}
    for kind in [*kinds, "all items"]:
        rows[kind] = {}
        for name, c in sets.items():
            bits = "".join(c[k] for k in kinds if pooled(k)) if kind == "all items" else c[kind]
            rows[kind][name] = (bits.count("1") / len(bits), *wilson_interval(bits.count("1"), len(bits)))
    return rows


def chart(reports: dict[str, dict[str, Any]], png: Path) -> dict[str, dict[str, tuple[float, float, float]]]:
    """Grouped bars of `chart_rows` (one group per kind, one bar per report, 95% intervals), as a PNG."""
    rows = chart_rows(reports)
    plt = pyplot()
    if plt is None:
        raise ValueError("drawing a chart needs matplotlib: pip install 'sam-live[plots]'")
    names = list(reports)
    width = 0.8 / len(names)
    fig, ax = plt.subplots(figsize=(min(16.0, max(8.0, 0.45 * len(rows) * (1 + len(names) / 5))), 4.8))
    for i, name in enumerate(names):
        xs = [j + (i - (len(names) - 1) / 2) * width for j in range(len(rows))]
        acc = [rows[k][name][0] for k in rows]
        err = [[a - rows[k][name][1] for a, k in zip(acc, rows)], [rows[k][name][2] - a for a, k in zip(acc, rows)]]
        ax.bar(xs, acc, width, yerr=err, capsize=2, label=name)
    ax.set_xticks(range(len(rows)), [k.removesuffix("_accuracy").replace("_", " ") for k in rows],
                  rotation=35, ha="right")
    ax.set_ylabel("accuracy (95% interval)")
    ax.set_ylim(0, 1)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize="small", ncol=min(len(names), 6), loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return rows


def markdown(res: dict[str, Any], title: str) -> str:
    """The report's headline numbers as a markdown table, with the 95% interval where there is one."""
    lines = [f"## {title}", "", "| metric | value | 95% interval |", "| --- | --- | --- |"]
    for k, v in res.items():
        if k == "examples" or isinstance(v, (dict, list)):
            continue
        ci = res.get(f"{k}_ci95")
        shown = f"{v:.3f}" if isinstance(v, float) else f"{v}"
        lines.append(f"| {k} | {shown} | {f'{ci[0]:.3f}-{ci[1]:.3f}' if ci else ''} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments and evaluate."""
    p = argparse.ArgumentParser(prog="sam-eval", description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", type=Path, help="SAM checkpoint directory (default: the model in assets/)")
    p.add_argument("--valset", type=Path, default=Path("data/val"), help="validation set folder (sam-data valset)")
    p.add_argument("--out", type=Path, default=Path("eval"), help="folder for report.json and report.md")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                   help="cpu or cuda (default: cuda when there is one)")
    p.add_argument("--batch-size", type=int, default=32, help="answers decoded together")
    p.add_argument("--limit", type=int, default=0, help="evaluate only the first N validation items")
    p.add_argument("--stream-minutes", type=float, nargs="*", default=[1, 5, 30],
                   help="earlier audio before the streaming questions (none: skip)")
    p.add_argument("--audiocaps", type=Path, help="AudioCaps-style caption CSV (with --audio-dir)")
    p.add_argument("--clotho", type=Path, help="Clotho-style caption CSV (with --audio-dir)")
    p.add_argument("--audio-dir", type=Path, help="folder of the caption benchmark's audio")
    p.add_argument("--openaqa", type=Path, help="OpenAQA-style QA JSON")
    p.add_argument("--audio-root", type=Path, help="folder to find OpenAQA audio in by file name")
    p.add_argument("--skip-valset", action="store_true", help="only the public benchmarks")
    p.add_argument("--compare", type=Path, nargs=2, metavar=("FIRST", "SECOND"),
                   help="compare two reports (report.json or its folder) of the same valset item by item, "
                        "print the table and exit")
    p.add_argument("--chart", nargs="+", metavar="[LABEL=]REPORT",
                   help="draw the accuracies of several reports of the same valset, per kind of question, "
                        "as OUT/chart.png (a label names each bar; default: the report's folder) and exit")
    args = p.parse_args(argv)
    if args.chart:
        try:
            reports = {}
            for spec in args.chart:
                label, _, path = spec.rpartition("=")
                path = Path(path)
                reports[label or (path.parent.name if path.suffix == ".json" else path.name)] = _read_report(path)
            png = args.out / "chart.png"
            chart(reports, png)
        except ValueError as e:
            raise SystemExit(f"error: {e}") from e
        print(f"wrote {png}")
        return 0
    if args.compare:
        try:
            print(compare(*(_read_report(r) for r in args.compare)), end="")
        except ValueError as e:
            raise SystemExit(f"error: {e}") from e
        return 0
    path = args.checkpoint or default_checkpoint()
    if path is None:
        p.error("no checkpoint: pass --checkpoint DIR (no default model is installed)")
    try:
        model = load_sam(path, device=args.device)
        report = {"checkpoint": str(path), "model": model.name}
        if not args.skip_valset:
            report["valset"] = evaluate_valset(model, args.valset, args.batch_size, args.limit,
                                               tuple(args.stream_minutes))
        report.update(_public(model, args))
    except ValueError as e:
        raise SystemExit(f"error: {e}") from e
    args.out.mkdir(parents=True, exist_ok=True)
    predictions = report.get("valset", {}).pop("predictions", [])
    if predictions:  # every answer, for reading the mistakes
        (args.out / "predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in predictions))
    (args.out / "report.json").write_text(json.dumps(report, indent=1))
    md = "".join(markdown(v, k) for k, v in report.items() if isinstance(v, dict))
    (args.out / "report.md").write_text(md)
    print(md)
    return 0


def _read_report(path: Path) -> dict[str, Any]:
    """A report.json, given as the file or its folder."""
    file = path / "report.json" if path.is_dir() else path
    try:
        return json.loads(file.read_text())
    except FileNotFoundError:
        raise ValueError(f"{file}: no such report; pass a report.json written by sam-eval, or its folder") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{file}: not a JSON report ({e}); pass a report.json written by sam-eval") from None


def _public(model: SAM, args: argparse.Namespace) -> dict[str, Any]:
    from .public_data import load_audiocaps, load_clotho, load_openaqa

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


if __name__ == "__main__":
    raise SystemExit(main())
