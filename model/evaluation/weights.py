"""How much the tags weigh: every item's answers scored once, then each weight tried, in two folds split by
source package.

The tags add `weight` x their log-odds to the closed answers' log-probabilities (answer_forms.HEARD_WEIGHT)
and to the classes an open answer is named again among (naming.NAME_WEIGHT). Both act after the language
model has scored its answers, so each item is heard and scored once and any weight replayed on the
scores. Users' sounds come from sources the model never heard: the sets to choose on are recordings of
packages left out of training (`sam-data valset --packages ...`). Their source packages are dealt into
two folds; the weight is chosen on one fold and measured on the other, both ways round. A model with a
presence head (model/presence.py) has its weights (answer_forms.OWN_WEIGHT, naming.NAME_OWN_WEIGHT) chosen
the same way, the tags' kept at theirs.

    python -m model.evaluation.weights --valset data/val_new_single data/val_new_unheard \\
        --catalog data/corpus_all/catalog.jsonl --out eval/weights.json
"""
from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..answer_forms import HEARD_WEIGHT, asked_form, heard_priors, question_form
from ..generate import choice_scores, generate, without_end
from ..naming import (NAME_WEIGHT, asked_categories, candidates, choose_name, feed_bias, named_answer, named_own,
                      named_scores, wants_renaming)
from ..prompt import answer_ids, prompt_ids
from ..sam import SAM
from ..spelling import respelled
from .answering import Item
from .scoring import corpus_class_names, correct

WEIGHTS = (0.0, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0)
CLOSED_KINDS = ("mcq", "tf")  # the valset kinds whose answers are chosen among closed ones
OPEN_KINDS = ("open",)


@dataclass
class Scored:
    """One item with what any weight needs: the closed answers' log-probabilities and the tags' log-odds for
    each (at weight 1), or the free answer with every candidate class's log-probability and the tags read."""

    item: Item
    packages: tuple[str, ...]
    choices: list[str] = field(default_factory=list)
    logp: list[float] = field(default_factory=list)
    evidence: list[float] | None = None
    own: list[float] | None = None  # the presence head's log-odds for each (at weight 1), with a head
    decoded: str = ""
    names: dict[str, float] = field(default_factory=dict)
    tags: torch.Tensor | None = None
    own_named: dict[str, float] = field(default_factory=dict)  # the presence head's support for each class named

    def answer(self, weight: float, own_weight: float = 0.0) -> str:
        """The answer at `weight` (and the presence head's at `own_weight`), as sam-ask would give it."""
        if self.choices:
            extra = self.evidence or [0.0] * len(self.choices)
            own = self.own or [0.0] * len(self.choices)
            scores = [lp + weight * e + own_weight * o for lp, e, o in zip(self.logp, extra, own)]
            return self.choices[max(range(len(scores)), key=scores.__getitem__)]
        said = wants_renaming(self.item.question, self.decoded)
        if not self.names or said is None:
            return self.decoded
        name = choose_name(self.names, self.tags, weight, added=not asked_categories(self.item.question),
                           own=self.own_named, own_weight=own_weight)
        return named_answer(self.decoded, said, name)


@torch.inference_mode()
def score_valset(model: SAM, valset: Path, packages: dict[str, str],
                 kinds: tuple[str, ...] = CLOSED_KINDS + OPEN_KINDS) -> list[Scored]:
    """Every item of `kinds` of a valset (`sam-data valset`) heard and scored once; `packages`: clip id -> source
    package."""
    from ..data.valset import load_valset, read_wav

    scenes = {json.loads(s)["scene"]: json.loads(s) for s in (valset / "scenes.jsonl").read_text().splitlines() if s}
    by_scene: dict[str, list[dict]] = {}
    for r in load_valset(valset):
        if r["kind"] in kinds:
            by_scene.setdefault(r["path"], []).append(r)
    out = []
    for path, rows in by_scene.items():
        state = model.hear(torch.from_numpy(read_wav(Path(path))))
        events = scenes[rows[0]["scene"]].get("events", [])
        source = tuple(sorted({packages.get(e.get("clip_id"), "") for e in events} - {""}))
        for r in rows:
            out.append(_scored(model, state, Item(path, r["question"], r["answer"], r["kind"]), source))
    return out


def _scored(model: SAM, state, item: Item, source: tuple[str, ...]) -> Scored:
    tok, lm = model.tokenizer, model.lm
    form = question_form(tok, item.question)
    prompt = prompt_ids(tok, form.asked or item.question)
    logits, pushed = lm(torch.tensor([prompt], device=model.device), state=state.lm)
    scored = Scored(item, source)
    if form.choices:
        scored.choices = form.said or [tok.decode(without_end(tok, c)).strip() for c in form.choices]
        scored.logp = choice_scores(lm, tok, pushed, logits[:, -1], form.choices).tolist()
        question = respelled(item.question)  # as question_form reads it
        read = asked_form(question)
        scored.evidence = heard_priors(read, question, state.tags, weight=1.0, own_weight=0.0)
        scored.own = heard_priors(read, question, state.tags, weight=0.0, own_weight=1.0)
        return scored
    scored.decoded = generate(lm, tok, state.lm.fork(), prompt, 64, banned=form.banned, once=True,
                              unwanted=form.unwanted, item_bias=feed_bias(tok, item.question, state.tags)).text
    said = wants_renaming(item.question, scored.decoded)
    if said is not None and state.tags is not None and state.tags.columns:
        names = candidates(item.question, said)
        logp = choice_scores(lm, tok, pushed, logits[:, -1], [answer_ids(tok, c) for c in names]).tolist()
        scored.names, scored.tags = dict(zip(names, logp)), named_scores(item.question, state.tags)
        scored.own_named = named_own(item.question, state.tags)
    return scored


