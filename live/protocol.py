"""What the live engine needs from a SAM model: a streaming listener that answers on forks.

The engine depends on these protocols only, so it runs the same on the trained model, a tiny
test model or a stub. `model.checkpoint.load_sam` returns an object that satisfies them.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Protocol, TypeVar, runtime_checkable

import torch

S = TypeVar("S", bound="StreamStateLike")


@runtime_checkable
class StreamStateLike(Protocol):
    """The session's listening state: constant size, forked by copying, saved to one file."""

    samples_seen: int  # 16 kHz samples heard, including those buffered short of a block

    @property
    def seconds(self) -> float: ...

    def fork(self: S) -> S: ...

    def save(self, path: str | Path) -> None: ...


@runtime_checkable
class AnswerLike(Protocol):
    """A decoded reply with its timings (seconds)."""

    text: str
    n_tokens: int
    time_to_first_token: float
    tokens_per_second: float
    total_time: float


@runtime_checkable
class SamModel(Protocol):
    """A streaming audio-language model: listen onto a state, then ask or describe on a fork.

    `listen` returns a new state and leaves its argument unchanged; `ask` and `describe` decode
    on a fork and leave `state` unchanged; an exception raised by `on_token` propagates out of
    them (the engine uses that to pre-empt a description when a question arrives).
    """

    name: str

    def new_state(self) -> Any: ...

    def listen(self, audio: torch.Tensor, state: Any) -> Any: ...  # audio: (n,) float32, 16 kHz

    def ask(self, state: Any, question: str, *, max_new_tokens: int = 48, temperature: float = 0.0,
            top_p: float = 1.0, on_token: Callable[[str], None] | None = None) -> AnswerLike: ...

    def describe(self, state: Any, **kw: Any) -> AnswerLike: ...  # recent=True: the last ten seconds


@runtime_checkable
class WatchScorer(Protocol):
    """What a model needs to watch (live/watches.py): P(yes) / (P(yes) + P(no)) of each yes/no question asked
    of `state`, all in one call, leaving `state` unchanged. A SAM without the method is scored by model/watch.py."""

    def confidence(self, state: Any, questions: list[str]) -> list[float]: ...


def load_state(model: SamModel, path: str | Path) -> StreamStateLike:
    """Read a state saved by `state.save`, through the model's own state class."""
    state_cls = type(model.new_state())
    config = getattr(model, "cfg", None) or getattr(model, "config", None)  # lets the state check its shapes
    return state_cls.load(path, config)
