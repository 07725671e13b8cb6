"""Session folders under a full disk, planted links, damaged logs and states, and resumes of resumes."""
from __future__ import annotations

import errno
import json
import os
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from safetensors.torch import save_file

from live import events as ev
from live.capture import FileSource
from live.engine import Engine, EngineConfig
from live.events import Damage, parse_line
from live.history import ResumeWarning, list_sessions, read_events, resume_state, show_session
from live.session import SessionLog, SessionWriteError
from live.wavlog import SegmentWriter, read_segments, segments
from model.encoder import EncoderCache
from model.files import write_bytes_atomic
from model.state import MambaState
from model.stream import StreamState
from test_live_session import scene, stub_main
from test_live_stubmodel import RATE, StubModel, StubState, tone


class FullDisk:
    """Files under `root` share `free` bytes: a write past them is cut short, the next fails with ENOSPC."""

    def __init__(self, root: Path, free: int, monkeypatch: pytest.MonkeyPatch):
        self.root, self.free = str(root), free
        self._lock = threading.Lock()
        real_write, real_pwrite = os.write, os.pwrite

        def write(fd, data):
            if not self._ours(fd):
                return real_write(fd, data)
            return real_write(fd, bytes(data[:self._take(len(data), len(data))]))

        def pwrite(fd, data, offset):
            if not self._ours(fd):
                return real_pwrite(fd, data, offset)
            grow = max(0, offset + len(data) - os.fstat(fd).st_size)  # rewriting a header needs no space
            return real_pwrite(fd, bytes(data[:self._take(len(data), grow)]), offset)

        monkeypatch.setattr(os, "write", write)
        monkeypatch.setattr(os, "pwrite", pwrite)

    def _ours(self, fd: int) -> bool:
        try:
            return os.readlink(f"/proc/self/fd/{fd}").startswith(self.root)
        except OSError:
            return False

    def _take(self, size: int, grow: int) -> int:
        """Bytes of a `size`-byte write that fit when `grow` of them need new space."""
        with self._lock:
            room = min(grow, self.free)
            if size and room < grow and size - (grow - room) <= 0:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            self.free -= room
            return size - (grow - room)


def failing_truncate(fd: int, size: int) -> None:
    raise OSError(errno.EIO, os.strerror(errno.EIO))


def event(t: float, text: str = "a dog barks") -> ev.SceneDescribed:
    return ev.SceneDescribed(stream_time=t, text=text)


def stream_state(samples_seen: int = 1600, ssm: float = 0.0) -> StreamState:
    """A small real StreamState (the shapes of no particular config)."""
    lm = MambaState(torch.zeros(2, 1, 6, 4), torch.full((2, 1, 2, 3, 4), ssm))
    cache = EncoderCache(torch.zeros(1, 1, 2, 3, 4), torch.zeros(1, 1, 2, 3, 4))
    return StreamState(lm, cache, torch.zeros(1, 5), torch.zeros(1, 8), samples_seen)


class StreamModel:
    """Just enough of a model for `resume_state` to load a StreamState."""

    name = "stream"

    def new_state(self) -> StreamState:
        return stream_state(0)


def lines_of(path: Path) -> list[dict]:
    """Every line of an events.jsonl, parsed: a cut or glued line fails here."""
    return [json.loads(x) for x in path.read_bytes().decode("utf-8").splitlines()]


# --- a full disk ---------------------------------------------------------------------------------

def test_a_line_cut_by_a_full_disk_is_removed_and_writing_goes_on_when_space_returns(tmp_path, monkeypatch):
    session = SessionLog.create(tmp_path, model="stub", checkpoint=None, source="t", record_audio=False)
    path = session.folder / "events.jsonl"
    session.write_event(event(1.0))
    disk = FullDisk(tmp_path, 30, monkeypatch)  # room for part of a line only
    with pytest.raises(SessionWriteError, match="events.jsonl.*No space left"):
        session.write_event(event(2.0))
    with pytest.raises(SessionWriteError, match="2 event"):
        session.write_event(event(3.0))
    assert [e["stream_time"] for e in lines_of(path)] == [1.0]  # the part written was cut off again
    disk.free = 10 ** 6
    session.write_event(event(4.0))
    assert [e["stream_time"] for e in lines_of(path)] == [1.0, 4.0] and session.events_dropped == 2

    # When even cutting it off fails, the part stays on a line of its own and the next event starts a new one.
    disk.free = 30
    monkeypatch.setattr(os, "ftruncate", failing_truncate)
    with pytest.raises(SessionWriteError):
        session.write_event(event(5.0))
    disk.free = 10 ** 6
    session.write_event(event(6.0))
    session.close()
    damage = Damage()
    assert [e["stream_time"] for e in read_events(session.folder, damage)] == [1.0, 4.0, 6.0]
    assert damage.count == 1 and damage.named[0].startswith(f"{path}:3: ")


