"""The wording set (`sam-data wordset`): does the model understand questions however they are worded?

Accuracy per kind of question in trained, held-out and hand-written wording, each beside the same
question about the same audio in trained wording (paired item by item, with an exact McNemar test),
per kind of recording (single clip, scene, stream); the share of answers in the wrong form; and the
yes/no balance: how often "yes" is said of a sound that is absent, beside how often of one present.
"""
from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import torch

from ..data.handwritten import WRITTEN_SETS
from ..data.valset import read_wav
from ..metrics import ClassNames, wilson_interval
from ..sam import SAM
from .answering import Item, answer_items
from .forms import Asked, judge
from .scoring import corpus_class_names
from .stats import bits, mcnemar_p

WORDINGS = ("trained", "held_out") + tuple(w for _, written, twin in WRITTEN_SETS for w in (written, twin))
# (trained wording, the wording it is compared with)
PAIRS = (("trained", "held_out"),) + tuple((twin, written) for _, written, twin in WRITTEN_SETS)
CONTEXTS = ("clip", "scene", "stream")


def load_wordset(folder: Path) -> tuple[list[dict], dict[str, dict]]:
    """The items and the recordings (by their path in the set) of a wording set."""
    for name in ("items.jsonl", "scenes.jsonl"):
        if not (folder / name).exists():
            raise ValueError(f"{folder}: no {name}; write the set with `sam-data wordset --out {folder}`")
    items = [json.loads(line) for line in (folder / "items.jsonl").read_text().splitlines() if line.strip()]
    scenes = [json.loads(line) for line in (folder / "scenes.jsonl").read_text().splitlines() if line.strip()]
    return items, {s["scene"]: s for s in scenes}


@torch.inference_mode()
def evaluate_wordset(model: SAM, folder: str | Path, batch_size: int = 32, limit: int = 0,
                     max_new_tokens: int = 64, forms: bool = True, tags: bool = True,
                     wordings: tuple[str, ...] = ()) -> dict[str, Any]:
    """Every wording measure of `model` on the set written by `sam-data wordset` (with `forms`, answers
    keep to the forms their questions state, as sam-live's do; without, the model answers alone); with
    `wordings`, only the items of those."""
    folder = Path(folder)
    rows, scenes = load_wordset(folder)
    unknown = set(wordings) - set(WORDINGS)
    if unknown:
        raise ValueError(f"no wording {', '.join(sorted(unknown))} in a wording set; choose from {', '.join(WORDINGS)}")
    rows = [r for r in rows if not wordings or r["wording"] in wordings][: limit or None]
    cache: dict[str, torch.Tensor] = {}

    def read(path: str) -> torch.Tensor:
        if path not in cache:
            if len(cache) > 16:
                cache.clear()
            cache[path] = torch.from_numpy(read_wav(Path(path)))
        return cache[path]

    items = [Item(str(folder / r["scene"]), r["question"], r["answer"], r["kind"]) for r in rows]
    preds = answer_items(model, items, read, batch_size, max_new_tokens, forms=forms, tags=tags)
    return {"listed_answers_chosen": forms, "tags_weighed": forms and tags,
            **score_wordset(rows, preds, scenes, corpus_class_names())}


def asked(row: dict, scenes: dict[str, dict]) -> Asked:
    """The judging view of an item of the set."""
    return Asked(row["kind"], row["form"], row["answer"], tuple(row.get("options") or ()), row.get("value"),
                 scenes[row["scene"]]["duration_s"])


def score_wordset(rows: list[dict], preds: list[str], scenes: dict[str, dict], names: ClassNames) -> dict[str, Any]:
    """Accuracy per wording and kind, the pairs' gaps, form errors and the yes/no balance."""
    judged = [judge(asked(r, scenes), p, names) for r, p in zip(rows, preds)]
    res: dict[str, Any] = {"items": len(rows), "correct": {}, "accuracy": {}, "form_errors": {}, "yes_no": {}}
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, r in enumerate(rows):
        for key in ((r["wording"], r["kind"]), (r["wording"], "all"), (f"{r['wording']}:{r['context']}", "all")):
            groups[key].append(i)
    for (wording, kind), idx in sorted(groups.items()):
        right = [judged[i][0] for i in idx]
        res["accuracy"].setdefault(wording, {})[kind] = _proportion(sum(right), len(right))
        if ":" not in wording and kind != "all":
            res["correct"][f"{wording}_{kind}_accuracy"] = bits(right)
    for wording in {r["wording"] for r in rows}:
        idx = [i for i, r in enumerate(rows) if r["wording"] == wording]
        wrong_form = [i for i in idx if not judged[i][1]]
        res["form_errors"][wording] = _proportion(len(wrong_form), len(idx))
        res["form_errors"][wording]["examples"] = [{"question": rows[i]["question"], "answer": rows[i]["answer"],
                                                    "predicted": preds[i]} for i in wrong_form[:8]]
        res["yes_no"][wording] = _yes_no(rows, preds, idx)
    res["pairs"] = _pairs(rows, judged)
    res["predictions"] = [{"scene": r["scene"], "context": r["context"], "wording": r["wording"], "kind": r["kind"],
                           "question": r["question"], "answer": r["answer"], "predicted": p, "correct": j[0],
                           "form_ok": j[1]} for r, p, j in zip(rows, preds, judged)]
    return res


