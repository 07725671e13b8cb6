"""Session logs: one folder per session, written so that a kill -9 leaves every file readable.

```
<log dir>/2025-06-01_14-03-22/
  session.json        what ran: model, checkpoint, source, each run's start, the watches (written atomically)
  events.jsonl        one event per line, each written with a single write(2) as it happens
  audio/000000.wav    what the model heard, 16 kHz mono, one-minute segments (live/wavlog.py)
  state.safetensors   the listening state, saved every minute and on exit (`--resume` reads it)
  snapshots/          states saved on request
  errors.log          tracebacks of failures the screen showed as one line
  stderr.log          what C libraries (PortAudio, ALSA) printed while the UI held the terminal
```

Nothing is written through a link (live/folder.py). A write that fails (a full disk) raises
SessionWriteError and leaves every file whole: events.jsonl holds whole lines only, a WAV segment
the samples its header counts, session.json and the state their last complete version.
"""
from __future__ import annotations

import json
import os
import threading
import time
import traceback
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from model.audio import SAMPLE_RATE
from model.files import write_all

from .events import Event, SessionStarted
from .folder import check_no_links, ends_mid_line, open_append, read_json, real_dir, write_json_atomic
from .protocol import StreamStateLike
from .timeline import AUDIO_DIR, EVENTS_FILE, unheard
from .wavlog import SYNC_EVERY, SegmentWriter

SESSION_FILE = "session.json"
STATE_FILE = "state.safetensors"
SNAPSHOT_DIR = "snapshots"
ERRORS_FILE = "errors.log"


class SessionWriteError(RuntimeError):
    """A session file could not be written (a full or failing disk); what was on disk before is whole."""