def test_audio_stops_at_a_full_disk_and_what_was_recorded_stays_readable(tmp_path, monkeypatch):
    session = SessionLog.create(tmp_path, model="stub", checkpoint=None, source="t")
    audio = tone(3.0)
    session.write_audio(audio[:RATE])
    FullDisk(tmp_path, RATE, monkeypatch)  # bytes: half a second more
    with pytest.raises(SessionWriteError, match="000000.wav.*No space left.*no more audio"):
        session.write_audio(audio[RATE:])
    assert not session.records_audio
    with pytest.raises(SessionWriteError, match="no more audio"):  # later samples are refused the same way
        session.write_audio(audio[:10])
    recorded = read_segments(session.folder / "audio")
    assert RATE <= recorded.size < 2 * RATE  # all that fitted, and a header that counts no more
    assert np.abs(recorded - audio[:recorded.size]).max() < 1e-4
    assert not list((session.folder / "audio").glob("*.tmp"))


def test_a_state_that_cannot_be_saved_leaves_the_last_one_whole(tmp_path, monkeypatch):
    session = SessionLog.create(tmp_path, model="stub", checkpoint=None, source="t", record_audio=False)
    assert session.save_state(stream_state(1600)) == session.state_path
    disk = FullDisk(tmp_path, 100, monkeypatch)
    with pytest.raises(SessionWriteError, match="state.safetensors.*the one saved there before is kept"):
        session.save_state(stream_state(3200))
    assert StreamState.load(session.state_path).samples_seen == 1600
    assert [p.name for p in session.folder.iterdir() if p.name.endswith(".tmp")] == []
    disk.free = 10 ** 6
    with pytest.raises(SessionWriteError, match="NaN or Inf"):  # never saved, and the last finite one kept
        session.save_state(stream_state(4800, ssm=float("nan")))
    assert StreamState.load(session.state_path).samples_seen == 1600
    disk.free = 0
    with pytest.raises(SessionWriteError, match="snapshots/state-.*No space left"):
        session.save_snapshot(stream_state(3200))


def test_listening_goes_on_when_the_disk_fills(tmp_path, monkeypatch):
    audio = scene(8.0)
    session = SessionLog.create(tmp_path, model="stub", checkpoint="ck", source="scene")
    seen: list[ev.Event] = []
    engine = Engine(StubModel(), FileSource(audio, name="scene", realtime=False), seen.append,
                    config=EngineConfig(wait_for_descriptions=True, autosave_every=2.0), session=session)
    FullDisk(tmp_path, 3 * RATE, monkeypatch)  # 1.5 s of audio, with the events and states before it
    engine.start()
    assert engine.ended.wait(10), "the listener stopped at the full disk"
    engine.stop()
    session.close()
    assert isinstance(seen[-1], ev.SessionEnded) and seen[-1].stream_time == 8.0
    assert any(isinstance(e, ev.WarningRaised) and e.severity == "error" for e in seen)
    logged = lines_of(session.folder / "events.jsonl")  # whole lines only
    assert logged and logged == [e.to_json() for e in seen if e.logged][:len(logged)]
    recorded = read_segments(session.folder / "audio")
    assert 0 < recorded.size < audio.size and np.abs(recorded - audio[:recorded.size]).max() < 1e-4


# --- planted links -------------------------------------------------------------------------------

def recorded_session(tmp_path: Path) -> tuple[Path, Path]:
    """A finished 4 s session in tmp_path/log, and its folder."""
    wav = tmp_path / "a.wav"
    sf.write(wav, scene(4.0), RATE)
    log = tmp_path / "log"
    assert stub_main(["--input", str(wav), "--fast", "--headless", "--checkpoint", str(tmp_path),
                      "--log-dir", str(log)]) == 0
    (folder,) = log.iterdir()
    return log, folder


