"""Measure watches: `python -m live.watch_bench` (a full run: 30 + 60 minutes of stream; --short for 5 + 10).

Streams (live/watch_streams.py) mixed from the corpus's validation recordings (never trained on):
  targets  --target-minutes of stream, a target sound every 25-45 s among distractors and backgrounds
  empty    --empty-minutes of stream in which no watched class sounds
Every phrase of PROBES (one per target class, the same classes in other words, the safety preset)
is traced on both: its confidence after every hop, from the engine's own scorer on the state
`listen` builds hop by hop. The engine's hysteresis (live/watches.py) turns a trace into alerts,
which are matched to the phrase's target events: the share of events alerted, the delay from
onset to alert, and false alerts per hour (alerts on the stream without targets). The cost is
the live loop itself: the Engine replaying --rtf-minutes with 0, 1, 5 and 10 watches. Writes
--out (JSON) and prints the tables docs/LIVE.md holds; `--rescore` re-reads the traces instead
of tracing, to try other thresholds without the model. `python -m live.watch_tune` chooses the
wording and thresholds on training-split streams.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from model.audio import SAMPLE_RATE, SAMPLES_PER_TOKEN

from .watch_streams import Sound, WatchStream, mix_watch_stream
from .watches import PRESETS, Watch, WatchConfig, scorer_for

HOP_SAMPLES = 8 * SAMPLES_PER_TOKEN  # the engine's hop (EngineConfig.hop_seconds, 1.28 s; a test holds them equal)
HIT_AFTER_END_S = 5.0  # an alert this long after a target ends still counts: "now" questions look back ~10 s
BATCH = 48  # questions scored in one forward while tracing
FRONTIER = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95)  # on-thresholds the report also gives figures for


@dataclass(frozen=True)
class Probe:
    """A phrase to watch for, the classes whose events it should alert on, and why it is measured."""

    phrase: str
    classes: tuple[str, ...]
    group: str  # "class": names a target class; "words": names one in other words; "preset": --watch-preset safety


NAMED = (Probe("someone screaming", ("scream",), "class"), Probe("a gunshot", ("gunshot",), "class"),
         Probe("an explosion", ("explosion",), "class"), Probe("footsteps", ("footsteps",), "class"),
         Probe("a notification sound", ("notification",), "class"), Probe("an alarm", ("alarm",), "class"),
         Probe("a door", ("door",), "class"), Probe("people laughing", ("laughter",), "class"),
         Probe("a horse", ("horse",), "class"), Probe("hammering", ("hammering",), "class"),
         Probe("birds", ("bird",), "class"), Probe("a helicopter", ("helicopter",), "class"))
OTHER_WORDS = tuple(Probe(phrase, classes, "words") for phrase, classes in (
    ("someone yelling", ("scream",)), ("a gun being fired", ("gunshot",)), ("a loud bang", ("explosion", "gunshot")),
    ("someone walking", ("footsteps",)), ("my phone pinging", ("notification",)), ("an emergency vehicle", ("siren",)),
    ("giggling", ("laughter",)), ("neighing", ("horse",)), ("woof", ("dog",)), ("my phone ringing", ("telephone",))))
PROBES = NAMED + OTHER_WORDS + tuple(Probe(p.phrase, p.classes, "preset") for p in PRESETS["safety"])


# --- streams and traces ----------------------------------------------------------------------------

def make_streams(corpus: str, split: str, target_minutes: float, empty_minutes: float, seed: int,
                 probes: tuple[Probe, ...] = PROBES) -> tuple[WatchStream, WatchStream]:
    """The stream with targets and the one without, from `split` of the corpus."""
    from model.data.corpus import load_corpus
    from model.data.dataset import clip_bank

    bank = clip_bank(load_corpus(corpus).subset(split))
    watched = {c for p in probes for c in p.classes}
    targets = sorted(c for c in watched if c in bank.by_label)
    rng = random.Random(f"watch-bench/{split}/{seed}")
    with_targets = mix_watch_stream(bank, target_minutes, rng, targets, exclude=watched)
    without = mix_watch_stream(bank, empty_minutes, rng, [], exclude=watched)
    return with_targets, without


def traced(model, streams: tuple[WatchStream, WatchStream], questions: list[str], path: Path, rescore: bool,
           tags: bool = True) -> tuple:
    """(target times, target confidences, empty times, empty confidences, where traced): traced and saved at
    `path`, or, with `rescore`, read from there (a run that only changes thresholds needs no model)."""
    names = ("target_times", "target_conf", "empty_times", "empty_conf")
    if rescore:
        saved = np.load(path)
        if list(saved["questions"]) != questions:
            raise ValueError(f"{path}: traced for other questions; trace again without --rescore")
        out = tuple(saved[k] for k in names)
        if out[0].size != streams[0].audio.size // HOP_SAMPLES or out[2].size != streams[1].audio.size // HOP_SAMPLES:
            raise ValueError(f"{path}: traced on streams of another length; trace again without --rescore")
        return (*out, str(saved["traced_on"]) if "traced_on" in saved else "?")
    device = next(model.parameters()).device
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    t_times, t_conf = trace(model, streams[0].audio, questions, HOP_SAMPLES, "stream with targets", tags)
    e_times, e_conf = trace(model, streams[1].audio, questions, HOP_SAMPLES, "stream without", tags)
    np.savez_compressed(path, **dict(zip(names, (t_times, t_conf, e_times, e_conf))), questions=np.array(questions),
                        traced_on=np.array(where))
    return t_times, t_conf, e_times, e_conf, where


def trace(model, audio: np.ndarray, questions: list[str], hop_samples: int,
          label: str = "", tags: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(stream s after each hop (H,), confidence of each question after each hop (H, Q)): what the engine scores;
    without `tags`, the language model's yes/no alone, the branch's tags (model/tags.py) left out."""
    from tqdm import tqdm

    scorer = scorer_for(model)
    score = scorer if tags else (lambda state, qs: scorer(replace(state, tags=None), qs))
    state, times, rows = model.new_state(), [], []
    with torch.inference_mode():
        for start in tqdm(range(0, audio.size - hop_samples + 1, hop_samples), desc=label, unit="hop",
                          leave=False, file=sys.stderr, mininterval=2.0):
            state = model.listen(torch.from_numpy(audio[start: start + hop_samples]), state)
            row = []
            for i in range(0, len(questions), BATCH):
                row += score(state, questions[i: i + BATCH])
            times.append(state.seconds)
            rows.append(row)
    return np.asarray(times), np.asarray(rows, np.float32).reshape(len(times), len(questions))