def accuracy(items: list[Scored], weight: float, kinds: tuple[str, ...], own: bool = False) -> tuple[float, int]:
    """(share right, n) of the items of `kinds` answered at `weight`; with `own`, `weight` is the presence head's
    and the tags keep theirs (HEARD_WEIGHT for closed answers, NAME_WEIGHT for open ones)."""
    names = corpus_class_names()
    at = (lambda s: s.answer(HEARD_WEIGHT if s.choices else NAME_WEIGHT, weight)) if own else (lambda s: s.answer(weight))
    right = [correct(s.item, at(s), names) for s in items if s.item.kind in kinds]
    return (sum(right) / len(right) if right else 0.0), len(right)


def folds(items: list[Scored]) -> tuple[list[Scored], list[Scored]]:
    """The items dealt into two folds by source package (sorted, alternately); an item whose recording mixes
    both folds' packages, or has none, is in neither."""
    order = sorted({p for s in items for p in s.packages})
    side = {p: i % 2 for i, p in enumerate(order)}
    out: tuple[list[Scored], list[Scored]] = ([], [])
    for s in items:
        sides = {side[p] for p in s.packages}
        if len(sides) == 1:
            out[sides.pop()].append(s)
    return out


def cross_validate(items: list[Scored], kinds: tuple[str, ...], weights=WEIGHTS, own: bool = False) -> dict[str, Any]:
    """Each fold's accuracy at every weight, the weight each chooses and what it scores on the other fold (with
    `own`, the presence head's weight, the tags' at theirs)."""
    res: dict[str, Any] = {"weights": list(weights), "folds": []}
    pair = folds(items)
    for k in (0, 1):
        tune, test = pair[k], pair[1 - k]
        on_tune = [accuracy(tune, w, kinds, own)[0] for w in weights]
        best = weights[max(range(len(weights)), key=on_tune.__getitem__)]
        test_at_chosen, test_n = accuracy(test, best, kinds, own)
        res["folds"].append({"tune_n": sum(s.item.kind in kinds for s in tune), "tune": on_tune, "chosen": best,
                             "test_n": test_n, "test_at_chosen": test_at_chosen})
    n = sum(f["test_n"] for f in res["folds"])
    res["cross_validated"] = sum(f["test_at_chosen"] * f["test_n"] for f in res["folds"]) / max(n, 1)
    res["all_items"] = [accuracy(items, w, kinds, own)[0] for w in weights]
    return res


def main(argv: list[str] | None = None) -> int:
    """Score the sets once, cross-validate the weights of closed and open answers, print and write the result."""
    from ..checkpoint import default_checkpoint, load_sam

    p = argparse.ArgumentParser(prog="python -m model.evaluation.weights", description=__doc__.split("\n\n")[0])
    p.add_argument("--valset", type=Path, nargs="+", required=True, help="sets of recordings of unheard sources")
    p.add_argument("--catalog", type=Path, default=Path("data/corpus_all/catalog.jsonl"),
                   help="the corpus catalog the sets were mixed from: each clip's source package")
    p.add_argument("--checkpoint", type=Path, help="SAM checkpoint directory (default: the model in assets/)")
    p.add_argument("--out", type=Path, help="write the result here as JSON")
    p.add_argument("--kinds", nargs="+", choices=CLOSED_KINDS + OPEN_KINDS, default=list(CLOSED_KINDS + OPEN_KINDS),
                   help="the kinds of item to score (default: all)")
    args = p.parse_args(argv)
    if not args.catalog.is_file():
        raise SystemExit(f"{args.catalog}: no corpus catalog; build the corpus the sets came from (sam-data build)")
    packages = {json.loads(x)["id"]: json.loads(x)["package"] for x in args.catalog.read_text().splitlines() if x}
    model = load_sam(args.checkpoint or default_checkpoint()).eval()
    items = [s for v in args.valset for s in score_valset(model, v, packages, tuple(args.kinds))]
    res = {"closed": cross_validate(items, CLOSED_KINDS), "open": cross_validate(items, OPEN_KINDS),
           "valsets": [str(v) for v in args.valset]}
    shown = [("closed answers (mcq, tf)", res["closed"]), ("open answers, named again", res["open"])]
    if model.presence is not None:
        res["closed_presence_head"] = cross_validate(items, CLOSED_KINDS, own=True)
        res["open_presence_head"] = cross_validate(items, OPEN_KINDS, own=True)
        shown.append((f"closed answers, the presence head's weight (the tags' at {HEARD_WEIGHT})",
                      res["closed_presence_head"]))
        shown.append((f"open answers, the presence head's weight (the tags' at {NAME_WEIGHT})",
                      res["open_presence_head"]))
    for name, r in shown:
        print(f"{name}: weights {r['weights']}")
        for k, f in enumerate(r["folds"]):
            print(f"  fold {k} chooses {f['chosen']} (n={f['tune_n']}: " + " ".join(f"{a:.3f}" for a in f["tune"])
                  + f"); on the other fold (n={f['test_n']}): {f['test_at_chosen']:.3f}")
        print(f"  cross-validated {r['cross_validated']:.3f}; all items: "
              + " ".join(f"{a:.3f}" for a in r["all_items"]))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
