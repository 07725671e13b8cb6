"""`sam-data`: build the corpus, pack it, tag it with the YAMNet teacher, write the fixed validation set, the
wording set and the demo scene."""
from __future__ import annotations

import argparse
from pathlib import Path


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and run one sub-command."""
    p = argparse.ArgumentParser(prog="sam-data", description=__doc__,
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    fmt = dict(formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    b = sub.add_parser("build", help="download, label and process the sources into data/corpus")
    b.add_argument("--out", type=Path, default=Path("data/corpus"), help="corpus folder to write (default: data/corpus)")
    b.add_argument("--cache", type=Path, default=Path("data/cache"),
                   help="downloaded packages, kept for reruns (default: data/cache)")
    b.add_argument("--packages", nargs="*", help="only these packages (default: all listed sources)")
    b.add_argument("--no-synth", action="store_true", help="skip synthesised speech and music")
    b.add_argument("--no-pack", action="store_true", help="do not write the archive afterwards")
    b.add_argument("--workers", type=int, default=2, help="processes decoding and processing recordings (default: 2)")
    b.add_argument("--uncapped", action="store_true",
                   help="keep every recording of every class, not at most 70 per class (450 for speech): about "
                        "9 hours in 15,700 clips instead of 3.4 hours in 4,000")
    k = sub.add_parser("pack", help="pack a built corpus into one archive of at most --budget-mb", **fmt)
    k.add_argument("--corpus", type=Path, default=Path("data/corpus"), help="built corpus folder")
    k.add_argument("--out", type=Path, default=Path("data/corpus.tar"), help="archive to write")
    k.add_argument("--budget-mb", type=float, default=45.0, help="largest archive allowed, in MB")
    k.add_argument("--codec", choices=("opus", "smc"), default="opus",
                   help="opus: Opus in OGG (reading it needs the soundfile package); smc: the project's numpy codec")
    k.add_argument("--split", choices=("train", "validation"), help="pack this split alone (none given: both splits)")
    v = sub.add_parser("valset", help="write the fixed validation set (scenes + items.jsonl)", **fmt)
    v.add_argument("--corpus", type=Path, default=Path("data/corpus.tar"), help="corpus folder or packed archive")
    v.add_argument("--out", type=Path, default=Path("data/val"), help="folder for scenes/, scenes.jsonl, items.jsonl")
    v.add_argument("--scenes", type=int, default=400, help="scenes to mix (about 4 questions each)")
    v.add_argument("--seed", type=int, default=20240, help="the same seed writes the same set")
    v.add_argument("--packages", nargs="*", default=[],
                   help="scenes from these source packages only, from both splits unless --split is given "
                        "(the set for a model trained without them); none given: all packages")
    v.add_argument("--exclude", nargs="*", default=[],
                   help="leave these source packages out (the in-distribution set for a model trained without them)")
    v.add_argument("--single", action="store_true",
                   help="every scene one clip heard alone, with no background or other sound")
    v.add_argument("--added", action="store_true",
                   help="instead: the recordings of model/data/added_eval.tsv, sounds only the classes audioset.tsv "
                        "adds name, asked what they are and yes or no (packages from --cache)")
    v.add_argument("--cache", type=Path, default=Path("data/cache"), help="downloaded packages, for --added")
    v.add_argument("--split", choices=["validation", "train", "all"], default=None,
                   help="recordings to mix: validation (never trained on), train (to measure the generalisation "
                        "gap) or all; default: validation, or all with --packages")
    w = sub.add_parser("wordset", help="write the wording evaluation set: validation clips, scenes and streams asked "
                                       "in trained, held-out and hand-written wording", **fmt)
    w.add_argument("--corpus", type=Path, default=Path("data/corpus.tar"), help="corpus folder or packed archive")
    w.add_argument("--out", type=Path, default=Path("data/val_words"),
                   help="folder for scenes/, scenes.jsonl, items.jsonl")
    w.add_argument("--clips", type=int, default=160, help="single validation clips heard alone")
    w.add_argument("--scenes", type=int, default=240, help="mixed scenes of 1-20 s")
    w.add_argument("--streams", type=int, default=16, help="live streams of 1-4 minutes, asked at their end")
    w.add_argument("--per-context", type=int, default=2,
                   help="recordings each hand-written question is asked of, per kind of recording it suits")
    w.add_argument("--seed", type=int, default=20261205, help="the same seed writes the same set")
    t = sub.add_parser("tag", help="YAMNet's AudioSet labels for every clip of a corpus, beside its rule labels "
                       "(teacher.jsonl and teacher.report.json in the corpus folder)", **fmt)
    t.add_argument("--corpus", type=Path, default=Path("data/corpus"), help="corpus folder or packed archive")
    t.add_argument("--yamnet", type=Path, default=Path("data/yamnet"), help="YAMNet's weights (`make yamnet`)")
    t.add_argument("--out", type=Path, help="folder for teacher.jsonl and its report (default: the corpus folder, "
                   "or the archive's own folder)")
    t.add_argument("--min-score", type=float, default=0.3,
                   help="a teacher class this confident or more (YAMNet's clip-mean score) counts as heard")
    d = sub.add_parser("demo", help="write assets/demo.ogg and assets/demo.json from the corpus", **fmt)
    d.add_argument("--corpus", type=Path, default=Path("data/corpus"), help="corpus folder")
    d.add_argument("--out", type=Path, default=Path("assets/demo.ogg"), help="the recording; its .json goes beside")
    args = p.parse_args(argv)
    if args.cmd == "build":
        _build(args)
    elif args.cmd == "pack":
        from model.data.pack import pack

        try:
            print(pack(args.corpus, args.out, budget_mb=args.budget_mb, codec_name=args.codec, split=args.split).report())
        except ValueError as e:
            raise SystemExit(f"sam-data pack: {e}") from None
    elif args.cmd == "valset" and args.added:
        from model.data.added_set import write_added_set

        try:
            print(write_added_set(args.out, args.cache, seed=args.seed))
        except (ValueError, RuntimeError) as e:  # a bad row, a missing file, a package that cannot be fetched
            raise SystemExit(f"sam-data valset --added: {e}") from None
    elif args.cmd == "valset":
        from model.data.valset import write_valset

        try:
            print(write_valset(args.corpus, args.out, n_scenes=args.scenes, seed=args.seed,
                               packages=tuple(args.packages), split=args.split, exclude=tuple(args.exclude),
                               single=args.single))
        except ValueError as e:
            raise SystemExit(f"sam-data valset: {e}") from None
    elif args.cmd == "wordset":
        from model.data.wordset import write_wordset

        for flag in ("clips", "scenes", "streams", "per_context"):
            if getattr(args, flag) < 0:
                raise SystemExit(f"sam-data wordset: --{flag.replace('_', '-')} must be 0 or more")
        try:
            print(write_wordset(args.corpus, args.out, n_clips=args.clips, n_scenes=args.scenes,
                                n_streams=args.streams, seed=args.seed, per_context=args.per_context))
        except ValueError as e:
            raise SystemExit(f"sam-data wordset: {e}") from None
    elif args.cmd == "tag":
        _tag(args)
    elif args.cmd == "demo":
        from model.data.demo import write_demo

        print(write_demo(args.corpus, args.out))


def _tag(args: argparse.Namespace) -> None:
    import torch

    from model.data.audioset import read_audioset_map
    from model.data.corpus import load_corpus
    from model.data.teacher import REPORT_JSON, TEACHER_JSONL, agreement, summary, tag_clips, write_labels, write_report
    from model.yamnet import load_yamnet

    if not 0 <= args.min_score <= 1:
        raise SystemExit(f"sam-data tag: --min-score {args.min_score} is not a score in [0, 1]")
    try:
        yamnet = load_yamnet(args.yamnet)
        corpus = load_corpus(args.corpus)
    except (ValueError, RuntimeError, OSError) as e:
        raise SystemExit(f"sam-data tag: {e}") from None
    out = args.out or (args.corpus if args.corpus.is_dir() else args.corpus.parent)
    out.mkdir(parents=True, exist_ok=True)
    rows = read_audioset_map()
    clips = ((r.id, torch.from_numpy(corpus.audio(r.id))) for r in corpus.records)
    labels = list(tag_clips(yamnet, clips, rows, total=len(corpus.records)))
    write_labels(labels, out / TEACHER_JSONL)
    report = agreement(corpus.records, {t.id: t for t in labels}, corpus.classes, args.min_score)
    write_report(report, out / REPORT_JSON)
    print(summary(report))
    print(f"wrote {out / TEACHER_JSONL} and {out / REPORT_JSON}")


def _build(args: argparse.Namespace) -> None:
    from model.data.build import BuildConfig, build
    from model.data.sources import PACKAGE_NAMES

    cfg = BuildConfig(out=args.out, cache=args.cache, synthesise=not args.no_synth, workers=args.workers,
                      uncapped=args.uncapped)
    if args.packages:
        unknown = sorted(set(args.packages) - set(PACKAGE_NAMES))
        if unknown:
            raise SystemExit(f"sam-data build: {' '.join(unknown)} not among the corpus sources; "
                             f"choose from: {' '.join(PACKAGE_NAMES)}")
        cfg.packages = tuple(args.packages)
    try:
        build(cfg)
    except ValueError as e:
        raise SystemExit(f"sam-data build: {e}") from e
    if not args.no_pack:
        from model.data.pack import pack

        print(pack(cfg.out, cfg.out.with_suffix(".tar")).report())


if __name__ == "__main__":
    raise SystemExit(main())
