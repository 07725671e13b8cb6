"""`sam-live --headless`: events as JSON lines on stdout, questions as lines on stdin.

Each stdout line is the line that also goes to events.jsonl. A stdin line is a question, asked
at once; `@SECONDS question` asks it once the stream reaches that time (scripts use this to ask
about a moment of a replayed file). A replayed file ends the run once its last description and
every question asked are done; a microphone runs until SIGINT or SIGTERM.
"""
from __future__ import annotations

import json
import re
import signal
import sys
import threading
from typing import IO

from . import events as ev
from .engine import Engine

_AT = re.compile(r"^@(\d+(?:\.\d*)?)\s+(.+)$")


class HeadlessRun:
    """Prints logged events and feeds stdin questions to the engine."""

    def __init__(self, engine: Engine, out: IO[str] | None = None, questions: IO[str] | None = None,
                 notices: list[str] | None = None):
        self.engine = engine
        self.notices = notices or []
        self.out = out or sys.stdout
        self.questions = questions or sys.stdin
        self._asked: set[int] = set()
        self._answered: set[int] = set()
        self._reading = threading.Event()  # set while stdin may still bring questions
        engine.on_event = self._on_event

    def _on_event(self, event: ev.Event) -> None:
        if isinstance(event, ev.QuestionAnswered):
            self._answered.add(event.question_id)
        if not event.logged:
            return
        try:
            self.out.write(json.dumps(event.to_json(), ensure_ascii=False) + "\n")
            self.out.flush()
        except BrokenPipeError:  # the reader went away: stop, as `head` expects
            self.engine.request_stop()

    def _read_questions(self) -> None:
        try:
            for line in self.questions:
                line = line.strip()
                if not line or self.engine.stopped.is_set():
                    continue
                m = _AT.match(line)
                at, line = (float(m.group(1)), m.group(2)) if m else (None, line)
                self._asked.add(self.engine.ask(line, at=at))
        except (OSError, ValueError) as e:  # stdin closed or not readable: no questions from it
            self.engine.warn(f"not reading questions from stdin: {e}")
        finally:
            self._reading.clear()

    def _done(self) -> bool:
        return self.engine.ended.is_set() and not self._reading.is_set() and self._asked <= self._answered

    def run(self) -> int:
        """Run until the source is done (a file) or a signal; 0 on a clean end, 1 on failure."""
        stop = lambda *_: self.engine.request_stop()  # noqa: E731
        previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            self.engine.start()
            for notice in self.notices:
                self.engine.warn(notice)
            if self.questions is not None and not self.questions.closed:
                self._reading.set()
                threading.Thread(target=self._read_questions, name="sam-stdin", daemon=True).start()
            while not self.engine.stopped.wait(0.1):
                if self._done():
                    self.engine.request_stop()
            self.engine.stop()
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
        return 1 if self.engine.failure is not None else 0
