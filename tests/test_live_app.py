"""The Textual app, driven headless with run_test and a Pilot, on a replayed file and the stub model."""
from __future__ import annotations

import asyncio
import os
import sys
import time

import numpy as np
import pytest

from live.app import SamLiveApp, c_stderr_to
from live.capture import FileSource
from live.engine import Engine, EngineConfig
from live.session import SessionLog
from live.widgets import AnswersView, FeedLine, FeedView, LevelMeter, QuestionBlock, StatusLine
from test_live_stubmodel import StubModel, StubState, silence, tone


def make_app(tmp_path, seconds=20.0, **config):
    audio = np.concatenate([silence(1.0), tone(seconds - 1.0)])
    session = SessionLog.create(tmp_path, model="stub", checkpoint=None, source="scene")
    model = StubModel()
    engine = Engine(model, FileSource(audio, name="scene.wav"), session=session,
                    config=EngineConfig(describe_every=1.0, **config))
    app = SamLiveApp(engine, model_name="stub", source_name="scene.wav", log_folder=str(session.folder))
    return app, engine, model, session


async def wait_for(pilot, condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await pilot.pause(0.05)


def run(coro):
    """Run an async test body (pytest-asyncio is not a dependency)."""
    return asyncio.run(coro)


def test_descriptions_appear_and_a_typed_question_gets_its_answer(tmp_path):
    async def go():
        app, engine, model, session = make_app(tmp_path)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: any("tone" in line.text for line in app.query(FeedLine)))
            assert app.query_one(LevelMeter).level_db > -30  # the meter shows the tone
            await pilot.click("#ask")
            await pilot.press(*"what is it?", "enter")
            await wait_for(pilot, lambda: app.query(QuestionBlock) and app.query_one(QuestionBlock).has_class("done"))
            block = app.query_one(QuestionBlock)
            assert "what is it?" in str(block.question.render())
            assert "I hear a tone near 400 Hz" in str(block.answer.render())
            assert model.asked and model.asked[0][0] == "what is it?"
            await pilot.press("ctrl+q")
            await wait_for(pilot, lambda: engine.stopped.is_set())
        session.close()

    run(go())


def test_pause_stops_listening_and_quit_writes_the_state(tmp_path):
    async def go():
        app, engine, model, session = make_app(tmp_path)
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: engine.stream_time > 1.5)
            await pilot.press("ctrl+p")
            await wait_for(pilot, lambda: app.query_one(StatusLine).listening == "paused")
            await pilot.pause(0.2)
            heard, calls = engine.stream_time, model.listen_calls
            await pilot.pause(1.5)
            assert engine.stream_time == heard and model.listen_calls == calls
            await pilot.press("ctrl+p")
            await wait_for(pilot, lambda: engine.stream_time > heard + 0.5)
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: (session.folder / "snapshots").is_dir())
            await pilot.press("ctrl+q")
            await wait_for(pilot, lambda: engine.stopped.is_set())
            heard = engine.stream_time
        assert app.return_value == 0
        session.close()
        state = StubState.load(session.folder / "state.safetensors")
        assert state.samples_seen == round(heard * 16000)
        assert len(list((session.folder / "snapshots").iterdir())) == 1

    run(go())


@pytest.mark.parametrize("size,side_by_side", [((80, 24), False), ((140, 40), True)])
def test_the_layout_fits_small_terminals_and_uses_wide_ones(tmp_path, size, side_by_side):
    async def go():
        app, engine, _, session = make_app(tmp_path, seconds=5.0)
        async with app.run_test(size=size) as pilot:
            await pilot.pause(0.3)
            feed, answers = app.query_one(FeedView).region, app.query_one(AnswersView).region
            assert feed.height >= 8 and answers.height >= 6 and feed.width >= 40
            assert (feed.y == answers.y) is side_by_side
            assert app.query_one("#ask").region.bottom <= size[1] - 2  # input above status and footer
            await pilot.press("ctrl+q")
            await wait_for(pilot, lambda: engine.stopped.is_set())
        session.close()

    run(go())


def test_an_engine_failure_is_a_notification_not_a_traceback(tmp_path):
    class Broken(StubModel):
        def describe(self, state, **kw):
            raise RuntimeError("decoder exploded")

    async def go():
        session = SessionLog.create(tmp_path, model="stub", checkpoint=None, source="scene")
        engine = Engine(Broken(), FileSource(tone(10.0), name="t"), session=session,
                        config=EngineConfig(describe_every=1.0))
        app = SamLiveApp(engine, model_name="stub", source_name="t", log_folder=str(session.folder))
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: any("decoder exploded" in n.message for n in app._notifications))
            assert engine.failure is None  # listening goes on after a failed description
            await pilot.press("ctrl+q")
            await wait_for(pilot, lambda: engine.stopped.is_set())
        session.close()
        assert "decoder exploded" in (session.folder / "errors.log").read_text()

    run(go())


def test_c_library_noise_goes_to_a_file_while_the_ui_draws_on_the_terminal(tmp_path):
    terminal = tmp_path / "terminal"
    fd = os.open(terminal, os.O_WRONLY | os.O_CREAT)
    saved = os.dup(2)
    os.dup2(fd, 2)
    os.close(fd)
    try:
        with c_stderr_to(tmp_path / "stderr.log"):
            os.write(2, b"Expression 'snd_pcm_poll' failed\n")  # what PortAudio prints on fd 2
            sys.__stderr__.write("the screen\n")  # where Textual draws
            sys.__stderr__.flush()
        os.write(2, b"after\n")
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    assert (tmp_path / "stderr.log").read_text() == "Expression 'snd_pcm_poll' failed\n"
    assert terminal.read_text() == "the screen\nafter\n"


def test_when_listening_fails_the_screen_stays_to_say_so(tmp_path):
    class Broken(StubModel):
        def listen(self, audio, state):
            if state.samples_seen >= 16000:
                raise RuntimeError("listen exploded")
            return super().listen(audio, state)

    async def go():
        session = SessionLog.create(tmp_path, model="stub", checkpoint=None, source="scene")
        engine = Engine(Broken(), FileSource(tone(10.0), name="t"), session=session)
        app = SamLiveApp(engine, model_name="stub", source_name="t", log_folder=str(session.folder))
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: app.query_one(StatusLine).listening == "stopped")
            await pilot.pause(0.3)
            assert app.is_running and engine.failure is not None
            assert any("listen exploded" in n.message for n in app._notifications)
            await pilot.press("ctrl+q")
        assert app.return_value == 1
        session.close()

    run(go())
