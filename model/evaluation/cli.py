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
checkpoints really differ, and predictions.jsonl with every answer. With --yamnet-baseline, YAMNet
answers the same items through model/data/audioset.tsv, reported beside the model's figures.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from ..checkpoint import default_checkpoint, load_sam
from .benchmarks import public_benchmarks
from .charts import chart
from .report import markdown, read_report
from .stats import compare
from .valset import evaluate_valset
from .wordset import WORDINGS, evaluate_wordset, wordset_markdown
from .yamnet_baseline import baseline_markdown, evaluate_yamnet


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
    p.add_argument("--wordset", type=Path,
                   help="also the wording set (sam-data wordset): trained, held-out and hand-written wording, "
                        "answer-form errors and the yes/no balance")
    p.add_argument("--wordings", nargs="+", default=[], metavar="WORDING",
                   help=f"only the wording set's items in these wordings ({', '.join(WORDINGS)})")
    p.add_argument("--yamnet-baseline", nargs="?", type=Path, const=Path("data/yamnet"), metavar="DIR",
                   help="also let YAMNet (weights in DIR, default data/yamnet: `make yamnet`) answer the same items "
                        "through model/data/audioset.tsv, its threshold chosen on training scenes of data/corpus.tar; "
                        "reported beside the model as yamnet_baseline")
    p.add_argument("--free-answers", action="store_true",
                   help="the model alone: answer every question freely, even one that states its answer's form "
                        "('yes or no', labelled options), which sam-live and sam-ask keep to by default")
    p.add_argument("--no-tags", action="store_true",
                   help="without what the YAMNet branch tagged (model/tags.py) in the choice between closed answers, "
                        "which sam-live and sam-ask weigh by default: the language model's own choice")
    p.add_argument("--skip-valset", action="store_true", help="not the validation set (only --wordset and the "
                                                                  "public benchmarks)")
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
                reports[label or (path.parent.name if path.suffix == ".json" else path.name)] = read_report(path)
            png = args.out / "chart.png"
            chart(reports, png)
        except ValueError as e:
            raise SystemExit(f"error: {e}") from e
        print(f"wrote {png}")
        return 0
    if args.compare:
        try:
            print(compare(*(read_report(r) for r in args.compare)), end="")
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
                                               tuple(args.stream_minutes), forms=not args.free_answers,
                                               tags=not args.no_tags)
        if args.wordset:
            report["wordset"] = evaluate_wordset(model, args.wordset, args.batch_size, args.limit,
                                                 forms=not args.free_answers, tags=not args.no_tags,
                                                 wordings=tuple(args.wordings))
        report.update(public_benchmarks(model, args))
        if args.yamnet_baseline:  # before the predictions leave the report: the baseline is paired with them
            report["yamnet_baseline"] = evaluate_yamnet(args.yamnet_baseline, None if args.skip_valset else args.valset,
                                                        args.wordset, limit=args.limit, model_report=report)
    except ValueError as e:
        raise SystemExit(f"error: {e}") from e
    args.out.mkdir(parents=True, exist_ok=True)
    for section, name in (("valset", "predictions.jsonl"), ("wordset", "wordset_predictions.jsonl")):
        predictions = report.get(section, {}).pop("predictions", [])
        if predictions:  # every answer, for reading the mistakes
            (args.out / name).write_text("".join(json.dumps(r) + "\n" for r in predictions))
    (args.out / "report.json").write_text(json.dumps(report, indent=1))
    md = "".join(wordset_markdown(v) if k == "wordset" else baseline_markdown(v) if k == "yamnet_baseline"
                 else markdown(v, k) for k, v in report.items() if isinstance(v, dict))
    (args.out / "report.md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
