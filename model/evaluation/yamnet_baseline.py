"""YAMNet as a baseline for sam-eval: the AudioSet tagger answers the same items, mapped onto our classes.

YAMNet hears each recording as 0.96 s patches every 0.48 s (plus one ending at the last frame, so
the tail is heard); its 521 scores are pooled over the patches (max or mean, chosen on training
scenes) and merged onto our classes by model/data/audioset.tsv: a class of ours scores the highest
of the AudioSet classes mapped to it (same/into). Open questions get the top such class (AudioSet's
ranking, new and dropped classes skipped; also reported: the raw top-1 with new classes allowed,
and the top class of the category the question asks for), multiple choice the option whose class
scores highest, tags and descriptions every class over a threshold, yes/no questions whether the
asked class is over it. An umbrella class ('music', 'bird', 'engine') gives way to a member over the
threshold, as our labels name the most specific class. The threshold and the pooling are chosen on
scenes mixed from TRAINING-split clips, never on the evaluation items. Counting, order, timing and
loudness are skipped: a tagger cannot answer them. Answers are text, scored by the model's own scoring.
"""
from __future__ import annotations

import argparse
import json
import random
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterable, Iterator

import torch
from torch import Tensor

from ..data.audioset import default_map
from ..data.labels import load_classes
from ..data.mixer import MixConfig, mix_scene
from ..data.tasks import quiet_description
from ..yamnet import DEFAULT_DIR, YAMNet, load_yamnet
from .answering import Item, reorder
from .report import read_report
from .scoring import background_label, corpus_class_names, correct, score
from .stats import intervals, mcnemar_p
from .yamnet_answers import Heard, Tagger, answer_valset, answer_wordset, asked_category, hear

POOLINGS = ("max", "mean")
THRESHOLDS = tuple(round(0.01 * k, 2) for k in range(1, 100))  # the grid the calibration searches
CALIBRATION_SCENES = 200  # training scenes mixed as the validation set mixes its own
CALIBRATION_SEED = 20251
SKIPPED = ("count", "order", "loudness", "when", "quiet", "unknowable")  # no tagger can answer these
DEFAULT_CORPUS = Path("data/corpus.tar")


# ---------------------------------------------------------------- threshold and pooling, from training scenes

def training_scenes(corpus: str | Path, n: int, seed: int) -> Iterator:
    """`n` scenes mixed from TRAINING-split clips in the validation set's proportions (quiet, streams, ordinary)."""
    from ..data.corpus import load_corpus
    from ..data.dataset import clip_bank
    from ..data.valset import QUIET_SHARE, STREAM_S, STREAM_SHARE

    bank, mix = clip_bank(load_corpus(corpus).subset("train")), MixConfig()
    for i in range(n):
        rng = random.Random(f"yamnet-calibration/{seed}/{i}")
        if i < round(n * QUIET_SHARE):
            yield mix_scene(bank, rng, replace(mix, background_prob=0.5), n_events=0)
        elif i < round(n * (QUIET_SHARE + STREAM_SHARE)):
            yield mix_scene(bank, rng, mix, duration_s=rng.uniform(*STREAM_S))
        else:
            yield mix_scene(bank, rng, mix)


def calibrate(model: YAMNet, tagger: Tagger, corpus: str | Path = DEFAULT_CORPUS, n_scenes: int = CALIBRATION_SCENES,
              seed: int = CALIBRATION_SEED) -> tuple[Tagger, dict[str, Any]]:
    """The pooling and threshold with the best tag F1 (micro, against events and background) on training scenes."""
    golds: dict[str, set[str]] = {}

    def recordings() -> Iterator[tuple[str, Tensor]]:
        for i, scene in enumerate(training_scenes(corpus, n_scenes, seed)):
            golds[str(i)] = set(scene.labels)
            yield str(i), torch.from_numpy(scene.audio)

    heard = hear(model, recordings())
    gold = torch.tensor([[c in golds[k] for c in tagger.names] for k in heard])  # (N, C)
    busy = gold.any(1)
    table = {}
    for how in POOLINGS:
        m = tagger.mapped(torch.stack([h.pool(how) for h in heard.values()]))  # (N, C)
        f1 = torch.stack([2 * (tagger.over(m, t) & gold).sum() / (tagger.over(m, t).sum() + gold.sum())
                          for t in THRESHOLDS])
        best = int(f1.argmax())
        top1 = gold[busy].gather(1, m[busy].argmax(1, keepdim=True)).float().mean()
        table[how] = {"threshold": THRESHOLDS[best], "tag_f1": round(float(f1[best]), 4),
                      "top1_in_scene": round(float(top1), 4)}
    chosen = max(POOLINGS, key=lambda h: table[h]["tag_f1"])
    return replace(tagger, pooling=chosen, threshold=table[chosen]["threshold"]), {
        "how": f"{n_scenes} scenes mixed from the corpus's training split (seed {seed}) as sam-data valset mixes; "
               f"for each pooling the threshold on {THRESHOLDS[0]}..{THRESHOLDS[-1]} with the best micro F1 of the "
               "classes over it against each scene's events and background; the pooling with the better F1 is kept",
        "scenes": len(heard), "by_pooling": table, "chosen": chosen}


