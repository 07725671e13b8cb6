"""The presence threshold of each group of sounds ("is anyone there?"), chosen on training scenes.

A group (model/tags.py, GROUPS) is heard by the highest score of its block of AudioSet's ontology: sixty
rows for the sounds people make. The highest of sixty is over the one-row threshold in many scenes where
no member sounds, so each group gets its own threshold: the one with the best F1 of the group's presence
over scenes mixed from the corpus's TRAINING split as the validation set mixes its own (the scenes the YAMNet
baseline calibrates on, model/evaluation/yamnet_baseline.py), each scene heard by the model's branch.

    python -m model.evaluation.groups --checkpoint assets/sam-small --out docs/results/group_thresholds.json
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

GRID = tuple(round(0.05 * k, 2) for k in range(1, 20))  # 0.05 .. 0.95
SCENES = 300
SEED = 777


def best_threshold(present: list[bool], scores: list[float], grid: tuple[float, ...] = GRID) -> dict:
    """The threshold of `grid` with the best F1 of `scores` >= threshold against `present` (the lowest such on a
    tie), with its F1 and true and false positive rates."""
    positives = sum(present)
    negatives = len(present) - positives
    best = None
    for t in grid:
        tp = sum(p and s >= t for p, s in zip(present, scores))
        fp = sum(not p and s >= t for p, s in zip(present, scores))
        f1 = 2 * tp / max(1, tp + fp + positives)
        if best is None or f1 > best["f1"]:
            best = {"threshold": t, "f1": round(f1, 4), "tpr": round(tp / max(1, positives), 4),
                    "fpr": round(fp / max(1, negatives), 4)}
    return best


def measure(checkpoint: str, corpus: str, n_scenes: int, seed: int) -> dict:
    """Each group's block maximum and presence over `n_scenes` training scenes, and the threshold chosen."""
    from ..checkpoint import load_sam
    from ..data.labels import load_classes
    from ..data.questions import group_present
    from ..tags import GROUPS, THRESHOLD, group_blocks
    from .answering import progress
    from .yamnet_baseline import training_scenes

    sam = load_sam(checkpoint).eval()
    if sam.branch is None:
        raise SystemExit(f"error: {checkpoint} has no YAMNet branch: it tags nothing to weigh")
    classes, blocks = load_classes(), group_blocks()
    seen: dict[str, tuple[list[bool], list[float]]] = {g: ([], []) for g in GROUPS}
    for scene in progress(training_scenes(corpus, n_scenes, seed), "hearing training scenes", n_scenes):
        with torch.inference_mode():
            ever = sam.hear(torch.from_numpy(scene.audio)).tags.ever[0]
        for g, rows in blocks.items():
            truth = group_present(scene, g, "ever", classes)
            if truth is not None:
                seen[g][0].append(truth)
                seen[g][1].append(float(ever[list(rows)].max()))
    return {"how": f"{n_scenes} scenes mixed from {corpus}'s training split (seed {seed}) as sam-data valset mixes, "
                   f"heard by {checkpoint}; for each group the threshold on {GRID[0]}..{GRID[-1]} with the best F1 of "
                   "its block's highest score against whether a member class sounds in the scene",
            "groups": {g: {"scenes": len(p), "present": sum(p), **best_threshold(p, s),
                           "at_one_row_threshold": best_threshold(p, s, (THRESHOLD,)), "shipped": GROUPS[g][2]}
                       for g, (p, s) in seen.items()}}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m model.evaluation.groups", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--checkpoint", default="assets/sam-small", help="a model with a YAMNet branch")
    p.add_argument("--corpus", default="data/corpus.tar", help="corpus whose training clips make the scenes")
    p.add_argument("--scenes", type=int, default=SCENES, help="training scenes to hear")
    p.add_argument("--seed", type=int, default=SEED, help="of the scenes")
    p.add_argument("--out", type=Path, help="write the figures here as JSON (default: print them)")
    args = p.parse_args(argv)
    if args.scenes < 1:
        p.error("--scenes must be at least 1")
    if not Path(args.corpus).exists():
        raise SystemExit(f"error: {args.corpus}: no corpus there; build one with `sam-data build`")
    result = json.dumps(measure(args.checkpoint, args.corpus, args.scenes, args.seed), indent=1)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(result + "\n")
    print(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