# --- from traces to figures ------------------------------------------------------------------------

def alerts(times: np.ndarray, confidences: np.ndarray, config: WatchConfig) -> list[tuple[float, float]]:
    """(stream s, confidence) of each alert the engine's hysteresis makes of one question's trace."""
    watch = Watch("", "")
    return [(float(t), float(c)) for t, c in zip(times, confidences) if watch.update(float(c), float(t), config)]


def match(fired: list[tuple[float, float]], targets: list[Sound]) -> tuple[list[float | None], int]:
    """Each target's delay from onset to its first alert (None: missed), and the alerts that match no target."""
    delays: list[float | None] = []
    used = set()
    for s in targets:
        window = [i for i, (t, _) in enumerate(fired) if s.start_s <= t <= s.end_s + HIT_AFTER_END_S]
        hit = next((i for i in window if i not in used), None)
        delays.append(None if hit is None else fired[hit][0] - s.start_s)
        if hit is not None:  # further alerts within the same event are not false, but not a second hit either
            used |= set(window)
    return delays, sum(1 for i in range(len(fired)) if i not in used)


def separation(times: np.ndarray, confidences: np.ndarray, targets: list[Sound]) -> float | None:
    """Hop-level AUC: P(confidence during a target > confidence far from any), threshold-free; None without both."""
    inside = np.zeros(times.size, bool)
    near = np.zeros(times.size, bool)
    for s in targets:
        inside |= (times >= s.start_s + 0.32) & (times <= s.end_s + 2.0)
        near |= (times >= s.start_s) & (times <= s.end_s + 12.0)
    pos, neg = confidences[inside], confidences[~near]
    if not pos.size or not neg.size:
        return None
    order = np.argsort(np.concatenate([neg, pos]), kind="stable")
    ranks = np.empty(order.size)
    ranks[order] = np.arange(1, order.size + 1)
    return float((ranks[neg.size:].sum() - pos.size * (pos.size + 1) / 2) / (pos.size * neg.size))


