"""Watches in the live app on the stub model: alerts with hysteresis, add and remove while listening,
refusals, the session log, --show and --resume, headless stdin lines, the command line and the UI."""
from __future__ import annotations

import io
import json
import time

import numpy as np
import pytest
import soundfile as sf

from live import events as ev
from live.capture import FileSource
from live.cli import main
from live.engine import Engine, EngineConfig
from live.headless import HeadlessRun
from live.history import show_session
from live.session import SessionLog, read_session_meta
from live.watch_bench import HOP_SAMPLES
from live.watches import MAX_WATCHES, PRESETS, WatchConfig
from test_live_engine import of
from test_live_stubmodel import RATE, StubModel, silence, tone

GAP = EngineConfig(wait_for_descriptions=True, watch=WatchConfig(on=0.7, off=0.3, min_gap=2.0))


def start(samples, model=None, config=GAP, watches=("a tone",), session=None, realtime=False):
    """An engine replaying `samples` with `watches`, started; (events, engine)."""
    events: list[ev.Event] = []
    engine = Engine(model or StubModel(), FileSource(samples, name="test", realtime=realtime), events.append,
                    config=config, session=session, watches=list(watches))
    engine.start()
    return events, engine


def finish(engine, timeout=30.0):
    assert engine.ended.wait(timeout)
    engine.stop()


def test_the_hop_matches_the_engine():
    assert HOP_SAMPLES == EngineConfig().hop_samples