# ---------------------------------------------------------------- the runs

def valset_items(valset: Path, limit: int = 0) -> tuple[list[Item], dict[str, dict]]:
    """The validation items as sam-eval asks them (model/evaluation/valset.py), less the margins and feed
    variants, plus each open item again for the raw top-1 (variant 'raw') and, where the question asks for a
    category ('What animal is that?'), for the top class of that category (variant 'category')."""
    from ..data.valset import load_valset
    from ..prompt import DESCRIBE_PROMPT

    raw = load_valset(valset)[: limit or None]
    scenes = {str(valset / json.loads(line)["scene"]): json.loads(line)
              for line in (valset / "scenes.jsonl").read_text().splitlines() if line.strip()}
    items = [Item(r["path"], r["question"], r["answer"], r["kind"]) for r in raw]
    items += [reorder(it) for it in items if it.kind == "mcq"]
    described = {it.scene for it in items if it.kind == "description"}
    items += [Item(s, DESCRIBE_PROMPT, quiet_description(background_label(sc)), "description")
              for s, sc in scenes.items() if sc.get("type") == "quiet" and s not in described]
    opens = [it for it in items if it.kind == "open"]
    items += [replace(it, variant="raw") for it in opens]
    items += [replace(it, variant="category") for it in opens if asked_category(it.question)]
    return items, scenes


def _heard(model: YAMNet, paths: Iterable[str]) -> dict[str, Heard]:
    from ..data.valset import read_wav

    return hear(model, ((p, torch.from_numpy(read_wav(Path(p)))) for p in dict.fromkeys(paths)))


def evaluate_valset_baseline(model: YAMNet, tagger: Tagger, valset: str | Path, limit: int = 0) -> dict[str, Any]:
    """Every metric sam-eval gives the model, for YAMNet's answers to the kinds it can answer."""
    valset = Path(valset)
    items, scenes = valset_items(valset, limit)
    names = corpus_class_names()
    heard = _heard(model, (it.scene for it in items))
    answered, preds, skipped = [], [], {}
    for it in items:
        p = answer_valset(it, heard[it.scene], tagger, names)
        if p is None:
            skipped[it.kind] = skipped.get(it.kind, 0) + 1
        else:
            answered.append(it)
            preds.append(p)
    res = {"items": len(answered), "skipped": skipped, **score(answered, preds, names, scenes)}
    reachable = {r.ours for r in tagger.rows if r.ours}
    right = [correct(it, p, names) for it, p in zip(answered, preds)
             if it.kind == "open" and not it.variant and it.answer in reachable]
    if right:  # open items about a class some AudioSet class maps onto: the rest YAMNet can never name
        res.update({"open_reachable_accuracy": sum(right) / len(right), "open_reachable_n": len(right)})
    raw = [p for it, p in zip(answered, preds) if it.variant == "raw"]
    if raw:
        res["open_raw_new_share"] = sum(p not in tagger.classes for p in raw) / len(raw)
    res["unreachable_classes"] = sorted(set(tagger.classes) - reachable)
    res.update(intervals(res))
    res["predictions"] = [{"scene": str(Path(it.scene).relative_to(valset)), "kind": it.kind, "variant": it.variant,
                           "question": it.question, "answer": it.answer, "predicted": p,
                           "correct": correct(it, p, names)} for it, p in zip(answered, preds)]
    return res