def above_empty(times: np.ndarray, confidences: np.ndarray, targets: list[Sound], empty: np.ndarray) -> int:
    """The targets whose peak confidence (onset to HIT_AFTER_END_S after the end) rises above the highest the
    phrase reaches on the stream without targets: what the best threshold of this one phrase alone could alert
    with no false alert, whatever the rule that sets it."""
    top = float(empty.max()) if empty.size else -np.inf
    peaks = [confidences[w].max() for s in targets
             if (w := (times >= s.start_s) & (times <= s.end_s + HIT_AFTER_END_S)).any()]
    return sum(1 for p in peaks if p > top)


def figures(probe: Probe, target: tuple[np.ndarray, np.ndarray, WatchStream],
            empty: tuple[np.ndarray, np.ndarray, float], config: WatchConfig) -> dict:
    """One phrase's figures from its traces on both streams."""
    times, conf, stream = target
    events = stream.targets(probe.classes)
    delays, unmatched = match(alerts(times, conf, config), events)
    got = [d for d in delays if d is not None]
    e_times, e_conf, e_hours = empty
    false = len(alerts(e_times, e_conf, config))
    return {"phrase": probe.phrase, "group": probe.group, "classes": list(probe.classes), "events": len(events),
            "alerted": len(got), "share_alerted": len(got) / len(events) if events else None,
            "median_delay_s": statistics.median(got) if got else None,
            "false_alerts_per_hour": false / e_hours, "false_alerts": false,
            "unmatched_alerts_on_target_stream": unmatched,
            "separation_auc": separation(times, conf, events),
            "above_empty": above_empty(times, conf, events, e_conf),
            "mean_confidence_empty": float(e_conf.mean()), "delays_s": [round(d, 2) for d in got]}


def summary(rows: list[dict]) -> dict:
    """Totals over phrases: events alerted, median delay, false alerts per hour per watch."""
    with_events = [r for r in rows if r["events"]]
    delays = [d for r in rows for d in r["delays_s"]]
    events = sum(r["events"] for r in with_events)
    return {"phrases": len(rows), "phrases_with_events": len(with_events), "events": events,
            "share_alerted": sum(r["alerted"] for r in with_events) / events if events else None,
            "share_above_empty": sum(r["above_empty"] for r in with_events) / events if events else None,
            "median_delay_s": statistics.median(delays) if delays else None,
            "false_alerts_per_hour_per_watch": statistics.mean(r["false_alerts_per_hour"] for r in rows),
            "watches_within_1_false_per_hour": sum(r["false_alerts_per_hour"] <= 1 for r in rows)}


# --- cost ------------------------------------------------------------------------------------------

def live_loop_cost(model, audio: np.ndarray, counts: tuple[int, ...]) -> list[dict]:
    """The Engine on `audio` (replayed as fast as it goes, a description every 2 s) with n watches: busy s per s."""
    from .capture import FileSource
    from .engine import Engine, EngineConfig  # the app's engine (and Textual's messages): imported for this only

    out = []
    for n in counts:
        engine = Engine(model, FileSource(audio, name="watch bench", realtime=False),
                        config=EngineConfig(wait_for_descriptions=True),
                        watches=[p.phrase for p in PROBES[:n]])
        engine.start()
        engine.ended.wait()
        engine.stop()
        listen, speak = engine.busy_seconds
        heard = engine.stream_time
        watch = engine.watch_busy
        out.append({"watches": n, "stream_s": round(heard, 1), "rtf_total": (listen + speak + watch) / heard,
                    "rtf_listen_and_watch": (listen + watch) / heard, "rtf_watch": watch / heard,
                    "watch_ms_per_hop": 1000 * engine.watch_busy / max(1, len(engine.hop_times)),
                    "listen_ms_per_hop": 1000 * listen / max(1, len(engine.hop_times))})
    return out


