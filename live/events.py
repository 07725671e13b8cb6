"""What the engine reports, as small message dataclasses named as past events.

Each event carries the stream time (seconds of audio the session has heard when it happened)
and the wall-clock time (Unix seconds). They are Textual messages, so the engine thread posts
them straight to the UI; `to_json` gives the line that goes to events.jsonl and, headless, to
stdout. Events with `logged = False` (meter ticks, streaming tokens, live figures) are for the
screen only.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

from textual.message import Message


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
    overflows: int
