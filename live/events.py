"""What the engine reports, as small message dataclasses named as past events.

Each event carries the stream time (seconds of audio the session has heard when it happened)
and the wall-clock time (Unix seconds). They are Textual messages, so the engine thread posts
them straight to the UI; `to_json` gives the line that goes to events.jsonl and, headless, to
stdout. Events with `logged = False` (meter ticks, streaming tokens, live figures) are for the
screen only. `read_log` reads a log back, checking each line against these classes.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import math
import time
from dataclasses import MISSING, dataclass, field
from pathlib import Path
from typing import IO, Any, ClassVar, Iterator

from textual.message import Message

MAX_LINE_BYTES = 1 << 20  # a longer events.jsonl line is reported as damaged, never held whole
NAMED_DAMAGE = 5  # damaged lines named one by one; the rest are counted
# The JSON types a logged field may hold, by its annotation (ints stand in for floats; bools never do).
_JSON_TYPES: dict[str, tuple[type, ...]] = {"str": (str,), "float": (int, float), "int": (int,), "bool": (bool,),
                                            "str | None": (str, type(None)), "float | None": (int, float, type(None))}


@dataclass(kw_only=True)
class Event(Message):
    """Base of all engine events."""

    type: ClassVar[str] = "event"
    logged: ClassVar[bool] = True

    stream_time: float  # s of audio heard
    wall_time: float = field(default_factory=time.time)  # Unix s

    def to_json(self) -> dict[str, Any]:
        """The event as one JSON object: type first, floats to the millisecond."""
        out: dict[str, Any] = {"type": self.type}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            out[f.name] = round(v, 3) if isinstance(v, float) else v
        return out


@dataclass(kw_only=True)
class SessionStarted(Event):
    type: ClassVar[str] = "session_started"
    folder: str
    model: str
    source: str
    resumed: bool = False


@dataclass(kw_only=True)
class LevelMeasured(Event):
    """Loudness of the last second of audio (dBFS), for the log."""

    type: ClassVar[str] = "level"
    rms_db: float
    peak_db: float


@dataclass(kw_only=True)
class LevelSampled(Event):
    """Loudness of the last 100 ms (dBFS), for the meter."""

    type: ClassVar[str] = "meter"
    logged: ClassVar[bool] = False
    rms_db: float


@dataclass(kw_only=True)
class SceneDescribed(Event):
    """A description of the audio heard up to `stream_time`; `is_new` when it says something new."""

    type: ClassVar[str] = "description"
    text: str
    is_new: bool = True
    quiet: bool = False  # the energy gate said quiet; the model was not asked
    since: float = 0.0  # stream time of the first description that said the same
    time_to_first_token: float = 0.0
    total_time: float = 0.0


@dataclass(kw_only=True)
class QuestionAsked(Event):
    type: ClassVar[str] = "question"
    question_id: int
    question: str


@dataclass(kw_only=True)
class AnswerTokenGenerated(Event):
    """The answer so far, as it streams."""

    type: ClassVar[str] = "answer_token"
    logged: ClassVar[bool] = False
    question_id: int
    text: str


@dataclass(kw_only=True)
class QuestionAnswered(Event):
    """The answer to question `question_id`, from the state at `asked_at` (stream time)."""

    type: ClassVar[str] = "answer"
    question_id: int
    question: str
    text: str
    asked_at: float
    time_to_first_token: float  # s from the question being asked to the first token
    tokens_per_second: float


@dataclass(kw_only=True)
class WatchAdded(Event):
    """A phrase is being watched for from now on (typed, on the command line, or kept from a resumed run)."""

    type: ClassVar[str] = "watch_added"
    phrase: str


@dataclass(kw_only=True)
class WatchRemoved(Event):
    type: ClassVar[str] = "watch_removed"
    phrase: str


@dataclass(kw_only=True)
class AlertRaised(Event):
    """A watched sound was heard by `stream_time`: the watch's phrase and the model's confidence (0-1) in it."""

    type: ClassVar[str] = "alert"
    phrase: str
    confidence: float


@dataclass(kw_only=True)
class WatchesScored(Event):
    """Every watch's confidence after a hop, for the watches panel: (phrase, confidence, active) each."""

    type: ClassVar[str] = "watches"
    logged: ClassVar[bool] = False
    scores: tuple[tuple[str, float, bool], ...]


@dataclass(kw_only=True)
class WarningRaised(Event):
    type: ClassVar[str] = "warning"
    message: str
    severity: str = "warning"  # or "error"


@dataclass(kw_only=True)
class DeviceLost(Event):
    type: ClassVar[str] = "device_lost"
    device: str
    reason: str


@dataclass(kw_only=True)
class DeviceRestored(Event):
    type: ClassVar[str] = "device_restored"
    device: str