def evaluate_wordset_baseline(model: YAMNet, tagger: Tagger, folder: str | Path, limit: int = 0) -> dict[str, Any]:
    """The wording set's measures for YAMNet's answers, with each kind's accuracy over all wordings."""
    from .wordset import _proportion, load_wordset, score_wordset

    folder = Path(folder)
    rows, scenes = load_wordset(folder)
    rows = rows[: limit or None]
    names = corpus_class_names()
    heard = _heard(model, (str(folder / r["scene"]) for r in rows))
    answered, preds, skipped = [], [], {}
    for r in rows:
        p = answer_wordset(r, heard[str(folder / r["scene"])], tagger, names)
        if p is None:
            skipped[r["kind"]] = skipped.get(r["kind"], 0) + 1
        else:
            answered.append(r)
            preds.append(p)
    res = {"skipped": skipped, **score_wordset(answered, preds, scenes, names)}
    kinds = sorted({r["kind"] for r in answered})
    res["by_kind"] = {k: _proportion(sum(p["correct"] for p in res["predictions"] if p["kind"] == k),
                                     sum(p["kind"] == k for p in res["predictions"])) for k in kinds}
    return res


VALSET_KEY = ("scene", "kind", "variant", "question")
BASELINE_ONLY = ("raw", "category")  # variants only the baseline answers: paired with the model's plain item
WORDSET_KEY = ("scene", "wording", "kind", "question")


