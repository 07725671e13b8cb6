"""Session logs: what a session leaves behind, resuming it, listing it, and surviving kill -9."""
from __future__ import annotations

import dataclasses
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from unittest import mock

import numpy as np
import soundfile as sf

from live import events as ev
from live.capture import FileSource
from live.cli import main
from live.engine import Engine, EngineConfig
from live.history import list_sessions, read_events, show_session
from live.session import SessionLog
from live.wavlog import SegmentWriter, read_segments, recorded_samples, segments
from test_live_stubmodel import RATE, StubModel, StubState, silence, tone

TESTS = str(Path(__file__).resolve().parent)
# `sam-live` with the stub model in place of a checkpoint, for tests that need a real process.
STUB_SAM_LIVE = [sys.executable, "-c",
                 f"import sys; sys.path.insert(0, {TESTS!r}); from test_live_stubmodel import StubModel; "
                 "from live.cli import main; sys.exit(main(sys.argv[1:], load=lambda p: StubModel()))"]


def scene(seconds: float) -> np.ndarray:
    """Alternating tones and silence, 2 s each."""
    parts = [tone(1.0, hz=300 + 100 * i) if i % 2 == 0 else silence(1.0) for i in range(int(seconds))]
    return np.concatenate(parts)


def stub_main(argv) -> int:
    """`sam-live` in this process, with the stub model and no questions on stdin."""
    with mock.patch("sys.stdin", io.StringIO("")):
        return main(argv, load=lambda path: StubModel())


def test_segments_stay_readable_when_a_write_is_cut_short(tmp_path):
    w = SegmentWriter(tmp_path, segment_seconds=1.0)
    w.write(np.full(int(1.5 * RATE), 0.25, np.float32))
    # A kill between writing samples and updating the header leaves extra bytes after the data.
    os.pwrite(w._fd, b"\x01\x02" * 700, 44 + w._samples * 2)
    names = [p.name for p in segments(tmp_path)]
    assert names == ["000000.wav", "000001.wav"]
    data, rate = sf.read(str(tmp_path / "000001.wav"), dtype="float32")
    assert rate == RATE and data.size == RATE // 2 and np.allclose(data, 0.25, atol=1e-4)
    assert recorded_samples(tmp_path) == int(1.5 * RATE)
    assert read_segments(tmp_path, start=RATE - 10).size == RATE // 2 + 10


def test_a_session_folder_holds_events_audio_and_state(tmp_path):
    audio = scene(6.0)
    session = SessionLog.create(tmp_path, model="stub", checkpoint="ck", source="scene")
    events: list[ev.Event] = []
    engine = Engine(StubModel(), FileSource(audio, name="scene", realtime=False), events.append,
                    config=EngineConfig(wait_for_descriptions=True), session=session)
    engine.start()
    assert engine.ended.wait(10)
    engine.stop()
    session.close()
    logged = list(read_events(session.folder))
    assert [e["type"] for e in logged] == [e.type for e in events if e.logged]
    assert all({"type", "stream_time", "wall_time"} <= set(e) for e in logged)
    heard = read_segments(session.folder / "audio")
    assert heard.size == audio.size and np.abs(heard - audio).max() < 1e-4  # what the model heard
    state = StubState.load(session.folder / "state.safetensors")
    assert state.samples_seen == audio.size
    meta = json.loads((session.folder / "session.json").read_text())
    assert meta["model"] == "stub" and meta["runs"][0]["source"] == "scene"


