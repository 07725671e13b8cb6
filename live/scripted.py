"""A scripted live session, scored: everyday questions typed into `sam-live --headless` while it replays
a long stream mixed from validation recordings, each answer checked against what had happened by then.

    python -m live.scripted --out eval/scripted [--checkpoint DIR] [--minutes 20] [--seed 0]

The stream is mixed from the corpus's validation clips (never trained on). The questions are a
hand-written set's questions about a live session (model/data/handwritten.jsonl, or with --questions
a later set, never trained on, minus those the training grammar can say), one every --every
seconds or so, mostly whether a sound is there (KIND_SHARE), each asked with an
`@SECONDS question` line as a person would type it. `sam-live` itself answers them: the real app,
its engine, its state and its log. Writes stream.wav, script.txt, events.jsonl, report.json,
rows.jsonl (every answer as judged) and transcript.md (every question, the answer and what was right) to --out.
`--compare BEFORE AFTER` sets two runs of the same sessions side by side, answer by answer
(live/scripted_compare.py).
"""
from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
from collections import Counter, defaultdict
from dataclasses import replace
from pathlib import Path

from model.data.mixer import Event, MixConfig, Scene

MIN_FIRST_S = 20.0  # the first question waits for some audio


def prefix(scene: Scene, t: float) -> Scene:
    """What had been heard of `scene` by stream time `t`: events begun by then, cut at `t`."""
    events = [replace(e, end_s=min(e.end_s, t)) for e in scene.events if e.start_s < t]
    return Scene(None, events, scene.background, [], t)


def mix_stream(corpus_path: str, minutes: float, seed: int) -> Scene:
    """A live stream of `minutes` mixed from validation recordings, with a few events a minute."""
    from model.data.corpus import load_corpus
    from model.data.dataset import clip_bank
    from model.data.mixer import mix_scene

    full = load_corpus(corpus_path)
    bank = clip_bank(full.subset("validation"))
    return mix_scene(bank, random.Random(f"scripted/{seed}"), replace(MixConfig(), events_per_minute=4.0),
                     duration_s=minutes * 60)


# What a person asks a listening assistant, and how often: mostly whether something is there.
KIND_SHARE = {"yesno": 0.35, "recent": 0.12, "open": 0.1, "when": 0.08, "quiet": 0.06, "count": 0.06,
              "unknowable": 0.06, "mcq": 0.05, "tf": 0.04, "order": 0.04, "type": 0.04}


def plan(scene: Scene, every: float, seed: int, questions: Path | None = None) -> list[tuple[float, object, str]]:
    """(stream time, hand-written question, its text as typed): about one question every `every` seconds,
    its kind drawn by KIND_SHARE, yes/no questions alternating between a sound that is there and one that
    is not; the questions of the hand-written set in the file `questions` (default: the first)."""
    from model.data.handwritten import HANDWRITTEN, ask_written, load_written, unseen
    from model.data.labels import load_classes
    from model.data.questions import Asker
    from model.data.wording import grammar_stems

    asker = Asker.create(load_classes())
    by_kind = defaultdict(list)
    for w in unseen(load_written(questions or HANDWRITTEN), grammar_stems()):
        if "stream" in w.contexts and w.kind in KIND_SHARE:
            by_kind[w.kind].append(w)
    rng = random.Random(f"scripted/{seed}/plan")
    out, want_yes, t = [], True, MIN_FIRST_S
    while t < scene.duration_s - 1:
        t = round(t, 1)
        heard = prefix(scene, t)
        kinds = sorted(KIND_SHARE, key=lambda k: -rng.random() ** (1 / KIND_SHARE[k]))  # weighted order
        for w in (w for k in kinds for w in rng.sample(by_kind[k], len(by_kind[k]))):
            qa = ask_written(w, heard, random.Random(f"{w.id}/{t}"), asker)
            if qa is None or "{" in qa.question or (qa.form == "yesno" and (qa.answer == "yes") != want_yes):
                continue
            want_yes = not want_yes if qa.form == "yesno" else want_yes
            out.append((t, w, " ".join(qa.question.split())))
            break
        t += every * rng.uniform(0.6, 1.4)
    return out


