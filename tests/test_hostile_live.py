"""sam-live under hostile and broken input: stdin bytes, long and many questions, bad times, signals, failing disks."""
from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import soundfile as sf
import torch

import live.cli as cli
from live import events as ev
from live.capture import FileSource
from live.engine import (MAX_PENDING_QUESTIONS, MAX_QUESTION_CHARS, MAX_SCHEDULED_QUESTIONS,
                         MAX_SCHEDULED_WATCH_COMMANDS, Engine, EngineConfig)
from live.headless import HeadlessRun, parse_question
from live.session import SessionLog
from live.wavlog import read_segments
from test_live_app import make_app, run, wait_for
from test_live_engine import FAST, of, run_file
from test_live_session import STUB_SAM_LIVE, TESTS, scene
from test_live_stubmodel import RATE, StubModel, StubState, tone


# --- headless stdin, in this process -------------------------------------------------------------

def headless(stdin: bytes, *, model=None, seconds=3.0, realtime=False, watchdog=20.0):
    """HeadlessRun on a replay with `stdin` on a pipe and an ASCII-only stdout; (status, events, seconds)."""
    r, w = os.pipe()

    def feed() -> None:
        with open(w, "wb") as f, contextlib.suppress(BrokenPipeError):  # a run that stopped reading early fails below
            f.write(stdin)

    threading.Thread(target=feed, daemon=True).start()
    out = io.TextIOWrapper(io.BytesIO(), encoding="ascii")  # strict: a non-ASCII character would raise
    engine = Engine(model or StubModel(), FileSource(tone(seconds), name="t", realtime=realtime), config=FAST)
    timer = threading.Timer(watchdog, engine.request_stop)  # a hang fails the test instead of stalling it
    timer.start()
    t0 = time.monotonic()
    with open(r, "rb") as questions:
        code = HeadlessRun(engine, out=out, questions=questions).run()
    timer.cancel()
    out.flush()
    return code, [json.loads(x) for x in out.buffer.getvalue().decode("ascii").splitlines()], time.monotonic() - t0


def test_stdin_bytes_that_are_not_utf8_are_replaced_and_stdout_takes_any_text():
    code, out, _ = headless(b"\xff\xfe what is it?\n" + "is it a caf\u00e9?\n".encode())
    assert code == 0
    assert [e["question"] for e in out if e["type"] == "question"] == ["\ufffd\ufffd what is it?", "is it a caf\u00e9?"]
    assert len([e for e in out if e["type"] == "answer"]) == 2
    assert out[-1]["type"] == "session_ended"


def test_unaskable_lines_are_refused_one_by_one_and_reading_goes_on():
    lines = [b"x" * (MAX_QUESTION_CHARS + 1), b"y" * (1 << 20), b"@-5 what?", b"@1e308 what?", b"@nan what?",
             b"@inf what?", b"@soon what?", b"@12", b"@2 what now?"]
    code, out, _ = headless(b"\n".join(lines) + b"\n", realtime=True)
    assert code == 0
    refused = [e["message"] for e in out if e["type"] == "warning" and "question refused" in e["message"]]
    assert len(refused) == len(lines) - 1
    assert f"more than the {MAX_QUESTION_CHARS:,}" in refused[0] and "bytes" in refused[1]
    assert "-5.0 is not a stream time" in refused[2] and "@SECONDS question" in refused[6]
    (asked,) = [e for e in out if e["type"] == "question"]
    (answer,) = [e for e in out if e["type"] == "answer"]
    assert asked["question"] == "what now?" and 2.0 <= answer["asked_at"] < 2.7  # the hop after 2 s


def test_at_lines_and_the_engine_check_stream_times():
    assert parse_question("@12.5 what was that?") == (12.5, "what was that?")
    assert parse_question("what @ 5?") == (None, "what @ 5?")
    for line in ["@x what?", "@5", "@"]:
        with pytest.raises(ValueError, match="@SECONDS question"):
            parse_question(line)
    engine = Engine(StubModel(), FileSource(tone(1.0), name="t"))
    for at in [-5.0, 1e308, float("nan"), float("inf")]:
        with pytest.raises(ValueError, match="not a stream time"):
            engine.ask("what?", at=at)
    with pytest.raises(ValueError, match="characters long"):
        engine.ask("x" * (MAX_QUESTION_CHARS + 1))


