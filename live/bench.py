"""Benchmark the live engine with a given model: `python -m live.bench --checkpoint DIR`.

Everything runs through the same Engine the app uses, on a synthetic scene of known onsets
(tones, noise, a chirp over a quiet hiss). It prints numbers, never a verdict:

  live run (real time):  real-time factor with a description every 2 s, time to first token
                         of typed questions, onset-to-feed latency
  long run (fast):       a session of an hour (by default) replayed as fast as possible, with a
                         description every 2 s of stream: resident memory and per-hop time
                         over time
"""
from __future__ import annotations

import argparse
import importlib
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from model.audio import SAMPLE_RATE
from model.bench.memory import resident

from . import events as ev
from .capture import FileSource
from .engine import Engine, EngineConfig
from .footprint import THREADS, keep_small
from .models import find_checkpoint, load_model
from .protocol import SamModel
from .session import SessionLog

SCENE_SECONDS = 40.0
HISS_DB = -65.0  # dBFS background
# (onset s, kind, duration s): onsets off the 1.28 s hop grid, so latencies cover every phase.
SCENE = [(3.3, "tone 440", 2.0), (9.1, "noise", 1.5), (15.7, "chirp", 2.0), (22.4, "tone 1200", 2.0),
         (29.0, "noise", 1.0), (35.6, "tone 700", 2.0)]


def synth(kind: str, seconds: float, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    if kind.startswith("tone"):
        x = np.sin(2 * np.pi * float(kind.split()[1]) * t)
    elif kind == "chirp":
        x = np.sin(2 * np.pi * (300 * t + (3000 - 300) * t ** 2 / (2 * seconds)))
    else:
        x = rng.standard_normal(t.size)
    fade = np.minimum(1.0, np.minimum(t, seconds - t) / 0.01)  # 10 ms ramps, no clicks
    return (0.3 * x * fade).astype(np.float32)


def scene() -> np.ndarray:
    """The 40 s benchmark scene: quiet hiss with six sounds at the SCENE onsets."""
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(int(SCENE_SECONDS * SAMPLE_RATE)) * 10 ** (HISS_DB / 20)).astype(np.float32)
    for onset, kind, dur in SCENE:
        s = synth(kind, dur, rng)
        i = int(onset * SAMPLE_RATE)
        x[i:i + s.size] += s
    return x


def rss_mb() -> float:
    """Resident memory of this process, MiB (model.bench.memory.resident)."""
    return resident().rss


@dataclass
class Recorder:
    """Keeps what the benchmark needs from the event stream, and nothing that grows per hop."""

    engine: Engine | None = None
    started_wall: float = 0.0
    descriptions: list[ev.SceneDescribed] = field(default_factory=list)
    answers: list[ev.QuestionAnswered] = field(default_factory=list)
    keep_descriptions: bool = True
    n_descriptions: int = 0
    describe_seconds: float = 0.0
    checkpoints: list[tuple[float, float, float]] = field(default_factory=list)  # (stream s, rss MiB, wall s)
    hop_times: list[tuple[float, float]] = field(default_factory=list)  # (stream s, s per hop)
    every: float = 300.0
    _next: float = 0.0

    def __call__(self, event: ev.Event) -> None:
        if isinstance(event, ev.SessionStarted):
            self.started_wall = event.wall_time
        elif isinstance(event, ev.SceneDescribed):
            self.n_descriptions += 1
            self.describe_seconds += event.total_time
            if self.keep_descriptions:
                self.descriptions.append(event)
        elif isinstance(event, ev.QuestionAnswered):
            self.answers.append(event)
        elif isinstance(event, ev.FiguresUpdated) and self.engine is not None and self.engine.hop_times:
            if len(self.hop_times) < 100_000:
                self.hop_times.append((event.stream_time, self.engine.hop_times[-1]))
            if event.stream_time >= self._next:
                self.checkpoints.append((event.stream_time, rss_mb(), time.perf_counter()))
                self._next += self.every


def live_run(model: SamModel, seconds: float, describe_every: float, ask_every: float) -> None:
    """Real-time replay: RTF, time to first token, onset-to-feed latency."""
    audio = scene()[: int(seconds * SAMPLE_RATE)]
    rec = Recorder()
    engine = Engine(model, FileSource(audio, name="bench scene"), rec, config=EngineConfig(describe_every=describe_every))
    rec.engine = engine
    engine.start()
    next_ask = time.monotonic() + ask_every
    while not engine.ended.wait(0.05):
        if time.monotonic() >= next_ask:
            engine.ask("what did you just hear?")
            next_ask += ask_every
    time.sleep(0.5)
    engine.stop()
    listen, speak = engine.busy_seconds
    heard = engine.stream_time
    print(f"\n== live run: {heard:.1f} s replayed in real time, a description every {describe_every:g} s ==")
    print(f"real-time factor (listen + describe + answer): {(listen + speak) / heard:.4f}")
    print(f"  listen only: {listen / heard:.4f}   ({len(engine.hop_times)} hops, "
          f"{1000 * statistics.mean(engine.hop_times):.1f} ms mean per {engine.config.hop_seconds} s hop)")
    model_calls = [d for d in rec.descriptions if not d.quiet]
    print(f"  descriptions: {len(rec.descriptions)} ({len(rec.descriptions) - len(model_calls)} quiet by the energy "
          f"gate), model time {1000 * statistics.mean([d.total_time for d in model_calls] or [0]):.0f} ms mean")
    if rec.answers:
        ttft = sorted(a.time_to_first_token for a in rec.answers)
        print(f"time to first token of a typed question (asked -> first token): median {1000 * statistics.median(ttft):.0f}"
              f" ms, max {1000 * ttft[-1]:.0f} ms over {len(ttft)} questions")
    print("onset-to-feed latency (wall time from a sound's onset to its description on screen):")
    for onset, kind, _ in SCENE:
        if onset >= heard:
            continue
        after = [d for d in rec.descriptions if d.stream_time > onset and not d.quiet]
        if not after:
            print(f"  {onset:5.1f} s {kind:<10} no description")
            continue
        first = after[0]
        latency = first.wall_time - (rec.started_wall + onset)
        new = next((d for d in after if d.is_new and d.stream_time <= onset + 5.0), None)
        new_text = f", first new line {new.wall_time - (rec.started_wall + onset):.2f} s" if new else ", no new line"
        print(f"  {onset:5.1f} s {kind:<10} {latency:.2f} s  ({first.text!r}{new_text})")