def test_resume_continues_the_session_where_it_stopped(tmp_path, capsys):
    first, second = tmp_path / "a.wav", tmp_path / "b.wav"
    sf.write(first, scene(4.0), RATE)
    sf.write(second, scene(3.0), RATE)
    common = ["--headless", "--fast", "--checkpoint", str(tmp_path), "--log-dir", str(tmp_path / "log")]
    assert stub_main(["--input", str(first), *common]) == 0
    (folder,) = (tmp_path / "log").iterdir()
    assert stub_main(["--input", str(second), "--resume", str(folder), *common]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    starts = [x for x in lines if x["type"] == "session_started"]
    assert [s["resumed"] for s in starts] == [False, True] and starts[1]["stream_time"] == 4.0
    assert lines[-1]["type"] == "session_ended" and lines[-1]["stream_time"] == 7.0
    assert StubState.load(folder / "state.safetensors").samples_seen == 7 * RATE
    assert [p.name for p in segments(folder / "audio")] == ["000000.wav", "000001.wav"]
    assert len(json.loads((folder / "session.json").read_text())["runs"]) == 2
    assert list(read_events(folder)) == lines  # stdout and events.jsonl carry the same lines


def test_list_and_show_print_past_sessions(tmp_path, capsys):
    wav = tmp_path / "a.wav"
    sf.write(wav, scene(4.0), RATE)
    log = tmp_path / "log"
    assert stub_main(["--input", str(wav), "--fast", "--headless", "--checkpoint", str(tmp_path),
                      "--log-dir", str(log)]) == 0
    capsys.readouterr()
    (folder,) = log.iterdir()
    table = list_sessions(log)
    assert folder.name in table and "0:04.0" in table and "stub" in table
    text = show_session(folder)
    assert "~ a tone near 300 Hz" in text and "session ended" in text and "audio recorded: 0:04.0" in text
    assert stub_main(["--show", folder.name, "--log-dir", str(log)]) == 0
    assert capsys.readouterr().out.strip() == text
    assert stub_main(["--list-sessions", "--log-dir", str(log)]) == 0
    assert folder.name in capsys.readouterr().out
    assert stub_main(["--show", "nope", "--log-dir", str(log)]) == 2
    assert "no such session" in capsys.readouterr().err


def test_kill_9_loses_at_most_two_seconds_and_leaves_every_file_readable(tmp_path, capsys):
    wav = tmp_path / "long.wav"
    audio = scene(30.0)
    sf.write(wav, audio, RATE)
    log = tmp_path / "log"
    proc = subprocess.Popen([*STUB_SAM_LIVE, "--headless", "--input", str(wav), "--checkpoint", str(tmp_path),
                             "--log-dir", str(log)], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, text=True)
    printed, started = [], None
    deadline = time.monotonic() + 60
    for line in proc.stdout:
        printed.append(json.loads(line))
        if printed[-1]["type"] == "session_started":
            started = printed[-1]["wall_time"]
        if printed[-1]["stream_time"] >= 4.5 or time.monotonic() > deadline:
            break
    os.kill(proc.pid, signal.SIGKILL)
    killed = time.time()
    proc.wait(10)
    printed += [json.loads(x) for x in proc.stdout.read().splitlines()]  # lines already in the pipe
    assert started is not None and printed[-1]["stream_time"] >= 4.5
    heard_by_then = killed - started  # a real-time replay: stream time follows the wall clock

    (folder,) = log.iterdir()
    raw = (folder / "events.jsonl").read_text().splitlines()
    logged = [json.loads(x) for x in raw]  # every line parses: none was cut in half
    assert all(p in logged for p in printed)  # anything shown was already in the log
    last_level = max(e["stream_time"] for e in logged if e["type"] == "level")
    assert last_level >= heard_by_then - 2.0
    recorded = read_segments(folder / "audio")
    assert recorded.size / RATE >= heard_by_then - 2.0
    assert np.abs(recorded - audio[:recorded.size]).max() < 1e-4
    assert json.loads((folder / "session.json").read_text())["model"] == "stub"

    # The killed session can be shown and resumed: the unsaved state is rebuilt from its audio.
    assert "not saved" in show_session(folder)
    short = tmp_path / "short.wav"
    sf.write(short, scene(2.0), RATE)
    assert stub_main(["--resume", str(folder), "--input", str(short), "--fast", "--headless",
                      "--checkpoint", str(tmp_path), "--log-dir", str(log)]) == 0
    out = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert out[0]["type"] == "session_started" and out[0]["resumed"] is True
    assert out[1]["type"] == "warning" and "re-heard" in out[1]["message"]
    assert StubState.load(folder / "state.safetensors").samples_seen == recorded.size + 2 * RATE


def test_resuming_with_a_model_of_another_shape_is_refused_before_touching_the_session(tmp_path, capsys):
    from model.checkpoint import save_sam
    from model.config import SAMConfig
    from model.sam import SAM
    from model.tokenizer import Tokenizer

    wav = tmp_path / "a.wav"
    sf.write(wav, scene(3.0), RATE)
    tok = Tokenizer.train(["a dog barks", "quiet", "what do you hear?"] * 30, vocab_size=290)
    small, other = tmp_path / "tiny", tmp_path / "tiny-wide"
    save_sam(SAM(SAMConfig.from_name("sam-tiny"), tok).eval(), small)
    cfg = SAMConfig.from_name("sam-tiny")
    save_sam(SAM(cfg.replace(lm=dataclasses.replace(cfg.lm, n_layer=cfg.lm.n_layer + 1)), tok).eval(), other)
    log = tmp_path / "log"
    assert main(["--input", str(wav), "--fast", "--headless", "--checkpoint", str(small), "--log-dir", str(log)]) == 0
    (folder,) = log.iterdir()
    meta = (folder / "session.json").read_text()
    assert json.loads(meta)["checkpoint"] == str(small.resolve())
    capsys.readouterr()
    assert main(["--resume", str(folder), "--input", str(wav), "--fast", "--headless",
                 "--checkpoint", str(other), "--log-dir", str(log)]) == 2
    assert "state.safetensors" in capsys.readouterr().err
    assert (folder / "session.json").read_text() == meta  # no run was added