@pytest.mark.parametrize("planted", ["session.json.tmp", "events.jsonl", "audio/000001.tmp", "audio"])
def test_resume_refuses_a_folder_with_a_planted_link_and_its_target_is_untouched(tmp_path, capsys, planted):
    log, folder = recorded_session(tmp_path)
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "000001.tmp").write_text("precious")
    target = victim if planted == "audio" else victim / "000001.tmp"
    link = folder / planted
    if link.exists():
        link.rename(tmp_path / "moved-away")
    link.symlink_to(target)
    capsys.readouterr()
    wav = tmp_path / "a.wav"
    assert stub_main(["--resume", str(folder), "--input", str(wav), "--fast", "--headless",
                      "--checkpoint", str(tmp_path), "--log-dir", str(log)]) == 2
    err = capsys.readouterr().err
    assert f"{link}: a symbolic link" in err and "Traceback" not in err
    assert sorted(p.name for p in victim.iterdir()) == ["000001.tmp"]
    assert (victim / "000001.tmp").read_text() == "precious"
    assert len(json.loads((folder / "session.json").read_text())["runs"]) == 1  # nothing was added


def test_writers_never_follow_a_link_planted_while_they_run(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    audio = tmp_path / "audio"
    audio.mkdir()
    (audio / "000000.tmp").symlink_to(victim)
    writer = SegmentWriter(audio)
    writer.write(tone(0.1))
    writer.close()
    assert [p.name for p in segments(audio)] == ["000000.wav"]
    (tmp_path / "state.tmp").symlink_to(victim)
    write_bytes_atomic(tmp_path / "state", b"new")
    assert (tmp_path / "state").read_bytes() == b"new" and not (tmp_path / "state").is_symlink()
    folder = tmp_path / "session"
    folder.mkdir()
    (folder / "session.json").write_text(json.dumps({"runs": [{"started": "x", "source": "y"}]}))
    (folder / "events.jsonl").symlink_to(victim)
    with pytest.raises(ValueError, match="events.jsonl: a symbolic link"):
        SessionLog(folder, {"runs": []}, record_audio=False)
    os.mkfifo(folder / "errors.log")
    (folder / "events.jsonl").unlink()
    session = SessionLog(folder, {"runs": []}, record_audio=False)
    with pytest.raises(SessionWriteError, match="errors.log: not a plain file"):  # a pipe would block
        session.write_error(ValueError("boom"))
    session.close()
    assert victim.read_text() == "precious"


# --- resuming a resumed session ------------------------------------------------------------------

def run_killed(folder: Path, audio: np.ndarray, record_audio: bool) -> None:
    """Resume `folder` in-process and stop like a kill: nothing saved or logged at the end."""
    state, catch_up = resume_state(StubModel(), folder)
    session = SessionLog.resume(folder, source="killed", record_audio=record_audio)
    engine = Engine(StubModel(), FileSource(audio, name="killed", realtime=False), config=EngineConfig(
        wait_for_descriptions=True), state=state, session=session, catch_up=catch_up)
    engine.start()
    assert engine.ended.wait(10)
    engine.session = None  # the process dies here: no final state, no session_ended
    engine.stop()
    session.close()


def check_times_go_on(folder: Path) -> list[float]:
    """Each run's events come after all those of the runs before it; the stream times its runs started at.

    A run's session_started, and the notices shown with it, say where its saved state was, before it
    re-hears what that state missed.
    """
    runs: list[list[dict]] = []
    for e in read_events(folder):
        if e["type"] == "session_started":
            runs.append([])
        runs[-1].append(e)
    for k in range(1, len(runs)):
        before = max(e["stream_time"] for run in runs[:k] for e in run)
        start = runs[k][0]["stream_time"]
        heard = [e for e in runs[k][1:] if not (e["type"] == "warning" and e["stream_time"] == start)]
        assert min(e["stream_time"] for e in heard) >= before, f"run {k + 1} goes back before {before} s"
    return [run[0]["stream_time"] for run in runs]


def test_resume_hears_the_audio_of_every_earlier_run_and_stream_times_never_go_back(tmp_path, capsys):
    a, b, c = scene(4.0), tone(3.0, hz=700), tone(2.0, hz=900)
    for name, audio in (("a", a), ("c", c)):
        sf.write(tmp_path / f"{name}.wav", audio, RATE)
    common = ["--fast", "--headless", "--checkpoint", str(tmp_path), "--log-dir", str(tmp_path / "log")]
    assert stub_main(["--input", str(tmp_path / "a.wav"), "--no-audio", *common]) == 0
    (folder,) = (tmp_path / "log").iterdir()
    run_killed(folder, b, record_audio=True)
    capsys.readouterr()
    assert stub_main(["--input", str(tmp_path / "c.wav"), "--resume", str(folder), *common]) == 0
    out = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert out[1]["type"] == "warning" and "re-heard 3.0 s" in out[1]["message"]
    assert StubState.load(folder / "state.safetensors").samples_seen == 9 * RATE
    assert check_times_go_on(folder) == [0.0, 4.0, 4.0]  # the third at 4.0, heard on to 7.0 before listening
    assert out[-1]["type"] == "session_ended" and out[-1]["stream_time"] == 9.0
    state, catch_up = resume_state(StubModel(), folder)  # all heard: nothing to catch up
    assert state.samples_seen == 9 * RATE and catch_up is None
    assert "audio recorded: 0:05.0" in show_session(folder)  # the runs that recorded, though the first did not


def test_a_killed_run_without_audio_is_heard_as_silence_so_stream_times_go_on(tmp_path, capsys):
    sf.write(tmp_path / "a.wav", scene(4.0), RATE)
    common = ["--fast", "--headless", "--checkpoint", str(tmp_path), "--log-dir", str(tmp_path / "log")]
    assert stub_main(["--input", str(tmp_path / "a.wav"), *common]) == 0
    (folder,) = (tmp_path / "log").iterdir()
    run_killed(folder, tone(3.0), record_audio=False)
    with pytest.warns(ResumeWarning, match="3.0 s of the stream were neither recorded"):
        state, catch_up = resume_state(StubModel(), folder)
    assert state.samples_seen == 4 * RATE and catch_up.size == 3 * RATE and not catch_up.any()
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResumeWarning)  # shown as the session's notice, not as a Python warning
        assert stub_main(["--input", str(tmp_path / "a.wav"), "--resume", str(folder), *common]) == 0
    assert any("neither recorded" in e["message"] for e in read_events(folder) if e["type"] == "warning")
    check_times_go_on(folder)
    assert StubState.load(folder / "state.safetensors").samples_seen == 11 * RATE