def _proportion(k: int, n: int) -> dict[str, Any]:
    lo, hi = wilson_interval(k, n) if n else (0.0, 1.0)
    return {"value": round(k / n, 4) if n else None, "n": n, "ci95": [round(lo, 4), round(hi, 4)]}


def _yes_no(rows: list[dict], preds: list[str], idx: list[int]) -> dict[str, Any]:
    """'yes' said of absent sounds (false yes) and of present ones (true yes), over the yes/no questions."""
    from ..metrics import yes_no

    absent = [i for i in idx if rows[i]["form"] == "yesno" and rows[i]["answer"] == "no"]
    present = [i for i in idx if rows[i]["form"] == "yesno" and rows[i]["answer"] == "yes"]
    return {"false_yes": _proportion(sum(yes_no(preds[i]) is True for i in absent), len(absent)),
            "true_yes": _proportion(sum(yes_no(preds[i]) is True for i in present), len(present))}


def _pairs(rows: list[dict], judged: list[tuple[bool, bool]]) -> dict[str, Any]:
    """Each pair's items side by side: per kind, both accuracies, the gap and an exact McNemar p-value."""
    out: dict[str, Any] = {}
    for first, second in PAIRS:
        by_pair: dict[str, dict[str, int]] = defaultdict(dict)
        for i, r in enumerate(rows):
            if r["wording"] in (first, second):
                by_pair[r["pair"]][r["wording"]] = i
        per_kind: dict[str, list[tuple[bool, bool]]] = defaultdict(list)
        for members in by_pair.values():
            if len(members) == 2:
                a, b = judged[members[first]][0], judged[members[second]][0]
                per_kind[rows[members[first]]["kind"]].append((a, b))
                per_kind["all"].append((a, b))
        table = {}
        for kind, results in sorted(per_kind.items()):
            only_a = sum(a and not b for a, b in results)
            only_b = sum(b and not a for a, b in results)
            acc_a = sum(a for a, _ in results) / len(results)
            acc_b = sum(b for _, b in results) / len(results)
            table[kind] = {"n": len(results), first: round(acc_a, 4), second: round(acc_b, 4),
                           "gap": round(acc_b - acc_a, 4), "p": mcnemar_p(only_a, only_b)}
        out[f"{first}_vs_{second}"] = table
    return out


def wordset_markdown(res: dict[str, Any], title: str = "wording set") -> str:
    """The headline tables of a wording report: accuracy per kind and wording, the pairs, form errors, yes/no."""
    acc = res["accuracy"]
    wordings = [w for w in WORDINGS if w in acc]
    kinds = sorted({k for w in wordings for k in acc[w]} - {"all"}) + ["all"]
    lines = [f"## {title}", "", "| kind | " + " | ".join(wordings) + " |", "|---" * (len(wordings) + 1) + "|"]
    for k in kinds:
        cells = [f"{acc[w][k]['value']:.3f} ({acc[w][k]['n']})" if k in acc[w] else "" for w in wordings]
        lines.append(f"| {k} | " + " | ".join(cells) + " |")
    for first, second in PAIRS:
        table = res["pairs"].get(f"{first}_vs_{second}", {})
        if not table:
            continue
        lines += ["", f"### {second} against the same questions in {first} wording", "",
                  f"| kind | n | {first} | {second} | gap | p |", "|---|---:|---:|---:|---:|---:|"]
        lines += [f"| {k} | {v['n']} | {v[first]:.3f} | {v[second]:.3f} | {v['gap']:+.3f} | {v['p']:.3g} |"
                  for k, v in table.items()]
    lines += ["", "| wording | answers in the wrong form | false yes (absent sounds) | true yes (present sounds) |",
              "|---|---:|---:|---:|"]
    for w in wordings:
        f, yn = res["form_errors"][w], res["yes_no"][w]
        lines.append(f"| {w} | {_shown(f)} | {_shown(yn['false_yes'])} | {_shown(yn['true_yes'])} |")
    for _, written in PAIRS[1:]:
        contexts = [f"{written}:{c}" for c in CONTEXTS if f"{written}:{c}" in acc]
        if contexts:
            lines += ["", f"| {written}, by recording | accuracy |", "|---|---:|"]
            lines += [f"| {c.split(':')[1]} | {_shown(acc[c]['all'])} |" for c in contexts]
    return "\n".join(lines) + "\n"


def _shown(p: dict[str, Any]) -> str:
    if not p["n"]:
        return "-"
    return f"{p['value']:.3f} ({p['ci95'][0]:.2f}-{p['ci95'][1]:.2f}, n={p['n']})"
