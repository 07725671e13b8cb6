"""Past sessions: listing them, printing one, and picking a session up where it stopped."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from model.audio import SAMPLE_RATE

from .protocol import SamModel, StreamStateLike, load_state
from .session import AUDIO_DIR, EVENTS_FILE, STATE_FILE, read_session_meta
from .wavlog import read_segments, recorded_samples


def read_events(folder: str | Path) -> Iterator[dict[str, Any]]:
    """The events of a session, skipping a line that a kill cut short (only ever the last)."""
    path = Path(folder) / EVENTS_FILE
    if not path.is_file():
        return
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                continue


def clock(seconds: float) -> str:
    """Stream time as h:mm:ss or m:ss.s."""
    seconds = max(0.0, seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{int(h)}:{int(m):02d}:{int(s):02d}" if h else f"{int(m)}:{s:04.1f}"


def find_session(spec: str | Path, log_dir: Path) -> Path:
    """A session folder given as a path or as a name under `log_dir`; ValueError otherwise."""
    for folder in (Path(spec).expanduser(), log_dir / str(spec)):
        if (folder / "session.json").is_file():
            return folder
    raise ValueError(f"{spec}: no such session (neither a folder nor a name in {log_dir}); "
                     "`sam-live --list-sessions` lists them")


def summarize(folder: Path) -> dict[str, Any]:
    """What `--list-sessions` shows of one session."""
    meta = read_session_meta(folder)
    heard, counts = 0.0, {"description": 0, "question": 0, "warning": 0}
    for e in read_events(folder):
        heard = max(heard, e.get("stream_time", 0.0))
        if e.get("type") == "description" and not e.get("is_new", True):
            continue
        if e.get("type") in counts:
            counts[e["type"]] += 1
    return {"name": folder.name, "started": meta["runs"][0]["started"], "runs": len(meta["runs"]),
            "model": meta.get("model", "?"), "heard": heard, **counts,
            "state": (folder / STATE_FILE).is_file()}


def list_sessions(log_dir: Path) -> str:
    """The table printed by `sam-live --list-sessions`, newest last."""
    folders = sorted(p for p in log_dir.glob("*") if (p / "session.json").is_file()) if log_dir.is_dir() else []
    if not folders:
        return f"No sessions in {log_dir}."
    lines = [f"Sessions in {log_dir}:",
             f"  {'name':<22} {'heard':>9} {'runs':>4} {'lines':>5} {'asked':>5}  {'model':<14} resumable"]
    for folder in folders:
        try:
            s = summarize(folder)
        except ValueError as e:
            lines.append(f"  {folder.name:<22} (unreadable: {e})")
            continue
        lines.append(f"  {s['name']:<22} {clock(s['heard']):>9} {s['runs']:>4} {s['description']:>5} "
                     f"{s['question']:>5}  {s['model'][:14]:<14} {'yes' if s['state'] else 'no state'}")
    return "\n".join(lines)


def format_event(e: dict[str, Any]) -> str | None:
    """One event as a line of `--show`, or None for those it leaves out (levels, repeats)."""
    t, kind = clock(e.get("stream_time", 0.0)), e.get("type")
    if kind == "description":
        return f"{t:>9}  ~ {e['text']}" if e.get("is_new", True) else None
    text = {
        "session_started": lambda: f"session {'resumed' if e.get('resumed') else 'started'}: {e.get('model')} "
                                   f"on {e.get('source')}",
        "question": lambda: f"Q{e['question_id']}: {e['question']}",
        "answer": lambda: f"A{e['question_id']}: {e['text']}  ({e['time_to_first_token'] * 1000:.0f} ms to first token)",
        "warning": lambda: f"! {e['message']}",
        "device_lost": lambda: f"! lost {e['device']}: {e['reason']}",
        "device_restored": lambda: f"! back: {e['device']}",
        "source_ended": lambda: f"end of {e['source']}",
        "paused": lambda: "paused",
        "resumed": lambda: "listening again",
        "snapshot": lambda: f"snapshot {e['path']}",
        "session_ended": lambda: f"session ended (real-time factor {e['real_time_factor']:.3f}, "
                                 f"{e['dropped_seconds']:.1f} s dropped, {e.get('overflows', 0)} overflows)",
    }.get(kind)
    return f"{t:>9}  {text()}" if text else None


def show_session(folder: Path) -> str:
    """The text printed by `sam-live --show FOLDER`."""
    meta = read_session_meta(folder)
    audio = recorded_samples(folder / AUDIO_DIR) / SAMPLE_RATE
    head = [f"Session {folder.name}  ({folder})",
            f"  model {meta.get('model')}, checkpoint {meta.get('checkpoint')}",
            *(f"  run {i + 1}: {r['started']} on {r['source']}" for i, r in enumerate(meta["runs"])),
            f"  audio recorded: {clock(audio)}" if meta.get("record_audio", True) else "  audio not recorded",
            f"  listening state: {'saved' if (folder / STATE_FILE).is_file() else 'not saved (the session did not exit)'}",
            ""]
    body = [line for e in read_events(folder) if (line := format_event(e)) is not None]
    return "\n".join(head + (body or ["  (no events)"]))


def resume_state(model: SamModel, folder: Path) -> tuple[StreamStateLike | None, np.ndarray | None]:
    """The saved state of a session and any recorded audio it has not heard (after a kill)."""
    state_path = folder / STATE_FILE
    state = load_state(model, state_path) if state_path.is_file() else None
    heard = state.samples_seen if state is not None else 0
    recorded = recorded_samples(folder / AUDIO_DIR)
    tail = read_segments(folder / AUDIO_DIR, start=heard) if recorded > heard else None
    return state, tail