def test_a_session_written_before_runs_were_placed_resumes_from_its_audio(tmp_path):
    folder = tmp_path / "old"
    (folder / "audio").mkdir(parents=True)
    (folder / "session.json").write_text(json.dumps({"runs": [{"started": "x", "source": "a"},
                                                              {"started": "y", "source": "b"}]}))
    sf.write(folder / "audio" / "000000.wav", tone(1.0), RATE, subtype="PCM_16")
    sf.write(folder / "audio" / "000001.wav", tone(0.5, hz=300), RATE, subtype="PCM_16")
    state, catch_up = resume_state(StubModel(), folder)
    assert state is None and catch_up.size == int(1.5 * RATE)
    assert np.abs(catch_up[RATE:] - tone(0.5, hz=300)).max() < 1e-3


# --- damaged logs and states ---------------------------------------------------------------------

DAMAGED_LINES = [
    b"[1, 2]",
    b'"just a string"',
    b'{"type": "question", "stream_time": "soon", "question_id": 1, "question": "q"}',
    b'{"type": "answer", "stream_time": 2.0, "question_id": "1", "question": "q", "text": "t", "asked_at": 1.0,'
    b' "time_to_first_token": 0.1, "tokens_per_second": 9.0}',
    b'{"type": "level", "stream_time": NaN, "rms_db": -20, "peak_db": -10}',
    b'{"type": "description", "stream_time": 3.0}',
    b"[" * 100_000,
    '{"type": "description", "stream_time": 3.5, "text": "café'.encode()[:-1],  # cut inside the é
]


def test_show_and_list_skip_damaged_lines_and_say_where_they_are(tmp_path, capsys):
    log, folder = recorded_session(tmp_path)
    good = (folder / "events.jsonl").read_bytes()
    (folder / "events.jsonl").write_bytes(good + b"\n".join(DAMAGED_LINES))
    capsys.readouterr()
    assert stub_main(["--show", str(folder)]) == 0
    shown = capsys.readouterr().out
    assert "~ a tone near 300 Hz" in shown and "session ended" in shown
    assert f"skipped as damaged ({len(DAMAGED_LINES)})" in shown and "... and 3 more" in shown
    damage = Damage()
    assert len(list(read_events(folder, damage))) == len(good.splitlines())
    assert damage.count == len(DAMAGED_LINES) and len(damage.named) == 5
    assert all(p.startswith(f"{folder / 'events.jsonl'}:") for p in damage.named)
    reasons = ["not an event object", "not an event object", 'stream_time is "soon"', 'question_id is "1"', "nan"]
    assert all(reason in named for reason, named in zip(reasons, damage.named))
    for line, reason in ((DAMAGED_LINES[5], "without text"), (DAMAGED_LINES[6], "nested too deeply"),
                         (DAMAGED_LINES[7], "not UTF-8")):  # counted, not named
        with pytest.raises(ValueError, match=reason):
            parse_line(line)
    assert f"({len(DAMAGED_LINES)} damaged log lines skipped)" in list_sessions(log)