class FailsOnce(StubModel):
    def ask(self, state, question, **kw):
        if question == "explode?":
            raise MemoryError("the question was too much")
        return super().ask(state, question, **kw)


def test_a_question_that_fails_to_decode_does_not_keep_a_replay_open():
    code, out, took = headless(b"explode?\nwhat is it?\n", model=FailsOnce())
    assert took < 10 and code == 0
    assert [e["question"] for e in out if e["type"] == "answer"] == ["what is it?"]
    assert any("the question was too much" in e["message"] for e in out if e["type"] == "warning")


class FailsToDescribe(StubModel):
    def describe(self, state, **kw):
        raise RuntimeError("the description broke")


@pytest.mark.parametrize("model, named", [(FailsOnce(), "answering 'explode?' failed: MemoryError"),
                                          (FailsToDescribe(), "decoding failed: RuntimeError")])
def test_a_failed_decode_names_its_question_and_only_that_question_stops_waiting(model, named):
    events: list[ev.Event] = []
    engine = Engine(model, FileSource(tone(4.0), name="t", realtime=False), events.append, config=FAST)
    engine.ask("explode?", at=1.5)
    engine.ask("what is it?", at=1.5)
    engine.start()
    assert engine.ended.wait(20)
    deadline = time.monotonic() + 10
    while engine.questions_pending and time.monotonic() < deadline:
        time.sleep(0.05)
    engine.stop()
    errors = [e.message for e in of(events, ev.WarningRaised) if e.severity == "error"]
    assert any(m.startswith(named) for m in errors), errors
    answered = [e.question for e in of(events, ev.QuestionAnswered)]
    assert "what is it?" in answered and engine.questions_pending == 0
    if isinstance(model, FailsToDescribe):  # a failed description takes no question with it
        assert answered == ["explode?", "what is it?"]


def test_questions_past_the_queue_are_refused_as_busy_and_listening_goes_on():
    events: list[ev.Event] = []
    engine = Engine(StubModel(token_delay=0.05), FileSource(tone(30.0), name="t"), events.append)
    engine.start()
    try:
        for i in range(MAX_PENDING_QUESTIONS):
            engine.ask(f"question {i}?")
        with pytest.raises(ValueError, match="busy"):
            engine.ask("one more?")
        heard = engine.stream_time
        time.sleep(1.5)
        assert engine.stream_time > heard + 1.0  # listening goes on behind the queue
        deadline = time.monotonic() + 10
        while not of(events, ev.QuestionAnswered) and time.monotonic() < deadline:
            time.sleep(0.05)
        engine.ask("now?")  # one was answered: there is room again
    finally:
        engine.stop()
    assert "one more?" not in [e.question for e in of(events, ev.QuestionAsked)]


def test_a_script_may_schedule_far_more_questions_than_may_wait_for_an_answer_now():
    """python -m live.scripted types its 98 `@SECONDS` questions at once: each is asked at its time."""
    events: list[ev.Event] = []
    engine = Engine(StubModel(), FileSource(tone(3.0), name="t"), events.append)
    for i in range(3 * MAX_PENDING_QUESTIONS):
        engine.ask(f"question {i}?", at=100.0 + i)
    engine._scheduled.extend((200.0, 0, "filler") for _ in range(MAX_SCHEDULED_QUESTIONS - len(engine._scheduled)))
    with pytest.raises(ValueError, match="waiting for their stream time"):
        engine.ask("one too many?", at=300.0)
    engine.ask("asked now?")  # the queue of questions asked now is another


