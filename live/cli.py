"""`sam-live`: parse the command line and run the app (or print devices and sessions)."""
from __future__ import annotations

import argparse
import functools
import sys
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np

from model.audio import QUIET_DB

from .capture import AudioSource, FileSource
from .engine import Engine, EngineConfig
from .footprint import THREADS, keep_small
from .history import ResumeWarning, find_session, list_sessions, resume_state, said_before, show_session
from .microphone import MicrophoneSource, NoInputDevice, PortAudioBackend, format_devices
from .models import ModelUnavailable, find_checkpoint, load_model
from .protocol import SamModel
from .session import SessionLog, default_log_dir, read_session_meta, session_watches
from .watches import PRESETS, WatchConfig, scorer_for, unique_phrases

DEMO = Path(__file__).resolve().parent.parent / "assets" / "demo.ogg"

EPILOG = """\
keys in the app:  Ctrl+P pause/resume listening   Ctrl+S save a snapshot of the state   Ctrl+Q quit
                  Ctrl+N watch for a sound ("/watch a dog barking", or type "tell me when the dog barks";
                  "/unwatch a dog barking" stops)
headless:         stdout has one JSON event per line (the lines of events.jsonl); each stdin line is
                  a question, "@12.5 what was that?" asks it at 12.5 s of stream; "/watch PHRASE" and
                  "/unwatch PHRASE" (also after @SECONDS) start and stop a watch. A replayed file ends
                  the run once it is described and the questions read so far are answered (--stay:
                  once stdin closes). SIGINT, SIGTERM and SIGHUP save the state and end the session;
                  a second one ends at once.

examples:
  sam-live                                 listen on the default microphone
  sam-live --list-devices                  show the input devices
  sam-live --device 3 --describe-every 5   microphone 3, a description every 5 s
  sam-live --input street.wav --fast --headless > events.jsonl
  sam-live --watch "a dog barking" --watch-preset safety   alert on a dog and on the safety sounds
  ask.sh | sam-live --input street.wav --headless --stay   answer ask.sh's questions until it ends
  sam-live --resume ~/.local/share/sam-live/sessions/2025-06-01_14-03-22
  sam-live --show 2025-06-01_14-03-22      print a past session (a name in the log directory)
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sam-live", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
        description="Listen continuously, show what SAM hears as it happens, answer typed questions\n"
                    "about the sound, and record the session.")
    src = p.add_argument_group("audio")
    src.add_argument("--device", metavar="ID", help="input device: index or (part of) its name (default: the default input)")
    src.add_argument("--list-devices", action="store_true", help="list the input devices and exit")
    src.add_argument("--input", metavar="FILE", help="replay a recording in real time instead of the microphone")
    src.add_argument("--fast", action="store_true", help="with --input: replay as fast as the model goes")
    mdl = p.add_argument_group("model")
    mdl.add_argument("--checkpoint", metavar="DIR", help="SAM checkpoint directory (default: assets/sam-small)")
    mdl.add_argument("--dtype", choices=("auto", "float32", "bfloat16"), default="auto",
                     help="weights and compute: bfloat16 is half the memory, float32 the reference answers "
                          "(default auto: bfloat16 on CPUs with bf16 arithmetic, else float32)")
    mdl.add_argument("--threads", metavar="N", type=int, default=THREADS,
                     help="PyTorch threads for each of the engine's two threads (default: %(default)s)")
    mdl.add_argument("--describe-every", metavar="S", type=float, default=2.0,
                     help="seconds of audio between scene descriptions (default: %(default)s)")
    mdl.add_argument("--quiet-db", metavar="DB", type=float, default=QUIET_DB,
                     help="dBFS below which a stretch is reported as quiet without asking the model "
                          "(default: %(default)s)")
    wat = p.add_argument_group("watches (alerts when a sound is heard)")
    wat.add_argument("--watch", metavar="PHRASE", action="append", default=[],
                     help="alert when this sound is heard, e.g. \"a dog barking\" (repeatable)")
    wat.add_argument("--watch-preset", metavar="NAME", choices=sorted(PRESETS), action="append", default=[],
                     help=f"watch for a list of sounds: {', '.join(sorted(PRESETS))} (smoke alarm, siren, car horn, "
                          "doorbell, knock, phone, shouting, dog, cat, beeping, running water, glass breaking)")
    default = WatchConfig()
    wat.add_argument("--watch-threshold", metavar="P", type=float, default=default.on,
                     help="confidence (0-1) at which a watch alerts (default: %(default)s)")
    wat.add_argument("--watch-release", metavar="P", type=float, default=default.off,
                     help="confidence under which it may alert again (default: %(default)s)")
    wat.add_argument("--watch-gap", metavar="S", type=float, default=default.min_gap,
                     help="least seconds of audio between two alerts of one watch (default: %(default)s)")
    log = p.add_argument_group("session log")
    log.add_argument("--log-dir", metavar="DIR", help=f"where session folders go (default: {default_log_dir()})")
    log.add_argument("--no-audio", action="store_true", help="do not record the audio")
    log.add_argument("--resume", metavar="FOLDER", help="continue a session where it stopped (folder or name)")
    log.add_argument("--list-sessions", action="store_true", help="list past sessions and exit")
    log.add_argument("--show", metavar="FOLDER", help="print a past session's events and exit")
    p.add_argument("--headless", action="store_true", help="no UI: print events as JSON lines on stdout")
    p.add_argument("--stay", action="store_true",
                   help="with --headless --input: once the recording has ended, keep answering questions from "
                        "stdin until it closes (default: end when the recording and the questions read so far "
                        "are done)")
    return p


TEXT_OPTIONS = ("input", "device", "checkpoint", "log_dir", "resume", "show")  # an empty one is a mistake


def check_args(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    for name in TEXT_OPTIONS:
        value = getattr(args, name)
        if value is not None and not value.strip():
            p.error(f"--{name.replace('_', '-')} is empty: give a value or leave the option out")
    if args.fast and not args.input:
        p.error("--fast replays a recording: give it with --input FILE")
    if args.device is not None and args.input:
        p.error("--device and --input both choose the audio: give one")
    if args.threads < 1:
        p.error("--threads must be at least 1")
    if not args.describe_every > 0:
        p.error("--describe-every must be a positive number of seconds")
    try:
        args.watch_config = WatchConfig(on=args.watch_threshold, off=args.watch_release, min_gap=args.watch_gap)
    except ValueError as e:
        p.error(f"{e} (--watch-threshold, --watch-release, --watch-gap)")
    if args.stay and not (args.headless and args.input):
        p.error("--stay keeps a headless replay open for questions: give it with --headless --input FILE "
                "(the app always stays until Ctrl+Q)")


def open_source(args: argparse.Namespace) -> tuple[AudioSource, list[str]]:
    """The audio to listen to, and notices for the user (such as falling back to the demo)."""
    if args.input:
        return FileSource.open(args.input, realtime=not args.fast), []
    try:
        return MicrophoneSource(args.device), []
    except NoInputDevice:
        if args.device is not None:
            raise
    if not DEMO.is_file():
        raise RuntimeError(f"this machine has no audio input device, and the demo recording {DEMO} is not "
                           "installed; replay a recording with --input FILE")
    notice = f"No audio input device found: playing the demo recording {DEMO.name} instead."
    return FileSource.open(DEMO), [notice]


def run(args: argparse.Namespace, load: Callable[[Path], SamModel]) -> int:
    """Print what was asked for, or run a live session."""
    log_dir = Path(args.log_dir).expanduser() if args.log_dir else default_log_dir()
    if args.list_devices:
        backend = PortAudioBackend()
        print(format_devices(backend.input_devices(), backend.default_input()))
        return 0
    if args.list_sessions:
        print(list_sessions(log_dir))
        return 0
    if args.show:
        print(show_session(find_session(args.show, log_dir)))
        return 0
    return run_session(args, load, log_dir)


def open_session(args: argparse.Namespace, model: SamModel, path: Path, source: AudioSource, log_dir: Path,
                 resumed: Path | None, notices: list[str]) -> tuple[SessionLog, Any, np.ndarray | None]:
    """The session folder (new or resumed), and the state and unheard audio to start from."""
    record = not args.no_audio
    if resumed is None:
        return SessionLog.create(log_dir, model=model.name, checkpoint=str(path.resolve()), source=source.name,
                                 record_audio=record), None, None
    with warnings.catch_warnings(record=True) as caught:  # shown as notices, on screen or as events
        warnings.simplefilter("always", ResumeWarning)
        state, catch_up = resume_state(model, resumed)  # first: a state of another model stops here
    for w in caught:
        if issubclass(w.category, ResumeWarning):
            notices.append(str(w.message))
        else:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    session = SessionLog.resume(resumed, source=source.name, record_audio=record)
    if state is None and catch_up is None:
        notices.append("This session saved no listening state and recorded no audio: listening starts afresh.")
    return session, state, catch_up


def run_session(args: argparse.Namespace, load: Callable[[Path], SamModel], log_dir: Path) -> int:
    """Load the model, open the source and the session folder, and run the UI or headless."""
    resumed = find_session(args.resume, log_dir) if args.resume else None
    path = find_checkpoint(args.checkpoint or (read_session_meta(resumed).get("checkpoint") if resumed else None))
    watches = watch_phrases(args, read_session_meta(resumed) if resumed else {})
    source, notices = open_source(args)
    print(f"sam-live: loading {path} ...", file=sys.stderr)
    model = load(path)
    if watches:
        scorer_for(model)  # a model that cannot watch is told before a session folder is made
    session, state, catch_up = open_session(args, model, path, source, log_dir, resumed, notices)
    config = EngineConfig(describe_every=args.describe_every, quiet_db=args.quiet_db, wait_for_descriptions=args.fast,
                          watch=args.watch_config)
    engine = Engine(model, source, config=config, state=state, session=session, catch_up=catch_up, watches=watches,
                    said=said_before(resumed) if resumed else None)
    wait = True
    try:
        if args.headless:
            return run_headless(engine, notices, stay=args.stay)
        code, wait = run_app(engine, session, notices)
        return code
    finally:
        if wait and not engine.stopped.is_set():
            engine.stop()
        close_session(session)
        if engine.failure is not None:
            print(f"sam-live: {type(engine.failure).__name__}: {engine.failure}", file=sys.stderr)
        left = "" if engine.stopped.is_set() else " (left before its state was saved)"
        print(f"sam-live: session saved in {session.folder}{left}", file=sys.stderr)


def watch_phrases(args: argparse.Namespace, resumed_meta: dict[str, Any]) -> list[str]:
    """What to watch for: a resumed session's watches, then the presets', then each --watch, each once.

    ValueError for a bad phrase or more than MAX_WATCHES.
    """
    presets = [p.phrase for name in args.watch_preset for p in PRESETS[name]]
    return unique_phrases(session_watches(resumed_meta) + presets + args.watch)


def close_session(session: SessionLog) -> None:
    """Close the session's files; a failing disk is reported, not raised, so the exit status stays the run's."""
    try:
        session.close()
    except (OSError, RuntimeError) as e:
        print(f"sam-live: closing the session: {e}", file=sys.stderr)


def run_headless(engine: Engine, notices: list[str], *, stay: bool) -> int:
    """Events on stdout, questions from stdin; the exit status."""
    from .headless import HeadlessRun

    for notice in notices:
        print(f"sam-live: {notice}", file=sys.stderr)
    return HeadlessRun(engine, notices=notices, stay=stay).run()


def run_app(engine: Engine, session: SessionLog, notices: list[str]) -> tuple[int, bool]:
    """The Textual UI; (exit status, whether the engine may still be waited for)."""
    from .app import SamLiveApp, c_stderr_to

    from .alerts import desktop_notifier

    app = SamLiveApp(engine, model_name=engine.model.name, source_name=engine.source.name,
                     log_folder=str(session.folder), notices=notices, notify_desktop=desktop_notifier())
    with c_stderr_to(session.folder / "stderr.log"):
        code = app.run()
    return (code if code is not None else 1), not app.hurried


def main(argv: list[str] | None = None, *, load: Callable[[Path], SamModel] = load_model) -> int:
    """Entry point of `sam-live`; `load` turns a checkpoint directory into a model."""
    parser = build_parser()
    args = parser.parse_args(argv)
    check_args(parser, args)
    if load is load_model:  # the app itself (not a test's stub): settings for the whole process, first
        keep_small(args.threads)
        load = functools.partial(load_model, dtype=args.dtype)
    try:
        return run(args, load)
    except ModelUnavailable as e:
        print(e, file=sys.stderr)
        return 2
    except (ValueError, RuntimeError) as e:
        print(f"sam-live: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
