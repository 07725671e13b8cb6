"""The engine with a stub model: timestamps, forks, the feed, the energy gate, pause, devices, failures."""
from __future__ import annotations

import json
import time

import numpy as np
import pytest
import torch

from live import events as ev
from live.capture import FileSource
from live.engine import Engine, EngineConfig
from live.feed import Feed, similarity
from live.microphone import MicrophoneSource
from live.session import SessionLog
from test_live_capture import FakeBackend
from test_live_stubmodel import RATE, StubModel, silence, tone

FAST = EngineConfig(wait_for_descriptions=True)


def run_file(samples, model=None, config=FAST, realtime=False, questions=(), session=None, timeout=30.0):
    """Replay `samples` through an engine; returns (events, engine)."""
    model = model or StubModel()
    events: list[ev.Event] = []
    engine = Engine(model, FileSource(samples, name="test", realtime=realtime), events.append, config=config,
                    session=session)
    engine.start()
    for at, q in questions:
        engine.ask(q, at=at)
    assert engine.ended.wait(timeout)
    engine.stop()
    return events, engine


def of(events, kind):
    return [e for e in events if isinstance(e, kind)]


def test_descriptions_carry_stream_times_at_hops_and_wall_times():
    scene = np.concatenate([silence(3.0), tone(4.0), silence(3.0)])
    t0 = time.time()
    events, engine = run_file(scene)
    t1 = time.time()
    said = of(events, ev.SceneDescribed)
    times = [d.stream_time for d in said]
    assert times == sorted(times) and times[-1] == pytest.approx(10.0)
    for t in times[:-1]:  # each description is of the state after a whole hop
        assert (t / 1.28) == pytest.approx(round(t / 1.28))
    assert all(t0 <= d.wall_time <= t1 for d in said)
    assert [d.text for d in said if d.is_new] == ["quiet", "a tone near 400 Hz", "quiet"]
    tone_at = next(d.stream_time for d in said if "tone" in d.text)
    assert 3.0 < tone_at <= 3.0 + EngineConfig.onset_lead + 1.28  # the onset asks for a description
    assert engine.state.samples_seen == scene.size  # the tail short of a hop was heard too


def test_asking_answers_on_the_state_of_that_moment_and_leaves_the_listening_state_alone():
    scene = np.concatenate([tone(3.0), silence(4.0), tone(3.0, hz=1000)])
    plain_model, asking_model = StubModel(), StubModel()
    _, plain = run_file(scene, plain_model)
    events, asking = run_file(scene, asking_model, questions=[(2.0, "what now?"), (6.0, "and now?")])
    for a, b in [(plain.state.summary, asking.state.summary), (plain.state.pending, asking.state.pending)]:
        assert torch.equal(a, b)
    assert plain.state.samples_seen == asking.state.samples_seen == scene.size
    assert plain_model.listen_calls == asking_model.listen_calls
    # Each question is answered on the state at the first hop after its time.
    assert [s for q, s in asking_model.asked] == [int(2.56 * RATE), int(6.4 * RATE)]
    answers = of(events, ev.QuestionAnswered)
    assert [a.asked_at for a in answers] == pytest.approx([2.56, 6.4])
    assert "tone" in answers[0].text and "quiet" in answers[1].text


def test_listening_goes_on_while_an_answer_is_decoded():
    model = StubModel(token_delay=0.1)  # an answer of ~7 words takes ~0.7 s
    events: list[ev.Event] = []
    engine = Engine(model, FileSource(tone(30.0), name="t"), events.append)
    engine.start()
    time.sleep(0.3)
    engine.ask("what is it?")
    deadline = time.monotonic() + 5
    while not of(events, ev.QuestionAnswered) and time.monotonic() < deadline:
        time.sleep(0.05)
    engine.stop()
    asked, answered = of(events, ev.QuestionAsked)[0], of(events, ev.QuestionAnswered)[0]
    assert answered.wall_time - asked.wall_time > 0.5
    heard_meanwhile = [e for e in of(events, ev.LevelSampled) if asked.wall_time < e.wall_time < answered.wall_time]
    assert len(heard_meanwhile) >= 4  # the meter kept moving: audio kept being taken in
    assert answered.stream_time - asked.stream_time > 0.4


def test_a_question_preempts_a_description_in_progress():
    model = StubModel(token_delay=0.4)  # a description of 5 words takes 2 s
    events: list[ev.Event] = []
    engine = Engine(model, FileSource(tone(20.0), name="t"), events.append,
                    config=EngineConfig(describe_every=1.0))
    engine.start()
    deadline = time.monotonic() + 5
    while engine.state.samples_seen < 1.28 * RATE and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.3)  # a description is now under way
    engine.ask("what is it?")
    while not of(events, ev.QuestionAnswered) and time.monotonic() < deadline + 5:
        time.sleep(0.05)
    engine.stop()
    answer = of(events, ev.QuestionAnswered)[0]
    # Pre-empted at its next token: about 0.4 s + 0.4 s for the first answer token, where waiting
    # for the description would take ~2.1 s.
    assert answer.time_to_first_token < 1.3