@dataclass(kw_only=True)
class SourceEnded(Event):
    """A replayed recording reached its end."""

    type: ClassVar[str] = "source_ended"
    source: str


@dataclass(kw_only=True)
class ListeningPaused(Event):
    type: ClassVar[str] = "paused"


@dataclass(kw_only=True)
class ListeningResumed(Event):
    type: ClassVar[str] = "resumed"


@dataclass(kw_only=True)
class SnapshotSaved(Event):
    type: ClassVar[str] = "snapshot"
    path: str


@dataclass(kw_only=True)
class FiguresUpdated(Event):
    """Live figures for the status line."""

    type: ClassVar[str] = "figures"
    logged: ClassVar[bool] = False
    real_time_factor: float  # compute seconds per second of audio, recent window
    last_time_to_first_token: float | None
    dropped_seconds: float  # audio the capture queue refused
    overflows: int  # blocks the device reported as overflowed
    listening: bool


@dataclass(kw_only=True)
class SessionEnded(Event):
    type: ClassVar[str] = "session_ended"
    state_path: str | None
    real_time_factor: float
    dropped_seconds: float
    overflows: int = 0  # logs written before the count was kept have none


@functools.cache
def logged_types() -> dict[str, type[Event]]:
    """The event classes that go to events.jsonl, by their `type`."""
    found, todo = {}, [Event]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if cls is not Event and cls.logged:
            found[cls.type] = cls
    return found


def _fits(value: Any, annotation: str) -> bool:
    types = _JSON_TYPES.get(annotation)
    if types is None:
        return True
    return isinstance(value, types) and (bool in types or not isinstance(value, bool))


def check_event(obj: Any) -> dict[str, Any]:
    """An event read back from the log, its missing defaults filled in; ValueError saying what is wrong."""
    if not isinstance(obj, dict):
        raise ValueError(f"a JSON {type(obj).__name__}, not an event object")
    kind = obj.get("type")
    if not isinstance(kind, str):
        raise ValueError("an object without an event type")
    cls = logged_types().get(kind, Event)  # a type this version does not know: its common fields only
    event = dict(obj)
    for f in dataclasses.fields(cls):
        if f.name not in event:
            if f.default is MISSING and f.default_factory is MISSING:
                raise ValueError(f"{kind!r} event without {f.name}")
            if f.default is not MISSING:
                event[f.name] = f.default
        elif not _fits(event[f.name], f.type):
            raise ValueError(f"{kind!r} event whose {f.name} is {json.dumps(event[f.name])[:40]}, not {f.type}")
    if not (math.isfinite(event["stream_time"]) and event["stream_time"] >= 0):
        raise ValueError(f"{kind!r} event at stream time {event['stream_time']}")
    return event


def _lines(f: IO[bytes]) -> Iterator[bytes | None]:
    """The lines of a binary file; None for one longer than MAX_LINE_BYTES, which is skipped unread."""
    while line := f.readline(MAX_LINE_BYTES + 1):
        if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
            while (rest := f.readline(1 << 16)) and not rest.endswith(b"\n"):
                pass
            yield None
        else:
            yield line


def parse_line(line: bytes | None) -> dict[str, Any] | None:
    """One events.jsonl line as a checked event, None for a blank one; ValueError saying what is wrong."""
    if line is None:
        raise ValueError(f"a line longer than {MAX_LINE_BYTES} bytes")
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"not UTF-8 (cut inside a character?): {e.reason} at byte {e.start}") from e
    if not text.strip():
        return None
    try:
        return check_event(json.loads(text))
    except RecursionError as e:
        raise ValueError("JSON nested too deeply") from e


@dataclass
class Damage:
    """The damaged lines met reading a log: how many, and the first few, each with its path and line."""

    count: int = 0
    named: list[str] = field(default_factory=list)

    def add(self, where: str) -> None:
        self.count += 1
        if len(self.named) < NAMED_DAMAGE:
            self.named.append(where)


def read_log(path: str | Path, damage: Damage | None = None) -> Iterator[dict[str, Any]]:
    """The checked events of an events.jsonl; a damaged line is skipped and, given `damage`, noted there.

    A line cut short, bytes that are not UTF-8, JSON that is not an event object and fields of the
    wrong type are all damage. RuntimeError when the file cannot be read.
    """
    path = Path(path)
    if not path.is_file():
        return
    try:
        with open(path, "rb") as f:
            for number, line in enumerate(_lines(f), 1):
                try:
                    event = parse_line(line)
                except ValueError as e:  # JSONDecodeError too
                    if damage is not None:
                        damage.add(f"{path}:{number}: {e}")
                    continue
                if event is not None:
                    yield event
    except OSError as e:
        raise RuntimeError(f"{path}: cannot read ({e})") from e
