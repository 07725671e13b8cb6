"""Session logs: one folder per session, written so that a kill -9 leaves every file readable.

```
<log dir>/2025-06-01_14-03-22/
  session.json        what ran: model, checkpoint, source, each run's start (written atomically)
  events.jsonl        one event per line, each written with a single write(2) as it happens
  audio/000000.wav    what the model heard, 16 kHz mono, one-minute segments (live/wavlog.py)
  state.safetensors   the listening state, saved every minute and on exit (`--resume` reads it)
  snapshots/          states saved on request
  errors.log          tracebacks of failures the screen showed as one line
  stderr.log          what C libraries (PortAudio, ALSA) printed while the UI held the terminal
```
"""
from __future__ import annotations

import json
import os
import time
import traceback
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from .events import Event
from .protocol import StreamStateLike
from .wavlog import SYNC_EVERY, SegmentWriter

SESSION_FILE = "session.json"
EVENTS_FILE = "events.jsonl"
AUDIO_DIR = "audio"
STATE_FILE = "state.safetensors"
SNAPSHOT_DIR = "snapshots"
ERRORS_FILE = "errors.log"


def default_log_dir() -> Path:
    """Where sessions go unless `--log-dir` says otherwise (the XDG data directory)."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "sam-live" / "sessions"


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def read_session_meta(folder: Path) -> dict[str, Any]:
    """session.json of a session folder; ValueError when the folder is not one."""
    path = Path(folder) / SESSION_FILE
    if not path.is_file():
        raise ValueError(f"{folder}: not a sam-live session folder (no {SESSION_FILE})")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: unreadable ({e})") from e


class SessionLog:
    """The files of one session; `write_event` and `write_audio` are durable when they return."""

    def __init__(self, folder: Path, meta: dict[str, Any], record_audio: bool):
        self.folder = folder
        self.meta = meta
        self._events_fd = os.open(folder / EVENTS_FILE, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._audio = SegmentWriter(folder / AUDIO_DIR) if record_audio else None
        self._last_sync = time.monotonic()

    @classmethod
    def create(cls, log_dir: str | Path, *, model: str, checkpoint: str | None, source: str,
               record_audio: bool = True) -> "SessionLog":
        """A new session folder under `log_dir`, named by the local start time."""
        log_dir = Path(log_dir).expanduser()
        try:
            log_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise RuntimeError(f"cannot create the log directory {log_dir}: {e}") from e
        stamp = datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
        folder, n = log_dir / stamp, 1
        while True:
            try:
                folder.mkdir()
                break
            except FileExistsError:
                n += 1
                folder = log_dir / f"{stamp}-{n}"
        meta = {"format": "sam-live-session", "version": 1, "model": model, "checkpoint": checkpoint,
                "record_audio": record_audio, "runs": [{"started": datetime.now().isoformat(timespec="seconds"),
                                                        "source": source}]}
        write_json_atomic(folder / SESSION_FILE, meta)
        return cls(folder, meta, record_audio)

    @classmethod
    def resume(cls, folder: str | Path, *, source: str, record_audio: bool = True) -> "SessionLog":
        """Continue a session in its own folder: events and audio are appended."""
        folder = Path(folder).expanduser()
        meta = read_session_meta(folder)
        meta["runs"].append({"started": datetime.now().isoformat(timespec="seconds"), "source": source})
        write_json_atomic(folder / SESSION_FILE, meta)
        return cls(folder, meta, record_audio)

    @property
    def state_path(self) -> Path:
        return self.folder / STATE_FILE

    @property
    def records_audio(self) -> bool:
        return self._audio is not None

    def write_event(self, event: Event) -> None:
        """Append the event as one JSON line (one write, so a kill never leaves half of it)."""
        line = (json.dumps(event.to_json(), ensure_ascii=False) + "\n").encode()
        os.write(self._events_fd, line)
        if time.monotonic() - self._last_sync > SYNC_EVERY:
            os.fsync(self._events_fd)
            self._last_sync = time.monotonic()

    def write_audio(self, samples: np.ndarray) -> None:
        if self._audio is not None:
            self._audio.write(samples)

    def save_state(self, state: StreamStateLike) -> Path:
        state.save(self.state_path)
        return self.state_path

    def save_snapshot(self, state: StreamStateLike) -> Path:
        folder = self.folder / SNAPSHOT_DIR
        folder.mkdir(exist_ok=True)
        path = folder / f"state-{state.seconds:09.2f}s.safetensors"
        state.save(path)
        return path

    def write_error(self, error: BaseException) -> None:
        """Keep the traceback of a failure that the user saw as a one-line message."""
        text = "".join(traceback.format_exception(error))
        with open(self.folder / ERRORS_FILE, "a") as f:
            f.write(f"--- {datetime.now().isoformat(timespec='seconds')}\n{text}")

    def close(self) -> None:
        if self._audio is not None:
            self._audio.close()
        os.fsync(self._events_fd)
        os.close(self._events_fd)