def test_watch_lines_scheduled_for_later_are_bounded_too():
    """A script cannot queue unbounded `@SECONDS /watch` lines; a refused one leaves the others as they were."""
    engine = Engine(StubModel(), FileSource(tone(3.0), name="t"), lambda e: None)
    engine.watch("a dog barking", at=100.0)
    engine._scheduled_watches.extend((200.0, 0, "unwatch", "filler")
                                     for _ in range(MAX_SCHEDULED_WATCH_COMMANDS - len(engine._scheduled_watches)))
    with pytest.raises(ValueError, match="waiting for their stream time"):
        engine.watch("a cat", at=300.0)
    assert len(engine._scheduled_watches) == MAX_SCHEDULED_WATCH_COMMANDS
    assert engine.watch("a bell") == "a bell"  # a watch from now on is not scheduled: still allowed
    assert engine.watches == ["a bell"]


# --- the audio and the disk ----------------------------------------------------------------------

def tiny_sam():
    from model.config import SAMConfig
    from model.sam import SAM
    from model.tokenizer import Tokenizer

    tok = Tokenizer.train(["a dog barks", "a door slams", "quiet", "what do you hear?"] * 30, vocab_size=290)
    return SAM(SAMConfig.from_name("sam-tiny"), tok).eval()


def test_nan_and_inf_samples_are_heard_as_silence_with_one_warning(tmp_path):
    audio = tone(4.0, amp=0.5)
    audio[1000:1100], audio[30000:30010], audio[50000], audio[60000] = np.nan, np.inf, -np.inf, 1e30
    session = SessionLog.create(tmp_path, model="sam-tiny", checkpoint=None, source="t")
    config = EngineConfig(wait_for_descriptions=True, description_tokens=2, answer_tokens=2)
    events, engine = run_file(audio, tiny_sam(), config=config, session=session)
    session.close()
    warned = [e.message for e in of(events, ev.WarningRaised) if "damaged samples" in e.message]
    assert len(warned) == 1  # one for the session, however many samples
    s = engine.state
    for t in (s.lm.conv, s.lm.ssm, s.encoder.keys, s.encoder.values, s.pending, s.history):
        assert torch.isfinite(t).all()
    recorded = read_segments(session.folder / "audio")
    assert recorded.size == audio.size and np.isfinite(recorded).all()


def engine_warnings(source, seconds=2.0):
    """The damaged-sample warnings an engine with the stub model raises while listening to `source`."""
    events: list[ev.Event] = []
    engine = Engine(StubModel(), source, events.append, config=FAST)
    engine.start()
    deadline = time.monotonic() + 20
    while engine.stream_time < seconds and time.monotonic() < deadline and not engine.ended.is_set():
        time.sleep(0.05)
    engine.stop()
    return [e.message for e in of(events, ev.WarningRaised) if "damaged samples" in e.message]


def test_samples_a_replayed_file_repairs_are_one_warning_event_not_a_stray_python_warning(tmp_path, recwarn):
    audio = tone(3.0, amp=0.5)
    audio[[100, 9000, 20000]] = [np.nan, np.inf, 1e30]
    sf.write(tmp_path / "bad.wav", audio, RATE, subtype="FLOAT")
    source = FileSource.open(tmp_path / "bad.wav", realtime=False)
    assert engine_warnings(source) and len(engine_warnings(FileSource.open(tmp_path / "bad.wav", realtime=False))) == 1
    assert source.repaired_samples == 3
    assert not [w for w in recwarn if "damaged samples" in str(w.message)]  # said as an event only


def test_samples_a_microphone_repairs_are_one_warning_event():
    from live.microphone import MicrophoneSource
    from test_live_capture import FakeBackend

    src = MicrophoneSource(None, backend=FakeBackend(rate=48000))
    deliver = src._callback

    def damaged(indata, *rest):  # a broken driver: NaN and absurd values in every block
        indata = indata.copy()
        indata[100:110], indata[300] = np.nan, 1e30
        deliver(indata, *rest)

    src._callback = damaged
    warned = engine_warnings(src, seconds=1.5)
    assert len(warned) == 1 and src.repaired_samples > 11


