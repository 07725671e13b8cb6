"""The widgets of the sam-live screen: level meter, feed, questions and answers, watches, status line."""
from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.containers import Vertical, VerticalScroll
from textual.reactive import reactive
from textual.widgets import Static

from .history import clock

METER_FLOOR_DB = -60.0  # dBFS at the left end of the meter
MAX_FEED_LINES = 500  # older lines leave the screen (they stay in events.jsonl)
MAX_ANSWERS = 100
WATCH_BAR = 10  # cells of a watch's confidence bar


class LevelMeter(Static):
    """A one-line input level bar, in dBFS."""

    level_db: reactive[float] = reactive(-120.0)
    note: reactive[str] = reactive("")  # shown instead of the level when not listening ("paused", ...)

    def render(self) -> Text:
        label = f" {self.level_db:6.1f} dBFS" if not self.note else f" {self.note:^10}"
        width = max(4, self.size.width - len(label) - 8)
        frac = min(1.0, max(0.0, (self.level_db - METER_FLOOR_DB) / -METER_FLOOR_DB)) if not self.note else 0.0
        filled = int(round(frac * width))
        style = "green" if self.level_db < -20 else "yellow" if self.level_db < -6 else "red"
        bar = Text("level ", style="dim")
        bar.append("▕")
        bar.append("█" * filled, style=style)
        bar.append("░" * (width - filled), style="dim")
        bar.append("▏")
        bar.append(label, style="dim" if self.note else "")
        return bar


class FeedLine(Static):
    """One description, with the stream times it covers."""

    def __init__(self, since: float, until: float, text: str, quiet: bool):
        super().__init__(classes="quiet" if quiet else "")
        self.since, self.text = since, text
        self.show_until(until)

    def show_until(self, until: float) -> None:
        """Extend the line to `until` (a repeat of the same description)."""
        span = clock(self.since) if until - self.since < 0.05 else f"{clock(self.since)}–{clock(until)}"
        line = Text(f"{span:>15}  ", style="dim")
        line.append(self.text)
        self.update(line)


class AlertLine(Static):
    """An alert in the feed: a watched sound was heard."""

    def __init__(self, at: float, phrase: str, confidence: float):
        super().__init__(classes="alert")
        self.phrase = phrase
        line = Text(f"{clock(at):>15}  ", style="dim")
        line.append(f"ALERT  {phrase}", style="bold")
        line.append(f"  {confidence:.0%}", style="dim")
        self.update(line)


class FeedView(VerticalScroll):
    """The live feed of what the model hears, and the alerts of the watches among it."""

    def add(self, since: float, until: float, text: str, quiet: bool, is_new: bool) -> None:
        """Add a new line, or stretch the last one when the description is a repeat."""
        lines = list(self.children)
        if not is_new and lines and isinstance(lines[-1], FeedLine):
            lines[-1].show_until(until)
        else:
            self._append(FeedLine(since, until, text, quiet))

    def add_alert(self, at: float, phrase: str, confidence: float) -> None:
        self._append(AlertLine(at, phrase, confidence))

    def _append(self, line: Static) -> None:
        lines = list(self.children)
        self.mount(line)
        if len(lines) + 1 > MAX_FEED_LINES:
            lines[0].remove()
        self.scroll_end(animate=False)


class QuestionBlock(Vertical):
    """A question and, beneath it, its answer as it streams in."""

    def __init__(self, question_id: int, question: str, asked_at: float):
        super().__init__(id=f"q{question_id}")
        self.question = Static(Text.assemble((f"{clock(asked_at)}  ", "dim"), ("Q ", "bold"), question),
                               classes="question")
        self.answer = Static(Text("    …", style="dim"), classes="answer")

    def compose(self):
        yield self.question
        yield self.answer

    def set_answer(self, text: str, done: bool, note: str = "") -> None:
        line = Text.assemble(("  A ", "bold"), text or "…")
        if note:
            line.append(f"  {note}", style="dim")
        self.answer.update(line)
        self.set_class(done, "done")