def run_app(checkpoint: str | None, wav: Path, script: Path, out: Path) -> Path:
    """Replay `wav` through `sam-live --headless --fast` with `script` on its stdin; the events it printed."""
    events = out / "events.jsonl"
    cmd = [sys.executable, "-m", "live.cli", "--headless", "--fast", "--input", str(wav), "--no-audio",
           "--log-dir", str(out / "sessions")] + (["--checkpoint", checkpoint] if checkpoint else [])
    with script.open() as stdin, events.open("w") as stdout:
        done = subprocess.run(cmd, stdin=stdin, stdout=stdout, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"sam-live ended with code {done.returncode}: {done.stderr.strip()[-2000:]}")
    return events


def score(scene: Scene, asked: list[tuple[float, object, str]], events: Path) -> tuple[dict, list[dict]]:
    """Each answer judged against what had been heard when it was asked (its stream time in the log)."""
    from model.data.handwritten import ask_written
    from model.data.labels import load_classes
    from model.data.questions import Asker
    from model.evaluation.forms import Asked, judge
    from model.evaluation.scoring import corpus_class_names

    asker, names = Asker.create(load_classes()), corpus_class_names()
    log = [json.loads(line) for line in events.read_text().splitlines() if line.strip()]
    answers = {e["question_id"]: e for e in log if e.get("type") == "answer"}
    questions = sorted((e for e in log if e.get("type") == "question"), key=lambda e: e["question_id"])
    rows = []
    for (t, w, text), q in zip(asked, questions):
        a = answers.get(q["question_id"])
        at = a["asked_at"] if a else q["stream_time"]
        qa = ask_written(w, prefix(scene, at), random.Random(f"{w.id}/{t}"), asker)
        if a is None or qa is None or " ".join(qa.question.split()) != text:
            continue  # no answer, or the moment it was asked (on a hop's boundary) asks something else
        right, form = judge(Asked(qa.kind, qa.form, qa.answer, qa.options, qa.value, at), a["text"], names)
        rows.append({"at": round(at, 1), "kind": w.kind, "question": q["question"], "expected": qa.answer,
                     "answer": a["text"], "right": right, "form_ok": form, "ttft_s": a["time_to_first_token"]})
    by_kind: dict[str, list[bool]] = defaultdict(list)
    for r in rows:
        by_kind[r["kind"]].append(r["right"])
    yes_no = [r for r in rows if r["expected"] in ("yes", "no")]
    report = {"questions": len(asked), "answered": len(rows),
              "accuracy": sum(r["right"] for r in rows) / max(1, len(rows)),
              "form_errors": sum(not r["form_ok"] for r in rows) / max(1, len(rows)),
              "false_yes": _share([r["answer"] for r in yes_no if r["expected"] == "no"]),
              "true_yes": _share([r["answer"] for r in yes_no if r["expected"] == "yes"]),
              "by_kind": {k: {"n": len(v), "accuracy": sum(v) / len(v)} for k, v in sorted(by_kind.items())},
              "median_ttft_s": sorted(r["ttft_s"] for r in rows)[len(rows) // 2] if rows else None,
              **_listed(rows, names)}
    return report, rows


def _listed(rows: list[dict], names) -> dict:
    """Precision and recall of the sounds named in answers to "what happened" questions: right only when the
    list is exact, which over minutes of stream is rare, they say how much of it a list gets."""
    from model.metrics import micro_prf

    lists = [r for r in rows if r["kind"] == "recent"]
    if not lists:
        return {}
    prf = micro_prf([names.named(r["answer"]) for r in lists], [names.named(r["expected"]) for r in lists])
    return {"recent_precision": prf.precision, "recent_recall": prf.recall, "recent_n": len(lists)}


def _share(answers: list[str]) -> dict:
    from model.metrics import yes_no

    return {"n": len(answers), "yes": sum(yes_no(a) is True for a in answers) / max(1, len(answers))}


def transcript(report: dict, rows: list[dict]) -> str:
    """The session as markdown: the headline numbers, then every question and answer."""
    lines = [f"# Scripted session: {report['answered']} questions answered",
             "", f"accuracy {report['accuracy']:.3f}, answers in the wrong form {report['form_errors']:.3f}, "
                 f"'yes' to absent sounds {report['false_yes']['yes']:.3f} (n={report['false_yes']['n']}), "
                 f"to present ones {report['true_yes']['yes']:.3f} (n={report['true_yes']['n']})", "",
             "| kind | n | accuracy |", "|---|---:|---:|"]
    lines += [f"| {k} | {v['n']} | {v['accuracy']:.2f} |" for k, v in report["by_kind"].items()]
    if "recent_n" in report:
        lines += ["", f"'what happened' lists ({report['recent_n']}): precision {report['recent_precision']:.3f}, "
                      f"recall {report['recent_recall']:.3f} of the sounds named"]
    lines += ["", "| s | question | answer | expected | right |", "|---:|---|---|---|---|"]
    lines += [f"| {r['at']} | {r['question']} | {r['answer']} | {r['expected']} | {'yes' if r['right'] else 'no'} |"
              for r in rows]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Mix the stream, script the questions, run sam-live, score its answers."""
    p = argparse.ArgumentParser(prog="python -m live.scripted", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("eval/scripted"), help="folder for the stream, log and report")
    p.add_argument("--checkpoint", help="the model sam-live loads (default: its own default)")
    p.add_argument("--corpus", default="data/corpus.tar", help="corpus whose validation clips make the stream")
    p.add_argument("--minutes", type=float, default=20.0, help="length of the stream")
    p.add_argument("--every", type=float, default=12.0, help="seconds between questions, on average")
    p.add_argument("--seed", type=int, default=0, help="of the stream and the questions")
    p.add_argument("--questions", type=Path, help="the hand-written set to ask from (default: "
                   "model/data/handwritten.jsonl; those written later: handwritten2.jsonl to handwritten5.jsonl)")
    p.add_argument("--compare", type=Path, nargs=2, metavar=("BEFORE", "AFTER"),
                   help="instead of a session: two runs of the same sessions (--out folders, or folders of them "
                   "by the same names), answer by answer")
    args = p.parse_args(argv)
    if args.compare:
        from .scripted_compare import compare

        try:
            print(compare(*args.compare), end="")
        except (OSError, ValueError) as e:
            raise SystemExit(f"error: {e}") from e
        return 0
    if args.minutes <= 0 or args.every <= 0:
        p.error("--minutes and --every must be positive")
    if args.questions is not None and not args.questions.is_file():
        p.error(f"--questions {args.questions}: no such file; pass a hand-written set such as "
                "model/data/handwritten3.jsonl")
    from model.data.valset import write_wav

    args.out.mkdir(parents=True, exist_ok=True)
    try:
        scene = mix_stream(args.corpus, args.minutes, args.seed)
    except ValueError as e:
        raise SystemExit(f"error: {e}") from e
    write_wav(args.out / "stream.wav", scene.audio)
    try:
        asked = plan(scene, args.every, args.seed, args.questions)
    except (OSError, ValueError) as e:
        raise SystemExit(f"error: {e}") from e
    script = args.out / "script.txt"
    script.write_text("".join(f"@{t} {text}\n" for t, _, text in asked))
    events = run_app(args.checkpoint, args.out / "stream.wav", script, args.out)
    report, rows = score(scene, asked, events)
    report["kinds_asked"] = dict(Counter(w.kind for _, w, _ in asked))
    (args.out / "report.json").write_text(json.dumps(report, indent=1))
    (args.out / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (args.out / "transcript.md").write_text(transcript(report, rows))
    print(transcript(report, rows).split("\n\n| s |")[0])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