def no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_when_recording_the_audio_fails_listening_goes_on(tmp_path):
    session = SessionLog.create(tmp_path, model="stub", checkpoint=None, source="t")
    session.write_audio = no_space
    events, engine = run_file(tone(5.0), session=session)
    session.close()
    assert engine.failure is None and engine.state.samples_seen == 5 * RATE
    errors = [e.message for e in of(events, ev.WarningRaised) if e.severity == "error"]
    assert len(errors) == 1 and "recording the audio stopped" in errors[0] and "No space left" in errors[0]
    assert isinstance(events[-1], ev.SessionEnded) and events[-1].state_path


class BreaksAt3s(StubModel):
    def __init__(self, disk_full: threading.Event):
        super().__init__()
        self.disk_full = disk_full

    def listen(self, audio, state):
        if state.samples_seen >= 2 * RATE:
            self.disk_full.set()
        if state.samples_seen >= 3 * RATE:
            raise RuntimeError("the model broke")
        return super().listen(audio, state)


def test_when_the_disk_fills_and_the_model_breaks_the_session_still_ends_and_says_so(tmp_path):
    full = threading.Event()
    session = SessionLog.create(tmp_path, model="stub", checkpoint=None, source="t")

    def failing(write):
        return lambda *a, **k: no_space() if full.is_set() else write(*a, **k)

    for name in ["write_event", "write_audio", "write_error", "save_state"]:
        setattr(session, name, failing(getattr(session, name)))
    events: list[ev.Event] = []
    engine = Engine(BreaksAt3s(full), FileSource(tone(10.0), name="t", realtime=False), events.append,
                    session=session)
    engine.start()
    assert engine.stopped.wait(10)
    messages = [e.message for e in of(events, ev.WarningRaised)]
    assert any("events are not being logged" in m for m in messages)
    assert any("listening stopped: RuntimeError: the model broke" in m and "errors.log could not be written" in m
               for m in messages)
    assert isinstance(events[-1], ev.SessionEnded) and events[-1].state_path is None
    assert str(engine.failure) == "the model broke"


# --- the command line ----------------------------------------------------------------------------

@pytest.mark.parametrize("option", ["--show", "--log-dir", "--input", "--resume", "--checkpoint", "--device"])
def test_an_empty_option_is_an_error_not_the_default(option, monkeypatch, capsys):
    monkeypatch.setattr(cli, "run", lambda args, load: pytest.fail(f"ran with {option} ''"))
    with pytest.raises(SystemExit) as e:
        cli.main([option, ""])
    assert e.value.code == 2 and f"{option} is empty" in capsys.readouterr().err