def default_log_dir() -> Path:
    """Where sessions go unless `--log-dir` says otherwise (the XDG data directory)."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "sam-live" / "sessions"


def read_session_meta(folder: Path) -> dict[str, Any]:
    """session.json of a session folder; ValueError naming the file when it is missing or damaged."""
    path = Path(folder) / SESSION_FILE
    if not path.is_file():
        raise ValueError(f"{folder}: not a sam-live session folder (no {SESSION_FILE})")
    meta = read_json(path)
    check_meta(path, meta)
    return meta


def check_meta(path: Path, meta: Any) -> None:
    """ValueError naming `path` when session.json lacks what showing and resuming need."""
    damaged = f"{path}: damaged, so the session cannot be shown or resumed (its events and audio are still there):"
    if not isinstance(meta, dict):
        raise ValueError(f"{damaged} a JSON {type(meta).__name__}, not an object")
    runs = meta.get("runs")
    if not (isinstance(runs, list) and runs and all(
            isinstance(r, dict) and isinstance(r.get("started"), str) and isinstance(r.get("source"), str)
            for r in runs)):
        raise ValueError(f"{damaged} no list of runs, each with its 'started' and 'source'")
    for key, types in (("model", (str,)), ("checkpoint", (str, type(None))), ("record_audio", (bool,))):
        if key in meta and not isinstance(meta[key], types):
            raise ValueError(f"{damaged} {key} is {json.dumps(meta[key])[:40]}")
    watches = meta.get("watches", [])
    if not (isinstance(watches, list) and all(isinstance(w, str) for w in watches)):
        raise ValueError(f"{damaged} watches is {json.dumps(watches)[:40]}, not a list of phrases")


def session_watches(meta: dict[str, Any]) -> list[str]:
    """The phrases a session was watching for when it last changed them (checked by check_meta)."""
    return list(meta.get("watches", []))


class SessionLog:
    """The files of one session. A write is durable when it returns; one that fails raises SessionWriteError.

    After a failure events are still tried one by one (`events_dropped` counts those lost), audio is
    no longer recorded in this run, and each state save is tried again.
    """

    def __init__(self, folder: Path, meta: dict[str, Any], record_audio: bool):
        self.folder = folder
        self.meta = meta
        self.events_dropped = 0
        self._lock = threading.RLock()  # writes come from the engine's listener and speaker threads
        self._events_fd = open_append(folder / EVENTS_FILE)
        self._line_open = ends_mid_line(self._events_fd)  # a line cut short: the next event starts a new one
        self._last_sync = time.monotonic()
        self._audio_lost: str | None = None  # why this run records no more audio
        try:
            self._audio = SegmentWriter(folder / AUDIO_DIR) if record_audio else None
        except BaseException:
            os.close(self._events_fd)
            raise

    @classmethod
    def create(cls, log_dir: str | Path, *, model: str, checkpoint: str | None, source: str,
               record_audio: bool = True) -> "SessionLog":
        """A new session folder under `log_dir`, named by the local start time."""
        log_dir = Path(log_dir).expanduser()
        try:
            log_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise RuntimeError(f"cannot create the log directory {log_dir}: {e}") from e
        folder = _new_folder(log_dir, datetime.now().strftime("%Y-%m-%d_%H-%M-%S"))
        meta = {"format": "sam-live-session", "version": 1, "model": model, "checkpoint": checkpoint,
                "record_audio": record_audio, "runs": []}
        return cls(folder, meta, record_audio)._begin(source)

    @classmethod
    def resume(cls, folder: str | Path, *, source: str, record_audio: bool = True) -> "SessionLog":
        """Continue a session in its own folder: events and audio are appended.

        ValueError for a folder holding a link or a damaged session.json. The engine must first hear
        what `history.resume_state` returns, as this run's audio is placed after it on the stream.
        """
        folder = Path(folder).expanduser()
        check_no_links(folder)
        return cls(folder, read_session_meta(folder), record_audio)._begin(source)

    def _begin(self, source: str) -> "SessionLog":
        """Add this run to session.json; RuntimeError, and nothing added, when that cannot be written."""
        run: dict[str, Any] = {"started": datetime.now().isoformat(timespec="seconds"), "source": source}
        if self._audio is not None:
            run["audio_segment"] = self._audio.next_index
            self.meta["record_audio"] = True  # some run recorded audio
        self.meta["runs"].append(run)
        try:
            write_json_atomic(self.folder / SESSION_FILE, self.meta)
        except OSError as e:
            self.meta["runs"].pop()
            error = RuntimeError(f"{self.folder / SESSION_FILE}: cannot record the new run ({e})")
            try:
                self.close()
            except SessionWriteError as close_error:
                error.add_note(str(close_error))
            raise error from e
        return self

    @property
    def state_path(self) -> Path:
        return self.folder / STATE_FILE

    @property
    def records_audio(self) -> bool:
        return self._audio is not None

    # --- events --------------------------------------------------------------------------------

    def write_event(self, event: Event) -> None:
        """Append the event as one whole line; SessionWriteError when it is not in the log."""
        if isinstance(event, SessionStarted):
            self._place_run(event)
        line = (json.dumps(event.to_json(), ensure_ascii=False) + "\n").encode("utf-8", "replace")
        path = self.folder / EVENTS_FILE
        with self._lock:
            try:
                self._append(line)
            except OSError as e:
                self.events_dropped += 1
                raise SessionWriteError(f"{path}: {e.strerror or e}: {self.events_dropped} event(s) not in the "
                                        "log (the log keeps whole lines only)") from e
            if time.monotonic() - self._last_sync > SYNC_EVERY:
                self._last_sync = time.monotonic()
                try:
                    os.fsync(self._events_fd)
                except OSError as e:
                    raise SessionWriteError(f"{path}: {e.strerror or e}: recent events may not be on disk") from e

    def _append(self, line: bytes) -> None:
        """One write of a whole line; a part written before a failure is cut off again."""
        if self._line_open:
            line = b"\n" + line
        size = os.fstat(self._events_fd).st_size
        try:
            write_all(self._events_fd, line)  # more than one write only when the disk fills mid-line
        except OSError as e:
            self._cut_back(size, e)
            raise
        self._line_open = False

    def _cut_back(self, size: int, error: OSError) -> None:
        if os.fstat(self._events_fd).st_size == size:
            return
        try:
            os.ftruncate(self._events_fd, size)
        except OSError as e:  # the part stays; the next line starts on a line of its own
            self._line_open = True
            error.add_note(f"the part of a line written could not be cut off ({e})")

    def set_watches(self, phrases: list[str]) -> None:
        """Keep the phrases watched for in session.json; SessionWriteError when it cannot be written."""
        with self._lock:
            before = self.meta.get("watches")
            self.meta["watches"] = list(phrases)
            try:
                write_json_atomic(self.folder / SESSION_FILE, self.meta)
            except OSError as e:
                if before is None:
                    self.meta.pop("watches")
                else:
                    self.meta["watches"] = before
                raise SessionWriteError(f"{self.folder / SESSION_FILE}: {e.strerror or e}: the watches were not "
                                        "saved; the file keeps its last version") from e

    # --- audio ---------------------------------------------------------------------------------

    def _place_run(self, event: SessionStarted) -> None:
        """Note in session.json where on the stream this run's audio begins: after what resuming re-hears."""
        run = self.meta["runs"][-1]
        if self._audio is None or "stream_start" in run:
            return
        heard = round(event.stream_time * SAMPLE_RATE)  # exact: the engine's clock counts samples
        try:
            run["stream_start"] = heard + sum(p.length for p in unheard(self.folder, self.meta["runs"][:-1], heard))
            write_json_atomic(self.folder / SESSION_FILE, self.meta)
        except (OSError, ValueError, RuntimeError) as e:
            run.pop("stream_start", None)
            self._stop_audio(f"{self.folder / SESSION_FILE}: cannot note where this run's audio begins ({e})")

    def write_audio(self, samples: np.ndarray) -> None:
        """Record samples; SessionWriteError when that fails, and no more audio is recorded in this run."""
        if self._audio_lost is not None:
            raise SessionWriteError(self._audio_lost)
        if self._audio is None:
            return
        try:
            self._audio.write(samples)
        except OSError as e:
            self._stop_audio(f"{self._audio.path or self.folder / AUDIO_DIR}: {e.strerror or e}")
            raise SessionWriteError(self._audio_lost) from e

    def _stop_audio(self, why: str) -> None:
        writer, self._audio = self._audio, None
        try:
            if writer is not None:
                writer.close()
        except OSError as e:
            why += f" (and closing it: {e})"
        self._audio_lost = f"{why}; no more audio is recorded in this run, what was recorded is kept"

    # --- states --------------------------------------------------------------------------------

    def save_state(self, state: StreamStateLike) -> Path:
        """Save the listening state; SessionWriteError when it could not be, the one saved before kept."""
        return self._save(state, self.state_path)

    def save_snapshot(self, state: StreamStateLike) -> Path:
        """Save the state of a moment to snapshots/; SessionWriteError when it could not be."""
        try:
            folder = real_dir(self.folder / SNAPSHOT_DIR)
        except (ValueError, RuntimeError) as e:
            raise SessionWriteError(f"no snapshot saved: {e}") from e
        return self._save(state, folder / f"state-{state.seconds:09.2f}s.safetensors")

    def _save(self, state: StreamStateLike, path: Path) -> Path:
        with self._lock:
            try:
                state.save(path)
            except OSError as e:
                raise SessionWriteError(f"{path}: {e.strerror or e}: the state was not saved; "
                                        "the one saved there before is kept") from e
            except ValueError as e:  # a state the model refuses to save: NaN or Inf
                raise SessionWriteError(str(e)) from e
        return path

    # --- the end -------------------------------------------------------------------------------

    def write_error(self, error: BaseException) -> None:
        """Keep the traceback of a failure that the user saw as a one-line message; SessionWriteError if not."""
        text = f"--- {datetime.now().isoformat(timespec='seconds')}\n" + "".join(traceback.format_exception(error))
        path = self.folder / ERRORS_FILE
        try:
            fd = open_append(path)
        except (ValueError, RuntimeError) as e:
            raise SessionWriteError(f"traceback not kept: {e}") from e
        try:
            os.write(fd, text.encode("utf-8", "replace"))
        except OSError as e:
            raise SessionWriteError(f"{path}: {e.strerror or e}: traceback not kept") from e
        finally:
            os.close(fd)

    def close(self) -> None:
        """Close the files, each even when another fails; SessionWriteError when the last writes may be lost."""
        problems = []
        if self._audio is not None:
            try:
                self._audio.close()
            except OSError as e:
                problems.append(f"{self.folder / AUDIO_DIR}: {e}")
            self._audio = None
        if self._events_fd >= 0:
            fd, self._events_fd = self._events_fd, -1
            try:
                os.fsync(fd)
            except OSError as e:
                problems.append(f"{self.folder / EVENTS_FILE}: {e}")
            finally:
                os.close(fd)
        if problems:
            raise SessionWriteError(f"the last writes may be lost: {'; '.join(problems)}")


def _new_folder(log_dir: Path, stamp: str) -> Path:
    folder, n = log_dir / stamp, 1
    while True:
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            n += 1
            folder = log_dir / f"{stamp}-{n}"
        except OSError as e:
            raise RuntimeError(f"cannot create a session folder in {log_dir}: {e}") from e