class AnswersView(VerticalScroll):
    """Questions asked in this run, answers beneath them."""

    def add_question(self, question_id: int, question: str, asked_at: float) -> None:
        self.mount(QuestionBlock(question_id, question, asked_at))
        blocks = list(self.query(QuestionBlock))
        if len(blocks) > MAX_ANSWERS:
            blocks[0].remove()
        self.scroll_end(animate=False)

    def set_answer(self, question_id: int, text: str, done: bool, note: str = "") -> None:
        blocks = self.query(f"#q{question_id}")
        if blocks:
            blocks.first(QuestionBlock).set_answer(text, done, note)
            self.scroll_end(animate=False)


class WatchesView(Static):
    """The sounds watched for: each with the model's confidence after the last hop and its last alert."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self._rows: dict[str, list] = {}  # phrase -> [confidence or None, active, last alert s or None]
        self.display = False

    def add(self, phrase: str) -> None:
        self._rows.setdefault(phrase, [None, False, None])
        self._show()

    def remove(self, phrase: str) -> None:
        self._rows.pop(phrase, None)
        self._show()

    @property
    def phrases(self) -> list[str]:
        return list(self._rows)

    def show_scores(self, scores: tuple[tuple[str, float, bool], ...]) -> None:
        """The confidences of a hop."""
        for phrase, confidence, active in scores:
            if phrase in self._rows:
                self._rows[phrase][:2] = [confidence, active]
        self._show()

    def alerted(self, phrase: str, at: float) -> None:
        if phrase in self._rows:
            self._rows[phrase][2] = at
        self._show()

    def _show(self) -> None:
        self.display = bool(self._rows)
        self.border_title = f"Watching for ({len(self._rows)})  /unwatch PHRASE stops one"
        text = Text()
        for i, (phrase, (confidence, active, last)) in enumerate(self._rows.items()):
            if i:
                text.append("\n")
            filled = 0 if confidence is None else int(round(confidence * WATCH_BAR))
            text.append("● " if active else "○ ", style="bold red" if active else "dim")
            text.append("▮" * filled, style="red" if active else "yellow")
            text.append("▯" * (WATCH_BAR - filled), style="dim")
            text.append(f" {'  – ' if confidence is None else f'{confidence:4.0%}'}  ", style="dim")
            text.append(phrase, style="bold" if active else "")
            if last is not None:
                text.append(f"  last {clock(last)}", style="dim")
        self.update(text)


def short_path(path: str | Path, width: int) -> str:
    """A path with ~ for home, cut from the left to fit `width` characters."""
    text = str(path)
    home = str(Path.home())
    if text.startswith(home):
        text = "~" + text[len(home):]
    return text if len(text) <= width else "…" + text[-(width - 1):]


class StatusLine(Static):
    """Listening state, live figures and where the log goes."""

    listening: reactive[str] = reactive("starting")
    rtf: reactive[float] = reactive(0.0)
    ttft: reactive[float | None] = reactive(None)
    dropped: reactive[float] = reactive(0.0)
    overflows: reactive[int] = reactive(0)
    log_path: reactive[str] = reactive("")

    def render(self) -> Text:
        mark = {"listening": ("● listening", "green"), "paused": ("‖ paused", "yellow"),
                "lost": ("✕ device lost", "red"), "ended": ("■ recording ended", "dim"),
                "stopped": ("✕ stopped", "red"), "saving": ("… saving the state", "yellow")}
        label, style = mark.get(self.listening, (self.listening, "dim"))
        ttft = "–" if self.ttft is None else f"{self.ttft * 1000:.0f} ms"
        text = Text(label, style=style)
        overflows = f" ({self.overflows} overflows)" if self.overflows else ""
        text.append(f"  RTF {self.rtf:.2f}  1st token {ttft}  dropped {self.dropped:.1f} s{overflows}  ")
        room = self.size.width - len(text.plain) - 6  # after "log " and the padding
        if self.log_path and room >= 12:
            text.append("log ", style="dim")
            text.append(short_path(self.log_path, room))
        return text