class Lines:
    """A process's stdout lines, read on a thread, so that waiting for one can time out."""

    def __init__(self, proc: subprocess.Popen):
        self.proc = proc
        self.seen: list[dict] = []
        self._q: queue.Queue[dict | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self._q.put(json.loads(line))
        self._q.put(None)

    def until(self, condition, timeout: float = 20.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            e = self._q.get(timeout=max(0.01, deadline - time.monotonic()))
            assert e is not None, f"ended before: {self.seen[-3:]}"
            self.seen.append(e)
            if condition(e):
                return e

    def rest(self) -> list[dict]:
        while (e := self._q.get(timeout=10)) is not None:
            self.seen.append(e)
        return self.seen


def sam_live(tmp_path, *args, seconds=30.0, prelude="", env=None) -> tuple[subprocess.Popen, Lines]:
    """`sam-live --headless` on the stub model replaying `seconds` of scene, its stdin a pipe left open."""
    wav = tmp_path / "scene.wav"
    sf.write(wav, scene(seconds), RATE)
    code = [sys.executable, "-c", prelude + STUB_SAM_LIVE[2]] if prelude else STUB_SAM_LIVE
    proc = subprocess.Popen([*code, "--headless", "--input", str(wav), "--checkpoint", str(tmp_path),
                             "--log-dir", str(tmp_path / "log"), *args], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    return proc, Lines(proc)


def ended(proc: subprocess.Popen, timeout: float) -> int:
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError(f"still running after {timeout} s") from None


def test_a_replay_ends_when_its_questions_are_answered_though_stdin_stays_open(tmp_path):
    env = {**os.environ, "PYTHONIOENCODING": "ascii"}
    proc, lines = sam_live(tmp_path, "--describe-every", "1", seconds=3.0, env=env)
    proc.stdin.write(b"@2 \xff what is it?\n")
    proc.stdin.flush()  # and never closed
    assert ended(proc, 30) == 0, proc.stderr.read().decode()
    out = lines.rest()
    (answer,) = [e for e in out if e["type"] == "answer"]
    assert answer["question"] == "\ufffd what is it?" and answer["asked_at"] >= 2.0
    assert out[-1]["type"] == "session_ended"
    proc.stdin.close()


def test_stay_keeps_a_replay_open_for_questions_until_stdin_closes(tmp_path):
    proc, lines = sam_live(tmp_path, "--fast", "--stay", seconds=2.0)
    lines.until(lambda e: e["type"] == "source_ended")
    time.sleep(0.5)
    assert proc.poll() is None
    proc.stdin.write(b"what was it?\n")
    proc.stdin.flush()
    lines.until(lambda e: e["type"] == "answer")
    proc.stdin.close()
    assert ended(proc, 15) == 0
    assert lines.rest()[-1]["type"] == "session_ended"


@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGTERM])
def test_headless_saves_and_ends_on_sighup_and_sigterm(tmp_path, signum):
    proc, lines = sam_live(tmp_path)
    lines.until(lambda e: e["type"] == "level")
    proc.send_signal(signum)
    assert ended(proc, 20) == 0
    last = lines.rest()[-1]
    assert last["type"] == "session_ended" and last["state_path"]
    assert StubState.load(last["state_path"]).samples_seen >= RATE


def test_a_second_signal_ends_a_session_stuck_saving(tmp_path):
    stuck = (f"import sys, time; sys.path.insert(0, {TESTS!r}); from test_live_stubmodel import StubState; "
             "StubState.save = lambda self, path: time.sleep(600); ")
    proc, lines = sam_live(tmp_path, prelude=stuck)
    lines.until(lambda e: e["type"] == "level")
    proc.send_signal(signal.SIGTERM)
    time.sleep(1.0)
    assert proc.poll() is None  # saving, for ever
    proc.send_signal(signal.SIGTERM)
    assert ended(proc, 10) == -signal.SIGTERM
    assert "ending now" in proc.stderr.read().decode()


# --- the app -------------------------------------------------------------------------------------

@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGTERM])
def test_the_app_saves_and_ends_on_sighup_and_sigterm(tmp_path, signum):
    caught: list[int] = []

    def recorder(s, f):  # takes the signal when the app does not
        caught.append(s)

    previous = signal.signal(signum, recorder)

    async def go():
        app, engine, _, session = make_app(tmp_path)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: engine.stream_time > 1.0)
            signal.raise_signal(signum)
            await wait_for(pilot, lambda: engine.stopped.is_set())
        session.close()
        return app, session

    try:
        app, session = run(go())
        assert signal.getsignal(signum) is recorder  # given back after the app
    finally:
        signal.signal(signum, previous)
    assert not caught and app.return_value == 0
    assert StubState.load(session.folder / "state.safetensors").samples_seen > RATE
    last = json.loads((session.folder / "events.jsonl").read_text().splitlines()[-1])
    assert last["type"] == "session_ended" and last["state_path"]