def test_feed_judges_wording_changes_as_the_same_line():
    assert similarity("a dog barks", "a dog is barking") >= 0.8
    assert similarity("speech and music", "music and speech") == 1.0
    assert similarity("a dog barks", "a dog barks, then a door slams") < 0.8
    assert similarity("a man speaks", "a woman speaks") < 0.8
    feed = Feed()
    assert feed.judge("a dog barks", 1.0) == (True, 1.0)
    assert feed.judge("a dog is barking", 3.0) == (False, 1.0)
    assert feed.judge("a door slams", 5.0) == (True, 5.0)
    assert feed.judge("a dog barks", 7.0) == (True, 7.0)


def test_a_steady_scene_gives_one_line_that_grows():
    events, _ = run_file(tone(12.0))
    said = of(events, ev.SceneDescribed)
    assert len(said) >= 5 and sum(d.is_new for d in said) == 1
    assert all(d.since == said[0].stream_time for d in said)


class Inventor(StubModel):
    """A model that hears a dog in everything."""

    def describe(self, state, **kw):
        self.described = getattr(self, "described", 0) + 1
        return super()._speak("a dog barks", kw.get("on_token"), 48)


def test_quiet_is_reported_as_quiet_without_asking_the_model():
    rng = np.random.default_rng(0)
    hiss = (rng.standard_normal(8 * RATE) * 10 ** (-70 / 20)).astype(np.float32)  # -70 dBFS
    model = Inventor()
    events, _ = run_file(np.concatenate([hiss, tone(3.0)]), model)
    said = of(events, ev.SceneDescribed)
    quiet = [d for d in said if d.stream_time <= 8.0]
    assert quiet and all(d.text == "quiet" and d.quiet for d in quiet)
    assert said[-1].text == "a dog barks" and model.described >= 1


def test_levels_are_measured_in_dbfs():
    events, _ = run_file(np.concatenate([silence(2.0), tone(2.0, amp=0.3)]))
    levels = of(events, ev.LevelMeasured)
    assert [round(e.stream_time, 1) for e in levels] == [1.0, 2.0, 3.0, 4.0]
    assert levels[0].rms_db < -100
    assert levels[-1].rms_db == pytest.approx(20 * np.log10(0.3 / np.sqrt(2)), abs=0.2)
    assert levels[-1].peak_db == pytest.approx(20 * np.log10(0.3), abs=0.2)


def test_pause_stops_listening_and_resume_starts_it_again():
    model = StubModel()
    events: list[ev.Event] = []
    engine = Engine(model, FileSource(tone(30.0), name="t"), events.append)
    engine.start()
    time.sleep(1.5)
    engine.pause()
    time.sleep(0.1)
    heard, calls = engine.stream_time, model.listen_calls
    time.sleep(1.5)
    assert engine.stream_time == heard and model.listen_calls == calls
    engine.resume()
    time.sleep(1.5)
    engine.stop()
    assert engine.stream_time > heard + 1.0 and model.listen_calls > calls
    kinds = [type(e) for e in events if isinstance(e, (ev.ListeningPaused, ev.ListeningResumed))]
    assert kinds == [ev.ListeningPaused, ev.ListeningResumed]


def test_device_loss_is_shown_and_the_session_goes_on(tmp_path, monkeypatch):
    monkeypatch.setattr(MicrophoneSource, "RETRY_SECONDS", 0.2)
    backend = FakeBackend()
    session = SessionLog.create(tmp_path, model="stub", checkpoint=None, source="fake")
    events: list[ev.Event] = []
    engine = Engine(StubModel(), MicrophoneSource(None, backend=backend), events.append, session=session)
    engine.start()
    time.sleep(1.0)
    backend.plugged = False
    backend.streams[0].fail()
    time.sleep(0.8)
    lost_at = engine.stream_time
    backend.plugged = True
    time.sleep(2.0)
    engine.stop()
    session.close()
    assert [type(e) for e in events if isinstance(e, (ev.DeviceLost, ev.DeviceRestored))] == \
           [ev.DeviceLost, ev.DeviceRestored]
    assert engine.stream_time > lost_at + 1.0  # heard again after the device came back
    assert engine.failure is None and of(events, ev.SessionEnded)
    logged = [json.loads(line)["type"] for line in (session.folder / "events.jsonl").read_text().splitlines()]
    assert "device_lost" in logged and "device_restored" in logged


class Broken(StubModel):
    def listen(self, audio, state):
        if state.samples_seen > 2 * RATE:
            raise RuntimeError("the model broke")
        return super().listen(audio, state)