@pytest.mark.parametrize("meta", [b'{"model": "stub"}', b"[1]", b'{"runs": [{"started": 1, "source": "x"}]}',
                                  b'{"runs": [{"started": "x", "source": "y"}], "model": 5}', b'{"runs": "\xff"}'])
def test_a_damaged_session_json_is_reported_in_one_line_and_never_hides_the_others(tmp_path, capsys, meta):
    log, good = recorded_session(tmp_path)
    bad = log / "0000-bad"
    bad.mkdir()
    (bad / "session.json").write_bytes(meta)
    table = list_sessions(log)
    assert good.name in table and "yes" in table
    assert f"0000-bad{' ' * 14} (unreadable: {bad / 'session.json'}" in table
    capsys.readouterr()
    for argv in (["--show", str(bad)], ["--resume", str(bad), "--input", str(tmp_path / "a.wav"), "--fast",
                                        "--headless", "--checkpoint", str(tmp_path)]):
        assert stub_main(argv) == 2
        err = capsys.readouterr().err
        assert f"{bad / 'session.json'}" in err and "Traceback" not in err


def test_resume_after_a_line_cut_inside_a_character_keeps_the_new_run_whole(tmp_path, capsys):
    log, folder = recorded_session(tmp_path)
    with open(folder / "events.jsonl", "ab") as f:
        f.write('{"type": "description", "stream_time": 4.0, "text": "a dog barks ♪'.encode()[:-2])
    assert stub_main(["--resume", str(folder), "--input", str(tmp_path / "a.wav"), "--fast", "--headless",
                      "--checkpoint", str(tmp_path), "--log-dir", str(log)]) == 0
    damage = Damage()
    logged = list(read_events(folder, damage))
    assert damage.count == 1 and "not UTF-8" in damage.named[0]
    assert [e["resumed"] for e in logged if e["type"] == "session_started"] == [False, True]


def test_a_damaged_state_is_refused_with_its_path(tmp_path):
    path = tmp_path / "state.safetensors"
    state = stream_state(1600)
    tensors = {**state.lm.tensors("lm."), "encoder.keys": state.encoder.keys, "encoder.values": state.encoder.values,
               "history": state.history}
    save_file(tensors, str(path), {"format": "sam-stream-state", "samples_seen": "1600"})
    with pytest.raises(ValueError, match=f"{path}: damaged SAM stream state: no pending"):
        StreamState.load(path)
    save_file({**tensors, "pending": state.pending}, str(path), {"format": "sam-stream-state", "samples_seen": "x"})
    with pytest.raises(ValueError, match="samples_seen='x' is not a count"):
        StreamState.load(path)


def test_a_state_with_nan_is_never_saved_and_never_resumed(tmp_path):
    path = tmp_path / "state.safetensors"
    stream_state(1600).save(path)
    with pytest.raises(ValueError, match="not saved: the state holds NaN or Inf \\(in lm.ssm\\)"):
        stream_state(3200, ssm=float("inf")).save(path)
    assert StreamState.load(path).samples_seen == 1600 and not (tmp_path / "state.safetensors.tmp").exists()
    with pytest.raises(ValueError, match="NaN or Inf"):
        MambaState(torch.zeros(1, 1, 2, 2), torch.full((1, 1, 1, 1, 1), float("nan"))).save(tmp_path / "m")

    bad = stream_state(3200, ssm=float("nan"))  # a file from before the check, or damaged
    save_file({**bad.lm.tensors("lm."), "encoder.keys": bad.encoder.keys, "encoder.values": bad.encoder.values,
               "pending": bad.pending, "history": bad.history}, str(path),
              {"format": "sam-stream-state", "samples_seen": "3200"})
    folder = tmp_path
    (folder / "session.json").write_text(json.dumps({"runs": [{"started": "x", "source": "y"}]}))
    with pytest.raises(ValueError, match=f"{path}: the saved state holds NaN or Inf \\(in lm.ssm\\)"):
        resume_state(StreamModel(), folder)
