"""Past sessions: listing them, printing one, and picking a session up where it stopped.

A damaged session, line or field is reported in one line with its path, never as a traceback,
and never hides the other sessions.
"""
from __future__ import annotations

import math
import os
import warnings
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from model.audio import SAMPLE_RATE

from .events import Damage, read_log
from .folder import check_no_links
from .protocol import SamModel, StreamStateLike, load_state
from .session import SESSION_FILE, STATE_FILE, read_session_meta
from .timeline import AUDIO_DIR, EVENTS_FILE, read_plan, silence_in, unheard
from .wavlog import recorded_samples


class ResumeWarning(UserWarning):
    """Resuming goes on, but not all of the session's past could be heard again."""


def read_events(folder: str | Path, damage: Damage | None = None) -> Iterator[dict[str, Any]]:
    """The checked events of a session; damaged lines are skipped and, given `damage`, noted there."""
    return read_log(Path(folder) / EVENTS_FILE, damage)


def clock(seconds: float) -> str:
    """Stream time as h:mm:ss or m:ss.s."""
    if not math.isfinite(seconds):
        return "?"
    seconds = max(0.0, seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{int(h)}:{int(m):02d}:{int(s):02d}" if h else f"{int(m)}:{s:04.1f}"


def is_session(folder: Path) -> bool:
    """Whether `folder` holds a session.json (False, too, when it cannot be looked at)."""
    return os.path.isfile(folder / SESSION_FILE)


def find_session(spec: str | Path, log_dir: Path) -> Path:
    """A session folder given as a path or as a name under `log_dir`; ValueError otherwise."""
    for folder in (Path(spec).expanduser(), log_dir / str(spec)):
        if is_session(folder):
            return folder
    raise ValueError(f"{spec}: no such session (neither a folder nor a name in {log_dir}); "
                     "`sam-live --list-sessions` lists them")


def summarize(folder: Path) -> dict[str, Any]:
    """What `--list-sessions` shows of one session; `damaged` counts the log lines skipped."""
    meta = read_session_meta(folder)
    damage = Damage()
    heard, counts = 0.0, {"description": 0, "question": 0, "warning": 0, "alert": 0}
    for e in read_events(folder, damage):
        heard = max(heard, e["stream_time"])
        if e["type"] == "description" and not e["is_new"]:
            continue
        if e["type"] in counts:
            counts[e["type"]] += 1
    return {"name": folder.name, "started": meta["runs"][0]["started"], "runs": len(meta["runs"]),
            "model": meta.get("model", "?"), "heard": heard, **counts,
            "state": (folder / STATE_FILE).is_file(), "damaged": damage.count}


def list_sessions(log_dir: Path) -> str:
    """The table printed by `sam-live --list-sessions`, newest last."""
    try:
        folders = sorted(p for p in log_dir.iterdir() if is_session(p)) if log_dir.is_dir() else []
    except OSError as e:
        raise RuntimeError(f"{log_dir}: cannot list the sessions ({e})") from e
    if not folders:
        return f"No sessions in {log_dir}."
    lines = [f"Sessions in {log_dir}:",
             f"  {'name':<22} {'heard':>9} {'runs':>4} {'lines':>5} {'asked':>5} {'alerts':>6}  {'model':<14} resumable"]
    for folder in folders:
        try:
            s = summarize(folder)
        except (ValueError, RuntimeError) as e:
            lines.append(f"  {folder.name:<22} (unreadable: {e})")
            continue
        damaged = f"  ({s['damaged']} damaged log lines skipped)" if s["damaged"] else ""
        lines.append(f"  {s['name']:<22} {clock(s['heard']):>9} {s['runs']:>4} {s['description']:>5} "
                     f"{s['question']:>5} {s['alert']:>6}  {s['model'][:14]:<14} "
                     f"{'yes' if s['state'] else 'no state'}{damaged}")
    return "\n".join(lines)


def format_event(e: dict[str, Any]) -> str | None:
    """One checked event as a line of `--show`, or None for those it leaves out (levels, repeats)."""
    t, kind = clock(e["stream_time"]), e["type"]
    if kind == "description":
        return f"{t:>9}  ~ {e['text']}" if e["is_new"] else None
    text = {
        "session_started": lambda: f"session {'resumed' if e['resumed'] else 'started'}: {e['model']} "
                                   f"on {e['source']}",
        "question": lambda: f"Q{e['question_id']}: {e['question']}",
        "answer": lambda: f"A{e['question_id']}: {e['text']}  "
                          f"({e['time_to_first_token'] * 1000:.0f} ms to first token)",
        "alert": lambda: f"ALERT {e['phrase']}  (confidence {e['confidence']:.2f})",
        "watch_added": lambda: f"watching for: {e['phrase']}",
        "watch_removed": lambda: f"no longer watching for: {e['phrase']}",
        "warning": lambda: f"! {e['message']}",
        "device_lost": lambda: f"! lost {e['device']}: {e['reason']}",
        "device_restored": lambda: f"! back: {e['device']}",
        "source_ended": lambda: f"end of {e['source']}",
        "paused": lambda: "paused",
        "resumed": lambda: "listening again",
        "snapshot": lambda: f"snapshot {e['path']}",
        "session_ended": lambda: f"session ended (real-time factor {e['real_time_factor']:.3f}, "
                                 f"{e['dropped_seconds']:.1f} s dropped, {e['overflows']} overflows)",
    }.get(kind)
    return f"{t:>9}  {text()}" if text else None


def show_session(folder: Path) -> str:
    """The text printed by `sam-live --show FOLDER`; damaged lines and segments are named at its end."""
    meta = read_session_meta(folder)
    damage = Damage()
    saved = (folder / STATE_FILE).is_file()
    head = [f"Session {folder.name}  ({folder})",
            f"  model {meta.get('model')}, checkpoint {meta.get('checkpoint')}",
            *(f"  run {i + 1}: {r['started']} on {r['source']}" for i, r in enumerate(meta["runs"])),
            _audio_line(folder, meta, damage),
            f"  listening state: {'saved' if saved else 'not saved (the session did not exit)'}",
            ""]
    body, alerts = [], []
    for e in read_events(folder, damage):
        if (line := format_event(e)) is not None:
            body.append(line)
        if e["type"] == "alert":
            alerts.append(e)
    return "\n".join(head + (body or ["  (no events)"]) + _alert_lines(alerts) + _damage_lines(damage))


def _alert_lines(alerts: list[dict[str, Any]]) -> list[str]:
    """The session's alerts again, gathered at the end: what a person who cannot hear looks for first."""
    if not alerts:
        return []
    return ["", f"  alerts ({len(alerts)}):",
            *(f"  {clock(e['stream_time']):>9}  {e['phrase']}  ({e['confidence']:.2f})" for e in alerts)]


def _audio_line(folder: Path, meta: dict[str, Any], damage: Damage) -> str:
    if not meta.get("record_audio", True):
        return "  audio not recorded"
    try:
        return f"  audio recorded: {clock(recorded_samples(folder / AUDIO_DIR) / SAMPLE_RATE)}"
    except (ValueError, RuntimeError) as e:
        damage.add(str(e))
        return "  audio recorded: ? (a segment is damaged, see below)"


def _damage_lines(damage: Damage) -> list[str]:
    if not damage.count:
        return []
    more = damage.count - len(damage.named)
    return ["", f"  skipped as damaged ({damage.count}):", *(f"  {p}" for p in damage.named),
            *([f"  ... and {more} more"] if more else [])]


def said_before(folder: Path) -> list[tuple[float, str]]:
    """The scene descriptions a session logged, as (stream time, text) in order: what a resumed session recaps "what
    happened while I was away" from (model/recap.py, whose timeline keeps the last hour of them). Damaged lines are
    skipped."""
    said = [(float(e["stream_time"]), str(e["text"])) for e in read_events(folder)
            if e.get("type") == "description" and isinstance(e.get("text"), str)
            and isinstance(e.get("stream_time"), (int, float)) and math.isfinite(e["stream_time"])]
    return sorted(said, key=lambda s: s[0])


def resume_state(model: SamModel, folder: Path) -> tuple[StreamStateLike | None, np.ndarray | None]:
    """The saved state of a session and the audio it has not heard, to hear first (after a kill).

    That audio is every recorded sample after the state, in order on the stream, and silence where
    the log shows the stream went on unrecorded (a ResumeWarning then says how much). ValueError for
    a folder holding a link, a damaged session.json or segment, or a state that cannot be resumed.
    """
    folder = Path(folder)
    check_no_links(folder)
    meta = read_session_meta(folder)
    state_path = folder / STATE_FILE
    state = load_state(model, state_path) if state_path.is_file() else None
    plan = unheard(folder, meta["runs"], state.samples_seen if state is not None else 0)
    silence = silence_in(plan)
    if silence:
        warnings.warn(f"{folder}: {silence / SAMPLE_RATE:.1f} s of the stream were neither recorded nor in the "
                      "saved state (a run without audio ended by a kill): heard as silence, so that stream times "
                      "go on from where the log stopped", ResumeWarning, stacklevel=2)
    return state, (read_plan(plan) if plan else None)
