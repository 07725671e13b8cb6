"""Choose a watch's question wording and thresholds on TRAINING-split streams: `python -m live.watch_tune`.

The validation streams the benchmark reports (live/watch_bench.py) are never used here. Every
phrase of TUNE_PROBES is traced on a stream with targets and one without, in every wording of
TEMPLATES, all from training recordings; a wording is judged by its hop-level separation (AUC:
confidence while the sound plays against far from it), then thresholds by a grid: the most
target events alerted with at most MAX_FALSE_PER_HOUR false alerts per hour per watch on the
stream without targets (else the fewest false alerts). Writes the traces and a JSON report.
"""
from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from .watch_bench import Probe, figures, make_streams, summary, traced
from .watches import WatchConfig

TEMPLATES = ("Do you hear {phrase}?", "Is there {phrase} right now?", "Can you hear {phrase} at the moment?",
             "Did you just hear {phrase}?", "Is that {phrase}?")
TUNE_PROBES = tuple(Probe(phrase, (cls,), "class") for phrase, cls in (
    ("a dog barking", "dog"), ("an alarm", "alarm"), ("a siren", "siren"), ("a car horn", "car horn"),
    ("a bell ringing", "bell"), ("a door", "door"), ("a phone ringing", "telephone"), ("someone screaming", "scream"),
    ("glass breaking", "glass breaking"), ("a gunshot", "gunshot"), ("an explosion", "explosion"),
    ("footsteps", "footsteps"), ("a notification sound", "notification"), ("running water", "stream"),
    ("people laughing", "laughter"), ("a helicopter", "helicopter")))
ON = tuple(np.round(np.arange(0.1, 0.96, 0.05), 2))  # with the branch's tags, empty streams sit near 0.02
RELEASE = (0.05, 0.1, 0.2, 0.3)  # off = on - this
GAPS = (5.0, 10.0, 20.0)
MAX_FALSE_PER_HOUR = 1.0


def grid(rows_for) -> list[dict]:
    """The summary of every (on, off, gap) of the grid; `rows_for(config)` gives the per-phrase figures."""
    out = []
    for on, release, gap in itertools.product(ON, RELEASE, GAPS):
        if on - release <= 0:  # a watch whose confidence can never fall to `off` fires once a session
            continue
        config = WatchConfig(on=float(on), off=round(float(on) - release, 2), min_gap=gap)
        out.append({"on": config.on, "off": config.off, "min_gap": gap, **summary(rows_for(config))})
    return out


def choose(results: list[dict]) -> dict:
    """The most events alerted within the false-alert budget (else the fewest false alerts); among equals, the
    shortest delay, the fewest false alerts, then the one that repeats least (widest band, longest gap)."""
    within = [r for r in results if r["false_alerts_per_hour_per_watch"] <= MAX_FALSE_PER_HOUR] or \
        [min(results, key=lambda r: r["false_alerts_per_hour_per_watch"])]
    return max(within, key=lambda r: (r["share_alerted"] or 0, -(r["median_delay_s"] or 99),
                                      -r["false_alerts_per_hour_per_watch"], r["on"] - r["off"], r["min_gap"]))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m live.watch_tune", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", metavar="DIR")
    p.add_argument("--corpus", default="data/corpus.tar")
    p.add_argument("--target-minutes", type=float, default=30.0)
    p.add_argument("--empty-minutes", type=float, default=30.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--rescore", action="store_true", help="read the traces of an earlier run instead of tracing")
    p.add_argument("--traces", type=Path, default=Path("eval/watch_tune.traces.npz"),
                   help="every hop's confidences, written (or read with --rescore) here (default: %(default)s)")
    p.add_argument("--out", type=Path, default=Path("docs/results/watch_tune.json"))
    p.add_argument("--template", action="append", metavar="T",
                   help="a wording to trace, with {phrase} (repeatable; default: all of TEMPLATES)")
    p.add_argument("--no-tags", action="store_true",
                   help="watch through the language model's yes/no alone, without what the YAMNet branch tagged")
    args = p.parse_args(argv)
    templates = tuple(args.template or TEMPLATES)
    if any("{phrase}" not in t for t in templates):
        p.error("each --template needs {phrase}, where the watched phrase goes")
    from .models import find_checkpoint, load_model

    torch.backends.cudnn.allow_tf32 = False  # on a GPU: the convolutions in full fp32, as on the CPU
    model = None if args.rescore else load_model(find_checkpoint(args.checkpoint)).to(args.device)
    with_targets, without = make_streams(args.corpus, "train", args.target_minutes, args.empty_minutes, args.seed,
                                         TUNE_PROBES)
    questions = [t.format(phrase=pr.phrase) for t in templates for pr in TUNE_PROBES]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.traces.parent.mkdir(parents=True, exist_ok=True)
    t_times, t_conf, e_times, e_conf, where = traced(model, (with_targets, without), questions,
                                                     args.traces, args.rescore, tags=not args.no_tags)
    hours, n = without.seconds / 3600, len(TUNE_PROBES)

    def rows_for(template: int, config: WatchConfig) -> list[dict]:
        return [figures(pr, (t_times, t_conf[:, template * n + i], with_targets),
                        (e_times, e_conf[:, template * n + i], hours), config) for i, pr in enumerate(TUNE_PROBES)]

    wordings = []
    for k, template in enumerate(templates):
        aucs = [r["separation_auc"] for r in rows_for(k, WatchConfig())]
        known = [a for a in aucs if a is not None]
        wordings.append({"template": template, "mean_auc": statistics.mean(known) if known else None,
                         "auc_by_phrase": dict(zip((pr.phrase for pr in TUNE_PROBES), aucs))})
    best = max(range(len(templates)), key=lambda k: wordings[k]["mean_auc"] or 0)
    sweep = grid(lambda config: rows_for(best, config))
    chosen = choose(sweep)
    config = WatchConfig(on=chosen["on"], off=chosen["off"], min_gap=chosen["min_gap"], template=templates[best])
    report = {"date": time.strftime("%Y-%m-%d"), "traced_on": where, "corpus": args.corpus,
              "target_stream_minutes": with_targets.seconds / 60, "empty_stream_minutes": without.seconds / 60,
              "targets": sum(s.target for s in with_targets.sounds), "wordings": wordings,
              "tags": not args.no_tags, "best_template": templates[best], "chosen": chosen,
              "phrases_at_chosen": rows_for(best, config),
              "sweep": sweep}
    args.out.write_text(json.dumps(report, indent=1))
    for w in wordings:
        print(f"{w['template']:<40} mean AUC {w['mean_auc']:.3f}")
    print("chosen:", json.dumps(chosen))
    return 0


if __name__ == "__main__":
    sys.exit(main())