def beside(baseline: list[dict], model: list[dict], key: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """Per kind, YAMNet and the model on exactly the same items (paired: an exact McNemar p)."""
    model_right = {tuple(p.get(f, "") for f in key): bool(p["correct"]) for p in model}
    pairs: dict[str, list[tuple[bool, bool]]] = {}
    for p in baseline:
        asked = {**p, "variant": "" if p.get("variant") in BASELINE_ONLY else p.get("variant", "")}
        found = model_right.get(tuple(asked.get(f, "") for f in key))  # a raw or category answer: the model's open one
        if found is not None:
            name = p["kind"] + (f"_{p['variant']}" if p.get("variant") else "")
            pairs.setdefault(name, []).append((bool(p["correct"]), found))
    out = {}
    for name, results in sorted(pairs.items()):
        only_y = sum(a and not b for a, b in results)
        only_m = sum(b and not a for a, b in results)
        out[name] = {"n": len(results), "yamnet": round(sum(a for a, _ in results) / len(results), 4),
                     "model": round(sum(b for _, b in results) / len(results), 4), "p": mcnemar_p(only_y, only_m)}
    return out


def results_from_bits(model_valset: dict[str, Any], valset: Path, limit: int = 0) -> list[dict]:
    """A model's per-item results on the validation set, read back from its report's bit strings (`correct`,
    in item order per kind), for `beside` to pair with: a report whose predictions were written elsewhere."""
    groups: dict[str, list[Item]] = {}
    for it in valset_items(valset, limit)[0]:
        if it.variant in ("", "reordered"):  # the items sam-eval asks, in its order
            groups.setdefault(it.kind + (f"_{it.variant}" if it.variant else ""), []).append(it)
    out = []
    for key, bits in model_valset.get("correct", {}).items():
        group = groups.get(key.removesuffix("_accuracy"))
        if group is None:
            continue
        if len(bits) != len(group):
            raise ValueError(f"{key}: {len(bits)} items in the model's report, {len(group)} in {valset}: "
                             "the report is of another validation set (or another --limit)")
        out += [{"scene": str(Path(it.scene).relative_to(valset)), "kind": it.kind, "variant": it.variant,
                 "question": it.question, "correct": b == "1"} for it, b in zip(group, bits)]
    return out


def evaluate_yamnet(weights: str | Path, valset: str | Path | None = None, wordset: str | Path | None = None,
                    corpus: str | Path = DEFAULT_CORPUS, limit: int = 0,
                    model_report: dict[str, Any] | None = None) -> dict[str, Any]:
    """YAMNet's figures on the validation and wording sets, beside the model's when its report (with its
    predictions) is given."""
    start = time.perf_counter()
    model = load_yamnet(weights)
    tagger, calibration = calibrate(model, Tagger(load_classes(), default_map()), corpus)
    out: dict[str, Any] = {"yamnet": {
        "weights": str(weights), "table": "model/data/audioset.tsv", "pooling": tagger.pooling,
        "threshold": tagger.threshold, "calibration": calibration,
        "hearing": "0.96 s patches every 0.48 s plus one ending at the last frame; a question naming a moment "
                   "('at 7.3 s') hears the patches over it, 'what just happened' the last seconds it asks about",
        "skipped": f"kinds a tagger cannot answer: {', '.join(SKIPPED)}; true/false claims about counts and order; "
                   "the valset's margins and feed variants (tests of sam-live's gate, not of hearing)"}}
    for section, folder, run, key in (("valset", valset, evaluate_valset_baseline, VALSET_KEY),
                                      ("wordset", wordset, evaluate_wordset_baseline, WORDSET_KEY)):
        if folder is None:
            continue
        res = run(model, tagger, folder, limit)
        predictions = res.pop("predictions")
        theirs = (model_report or {}).get(section, {})
        if section == "valset" and theirs and not theirs.get("predictions"):
            theirs = {"predictions": results_from_bits(theirs, Path(folder), limit)}
        if theirs.get("predictions"):
            res["beside_model"] = beside(predictions, theirs["predictions"], key)
            res["model_checkpoint"] = model_report.get("checkpoint")
        res["examples"] = predictions[:: max(1, len(predictions) // 40)]
        out[section] = res
    out["eval_seconds"] = round(time.perf_counter() - start, 1)
    return out


# ---------------------------------------------------------------- report

def baseline_markdown(res: dict[str, Any]) -> str:
    """The baseline's headline figures per kind, with the model's on the same items when measured."""
    y = res["yamnet"]
    lines = ["## yamnet baseline", "", f"YAMNet, {y['pooling']}-pooled, threshold {y['threshold']} (chosen on "
             f"{y['calibration']['scenes']} training scenes), mapped by {y['table']}. Skipped: {y['skipped']}.", ""]
    for section in ("valset", "wordset"):
        r = res.get(section)
        if not r:
            continue
        shown = {**{k: (v["value"], v["n"], v["ci95"]) for k, v in r.get("by_kind", {}).items()},
                 **{k.removesuffix("_accuracy"): (v, r.get(k.removesuffix("_accuracy") + "_n"), r.get(f"{k}_ci95"))
                    for k, v in r.items() if k.endswith("_accuracy") and isinstance(v, float)}}
        whose = f" (model: {r['model_checkpoint']})" if r.get("model_checkpoint") else ""
        lines += [f"### {section}{whose}", "", "| kind | n | YAMNet | 95% interval | model, same items | p (McNemar) |",
                  "|---|---:|---:|---|---:|---:|"]
        for kind, (value, n, ci) in shown.items():
            m = r.get("beside_model", {}).get(kind)
            model, p = (f"{m['model']:.3f}", f"{m['p']:.3g}") if m else ("", "")
            lines.append(f"| {kind} | {n} | {value:.3f} | {_interval(ci)} | {model} | {p} |")
        for k in ("description_class_precision", "description_class_recall", "silence_false_alarm_rate"):
            if isinstance(r.get(k), float):
                lines.append(f"| {k} | | {r[k]:.3f} | {_interval(r.get(f'{k}_ci95'))} | | |")
        lines.append("")
    return "\n".join(lines)


def _interval(ci: list[float] | None) -> str:
    return f"{ci[0]:.3f}-{ci[1]:.3f}" if ci else ""


def main(argv: list[str] | None = None) -> int:
    """`python -m model.evaluation.yamnet_baseline`: YAMNet's figures alone, as JSON and a table."""
    p = argparse.ArgumentParser(prog="python -m model.evaluation.yamnet_baseline", description=__doc__.split("\n\n")[0])
    p.add_argument("--weights", type=Path, default=DEFAULT_DIR, help="YAMNet folder (`make yamnet`)")
    p.add_argument("--valset", type=Path, default=Path("data/val"), help="validation set (sam-data valset)")
    p.add_argument("--wordset", type=Path, help="also the wording set (sam-data wordset)")
    p.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="corpus whose training split calibrates")
    p.add_argument("--limit", type=int, default=0, help="only the first N items of each set")
    p.add_argument("--model-report", type=Path, help="a sam-eval report.json of the same sets, to pair with")
    p.add_argument("--out", type=Path, required=True, help="JSON report, e.g. docs/results/yamnet_baseline_val.json")
    args = p.parse_args(argv)
    try:
        theirs = read_report(args.model_report) if args.model_report else None
        res = evaluate_yamnet(args.weights, args.valset, args.wordset, args.corpus, args.limit, theirs)
    except ValueError as e:
        raise SystemExit(f"error: {e}") from e
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=1) + "\n")
    print(baseline_markdown(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
