"""The sam-live terminal UI (Textual).

The UI thread only draws and takes input: capture runs on PortAudio's thread, the model on the
engine's threads, and the engine's events arrive here as messages (live/events.py). Failures
are shown as notifications; their tracebacks go to the session's errors.log. SIGINT, SIGTERM and
SIGHUP quit like Ctrl+Q; a second one leaves without waiting for the state to be saved.

Watches are typed in the question box ("/watch a dog barking", "tell me when the dog barks",
"/unwatch a dog barking"; Ctrl+N starts the line). An alert rings the terminal bell, shows in red in
the feed and as a notification, and goes to the desktop through notify-send where there is one.
"""
from __future__ import annotations

import asyncio
import os
import sys
import threading
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Callable, Iterator

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Container
from textual.widgets import Footer, Input, Static

from . import events as ev
from .engine import Engine
from .folder import open_append
from .history import clock
from .signals import stop_on_signals
from .watches import parse_command
from .widgets import AnswersView, FeedView, LevelMeter, StatusLine, WatchesView

QUIT_TIMEOUT = 15.0  # s to wait for the engine to save the state before leaving anyway


class SamLiveApp(App[int]):
    """Live feed of what the model hears, a question box, and the session's figures."""

    TITLE = "SAM Live"
    ENABLE_COMMAND_PALETTE = False
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]
    BINDINGS = [
        Binding("ctrl+p", "toggle_pause", "Pause/Resume", priority=True),
        Binding("ctrl+s", "snapshot", "Snapshot", priority=True),
        Binding("ctrl+n", "watch", "Watch for…", priority=True),
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]
    CSS = """
    Screen { overflow: hidden; }
    #title { height: 1; padding: 0 1; background: $panel; }
    LevelMeter { height: 1; padding: 0 1; }
    #body { height: 1fr; }
    Screen.-narrow #body { layout: vertical; }
    Screen.-wide #body { layout: horizontal; }
    FeedView, AnswersView { border: round $primary 40%; padding: 0 1; scrollbar-size-vertical: 1; }
    FeedView { border-title-color: $text-primary; }
    Screen.-narrow FeedView { height: 3fr; }
    Screen.-narrow AnswersView { height: 2fr; }
    Screen.-wide FeedView { width: 3fr; }
    Screen.-wide AnswersView { width: 2fr; }
    FeedLine { height: auto; }
    FeedLine.quiet { color: $text-muted; }
    QuestionBlock { height: auto; margin-bottom: 1; }
    .question, .answer { height: auto; }
    .answer { color: $text-muted; }
    QuestionBlock.done .answer { color: $text; }
    WatchesView { height: auto; max-height: 10; border: round $warning 60%; padding: 0 1; }
    AlertLine { height: auto; color: $error; background: $error 15%; }
    #ask { margin: 0; }
    Screen.-wide #ask { margin: 1 0 0 0; }
    StatusLine { height: 1; padding: 0 1; background: $panel; }
    """

    def __init__(self, engine: Engine, *, model_name: str, source_name: str, log_folder: str | None,
                 notices: list[str] | None = None, notify_desktop: Callable[[str, str], None] | None = None):
        super().__init__()
        self.notify_desktop = notify_desktop  # alerts also go to the desktop (live/alerts.py); called on a thread
        self.engine = engine
        self.model_name = model_name
        self.source_name = source_name
        self.log_folder = log_folder
        self.notices = notices or []
        self._quitting = False
        self.hurried = False  # left on a second signal, without waiting for the engine to save
        self._signals = ExitStack()
        engine.on_event = self.post_message  # thread-safe: Textual queues it for the UI thread

    def compose(self) -> ComposeResult:
        yield Static(self._title(), id="title")
        yield LevelMeter()
        with Container(id="body"):
            feed = FeedView(id="feed")
            feed.border_title = "What I hear"
            yield feed
            answers = AnswersView(id="answers")
            answers.border_title = "Questions"
            yield answers
        yield WatchesView()
        yield Input(placeholder="› Ask about what you hear, or /watch a sound, then Enter", id="ask", compact=True)
        yield StatusLine()
        yield Footer()

    def _title(self) -> Text:
        return Text.assemble(("SAM Live", "bold"), "  ", (self.model_name, "cyan"), "  ·  ", self.source_name)

    def on_mount(self) -> None:
        """Start the engine once the screen exists, so no event arrives before it."""
        status = self.query_one(StatusLine)
        status.log_path = self.log_folder or "(not logging)"
        loop = asyncio.get_running_loop()  # a signal handler interrupts the loop: it may only wake it
        quit_, leave = (lambda: loop.call_soon_threadsafe(self.call_later, self.action_quit),
                        lambda: loop.call_soon_threadsafe(self._leave_unsaved))
        self._signals.enter_context(stop_on_signals(quit_, leave))
        try:
            self.engine.start()
        except RuntimeError as e:
            self.exit(1, message=f"sam-live: {e}")
            return
        for notice in self.notices:
            self.engine.warn(notice)
        self._show_state("listening")
        self.query_one(Input).focus()

    def on_unmount(self) -> None:
        """Give the signals back to whoever had them before the app."""
        self._signals.close()

    def _leave_unsaved(self) -> None:
        self.hurried = True
        self.exit(1, message="sam-live: left without waiting for the state to be saved")

    # --- engine events -----------------------------------------------------------------------

    def on_session_started(self, event: ev.SessionStarted) -> None:
        if event.resumed:
            self.notify(f"Resumed after {event.stream_time:.1f} s heard", timeout=5)

    def on_level_sampled(self, event: ev.LevelSampled) -> None:
        self.query_one(LevelMeter).level_db = event.rms_db

    def on_scene_described(self, event: ev.SceneDescribed) -> None:
        self.query_one(FeedView).add(event.since, event.stream_time, event.text, event.quiet, event.is_new)

    def on_question_asked(self, event: ev.QuestionAsked) -> None:
        self.query_one(AnswersView).add_question(event.question_id, event.question, event.stream_time)

    def on_answer_token_generated(self, event: ev.AnswerTokenGenerated) -> None:
        self.query_one(AnswersView).set_answer(event.question_id, event.text, done=False)

    def on_question_answered(self, event: ev.QuestionAnswered) -> None:
        note = f"{event.time_to_first_token * 1000:.0f} ms"
        self.query_one(AnswersView).set_answer(event.question_id, event.text, done=True, note=note)

    def on_watch_added(self, event: ev.WatchAdded) -> None:
        self.query_one(WatchesView).add(event.phrase)

    def on_watch_removed(self, event: ev.WatchRemoved) -> None:
        self.query_one(WatchesView).remove(event.phrase)

    def on_watches_scored(self, event: ev.WatchesScored) -> None:
        self.query_one(WatchesView).show_scores(event.scores)

    def on_alert_raised(self, event: ev.AlertRaised) -> None:
        """A watched sound: the bell, a red line in the feed, a notification, and the desktop's own."""
        self.bell()
        self.query_one(FeedView).add_alert(event.stream_time, event.phrase, event.confidence)
        self.query_one(WatchesView).alerted(event.phrase, event.stream_time)
        self.notify(f"{event.phrase}  ({event.confidence:.0%}, at {clock(event.stream_time)})", title="Heard",
                    severity="error", timeout=10)
        if self.notify_desktop is not None:
            threading.Thread(target=self._to_desktop, args=(self.notify_desktop, event.phrase, event.confidence),
                             name="sam-notify", daemon=True).start()

    def _to_desktop(self, send: Callable[[str, str], None], phrase: str, confidence: float) -> None:
        """On its own thread, so that a slow notification daemon never holds the screen."""
        try:
            send(f"SAM Live heard: {phrase}", f"confidence {confidence:.0%}")
        except RuntimeError as e:
            self.call_from_thread(self._desktop_failed, e)

    def _desktop_failed(self, error: RuntimeError) -> None:
        if self.notify_desktop is not None:  # said once: later alerts stay on screen only
            self.notify_desktop = None
            self.notify(f"Desktop notifications stopped: {error}", severity="warning", timeout=8)

    def on_figures_updated(self, event: ev.FiguresUpdated) -> None:
        status = self.query_one(StatusLine)
        status.rtf, status.ttft = event.real_time_factor, event.last_time_to_first_token
        status.dropped, status.overflows = event.dropped_seconds, event.overflows

    def on_warning_raised(self, event: ev.WarningRaised) -> None:
        severity = {"error": "error", "info": "information"}.get(event.severity, "warning")
        self.notify(event.message, severity=severity, timeout=8)

    def _show_state(self, state: str) -> None:
        """One word for the status line ("listening", "paused", "lost", ...) and the meter."""
        self.query_one(StatusLine).listening = state
        self.query_one(LevelMeter).note = "" if state == "listening" else state

    def on_device_lost(self, event: ev.DeviceLost) -> None:
        self._show_state("lost")
        self.notify(f"Lost {event.device}: {event.reason}. Waiting for it to come back.",
                    severity="error", timeout=10)

    def on_device_restored(self, event: ev.DeviceRestored) -> None:
        self._show_state("paused" if self.engine.paused else "listening")
        self.source_name = event.device  # the default input may have taken over
        self.query_one("#title", Static).update(self._title())
        self.notify(f"Listening again on {event.device}", timeout=5)

    def on_source_ended(self, event: ev.SourceEnded) -> None:
        self._show_state("ended")
        self.notify("The recording has ended; questions still work. Ctrl+Q quits.", timeout=10)

    def on_listening_paused(self, event: ev.ListeningPaused) -> None:
        self._show_state("paused")

    def on_listening_resumed(self, event: ev.ListeningResumed) -> None:
        self._show_state("listening")

    def on_snapshot_saved(self, event: ev.SnapshotSaved) -> None:
        self.notify(f"Snapshot saved: {event.path}", timeout=6)

    def on_session_ended(self, event: ev.SessionEnded) -> None:
        if self._quitting:
            self.exit(0 if self.engine.failure is None else 1)
            return
        # The engine stopped by itself (a failure, already notified): keep the screen readable.
        self._show_state("stopped")
        self.notify("Listening has stopped (details in the session's errors.log). Ctrl+Q quits.",
                    severity="error", timeout=30)

    # --- the user ----------------------------------------------------------------------------

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Ask the typed question (the answer appears beneath it), or start or stop a watch."""
        text = event.value.strip()
        event.input.clear()
        if not text:
            return
        if self.engine.stopped.is_set():
            self.notify("The engine has stopped; the question cannot be answered.", severity="error")
            return
        try:
            command = parse_command(text, natural=True)
        except ValueError as e:
            self.notify(str(e), severity="warning", timeout=8)
            return
        if command is not None:
            self._watch_command(*command)
            return
        try:
            self.engine.ask(text)
        except ValueError as e:  # too long, or too many waiting: the user can act on it
            self.notify(f"Question not asked: {e}", severity="warning", timeout=8)

    def _watch_command(self, command: str, phrase: str) -> None:
        try:
            if command == "watch":
                phrase = self.engine.watch(phrase)
                self.notify(f"Watching for {phrase!r}: an alert rings when it is heard", timeout=5)
            else:
                self.notify(f"No longer watching for {self.engine.unwatch(phrase)!r}", timeout=5)
        except ValueError as e:  # already watched, not watched, too many: the user can act on it
            self.notify(f"/{command}: {e}", severity="warning", timeout=8)

    def action_watch(self) -> None:
        """Start a /watch line in the question box."""
        box = self.query_one("#ask", Input)
        if not box.value.startswith("/watch"):
            box.value = "/watch "
        box.cursor_position = len(box.value)
        box.focus()

    def action_toggle_pause(self) -> None:
        """Pause or resume listening."""
        if self.engine.paused:
            self.engine.resume()
        else:
            self.engine.pause()

    def action_snapshot(self) -> None:
        """Save the listening state of this moment."""
        self.engine.snapshot()

    async def action_quit(self) -> None:
        """Save the state and leave (the engine confirms with SessionEnded)."""
        if self.engine.stopped.is_set():
            self.exit(0 if self.engine.failure is None else 1)
            return
        if not self._quitting:
            self._quitting = True
            self._show_state("saving")
            self.engine.request_stop()
            self.set_timer(QUIT_TIMEOUT, lambda: self.exit(1, message="sam-live: the engine did not stop in time"))


@contextmanager
def c_stderr_to(path: Path) -> Iterator[None]:
    """While the UI owns the terminal, send what C libraries print on fd 2 to a file.

    PortAudio and ALSA print diagnostics to stderr when a device fails or is re-scanned; on the
    terminal they would scribble over the screen. Textual draws through `sys.__stderr__`, so that
    is pointed at a duplicate of the terminal's descriptor while fd 2 itself goes to `path`.
    """
    sys.stderr.flush()
    terminal_fd = os.dup(2)
    terminal = os.fdopen(terminal_fd, "w", encoding=sys.__stderr__.encoding or "utf-8", errors="replace")
    log_fd = open_append(path)  # never through a link planted in the folder
    saved = sys.__stderr__
    os.dup2(log_fd, 2)
    os.close(log_fd)
    sys.__stderr__ = terminal
    try:
        yield
    finally:
        terminal.flush()
        os.dup2(terminal_fd, 2)
        sys.__stderr__ = saved
        terminal.close()
