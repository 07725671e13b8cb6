"""Scoring answers against the known ones: accuracy per kind of question, option-order agreement,
description classes and CIDEr-D, and false alarms on quiet scenes."""
from __future__ import annotations

import functools
from collections import defaultdict
from typing import Any

from ..metrics import ClassNames, cider_d, event_classes, mcq_choice, micro_prf, normalize, says_quiet, true_false
from .answering import FEED, MARGINS, Item, mcq_parts
from .stats import bits


@functools.lru_cache(maxsize=1)  # read by every accuracy the weights' replay computes
def corpus_class_names() -> ClassNames:
    """The corpus classes with their synonyms, as the metrics match them, and the classes audioset.tsv adds
    with theirs (an open answer may name one, model/naming.py), less any phrase one of ours already says."""
    from ..data.audioset import default_map
    from ..data.labels import load_classes

    table = {c.name: c.synonyms for c in load_classes().values()}
    ours = {normalize(p) for name, syns in table.items() for p in (name, *syns)}
    for row in default_map():
        if row.action == "new" and normalize(row.name) not in ours:
            table[row.name] = tuple(s for s in row.synonyms if normalize(s) not in ours)
    return ClassNames.from_table(table)


def score(items: list[Item], preds: list[str], names: ClassNames, scenes: dict[str, dict],
          gated: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Every metric over the answered items; `gated`: scenes sam-live's energy gate calls quiet itself."""
    res: dict[str, Any] = {"correct": {}}  # per item, "1"/"0" in item order: what --compare pairs up
    kinds = defaultdict(list)
    for it, p in zip(items, preds):
        kinds[(it.kind, it.variant)].append((it, p))
    for (kind, variant), rows in sorted(kinds.items()):
        key = kind + (f"_{variant}" if variant else "")
        right = [correct(it, p, names) for it, p in rows]
        res[f"{key}_accuracy"] = sum(right) / len(rows)
        res[f"{key}_n"] = len(rows)
        res["correct"][f"{key}_accuracy"] = bits(right)
    res.update(_mcq_agreement(items, preds))
    res.update(_descriptions(items, preds, names, scenes, gated))
    res.update(_feed(items, preds, names, scenes, gated))
    return res


def correct(it: Item, pred: str, names: ClassNames) -> bool:
    """Whether `pred` answers `it` rightly: the rule every accuracy and per-item result counts by."""
    gold = it.answer
    if it.kind == "mcq":
        _, options = mcq_parts(it.question)
        return mcq_choice(pred, options) == gold[0]
    if it.kind == "tf":
        return true_false(pred) is not None and true_false(pred) == true_false(gold)
    if it.kind in ("open", "order", "loudness"):
        return gold in names.named(pred) and len(names.named(pred)) == 1
    if it.kind in ("recent", "tags", "description", FEED):
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
        prf = micro_prf([names.named(p) for _, p in margins], [_gold(scenes[scene_file(it.scene)]) for it, _ in margins])
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
    busy = [(it, p) for it, p in rows if scenes.get(scene_file(it.scene), {}).get("events")]
    if not busy:
        return {}
    false = sum(bool(names.named(p) - _gold(scenes[scene_file(it.scene)])) for it, p in busy)
    return {f"description_false_sound_rate{suffix}": false / len(busy), f"description_scenes{suffix}": len(busy)}


def _gold(scene: dict) -> set[str]:
    return {e["label"] for e in scene.get("events", [])} | _background(scene)


def scene_file(scene: str) -> str:
    """A scene's file, without the variant a '#' adds to its key (e.g. '#margins')."""
    return scene.split("#", 1)[0]


def _feed(items: list[Item], preds: list[str], names: ClassNames, scenes: dict[str, dict],
          gated: frozenset[str]) -> dict[str, Any]:
    """False alarms of sam-live's feed: its question about the last seconds, asked of scenes
    without events, names an event that is not the background; `gated` scenes the gate answers.
    Also how often it names any class the scene lacks, a misnamed background included."""
    rows = [(it, p) for it, p in zip(items, preds) if it.kind == FEED]
    if not rows:
        return {}
    backgrounds = [_background(scenes.get(it.scene, {})) for it, _ in rows]
    false = [bool(event_classes(p, names) - bg) for (_, p), bg in zip(rows, backgrounds)]
    wrong = [bool(names.named(p) - bg) for (_, p), bg in zip(rows, backgrounds)]
    shown = [f and it.scene not in gated for f, (it, _) in zip(false, rows)]
    return {"silence_false_alarm_rate_feed": sum(shown) / len(rows),
            "silence_false_alarm_rate_feed_ungated": sum(false) / len(rows),
            "silence_false_class_rate_feed": sum(wrong) / len(rows), "silence_feed_scenes": len(rows)}


def background_label(scene: dict) -> str | None:
    """The label of a scene's background sound, or None when it has none."""
    return (scene.get("background") or {}).get("label")


def _background(scene: dict) -> set[str]:
    label = background_label(scene)
    return {label} if label else set()
