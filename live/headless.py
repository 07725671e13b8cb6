"""`sam-live --headless`: events as JSON lines on stdout, questions and watches as lines on stdin.

Each stdout line is an event of events.jsonl, written in ASCII (other characters as JSON escapes),
so no terminal or pipe encoding can refuse it. A stdin line is a question, asked at once;
`@SECONDS question` asks it once the stream reaches that time (scripts use this to ask about a
moment of a replayed file). `/watch PHRASE` and `/unwatch PHRASE` (also after `@SECONDS`) start
and stop watching for a sound; an alert is an `alert` event. Stdin is read as bytes: invalid UTF-8
becomes U+FFFD, a line too long to be a question is refused unread. A replayed file ends the run once its last description and
the questions read so far are answered (with `stay`, once stdin closes too); a microphone runs
until SIGINT, SIGTERM or SIGHUP.
"""
from __future__ import annotations

import io
import json
import os
import select
import sys
import threading
from typing import IO

from . import events as ev
from .engine import MAX_QUESTION_CHARS, Engine
from .signals import stop_on_signals
from .watches import parse_command

MAX_LINE_BYTES = 4 * MAX_QUESTION_CHARS + 64  # a question in UTF-8 (up to 4 bytes a character) and its @SECONDS
READ_BYTES = 65536


def parse_question(line: str) -> tuple[float | None, str]:
    """(stream time or None, question) of a stdin line; ValueError when an `@` line is not `@SECONDS question`."""
    if not line.startswith("@"):
        return None, line
    parts = line[1:].split(maxsplit=1)
    try:
        at = float(parts[0]) if parts else None
    except ValueError:
        at = None
    if at is None or len(parts) < 2:
        raise ValueError(f"{line[:40]!r} is not `@SECONDS question` (e.g. `@12.5 what was that?`)")
    return at, parts[1]


class StdinLines:
    """Lines of a byte stream, taken without blocking; an over-long line is dropped as it arrives."""

    def __init__(self, stream: IO | None):
        self.stream = stream
        self.fd = _fileno(stream)
        self.open = stream is not None and not stream.closed
        self._buf = b""
        self._skipping = False  # inside a line already refused as too long

    def ready(self, timeout: float) -> bool:
        """Whether `take` has something (lines or the end) without waiting longer than `timeout`."""
        if not self.open:
            return False
        return self.fd is None or bool(select.select([self.fd], [], [], timeout)[0])

    def take(self) -> list[str | None]:
        """The lines that arrived (None for each refused one); at the end, the last unterminated line too."""
        data = os.read(self.fd, READ_BYTES) if self.fd is not None else _read_all(self.stream)
        if not data or self.fd is None:
            self.open = False
        lines: list[str | None] = []
        *complete, self._buf = (self._buf + data).split(b"\n")
        for raw in complete:
            if self._skipping:  # the end of a line already refused
                self._skipping = False
                continue
            lines.append(None if len(raw) > MAX_LINE_BYTES else raw.decode("utf-8", errors="replace"))
        if len(self._buf) > MAX_LINE_BYTES:
            if not self._skipping:
                lines.append(None)
            self._buf, self._skipping = b"", True
        if not self.open and self._buf:
            lines.append(self._buf.decode("utf-8", errors="replace"))
            self._buf = b""
        return lines


def _fileno(stream: IO | None) -> int | None:
    try:
        return stream.fileno() if stream is not None else None
    except (OSError, ValueError, io.UnsupportedOperation):  # an in-memory stream: read it whole instead
        return None


def _read_all(stream: IO) -> bytes:
    data = stream.read()
    return data.encode("utf-8", errors="replace") if isinstance(data, str) else data


class HeadlessRun:
    """Prints logged events and feeds stdin questions to the engine."""

    def __init__(self, engine: Engine, out: IO[str] | None = None, questions: IO | None = None,
                 notices: list[str] | None = None, stay: bool = False):
        self.engine = engine
        self.notices = notices or []
        self.out = out or sys.stdout
        self.stay = stay  # a replayed file: wait for stdin to close before ending
        self._lines = StdinLines(questions if questions is not None else sys.stdin)
        self._lock = threading.Lock()  # held from reading stdin until its questions are with the engine
        self._out_failed = False
        engine.on_event = self._on_event

    def _on_event(self, event: ev.Event) -> None:
        if not event.logged:
            return
        try:
            self.out.write(json.dumps(event.to_json(), ensure_ascii=True) + "\n")
            self.out.flush()
        except BrokenPipeError:  # the reader went away: stop, as `head` expects
            self.engine.request_stop()
        except OSError as e:  # a full disk under `> events.jsonl`: the session log still has every event
            if not self._out_failed:
                print(f"sam-live: cannot write events to stdout ({e}); they are still in the session's events.jsonl",
                      file=sys.stderr)
            self._out_failed = True

    def _read_questions(self) -> None:
        try:
            while self._lines.open and not self.engine.stopped.is_set():
                if not self._lines.ready(0.1):
                    continue
                with self._lock:
                    for line in self._lines.take():
                        self._ask(line)
        except OSError as e:  # stdin not readable: no questions from it
            self.engine.warn(f"not reading questions from stdin: {e}")
        finally:  # no more questions will come: a replay need not wait for them
            self._lines.open = False

    def _ask(self, line: str | None) -> None:
        """Ask one stdin line (or run its /command); one that cannot be is a warning event and reading goes on."""
        if line is None:
            self.engine.warn(f"question refused: a stdin line longer than {MAX_LINE_BYTES:,} bytes")
            return
        line = line.strip()
        if not line or self.engine.stopped.is_set():
            return
        what = "question"
        try:
            at, text = parse_question(line)
            if text.startswith("/"):
                what = text.split(maxsplit=1)[0].lower()
                what = what if what in ("/watch", "/unwatch") else "command"
            command = parse_command(text)
            if command is None:
                self.engine.ask(text, at=at)
            elif command[0] == "watch":
                self.engine.watch(command[1], at=at)
            else:
                self.engine.unwatch(command[1], at=at)
        except ValueError as e:
            self.engine.warn(f"{what} refused: {e}")

    def _done(self) -> bool:
        """A replayed file has ended and every question read so far (or, with `stay`, ever) is answered."""
        if not self.engine.ended.is_set():
            return False
        with self._lock:  # nothing read from stdin is on its way to the engine
            if self._lines.open and (self.stay or self._lines.ready(0)):
                return False
            return self.engine.questions_pending == 0

    def run(self) -> int:
        """Run until the source is done (a file) or a signal; 0 on a clean end, 1 on failure."""
        with stop_on_signals(self.engine.request_stop):
            self.engine.start()
            for notice in self.notices:
                self.engine.warn(notice)
            if self._lines.open:
                threading.Thread(target=self._read_questions, name="sam-stdin", daemon=True).start()
            while not self.engine.stopped.wait(0.1):
                if self._done():
                    self.engine.request_stop()
            self.engine.stop()
        return 1 if self.engine.failure is not None else 0
