"""The streaming engine: one listening state for the whole session, answers on forks.

Two threads. The listener (here) takes audio from the source, records it, measures its level
and runs `model.listen` every hop on the session's single state; it hands the speaker
(live/speaker.py) a description every few seconds of stream (sooner after an onset) and each
typed question, with the state of that moment. `listen` returns a new state and never changes
its argument, so holding a reference to the state of a moment is its fork; the model copies it
to decode, and the listening state never holds the model's own words.

After each hop the listener also asks the session's watches (live/watches.py) of the new state,
all in one batched forward, and raises an alert when one fires.

Everything the engine has to say leaves through `on_event` as an `Event`, after it is logged.
"""
from __future__ import annotations

import collections
import math
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from model.audio import MAX_AMPLITUDE, QUIET_DB, SAMPLE_RATE, SampleGuard

from . import events as ev
from .capture import ENDED, LIVE, LOST, AudioSource, SourceCondition
from .levels import LevelTracker, Window
from .protocol import SamModel
from .session import SessionLog, SessionWriteError
from .speaker import Describe, Question, Speaker
from .watches import WatchConfig, WatchList, clean_phrase, scorer_for, unique_phrases


WARM_UP_WAIT_S = 30.0  # longest wait for the speaker's warm-up before listening starts
MAX_QUESTION_CHARS = 2000  # a longer question is refused, not cut: a cut question could be answered wrongly
MAX_PENDING_QUESTIONS = 32  # questions asked now and waiting for an answer; more are refused so the queue stays bounded
# `@SECONDS` questions for later stream times: a script asks them all at once (python -m live.scripted
# types 98), so they have a cap of their own; at 2,000 characters each this bounds them at about 20 MB.
# `@SECONDS /watch` and `/unwatch` lines waiting for their time have the same cap, apart.
MAX_SCHEDULED_QUESTIONS = 10_000
MAX_SCHEDULED_WATCH_COMMANDS = MAX_SCHEDULED_QUESTIONS
MAX_STREAM_SECONDS = 366 * 24 * 3600.0  # s: the latest stream time a question can be asked for (a year)
# What the session's writers raise when they cannot write (a full disk, a NaN state refused), and OSError
# from a writer that lets the disk's error through. The session goes on, or ends, with an error event.
WRITE_ERRORS = (SessionWriteError, OSError)


@dataclass
class EngineConfig:
    hop_seconds: float = 1.28  # audio per `listen` call: 8 LM tokens of 160 ms
    describe_every: float = 2.0  # s of stream between descriptions
    quiet_db: float = QUIET_DB  # dBFS: a description window never louder than this is "quiet"
    onset_rise_db: float = 12.0  # dB above the background that counts as a new sound
    onset_lead: float = 0.32  # s of a new sound heard (two LM tokens) before it is described
    description_tokens: int = 32
    answer_tokens: int = 96
    wait_for_descriptions: bool = False  # fast replays: listen no further until a description is done
    autosave_every: float = 60.0  # s of stream between state saves (0: only on exit)
    figures_window: float = 30.0  # s of stream the real-time factor is measured over
    read_timeout: float = 0.05  # s
    watch: WatchConfig = field(default_factory=WatchConfig)  # when a watch alerts

    @property
    def hop_samples(self) -> int:
        return int(round(self.hop_seconds * SAMPLE_RATE))


def check_question(question: str, at: float | None = None) -> None:
    """ValueError with a message for the user when `question` (at stream time `at`) cannot be asked."""
    if not question:
        raise ValueError("the question is empty")
    if len(question) > MAX_QUESTION_CHARS:
        raise ValueError(f"the question is {len(question):,} characters long, more than the {MAX_QUESTION_CHARS:,} "
                         "a question may have: ask a shorter one")
    if at is not None and not (math.isfinite(at) and 0 <= at <= MAX_STREAM_SECONDS):
        raise ValueError(f"{at!r} is not a stream time: give seconds from 0 to {MAX_STREAM_SECONDS:.0f}")


