"""The speaker thread: scene descriptions and answers, each decoded on the state it was handed.

Questions go before descriptions and pre-empt one under way: `on_token` raises at the next
token, the model (decoding on its own fork) unwinds, and the description is done again after
the questions unless a newer one is due by then. Only the newest description waits; the feed
decides which descriptions say something new.
"""
from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import torch

from model.audio import SAMPLES_PER_TOKEN
from model.recap import Timeline, count_asked, silence_asked, span_asked

from . import events as ev
from .feed import Feed
from .protocol import SamModel


@dataclass
class Describe:
    state: Any  # the listening state when the description was due
    stream_time: float
    loudest_db: float  # loudest 100 ms since the last description (the quiet gate)


@dataclass
class Question:
    question_id: int
    text: str
    state: Any  # the listening state when the question was asked
    stream_time: float
    asked: float  # time.monotonic() when asked


WARM_UP_SAMPLES = 8 * SAMPLES_PER_TOKEN  # one 1.28 s hop


class Preempted(Exception):
    """Raised from `on_token` to stop decoding when a question or a stop comes in."""


class Speaker:
    """Decodes descriptions and answers on its own thread, reporting them through `emit`."""

    def __init__(self, model: SamModel, emit: Callable[[ev.Event], None], clock: Callable[[], float], *,
                 quiet_db: float, description_tokens: int, answer_tokens: int,
                 on_error: Callable[[Exception, "Question | Describe | None"], None],
                 said: Iterable[tuple[float, str]] = ()):
        self.model = model
        self.emit = emit
        self.clock = clock  # the engine's stream time, for events
        self.on_error = on_error
        self.quiet_db = quiet_db
        self.description_tokens = description_tokens
        self.answer_tokens = answer_tokens
        self.busy = 0.0  # s spent decoding
        self.last_ttft: float | None = None  # s from asking to the first token, last answer
        self._feed = Feed()
        self._timeline = Timeline()  # the descriptions, for questions about minutes past (model/recap.py)
        for at, text in said:  # a resumed session's
            self._timeline.add(at, text)
        self._cv = threading.Condition()
        self._questions: collections.deque[Question] = collections.deque()
        self._describe: Describe | None = None
        self._speaking = False
        self._stopping = threading.Event()
        self.warmed_up = threading.Event()  # set once the warm-up decode is done (or failed)
        self._thread = threading.Thread(target=self._run, name="sam-speaker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def request_stop(self) -> None:
        """Stop at the next token; queued work is dropped."""
        self._stopping.set()
        with self._cv:
            self._cv.notify_all()

    def stop(self, timeout: float = 30.0) -> None:
        self.request_stop()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def ask(self, job: Question) -> None:
        with self._cv:
            self._questions.append(job)
            self._cv.notify_all()

    def describe(self, job: Describe) -> None:
        """Queue a description; it replaces one that is still waiting."""
        with self._cv:
            self._describe = job
            self._cv.notify_all()

    def wait_idle(self, give_up: threading.Event) -> None:
        """Wait until nothing is queued or being decoded (or `give_up` is set)."""
        with self._cv:
            while (self._questions or self._describe is not None or self._speaking) and not give_up.is_set() \
                    and not self._stopping.is_set():
                self._cv.wait(0.1)

    # --- the thread ------------------------------------------------------------------------------

    def _next_job(self) -> Question | Describe | None:
        with self._cv:
            while not (self._questions or self._describe or self._stopping.is_set()):
                self._cv.wait()
            if self._stopping.is_set():
                return None
            self._speaking = True
            if self._questions:
                return self._questions.popleft()
            job, self._describe = self._describe, None
            return job

    def _warm_up(self) -> None:
        """A short description of a silent hop on this thread, so its first real decode neither waits for
        nor grows memory with the one-time allocations (thread-local buffers, decode caches)."""
        hop = self.model.listen(torch.zeros(WARM_UP_SAMPLES), self.model.new_state())
        self.model.describe(hop, recent=True, max_new_tokens=2)

    def _run(self) -> None:
        with torch.no_grad():
            try:
                self._warm_up()
            except Exception as e:  # reported like any failed decode; the session goes on
                self.on_error(e, None)
            finally:
                self.warmed_up.set()
            while (job := self._next_job()) is not None:
                self._do(job)
                del job  # its state is not kept alive while the speaker waits for the next job

    def _do(self, job: Question | Describe) -> None:
        try:
            if isinstance(job, Question):
                self._answer(job)
            else:
                self._describe_scene(job)
        except Exception as e:  # one failed decode is reported, with its job; the session goes on
            self.on_error(e, job)
        finally:
            with self._cv:
                self._speaking = False
                self._cv.notify_all()

    def _answer(self, job: Question) -> None:
        if self._recap(job):
            return
        first: list[float] = []
        text: list[str] = []

        def on_token(token: str) -> None:
            if self._stopping.is_set():
                raise Preempted
            if not first:
                first.append(time.monotonic())
            text.append(token)
            self.emit(ev.AnswerTokenGenerated(stream_time=self.clock(), question_id=job.question_id, text="".join(text)))

        t0 = time.perf_counter()
        try:
            answer = self.model.ask(job.state, job.text, max_new_tokens=self.answer_tokens, on_token=on_token)
        except Preempted:
            return
        finally:
            self.busy += time.perf_counter() - t0
        self.last_ttft = (first[0] if first else time.monotonic()) - job.asked
        self.emit(ev.QuestionAnswered(stream_time=self.clock(), question_id=job.question_id, question=job.text,
                                      text=answer.text.strip(), asked_at=job.stream_time,
                                      time_to_first_token=self.last_ttft, tokens_per_second=answer.tokens_per_second))

    def _recap(self, job: Question) -> bool:
        """Answer from the feed's descriptions (model/recap.py) what happened over minutes, how many times a sound
        came over the session or a span of them, or whether it is (was) quiet or anything sounded; False (nothing
        said) for any other question, or a span the feed did not describe."""
        counted = count_asked(job.text)
        span = span_asked(job.text) if counted is None else None
        silence = silence_asked(job.text) if counted is None and span is None else None
        silent = None if silence is None else self._timeline.silent(job.stream_time, silence[1], not silence[0])
        if counted is not None and self._timeline.covers(job.stream_time, counted[1]):
            text = str(self._timeline.count(job.stream_time, counted[1], counted[0]))
        elif span is not None and self._timeline.covers(job.stream_time, span):
            text = self._timeline.recap(job.stream_time, span)
        elif silence is not None and silent is not None:  # "is it quiet?": yes when silent; "anything?": when not
            text = "yes" if silent == silence[0] else "no"
        else:
            return False
        self.last_ttft = time.monotonic() - job.asked
        self.emit(ev.AnswerTokenGenerated(stream_time=self.clock(), question_id=job.question_id, text=text))
        self.emit(ev.QuestionAnswered(stream_time=self.clock(), question_id=job.question_id, question=job.text,
                                      text=text, asked_at=job.stream_time, time_to_first_token=self.last_ttft,
                                      tokens_per_second=0.0))
        return True

    def _describe_scene(self, job: Describe) -> None:
        if job.loudest_db < self.quiet_db:
            text, quiet, ttft, total = "quiet", True, 0.0, 0.0
        else:
            def on_token(token: str) -> None:
                if self._questions or self._stopping.is_set():
                    raise Preempted

            t0 = time.perf_counter()
            try:
                answer = self.model.describe(job.state, recent=True, max_new_tokens=self.description_tokens,
                                             on_token=on_token)
            except Preempted:
                self._requeue(job)
                return
            finally:
                self.busy += time.perf_counter() - t0
            text, quiet = answer.text.strip() or "(no description)", False
            ttft, total = answer.time_to_first_token, answer.total_time
        self._timeline.add(job.stream_time, text)
        is_new, since = self._feed.judge(text, job.stream_time)
        self.emit(ev.SceneDescribed(stream_time=job.stream_time, text=text, is_new=is_new, quiet=quiet, since=since,
                                    time_to_first_token=ttft, total_time=total))

    def _requeue(self, job: Describe) -> None:
        with self._cv:
            if self._describe is None and not self._stopping.is_set():
                self._describe = job