# --- the run ---------------------------------------------------------------------------------------

def accuracy(model, corpus: str, split: str, target_minutes: float, empty_minutes: float, seed: int,
             config: WatchConfig, templates: tuple[str, ...], traces: Path, rescore: bool = False,
             probes: tuple[Probe, ...] = PROBES, tags: bool = True) -> dict:
    """Every probe's figures on a stream with targets and one without, both from `split`, in the config's
    wording; the other `templates` are traced too and compared by their separation and summary. Without
    `tags`, the watches hear through the language model's yes/no alone."""
    templates = tuple(dict.fromkeys((config.template, *templates)))
    with_targets, without = make_streams(corpus, split, target_minutes, empty_minutes, seed, probes)
    questions = [t.format(phrase=p.phrase) for t in templates for p in probes]
    t_times, t_conf, e_times, e_conf, where = traced(model, (with_targets, without), questions, traces, rescore, tags)
    hours, n = without.seconds / 3600, len(probes)

    def rows_of(k: int, cfg: WatchConfig = config) -> list[dict]:
        return [figures(p, (t_times, t_conf[:, k * n + i], with_targets), (e_times, e_conf[:, k * n + i], hours),
                        cfg) for i, p in enumerate(probes)]

    wordings = []
    for k, template in enumerate(templates):
        rows = rows_of(k)
        aucs = [r["separation_auc"] for r in rows if r["separation_auc"] is not None]
        wordings.append({"template": template, "mean_auc": statistics.mean(aucs) if aucs else None, **summary(rows)})
    # What other thresholds would give here, for the reader: the defaults are chosen on training streams.
    frontier = []
    for on in FRONTIER:
        cfg = replace(config, on=on, off=round(on - 0.1, 2))
        frontier.append({"on": cfg.on, "off": cfg.off, **summary(rows_of(0, cfg))})
    rows = rows_of(0)
    groups = {g: summary([r for r in rows if r["group"] == g]) for g in ("class", "words", "preset")}
    return {"split": split, "seed": seed, "traced_on": where, "wordings": wordings, "frontier": frontier,
            "sounds": [[round(s.start_s, 3), round(s.end_s, 3), s.label, s.target] for s in with_targets.sounds],
            "target_stream": {"minutes": with_targets.seconds / 60,
                              "targets": sum(s.target for s in with_targets.sounds),
                              "distractors": sum(not s.target for s in with_targets.sounds),
                              "segments_with_background": len(with_targets.backgrounds)},
            "empty_stream": {"minutes": without.seconds / 60, "sounds": len(without.sounds)},
            "summary": {"all": summary(rows), **groups}, "phrases": rows}