def long_run(model: SamModel, seconds: float, describe_every: float, every: float, record_audio: bool) -> None:
    """Fast replay of a long session: memory and per-hop time over stream time."""
    rec = Recorder(keep_descriptions=False, every=every)
    with tempfile.TemporaryDirectory() as tmp:
        session = SessionLog.create(tmp, model=model.name, checkpoint=None, source="bench", record_audio=record_audio)
        source = FileSource(scene(), name="bench scene (looped)", realtime=False, duration=seconds)
        engine = Engine(model, source, rec, session=session,
                        config=EngineConfig(describe_every=describe_every, wait_for_descriptions=True))
        rec.engine = engine
        t0 = time.perf_counter()
        engine.start()
        engine.ended.wait()
        engine.stop()
        session.close()
        wall = time.perf_counter() - t0
    print(f"\n== long run: {seconds / 3600:.2f} h of stream replayed as fast as possible in {wall:.0f} s, "
          f"a description every {describe_every:g} s ==")
    listen, speak = engine.busy_seconds
    print(f"real-time factor: {(listen + speak) / seconds:.4f} (listen {listen / seconds:.4f}); "
          f"{rec.n_descriptions} descriptions, {1000 * rec.describe_seconds / max(rec.n_descriptions, 1):.1f} ms mean")
    print(f"{'stream':>8} {'RSS MiB':>8} {'growth':>7} {'hop ms mean':>11} {'p95':>6} {'max':>6}")
    base = rec.checkpoints[0][1]
    bounds = [c[0] for c in rec.checkpoints] + [float("inf")]
    for (t, rss, _), end in zip(rec.checkpoints, bounds[1:]):
        hops = sorted(h for s, h in rec.hop_times if t <= s < end)
        if not hops:
            continue
        p95 = hops[int(0.95 * (len(hops) - 1))]
        print(f"{t / 60:7.0f}m {rss:8.1f} {rss - base:+7.1f} {1000 * statistics.mean(hops):11.2f} "
              f"{1000 * p95:6.2f} {1000 * hops[-1]:6.2f}")
    after_warmup = [c for c in rec.checkpoints if c[0] >= every]
    if len(after_warmup) >= 2:
        print(f"RSS growth after the first {every / 60:.0f} min: {after_warmup[-1][1] - after_warmup[0][1]:+.1f} MiB")


def make_model(args: argparse.Namespace) -> SamModel:
    if args.model:
        module, _, name = args.model.partition(":")
        sys.path.insert(0, os.getcwd())
        return getattr(importlib.import_module(module), name)()
    return load_model(find_checkpoint(args.checkpoint), dtype=args.dtype)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m live.bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", metavar="DIR", help="SAM checkpoint directory (default: assets/sam-small)")
    p.add_argument("--model", metavar="MODULE:CALLABLE", help="build the model by calling this instead (e.g. a stub)")
    p.add_argument("--dtype", choices=("auto", "float32", "bfloat16"), default="auto",
                   help="the checkpoint's dtype, as sam-live --dtype (default: %(default)s)")
    p.add_argument("--threads", type=int, default=THREADS, help="PyTorch threads per engine thread, as sam-live's")
    p.add_argument("--live-seconds", type=float, default=SCENE_SECONDS, help="real-time run length (default: %(default)s)")
    p.add_argument("--long-seconds", type=float, default=3600.0, help="fast run length (default: %(default)s)")
    p.add_argument("--describe-every", type=float, default=2.0, help="seconds between descriptions (default: %(default)s)")
    p.add_argument("--ask-every", type=float, default=7.0, help="seconds between questions in the live run")
    p.add_argument("--report-every", type=float, default=300.0, help="stream seconds per row of the long run")
    p.add_argument("--record-audio", action="store_true", help="also write the session audio in the long run")
    p.add_argument("--skip-live", action="store_true")
    p.add_argument("--skip-long", action="store_true")
    args = p.parse_args(argv)
    if args.threads < 1:
        p.error("--threads must be at least 1")
    keep_small(args.threads)  # the process as sam-live sets it up
    try:
        model = make_model(args)
    except (ValueError, RuntimeError, ImportError, AttributeError) as e:
        print(f"live.bench: {e}", file=sys.stderr)
        return 2
    dtype = next((p.dtype for p in model.parameters()), None) if isinstance(model, torch.nn.Module) else None
    print(f"model {model.name} ({dtype}); torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{os.cpu_count()} CPUs; RSS after loading {rss_mb():.0f} MiB")
    if not args.skip_live:
        live_run(model, args.live_seconds, args.describe_every, args.ask_every)
    if not args.skip_long:
        long_run(model, args.long_seconds, args.describe_every, args.report_every, args.record_audio)
    return 0


if __name__ == "__main__":
    sys.exit(main())