def test_a_second_signal_leaves_the_app_while_the_state_is_still_saving(tmp_path, monkeypatch):
    caught: list[int] = []
    saving, release = threading.Event(), threading.Event()

    def stuck_save(self, path):
        saving.set()
        release.wait(30)

    monkeypatch.setattr(StubState, "save", stuck_save)
    previous = signal.signal(signal.SIGTERM, lambda s, f: caught.append(s))

    async def go():
        app, engine, _, session = make_app(tmp_path)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: engine.stream_time > 1.0)
            signal.raise_signal(signal.SIGTERM)
            await wait_for(pilot, saving.is_set)
            signal.raise_signal(signal.SIGTERM)
            await wait_for(pilot, lambda: not app.is_running)
        release.set()
        engine.stop()
        session.close()
        return app

    try:
        app = run(go())
    finally:
        release.set()
        signal.signal(signal.SIGTERM, previous)
    assert not caught and app.hurried and app.return_value == 1


# --- fuzz: random recordings and random stdin lines ----------------------------------------------

FUZZ_SESSIONS = """
import contextlib, io, json, sys
sys.path.insert(0, {tests!r})
from test_live_stubmodel import StubModel
from live.cli import main
for path in sys.argv[1:]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):  # stdin: /dev/null
        try:
            code = main(["--headless", "--fast", "--input", path, "--log-dir", path + ".log"], load=lambda p: StubModel())
        except SystemExit as e:
            code = e.code
    print(json.dumps({{"path": path, "code": code, "out": out.getvalue(), "err": err.getvalue()}}), flush=True)
"""


def test_fuzzed_recordings_through_sam_live_end_with_events_or_one_line_error(tmp_path):
    from test_hostile_audio import FUZZ_MEMORY, _fuzz_file

    rng = np.random.default_rng(5)
    files = []
    for i in range(60):
        files.append(tmp_path / f"f{i:02d}.wav")
        files[-1].write_bytes(_fuzz_file(rng))
    limit = lambda: __import__("resource").setrlimit(__import__("resource").RLIMIT_AS, (FUZZ_MEMORY, FUZZ_MEMORY))
    res = subprocess.run([sys.executable, "-c", FUZZ_SESSIONS.format(tests=TESTS), *map(str, files)],
                         capture_output=True, text=True, timeout=240, preexec_fn=limit, stdin=subprocess.DEVNULL,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert res.returncode == 0, res.stderr[-3000:]
    runs = [json.loads(line) for line in res.stdout.splitlines()]
    assert [r["path"] for r in runs] == [str(f) for f in files]  # none crashed or hung the process
    ended = [r for r in runs if r["code"] == 0]
    refused = [r for r in runs if r["code"] != 0]
    assert ended and refused
    for r in ended:  # a replay that could be heard ends its session properly
        assert json.loads(r["out"].splitlines()[-1])["type"] == "session_ended"
    for r in refused:  # one line naming the file, no traceback
        lines = r["err"].strip().splitlines()
        assert len(lines) == 1 and r["path"] in lines[0] and "Traceback" not in r["err"], r["err"][-2000:]


def test_fuzzed_stdin_lines_are_asked_or_refused_and_the_session_ends():
    rng = np.random.default_rng(11)
    pieces = [b"@", b"@-1 ", b"@1e999 ", b"@3 ", b"what", b" is ", b"\xff\xfe", b"\x00", b"\r", b"\t", b"?",
              "\u00e9\u4e2d\U0001f600".encode(), b"\xed\xa0\x80", b"\\u0000", b'{"type": "answer"}']
    lines = []
    for _ in range(300):
        n = int(rng.integers(0, 12))
        line = b"".join(pieces[int(i)] for i in rng.integers(0, len(pieces), n))
        if rng.random() < 0.02:
            line = line * 4000  # far past the longest question
        lines.append(line)
    code, out, took = headless(b"\n".join(lines) + b"\n", seconds=2.0, watchdog=60.0)
    assert code == 0 and out[-1]["type"] == "session_ended" and took < 60
    asked = [e for e in out if e["type"] == "question"]
    refused = [e for e in out if e["type"] == "warning" and "question refused" in e["message"]]
    assert asked and refused
    assert len(asked) + len(refused) <= sum(1 for line in lines if line.strip())
    assert {e["question_id"] for e in out if e["type"] == "answer"} == {e["question_id"] for e in asked}