def test_a_model_failure_is_reported_as_an_event_not_raised(tmp_path):
    session = SessionLog.create(tmp_path, model="stub", checkpoint=None, source="t")
    events: list[ev.Event] = []
    engine = Engine(Broken(), FileSource(tone(10.0), name="t", realtime=False), events.append, session=session)
    engine.start()
    assert engine.stopped.wait(10)
    session.close()
    errors = [e for e in of(events, ev.WarningRaised) if e.severity == "error"]
    assert errors and "the model broke" in errors[0].message
    assert isinstance(events[-1], ev.SessionEnded)
    assert "RuntimeError: the model broke" in (session.folder / "errors.log").read_text()


def test_a_question_for_a_later_time_is_asked_at_once_when_the_recording_has_ended():
    events: list[ev.Event] = []
    engine = Engine(StubModel(), FileSource(tone(3.0), name="t", realtime=False), events.append, config=FAST)
    engine.start()
    assert engine.ended.wait(10)
    engine.ask("what was it?", at=99.0)
    deadline = time.monotonic() + 5
    while not of(events, ev.QuestionAnswered) and time.monotonic() < deadline:
        time.sleep(0.02)
    engine.stop()
    (answer,) = of(events, ev.QuestionAnswered)
    assert answer.asked_at == pytest.approx(3.0) and "tone" in answer.text


def test_what_happened_over_minutes_is_said_from_the_feeds_descriptions_not_asked_of_the_model():
    scene = np.concatenate([tone(6.0), silence(30.0), tone(6.0, hz=1000), silence(4.0)])
    model = StubModel()
    events, _ = run_file(scene, model, questions=[(45.0, "what happened in the last minute?"),
                                                  (45.0, "what did you hear in the last ten seconds?")])
    answers = {a.question: a for a in of(events, ev.QuestionAnswered)}
    said = [d for d in of(events, ev.SceneDescribed) if d.stream_time <= answers["what happened in the last minute?"]
            .asked_at]
    named = list(dict.fromkeys(d.text for d in said if not d.quiet))  # the tones, each once, in order
    assert named == ["a tone near 400 Hz", "a tone near 1000 Hz"]
    assert answers["what happened in the last minute?"].text == ", ".join(named)
    # a span the state itself hears (ten seconds) is asked of the model, as before
    assert [q for q, _ in model.asked] == ["what did you hear in the last ten seconds?"]


def test_a_resumed_session_recaps_from_the_descriptions_it_logged_before(tmp_path):
    from live.history import said_before

    session = SessionLog.create(tmp_path, model="stub", checkpoint="-", source="test", record_audio=False)
    run_file(np.concatenate([tone(4.0), silence(6.0)]), session=session)
    session.close()
    said = said_before(session.folder)
    assert said and [t for t, _ in said] == sorted(t for t, _ in said)
    assert any("tone" in text for _, text in said)
    events: list[ev.Event] = []
    model = StubModel()
    state = model.new_state()
    state.samples_seen = 10 * RATE  # the stream goes on where it stopped
    engine = Engine(model, FileSource(silence(3.0), name="test", realtime=False), events.append, config=FAST,
                    state=state, said=said)
    engine.start()
    engine.ask("what did I miss while I was away?")
    assert engine.ended.wait(30)
    engine.stop()
    assert of(events, ev.QuestionAnswered)[0].text == "a tone near 400 Hz"


class Barker(StubModel):
    """Describes a tone as a dog."""

    def describe(self, state, **kw):
        return super()._speak("dog" if "tone" in self.heard(state) else "quiet", kw.get("on_token"), 48)


def test_how_many_times_a_sound_came_is_counted_from_the_feed_over_the_session():
    scene = np.concatenate([tone(3.0), silence(20.0), tone(3.0), silence(20.0), tone(3.0), silence(3.0)])
    model = Barker()
    events, _ = run_file(scene, model, questions=[(51.0, "how many times did the dog bark?"),
                                                  (51.0, "how many cats did you hear?")])
    answers = {a.question: a.text for a in of(events, ev.QuestionAnswered)}
    assert answers == {"how many times did the dog bark?": "3", "how many cats did you hear?": "0"}
    assert model.asked == []  # neither was asked of the model


def test_whether_it_is_quiet_or_anything_sounded_is_said_from_the_feed():
    scene = np.concatenate([tone(4.0), silence(26.0)])  # a tone, then quiet for 26 s
    model = Barker()
    events, _ = run_file(scene, model, questions=[(28.0, "is it quiet in here?"), (28.0, "any noise?"),
                                                  (28.0, "has it been silent the whole time?"),
                                                  (28.0, "did anything make a sound while I was out?")])
    answers = {a.question: a.text for a in of(events, ev.QuestionAnswered)}
    assert answers == {"is it quiet in here?": "yes", "any noise?": "no", "has it been silent the whole time?": "no",
                       "did anything make a sound while I was out?": "yes"}
    assert model.asked == []  # none was asked of the model