def split_due(scheduled: list[tuple], now: float) -> tuple[list[tuple], list[tuple]]:
    """Entries (stream s, order, ...) whose time has come, in time then typing order, and the rest."""
    return sorted(e for e in scheduled if e[0] <= now), [e for e in scheduled if e[0] > now]


class Engine:
    """Listens on a source into one state; describes and answers on forks of it."""

    def __init__(self, model: SamModel, source: AudioSource, on_event: Callable[[ev.Event], None] | None = None, *,
                 config: EngineConfig | None = None, state: Any = None, session: SessionLog | None = None,
                 catch_up: np.ndarray | None = None, watches: list[str] | None = None,
                 said: list[tuple[float, str]] | None = None):
        self.model = model
        self.source = source
        self.config = config or EngineConfig()
        self.session = session
        self.on_event = on_event  # called on the engine's threads; set it before `start`
        self._emit_lock = threading.Lock()
        self._state = state if state is not None else model.new_state()
        self._catch_up = catch_up  # recorded audio the saved state missed (a session that was killed)
        self._taken = self._state.samples_seen  # samples taken from the source and recorded (the stream clock)
        self._pending: list[np.ndarray] = []
        self._pending_n = 0
        self._levels = LevelTracker(self.config.quiet_db, self.config.onset_rise_db, start=self._taken)
        self._second: list[Window] = []
        self._next_describe = self.stream_time + self.config.describe_every
        self._next_autosave = self.stream_time + self.config.autosave_every
        self._last_meter = 0.0
        self._speaker = Speaker(model, self._speaker_emit, lambda: self.stream_time, quiet_db=self.config.quiet_db,
                                description_tokens=self.config.description_tokens,
                                answer_tokens=self.config.answer_tokens,
                                on_error=self._decode_failed, said=said or ())
        self._lock = threading.Lock()  # question ids, scheduled and unanswered questions
        self._question_ids = 0
        self._scheduled: list[tuple[float, int, str]] = []  # (stream s, id, question) asked later
        self._unanswered: collections.deque[int] = collections.deque()  # ids handed to the speaker, in order
        self._source_done = False  # the source has ended: nothing more to wait for
        # Control, set from any thread.
        self._paused = threading.Event()
        self._stopping = threading.Event()
        self._snapshot_of: Any = None
        self.ended = threading.Event()  # a replayed source reached its end and all was said
        self.stopped = threading.Event()  # the final state is saved and SessionEnded sent
        self.failure: BaseException | None = None
        # Figures.
        self._compute: collections.deque[tuple[float, float]] = collections.deque()  # (stream s, busy s)
        self._listen_busy = 0.0  # s spent in listen
        self.hop_times: collections.deque[float] = collections.deque(maxlen=4096)  # s per listen call
        self._last_drop_warning = (0.0, 0.0)  # (wall, dropped s) when last warned
        self._recording = session is not None  # until writing the audio fails
        self._guard = SampleGuard(SAMPLE_RATE, source.name, warn=False)  # damaged samples never reach the state
        self._warned_repair = False
        self._log_failure: BaseException | None = None  # the last failed write to events.jsonl
        self._condition = SourceCondition(LIVE)
        # Watches: changed from any thread under `_watch_lock`, scored on the listener thread.
        self._watch_lock = threading.Lock()
        self._watches = WatchList(self.config.watch)
        self._scheduled_watches: list[tuple[float, int, str, str]] = []  # (stream s, order typed, command, phrase)
        self._commands_typed = 0
        self._score = scorer_for(model) if watches else None  # found at the first watch: a model may have none
        self._watching = True  # until scoring fails
        self.watch_busy = 0.0  # s spent scoring watches
        for phrase in unique_phrases(watches or []):  # a resumed session's and the command line's
            self._watches.add(phrase)
        self._listener = threading.Thread(target=self._listen_loop, name="sam-listener", daemon=True)

    # --- the API (any thread) ---------------------------------------------------------------------

    @property
    def stream_time(self) -> float:
        """Seconds of audio heard in this session."""
        return self._taken / SAMPLE_RATE

    @property
    def state(self) -> Any:
        """The listening state as of the last hop."""
        return self._state

    @property
    def paused(self) -> bool:
        return self._paused.is_set()

    def start(self) -> None:
        """Open the source and start listening; RuntimeError when the source cannot start."""
        self.source.start()
        self._emit(ev.SessionStarted(stream_time=self.stream_time, folder=str(self.session.folder) if self.session else "",
                                     model=self.model.name, source=self.source.name,
                                     resumed=self._state.samples_seen > 0 or self._catch_up is not None))
        for phrase in self.watches:
            self._emit(ev.WatchAdded(stream_time=self.stream_time, phrase=phrase))
        if self.watches:
            self._save_watches()
        self._speaker.start()
        self._listener.start()

    @property
    def questions_pending(self) -> int:
        """Questions asked and not yet answered, those waiting for their stream time included."""
        with self._lock:
            return len(self._scheduled) + len(self._unanswered)

    def ask(self, question: str, at: float | None = None) -> int:
        """Queue a question about the sound so far; it is answered on the state of this moment.

        With `at`, the question is asked once the stream reaches `at` seconds (or the source ends).
        ValueError, with a message for the user, for an empty or too long question, a time that is
        not a stream time, or when MAX_PENDING_QUESTIONS asked now (MAX_SCHEDULED_QUESTIONS for later
        stream times) are already waiting.
        """
        question = question.strip()
        check_question(question, at)
        with self._lock:
            later = self._later(at)
            if later and len(self._scheduled) >= MAX_SCHEDULED_QUESTIONS:
                raise ValueError(f"busy: {len(self._scheduled)} questions are waiting for their stream time; "
                                 "ask again once some are answered")
            if not later and len(self._unanswered) >= MAX_PENDING_QUESTIONS:
                raise ValueError(f"busy: {len(self._unanswered)} questions are waiting for an answer; "
                                 "ask again once one is answered")
            self._question_ids += 1
            qid = self._question_ids
            if later:
                self._scheduled.append((at, qid, question))
            else:
                self._hand_over(qid, question)
        return qid

    def _later(self, at: float | None) -> bool:
        """Whether a line typed for stream time `at` waits for it: a time still ahead of a source still playing."""
        return at is not None and at > self.stream_time and not self._source_done

    def _hand_over(self, qid: int, question: str) -> None:
        """Give the speaker a question (holding `_lock`, so that `_unanswered` has the speaker's order)."""
        self._unanswered.append(qid)
        job = Question(qid, question, self._state, self.stream_time, time.monotonic())
        self._emit(ev.QuestionAsked(stream_time=job.stream_time, question_id=qid, question=question))
        self._speaker.ask(job)

    @property
    def watches(self) -> list[str]:
        """The phrases watched for, in the order they were added."""
        with self._watch_lock:
            return self._watches.phrases

    def watch(self, phrase: str, at: float | None = None) -> str:
        """Watch for `phrase` from now on (with `at`, once the stream reaches `at` s); the phrase as watched.

        ValueError, with a message for the user, for an empty or too long phrase, one already watched,
        a full list (MAX_WATCHES), a time that is not a stream time, a model that cannot watch, or
        MAX_SCHEDULED_WATCH_COMMANDS already waiting for their stream time.
        A watch scheduled for later is checked again then; a refusal is a warning event.
        """
        phrase = clean_phrase(phrase)
        check_question(phrase, at)
        if self._score is None:
            self._score = scorer_for(self.model)
        return self._command("watch", phrase, at)

    def unwatch(self, phrase: str, at: float | None = None) -> str:
        """Stop watching for `phrase` (with `at`, once the stream reaches it); ValueError when it is not watched."""
        phrase = clean_phrase(phrase)
        check_question(phrase, at)
        return self._command("unwatch", phrase, at)

    def _command(self, command: str, phrase: str, at: float | None) -> str:
        with self._watch_lock:
            if self._later(at):
                if len(self._scheduled_watches) >= MAX_SCHEDULED_WATCH_COMMANDS:
                    raise ValueError(f"busy: {len(self._scheduled_watches)} /watch and /unwatch lines are waiting "
                                     "for their stream time; give this one once some have run")
                self._commands_typed += 1
                self._scheduled_watches.append((at, self._commands_typed, command, phrase))
                return phrase
            watch = self._watches.add(phrase) if command == "watch" else self._watches.remove(phrase)
        event = ev.WatchAdded if command == "watch" else ev.WatchRemoved
        self._emit(event(stream_time=self.stream_time, phrase=watch.phrase))
        self._save_watches()
        return watch.phrase

    def _save_watches(self) -> None:
        """Keep the watches in session.json, so that --resume watches for them too."""
        if self.session is None:
            return
        try:
            self.session.set_watches(self.watches)
        except WRITE_ERRORS as e:  # they still apply to this run
            self._fail("the watches could not be saved in the session; this run still watches for them", e)

    def warn(self, message: str) -> None:
        """Tell the user (and the log) something about the session, e.g. a fallback taken."""
        self._emit(ev.WarningRaised(stream_time=self.stream_time, message=message))

    def pause(self) -> None:
        """Stop listening: audio is discarded, not heard nor recorded, until `resume`."""
        if not self._paused.is_set():
            self._paused.set()
            self._emit(ev.ListeningPaused(stream_time=self.stream_time))
            self._emit_figures()

    def resume(self) -> None:
        if self._paused.is_set():
            self._paused.clear()
            self._emit(ev.ListeningResumed(stream_time=self.stream_time))
            self._emit_figures()

    def snapshot(self) -> None:
        """Save the listening state of this moment to the session's snapshots folder."""
        self._snapshot_of = self._state

    def request_stop(self) -> None:
        """Begin shutting down; `stopped` is set once the final state is saved."""
        self._stopping.set()
        self._speaker.request_stop()

    def stop(self, timeout: float = 30.0) -> None:
        """Shut down and wait: pending audio is heard, the state saved, the source closed."""
        self.request_stop()
        if self._listener.is_alive():
            self._listener.join(timeout)

    # --- events ----------------------------------------------------------------------------------

    def _emit(self, event: ev.Event) -> None:
        with self._emit_lock:  # one order for the log and the screen
            if self.session is not None and event.logged:
                self._log(event)
            if self.on_event is not None:
                self.on_event(event)

    def _log(self, event: ev.Event) -> None:
        """Append to events.jsonl; when that fails, the event is still shown, with a warning once."""
        try:
            self.session.write_event(event)
            self._log_failure = None
        except WRITE_ERRORS as e:
            if self._log_failure is None and self.on_event is not None:
                self.on_event(ev.WarningRaised(stream_time=self.stream_time, severity="error",
                                               message=f"events are not being logged: {type(e).__name__}: {e}"))
            self._log_failure = e

    def _speaker_emit(self, event: ev.Event) -> None:
        self._emit(event)
        if isinstance(event, ev.QuestionAnswered):
            with self._lock:
                if event.question_id in self._unanswered:  # the speaker answers in order: those before are done
                    while self._unanswered.popleft() != event.question_id:
                        pass
            self._emit_figures()  # its time to first token

    def _decode_failed(self, error: BaseException, job: Question | Describe | None) -> None:
        """The speaker's job failed: a question that will get no answer stops waiting, and is named."""
        if isinstance(job, Question):
            with self._lock:
                if job.question_id in self._unanswered:
                    self._unanswered.remove(job.question_id)
            self._fail(f"answering {job.text!r} failed", error)
        else:
            self._fail("decoding failed", error)

    def _fail(self, where: str, error: BaseException) -> None:
        message = f"{where}: {type(error).__name__}: {error}"
        if self.session is not None:
            try:
                self.session.write_error(error)
            except WRITE_ERRORS as e:
                message += f" (errors.log could not be written: {e})"
        self._emit(ev.WarningRaised(stream_time=self.stream_time, severity="error", message=message))

    @property
    def busy_seconds(self) -> tuple[float, float]:
        """Compute time so far: (listening, describing and answering), in seconds."""
        return self._listen_busy, self._speaker.busy

    @property
    def last_ttft(self) -> float | None:
        """Seconds from asking the last answered question to its first token."""
        return self._speaker.last_ttft

    @property
    def real_time_factor(self) -> float:
        """Compute seconds per second of audio over the last `figures_window` s of stream."""
        if len(self._compute) < 2:
            return 0.0
        (s0, b0), (s1, b1) = self._compute[0], self._compute[-1]
        return (b1 - b0) / (s1 - s0) if s1 > s0 else 0.0

    def _emit_figures(self) -> None:
        self._emit(ev.FiguresUpdated(stream_time=self.stream_time, real_time_factor=self.real_time_factor,
                                     last_time_to_first_token=self.last_ttft,
                                     dropped_seconds=self.source.dropped_seconds, overflows=self.source.overflows,
                                     listening=not self.paused))

    # --- the listener thread ---------------------------------------------------------------------

    def _listen_loop(self) -> None:
        try:
            with torch.no_grad():
                self.model.listen(torch.zeros(self.config.hop_samples), self.model.new_state())  # warm-up, as the speaker's
                self._speaker.warmed_up.wait(WARM_UP_WAIT_S)
                if self._catch_up is not None and self._catch_up.size:
                    self._hear_recorded(self._catch_up)
                while not self._stopping.is_set():
                    self._listen_step()
                self._finish()
        except Exception as e:  # a model, device or disk failure: report it on screen and in the log
            self.failure = e
            self._fail("listening stopped", e)
            self._finish_after_failure()
        finally:  # whatever happened, whoever waits for the end is not left waiting
            self.stopped.set()

    def _hear_recorded(self, samples: np.ndarray) -> None:
        hop = self.config.hop_samples
        for i in range(0, samples.size, hop):
            self._listen(samples[i:i + hop])
        self._taken += samples.size
        self._levels = LevelTracker(self.config.quiet_db, self.config.onset_rise_db, start=self._taken)
        self._next_describe = self.stream_time + self.config.describe_every
        self._emit(ev.WarningRaised(stream_time=self.stream_time, severity="info",
                                    message=f"re-heard {samples.size / SAMPLE_RATE:.1f} s recorded after the last saved state"))

    def _listen_step(self) -> None:
        samples = self.source.read(self.config.read_timeout)
        self._watch_source()
        if self._snapshot_of is not None:
            self._save_snapshot()
        if samples.size and not self.paused:
            self._hear(samples)
        if self._condition.status == ENDED and not self.ended.is_set():
            self._end_of_source()

    def _hear(self, samples: np.ndarray) -> None:
        samples = self._finite(samples)
        self._record(samples)
        self._taken += samples.size
        self._measure(samples)
        self._pending.append(samples)
        self._pending_n += samples.size
        hop = self.config.hop_samples
        while self._pending_n >= hop:
            buf = np.concatenate(self._pending)
            self._pending, self._pending_n = [buf[hop:]], buf.size - hop
            self._listen(buf[:hop])
            self._after_hop()

    def _repaired(self) -> int:
        """Damaged samples repaired so far, by the source (before resampling) or here."""
        return self._guard.repaired + getattr(self.source, "repaired_samples", 0)

    def _finite(self, samples: np.ndarray) -> np.ndarray:
        """The samples with NaN and Inf heard as silence and absurd values clipped, so they never reach the state.

        A source may repair its samples itself (a microphone does, before resampling would spread the
        damage); either way the first repair of the session is a warning event.
        """
        samples = self._guard(samples)
        if self._repaired() and not self._warned_repair:  # one warning a session
            self._warned_repair = True
            self._emit(ev.WarningRaised(
                stream_time=self.stream_time,
                message=f"the audio has damaged samples (NaN, Inf or beyond +-{MAX_AMPLITUDE:g}): heard as silence "
                        "or clipped; later ones are repaired without a warning"))
        return samples

    def _record(self, samples: np.ndarray) -> None:
        """Write the audio to the session; when that fails, listening goes on without recording."""
        if not self._recording:
            return
        try:
            self.session.write_audio(samples)
        except WRITE_ERRORS as e:
            self._recording = False
            self._fail("recording the audio stopped; listening goes on", e)

    def _listen(self, samples: np.ndarray) -> None:
        t0 = time.perf_counter()
        self._state = self.model.listen(torch.from_numpy(np.ascontiguousarray(samples, np.float32)), self._state)
        dt = time.perf_counter() - t0
        self._listen_busy += dt
        self.hop_times.append(dt)

    def _after_hop(self) -> None:
        now = self._state.seconds
        self._run_scheduled_watches(now)
        self._score_watches(now)
        self._compute.append((now, self._listen_busy + self._speaker.busy + self.watch_busy))
        while len(self._compute) > 2 and now - self._compute[0][0] > self.config.figures_window:
            self._compute.popleft()
        self._ask_scheduled(now)
        if now >= self._next_describe:
            self._schedule_describe(now)
        if self.session is not None and self.config.autosave_every and now >= self._next_autosave:
            self._next_autosave = now + self.config.autosave_every
            self._autosave()
        self._emit_figures()
        self._warn_if_dropping()

    def _ask_scheduled(self, now: float, final: bool = False) -> None:
        with self._lock:
            self._source_done = self._source_done or final
            due, self._scheduled = split_due(self._scheduled, now)
            for _, qid, question in due:
                self._hand_over(qid, question)

    def _run_scheduled_watches(self, now: float) -> None:
        """/watch and /unwatch typed for a stream time now reached; a refusal is a warning."""
        with self._watch_lock:
            due, self._scheduled_watches = split_due(self._scheduled_watches, now)
        for _, _, command, phrase in due:
            try:
                self._command(command, phrase, None)
            except ValueError as e:
                self.warn(f"/{command} refused: {e}")

    def _score_watches(self, now: float) -> None:
        """Ask every watch of this hop's state (one batched call) and raise the alerts that fire."""
        with self._watch_lock:
            watches = list(self._watches.watches)
        if not watches or not self._watching:
            return
        t0 = time.perf_counter()
        try:
            confidences = [float(c) for c in self._score(self._state, [w.question for w in watches])]
        except Exception as e:  # a model that cannot score: the session goes on without watches
            self._watching = False
            self._fail("watching stopped (listening goes on)", e)
            return
        finally:
            self.watch_busy += time.perf_counter() - t0
        with self._watch_lock:
            fired = self._watches.update(watches, confidences, now)
        for w in fired:
            self._emit(ev.AlertRaised(stream_time=now, phrase=w.phrase, confidence=w.confidence))
        self._emit(ev.WatchesScored(stream_time=now, scores=tuple((w.phrase, w.confidence, w.active) for w in watches)))

    def _schedule_describe(self, now: float) -> None:
        self._next_describe = now + self.config.describe_every
        self._speaker.describe(Describe(self._state, now, self._levels.take_loudest()))
        if self.config.wait_for_descriptions:
            self._speaker.wait_idle(self._stopping)

    def _measure(self, samples: np.ndarray) -> None:
        for w in self._levels.push(samples):
            if w.onset:
                self._next_describe = min(self._next_describe, w.end / SAMPLE_RATE + self.config.onset_lead)
            now = time.monotonic()
            if now - self._last_meter >= 0.05:
                self._last_meter = now
                self._emit(ev.LevelSampled(stream_time=w.end / SAMPLE_RATE, rms_db=w.rms_db))
            self._second.append(w)
            if len(self._second) == 10:
                power = np.mean([10 ** (x.rms_db / 10) for x in self._second])
                self._emit(ev.LevelMeasured(stream_time=w.end / SAMPLE_RATE, rms_db=float(10 * np.log10(power)),
                                            peak_db=max(x.peak_db for x in self._second)))
                self._second = []

    def _watch_source(self) -> None:
        old, new = self._condition, self.source.condition
        if new.status == old.status:
            return
        self._condition = new
        if new.status == LOST:
            self._emit(ev.DeviceLost(stream_time=self.stream_time, device=self.source.name, reason=new.detail))
        elif new.status == LIVE and old.status == LOST:
            self._emit(ev.DeviceRestored(stream_time=self.stream_time, device=self.source.name))

    def _warn_if_dropping(self) -> None:
        dropped = self.source.dropped_seconds
        wall, before = self._last_drop_warning
        if dropped > before and time.monotonic() - wall > 10.0:
            self._last_drop_warning = (time.monotonic(), dropped)
            self._emit(ev.WarningRaised(stream_time=self.stream_time,
                                        message=f"{dropped:.1f} s of audio dropped: the engine is falling behind"))

    def _autosave(self) -> None:
        try:
            self.session.save_state(self._state)
        except WRITE_ERRORS as e:  # the state on disk is older; the next autosave tries again
            self._fail("saving the state failed; listening goes on", e)

    def _save_snapshot(self) -> None:
        state, self._snapshot_of = self._snapshot_of, None
        if self.session is None:
            self._emit(ev.WarningRaised(stream_time=self.stream_time, message="no session folder to save a snapshot in"))
            return
        try:
            path = self.session.save_snapshot(state)
        except WRITE_ERRORS as e:
            self._fail("saving the snapshot failed", e)
            return
        self._emit(ev.SnapshotSaved(stream_time=state.seconds, path=str(path)))

    def _hear_pending(self) -> None:
        """Give `listen` the samples short of a hop (the model buffers them), so the state has all."""
        if self._pending_n:
            self._listen(np.concatenate(self._pending))
            self._pending, self._pending_n = [], 0

    def _end_of_source(self) -> None:
        self._hear_pending()
        self._ask_scheduled(float("inf"), final=True)
        self._run_scheduled_watches(float("inf"))
        self._schedule_describe(self._state.seconds)
        self._speaker.wait_idle(self._stopping)
        self._emit(ev.SourceEnded(stream_time=self.stream_time, source=self.source.name))
        self.ended.set()

    def _save_state(self, where: str) -> Path | None:
        """Save the listening state to the session; None (with an error event) when that fails."""
        try:
            return self.session.save_state(self._state)
        except WRITE_ERRORS as e:
            self.failure = self.failure or e
            self._fail(where, e)
            return None

    def _finish(self) -> None:
        self._speaker.stop()  # first, so that SessionEnded is the last event
        self._hear_pending()
        self.source.stop()
        self._end_session()

    def _finish_after_failure(self) -> None:
        self._speaker.stop()
        self.source.stop()
        self._end_session()

    def _end_session(self) -> None:
        """Save the state as of the last good hop (what can be saved) and say that the session ended."""
        path = self._save_state("the state could not be saved") if self.session is not None else None
        self._emit(ev.SessionEnded(stream_time=self.stream_time, state_path=str(path) if path else None,
                                   real_time_factor=self.real_time_factor, dropped_seconds=self.source.dropped_seconds,
                                   overflows=self.source.overflows))