def table(result: dict) -> str:
    """The per-phrase figures as a markdown table."""
    lines = ["| phrase | group | events | alerted | median delay s | false / h | AUC |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for r in result["phrases"]:
        share = f"{r['alerted']}/{r['events']}" if r["events"] else "–"
        delay = f"{r['median_delay_s']:.1f}" if r["median_delay_s"] is not None else "–"
        auc = f"{r['separation_auc']:.2f}" if r["separation_auc"] is not None else "–"
        lines.append(f"| {r['phrase']} | {r['group']} | {r['events']} | {share} | {delay} | "
                     f"{r['false_alerts_per_hour']:.1f} | {auc} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m live.watch_bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", metavar="DIR", help="SAM checkpoint directory (default: assets/sam-small)")
    p.add_argument("--corpus", default="data/corpus.tar", help="corpus whose recordings make the streams")
    p.add_argument("--split", default="validation", help="split the streams are mixed from (default: %(default)s)")
    p.add_argument("--target-minutes", type=float, default=30.0)
    p.add_argument("--empty-minutes", type=float, default=60.0)
    p.add_argument("--rtf-minutes", type=float, default=2.0, help="stream the live loop's cost is measured on")
    p.add_argument("--short", action="store_true", help="5 + 10 minutes of stream instead of 30 + 60")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threshold", type=float, default=WatchConfig.on, help="a watch's on-threshold")
    p.add_argument("--release", type=float, default=WatchConfig.off, help="a watch's off-threshold")
    p.add_argument("--gap", type=float, default=WatchConfig.min_gap, help="s between two alerts of one watch")
    p.add_argument("--template", default=WatchConfig.template, help="the watch question, with {phrase}")
    p.add_argument("--all-wordings", action="store_true", help="also trace live/watch_tune.py's other wordings")
    p.add_argument("--device", default="cpu", help="where the accuracy streams are traced (the cost is on the CPU)")
    p.add_argument("--rescore", action="store_true", help="read the traces of an earlier run instead of tracing")
    p.add_argument("--traces", type=Path, default=Path("eval/watch_bench.traces.npz"),
                   help="every hop's confidences, written (or read with --rescore) here (default: %(default)s)")
    p.add_argument("--skip-accuracy", action="store_true")
    p.add_argument("--skip-cost", action="store_true")
    p.add_argument("--no-tags", action="store_true",
                   help="watch through the language model's yes/no alone, without what the YAMNet branch tagged")
    p.add_argument("--out", type=Path, default=Path("docs/results/watch_bench.json"),
                   help="the report; a part skipped keeps what it already holds")
    args = p.parse_args(argv)
    if args.short:
        args.target_minutes, args.empty_minutes = 5.0, 10.0
    config = WatchConfig(on=args.threshold, off=args.release, min_gap=args.gap, template=args.template)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.traces.parent.mkdir(parents=True, exist_ok=True)
    result = json.loads(args.out.read_text()) if args.out.is_file() else {}
    model = None if args.rescore and args.skip_cost else _load(args.checkpoint)
    if not args.skip_accuracy:
        result["accuracy"] = _accuracy(model, args, config)
    if not args.skip_cost:
        result["cost"] = _cost(model, args)
    args.out.write_text(json.dumps(result, indent=1))
    return 0


def _load(checkpoint: str | None):
    from .models import find_checkpoint, load_model

    return load_model(find_checkpoint(checkpoint))


def _accuracy(model, args: argparse.Namespace, config: WatchConfig) -> dict:
    from .watch_tune import TEMPLATES

    torch.backends.cudnn.allow_tf32 = False  # on a GPU: the convolutions in full fp32, as on the CPU
    if model is not None:
        model.to(args.device)
    result = accuracy(model, args.corpus, args.split, args.target_minutes, args.empty_minutes, args.seed, config,
                      TEMPLATES if args.all_wordings else (), args.traces, args.rescore, tags=not args.no_tags)
    if model is not None:
        model.to("cpu")
    result.update(config=asdict(config), hop_s=HOP_SAMPLES / SAMPLE_RATE, date=time.strftime("%Y-%m-%d"),
                  tags=not args.no_tags)
    print(table(result))
    for w in result["wordings"]:
        print(f"{w['template']:<40} mean AUC {w['mean_auc'] or 0:.3f}  alerted {w['share_alerted'] or 0:.2f}  "
              f"false/h per watch {w['false_alerts_per_hour_per_watch']:.1f}")
    print(json.dumps(result["summary"], indent=1))
    for f in result["frontier"]:
        print(f"on {f['on']:.2f} off {f['off']:.2f}: alerted {f['share_alerted'] or 0:.2f}, median delay "
              f"{f['median_delay_s'] or 0:.1f} s, false/h per watch {f['false_alerts_per_hour_per_watch']:.1f}")
    return result


def _cost(model, args: argparse.Namespace) -> dict:
    _, without = make_streams(args.corpus, args.split, 0.0, args.rtf_minutes, args.seed + 1)
    load_before = os.getloadavg()[0]
    rows = live_loop_cost(model, without.audio, (0, 1, 5, 10))
    for row in rows:
        print(json.dumps(row))
    return {"model": model.name, "torch_threads": torch.get_num_threads(), "cpus": os.cpu_count(),
            "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],  # other work on the machine
            "date": time.strftime("%Y-%m-%d"), "rows": rows}


if __name__ == "__main__":
    sys.exit(main())