def test_one_alert_per_event_with_its_phrase_stream_time_and_confidence():
    scene = np.concatenate([silence(3.0), tone(4.0), silence(6.0), tone(3.0), silence(2.0)])
    events, engine = start(scene, watches=("a tone", "noise"))
    finish(engine)
    alerts = of(events, ev.AlertRaised)
    assert [(a.phrase, a.stream_time) for a in alerts] == [("a tone", pytest.approx(3.84)),
                                                           ("a tone", pytest.approx(14.08))]
    assert all(a.confidence == pytest.approx(0.95) for a in alerts)
    assert [e.phrase for e in of(events, ev.WatchAdded)] == ["a tone", "noise"]
    scored = of(events, ev.WatchesScored)
    assert len(scored) == int(scene.size // HOP_SAMPLES) and scored[3].scores[0][:2] == ("a tone", pytest.approx(0.95))
    assert engine.watch_busy > 0


def test_a_second_rise_within_the_minimum_gap_is_not_a_second_alert():
    scene = np.concatenate([silence(3.0), tone(4.0), silence(2.0), tone(3.0), silence(2.0)])
    config = EngineConfig(wait_for_descriptions=True, watch=WatchConfig(on=0.7, off=0.3, min_gap=20.0))
    events, engine = start(scene, config=config)
    finish(engine)
    assert len(of(events, ev.AlertRaised)) == 1


def test_watches_are_added_and_removed_while_listening_and_the_model_asked_only_what_is_watched():
    model = StubModel()
    scene = np.concatenate([silence(2.0), tone(3.0), silence(5.0), tone(3.0), silence(3.0)])
    events, engine = start(scene, model=model, watches=())
    assert engine.watch("  A tone?! ", at=1.5) == "A tone"
    engine.unwatch("a TONE", at=8.0)
    finish(engine)
    assert [a.stream_time for a in of(events, ev.AlertRaised)] == [pytest.approx(2.56)]
    added, removed = of(events, ev.WatchAdded), of(events, ev.WatchRemoved)
    assert added[0].stream_time == pytest.approx(2.56) and removed[0].stream_time == pytest.approx(8.96)
    watched = [(qs, n / RATE) for qs, n in model.scored]
    assert watched and all(qs == ["Did you just hear A tone?"] and 2.5 < t < 9.0 for qs, t in watched)
    assert engine.watches == []


def test_a_watch_added_from_another_thread_while_listening_in_real_time():
    model = StubModel()
    events, engine = start(tone(4.0), model=model, watches=(), realtime=True)
    time.sleep(1.5)
    engine.watch("a tone")
    finish(engine)
    assert len(of(events, ev.AlertRaised)) == 1 and model.scored[0][1] > 0


def test_bad_watches_are_refused_with_a_message_the_user_can_act_on():
    # replayed in real time, so that stream time 2.0 is still to come when the watch for it is typed
    events, engine = start(silence(3.0), watches=(), realtime=True)
    with pytest.raises(ValueError, match="empty"):
        engine.watch("   ")
    with pytest.raises(ValueError, match="2,001 characters"):
        engine.watch("x" * 2001)
    with pytest.raises(ValueError, match="not a stream time"):
        engine.watch("a tone", at=float("nan"))
    with pytest.raises(ValueError, match="not watching for 'a cat' \\(watching for nothing\\)"):
        engine.unwatch("a cat")
    for i in range(MAX_WATCHES):
        engine.watch(f"sound {i}")
    with pytest.raises(ValueError, match="16 watches already"):
        engine.watch("one more")
    engine.watch("sound 0", at=2.0)  # checked when its time comes: a warning then
    finish(engine)
    assert any("/watch refused: already watching for 'sound 0'" in w.message for w in of(events, ev.WarningRaised))


def test_a_model_that_cannot_watch_says_so_and_one_that_fails_stops_watching_only():
    class NoWatch(StubModel):
        confidence = None

    with pytest.raises(ValueError, match="cannot score yes/no questions"):
        Engine(NoWatch(), FileSource(silence(1.0), name="t"), watches=["a tone"])

    class Broken(StubModel):
        def confidence(self, state, questions):
            raise RuntimeError("no scores today")

    events, engine = start(tone(4.0), model=Broken())
    finish(engine)
    (warning,) = [w for w in of(events, ev.WarningRaised) if "watching stopped" in w.message]
    assert "no scores today" in warning.message and engine.failure is None
    assert engine.state.samples_seen == 4 * RATE  # listening went on


def test_alerts_are_logged_watches_kept_in_the_session_and_resumed(tmp_path):
    session = SessionLog.create(tmp_path, model="stub", checkpoint=None, source="t")
    events, engine = start(np.concatenate([silence(2.0), tone(3.0)]), session=session, watches=("a tone",))
    engine.watch("noise")
    finish(engine)
    session.close()
    assert read_session_meta(session.folder)["watches"] == ["a tone", "noise"]
    logged = [json.loads(line) for line in (session.folder / "events.jsonl").read_text().splitlines()]
    (alert,) = [e for e in logged if e["type"] == "alert"]
    assert alert["phrase"] == "a tone" and alert["stream_time"] == pytest.approx(2.56) and alert["confidence"] == 0.95
    assert not [e for e in logged if e["type"] == "watches"]  # the per-hop scores are for the screen only
    text = show_session(session.folder)
    assert "watching for: a tone" in text and "ALERT a tone  (confidence 0.95)" in text
    assert "alerts (1):" in text.split("ALERT")[-1]


def test_the_command_line_watches_and_resume_keeps_the_watches(tmp_path, capsys, monkeypatch):
    wav = tmp_path / "a.wav"
    sf.write(wav, np.concatenate([silence(2.0), tone(3.0)]), RATE)
    log = tmp_path / "log"
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    argv = ["--input", str(wav), "--fast", "--headless", "--checkpoint", str(tmp_path), "--log-dir", str(log)]
    assert main([*argv, "--watch", "a tone", "--watch", "A Tone", "--watch-threshold", "0.9"],
                load=lambda p: StubModel()) == 0
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [e["phrase"] for e in out if e["type"] == "watch_added"] == ["a tone"]
    assert [e["stream_time"] for e in out if e["type"] == "alert"] == [pytest.approx(2.56)]
    (folder,) = log.iterdir()
    assert main(["--resume", folder.name, *argv, "--watch-preset", "safety"], load=lambda p: StubModel()) == 0
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    resumed = [e["phrase"] for e in out if e["type"] == "watch_added"]
    assert resumed == ["a tone"] + [p.phrase for p in PRESETS["safety"]]
    (alert,) = [e for e in out if e["type"] == "alert"]  # a new run: the tone it goes on hearing is alerted again
    assert alert["phrase"] == "a tone" and alert["stream_time"] > 5.0
    assert main(["--show", folder.name, "--log-dir", str(log)]) == 0
    assert "alerts (2):" in capsys.readouterr().out


@pytest.mark.parametrize("argv,message", [(["--watch-threshold", "0.3", "--watch-release", "0.5"], "off <= on"),
                                          (["--watch-gap", "-1"], ">= 0 s"),
                                          (["--watch-preset", "kitchen"], "invalid choice")])
def test_bad_watch_options_are_refused(argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2 and message in capsys.readouterr().err


def test_too_many_watches_or_a_model_without_them_stop_before_a_session_is_made(tmp_path, capsys, monkeypatch):
    class NoWatch(StubModel):
        confidence = None

    wav = tmp_path / "a.wav"
    sf.write(wav, silence(1.0), RATE)
    argv = ["--input", str(wav), "--fast", "--headless", "--checkpoint", str(tmp_path),
            "--log-dir", str(tmp_path / "log")]
    many = [x for i in range(MAX_WATCHES - 3) for x in ("--watch", f"s{i}")]
    assert main([*argv, "--watch-preset", "safety", *many], load=lambda p: StubModel()) == 2
    assert "more than the 16" in capsys.readouterr().err
    assert main([*argv, "--watch", "a tone"], load=lambda p: NoWatch()) == 2
    assert "cannot watch" in capsys.readouterr().err
    assert not (tmp_path / "log").exists()


def test_headless_stdin_lines_watch_unwatch_and_say_what_they_refuse():
    scene = np.concatenate([silence(2.0), tone(3.0), silence(4.0), tone(3.0)])
    engine = Engine(StubModel(), FileSource(scene, name="t", realtime=False), config=GAP)
    lines = b"/watch a tone\n@8 /unwatch a tone\n/unwatch a cat\n/wach a dog\n/watch\n@3 what is it?\n@x /watch y\n"
    out = io.StringIO()
    assert HeadlessRun(engine, out=out, questions=io.BytesIO(lines)).run() == 0
    printed = [json.loads(line) for line in out.getvalue().splitlines()]
    kinds = [e["type"] for e in printed]
    assert "watch_added" in kinds and "watch_removed" in kinds and "answer" in kinds
    (alert,) = [e for e in printed if e["type"] == "alert"]
    assert alert["phrase"] == "a tone" and 2.0 <= alert["stream_time"] <= 3.84
    removed = next(e for e in printed if e["type"] == "watch_removed")
    assert removed["stream_time"] >= 8.0
    warnings = [e["message"] for e in printed if e["type"] == "warning"]
    assert any(w.startswith("/unwatch refused: not watching for 'a cat'") for w in warnings)
    assert any(w.startswith("command refused: unknown command /wach") for w in warnings)
    assert any(w.startswith("/watch refused: the phrase to watch for is empty") for w in warnings)
    assert any(w.startswith("question refused: '@x /watch y'") for w in warnings)


# --- the app ---------------------------------------------------------------------------------------

def test_the_app_watches_typed_phrases_alerts_loudly_and_lists_and_drops_watches(tmp_path):
    from live.app import SamLiveApp
    from live.widgets import AlertLine, WatchesView
    from test_live_app import run, wait_for

    scene = np.concatenate([silence(3.0), tone(3.0), silence(40.0)])
    session = SessionLog.create(tmp_path, model="stub", checkpoint=None, source="scene")
    engine = Engine(StubModel(), FileSource(scene, name="scene.wav"), session=session,
                    config=EngineConfig(describe_every=1.0, watch=WatchConfig(on=0.7, off=0.3, min_gap=2.0)))
    sent: list[tuple[str, str]] = []
    app = SamLiveApp(engine, model_name="stub", source_name="scene.wav", log_folder=str(session.folder),
                     notify_desktop=lambda title, body: sent.append((title, body)))
    bells = []
    app.bell = lambda: bells.append(1)

    async def go():
        async with app.run_test(size=(100, 30)) as pilot:
            panel = app.query_one(WatchesView)
            assert not panel.display  # no watches, no panel
            await pilot.press("ctrl+n")
            assert app.query_one("#ask").value == "/watch "
            await pilot.press(*"a tone", "enter")
            await wait_for(pilot, lambda: panel.phrases == ["a tone"] and panel.display)
            await pilot.click("#ask")
            await pilot.press(*"tell me when there is noise", "enter")
            await wait_for(pilot, lambda: panel.phrases == ["a tone", "there is noise"])
            await wait_for(pilot, lambda: app.query(AlertLine), timeout=15)
            assert app.query_one(AlertLine).phrase == "a tone" and bells
            await wait_for(pilot, lambda: sent)
            assert sent[0][0] == "SAM Live heard: a tone" and "95%" in sent[0][1]
            assert "a tone" in str(panel.render()) and "last 0:0" in str(panel.render())
            await pilot.press(*"/watch a tone", "enter")  # already watched: told, nothing changes
            await pilot.press(*"/unwatch a tone", "enter")
            await wait_for(pilot, lambda: panel.phrases == ["there is noise"])
            assert engine.watches == ["there is noise"]
            await pilot.press("ctrl+q")
            await wait_for(pilot, lambda: engine.stopped.is_set())
        session.close()

    run(go())
    logged = [json.loads(line)["type"] for line in (session.folder / "events.jsonl").read_text().splitlines()]
    assert logged.count("alert") == 1 and logged.count("watch_added") == 2 and logged.count("watch_removed") == 1


def test_a_failing_desktop_notification_is_said_once_and_the_alerts_go_on(tmp_path):
    from live.app import SamLiveApp
    from live.widgets import AlertLine
    from test_live_app import run, wait_for

    scene = np.concatenate([silence(2.0), tone(2.0), silence(3.0), tone(2.0), silence(30.0)])
    engine = Engine(StubModel(), FileSource(scene, name="scene.wav"), watches=["a tone"],
                    config=EngineConfig(describe_every=1.0, watch=WatchConfig(on=0.7, off=0.3, min_gap=2.0)))
    calls = []

    def broken(title, body):
        calls.append(title)
        raise RuntimeError("notify-send failed: no bus")

    app = SamLiveApp(engine, model_name="stub", source_name="scene.wav", log_folder=None, notify_desktop=broken)

    async def go():
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: len(app.query(AlertLine)) == 2, timeout=20)
            await wait_for(pilot, lambda: app.notify_desktop is None)
            assert len(calls) == 1
            await pilot.press("ctrl+q")
            await wait_for(pilot, lambda: engine.stopped.is_set())

    run(go())


def test_desktop_notifications_only_where_there_is_a_desktop(monkeypatch):
    from live import alerts

    monkeypatch.setattr(alerts.shutil, "which", lambda name: None)
    assert alerts.desktop_notifier() is None
    monkeypatch.setattr(alerts.shutil, "which", lambda name: "/bin/false")
    for v in alerts.DESKTOP_VARIABLES:
        monkeypatch.delenv(v, raising=False)
    assert alerts.desktop_notifier() is None
    monkeypatch.setenv("DISPLAY", ":0")
    send = alerts.desktop_notifier()
    with pytest.raises(RuntimeError, match="notify-send failed"):
        send("title", "body")  # /bin/false stands in for a notify-send that fails
