"""The real microphone path: PulseAudio with a null sink and a virtual source, heard by `sam-live --headless`.

The test runs its own PulseAudio (Debian's `pulseaudio`, which needs no sound card) with its
own runtime directory, plays a tone into the null sink with `paplay`, and checks that sam-live,
capturing through PortAudio -> ALSA's pulse plugin -> the virtual source, hears it at its pitch.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from test_live_session import STUB_SAM_LIVE
from test_live_stubmodel import tone

pytestmark = pytest.mark.skipif(shutil.which("pulseaudio") is None or shutil.which("paplay") is None,
                                reason="needs Debian's pulseaudio (make test installs it)")

PULSE_CONFIG = """\
load-module module-null-sink sink_name=sam_test_sink rate=48000
load-module module-virtual-source source_name=sam_test_mic master=sam_test_sink.monitor
set-default-sink sam_test_sink
set-default-source sam_test_mic
load-module module-native-protocol-unix
"""


def start_pulse(tmp_path: Path) -> tuple[subprocess.Popen, dict[str, str]]:
    runtime, home = tmp_path / "run", tmp_path / "home"
    runtime.mkdir(mode=0o700, exist_ok=True)
    home.mkdir(exist_ok=True)
    (tmp_path / "pulse.pa").write_text(PULSE_CONFIG)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULSE_")}
    env.update(XDG_RUNTIME_DIR=str(runtime), HOME=str(home))
    # As root PulseAudio warns that it is not meant for root and runs anyway, per user, in this dir.
    proc = subprocess.Popen(["pulseaudio", "--daemonize=no", "--exit-idle-time=-1", "-n", "-F",
                             str(tmp_path / "pulse.pa"), "--log-target=stderr"], env=env,
                            stdout=subprocess.DEVNULL, stderr=open(tmp_path / "pulse.log", "w"))
    deadline = time.monotonic() + 15
    while subprocess.run(["pactl", "info"], env=env, capture_output=True).returncode != 0:
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"PulseAudio did not start: {(tmp_path / 'pulse.log').read_text()[-2000:]}")
        time.sleep(0.1)
    return proc, env


@pytest.fixture
def pulse(tmp_path):
    proc, env = start_pulse(tmp_path)
    yield env
    proc.terminate()
    proc.wait(10)


class Reader:
    """Collects the JSON lines of a running `sam-live --headless`."""

    def __init__(self, proc: subprocess.Popen):
        self.lines: list[dict] = []
        threading.Thread(target=self._run, args=(proc,), daemon=True).start()

    def _run(self, proc):
        for line in proc.stdout:
            self.lines.append(json.loads(line))

    def wait_for(self, predicate, timeout=30.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for e in list(self.lines):
                if predicate(e):
                    return e
            time.sleep(0.05)
        raise AssertionError(f"no such event; last lines: {self.lines[-5:]}")


def test_sam_live_hears_a_tone_played_into_a_virtual_microphone(tmp_path, pulse):
    wav = tmp_path / "tone.wav"
    sf.write(wav, tone(3.0, hz=1000.0, amp=0.5), 16000)
    log = tmp_path / "log"
    proc = subprocess.Popen([*STUB_SAM_LIVE, "--headless", "--checkpoint", str(tmp_path), "--log-dir", str(log)],
                            env=pulse, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            stderr=open(tmp_path / "sam-live.log", "w"), text=True)
    try:
        events = Reader(proc)
        started = events.wait_for(lambda e: e["type"] == "session_started")
        events.wait_for(lambda e: e["type"] == "level" and e["stream_time"] >= 2.0)
        played_from = time.time()
        subprocess.run(["paplay", "--device=sam_test_sink", str(wav)], env=pulse, check=True, timeout=30)
        events.wait_for(lambda e: e["type"] == "description" and "tone" in e["text"], timeout=10)
        time.sleep(1.0)
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)
    assert code == 0, (tmp_path / "sam-live.log").read_text()
    lines = events.lines
    assert "default" in started["source"] or "pulse" in started["source"]
    levels = [e for e in lines if e["type"] == "level"]
    before = [e["rms_db"] for e in levels if e["wall_time"] < played_from]
    loud = [e["rms_db"] for e in levels if e["wall_time"] >= played_from]
    assert before and max(before) < -60  # the virtual microphone is silent until the tone plays
    assert max(loud) > -15  # a 0.5 amplitude sine is -9 dBFS
    heard = [e["text"] for e in lines if e["type"] == "description" and e["is_new"]]
    assert "a tone near 1000 Hz" in heard  # its pitch survived 48 kHz capture and resampling
    assert lines[-1]["type"] == "session_ended" and lines[-1]["state_path"]
    assert not [e for e in lines if e["type"] == "device_lost"], [e for e in lines if e["type"] == "device_lost"]

    (folder,) = log.iterdir()
    recorded = np.concatenate([sf.read(str(p), dtype="float32")[0] for p in sorted((folder / "audio").iterdir())])
    assert np.sqrt(np.mean(recorded ** 2)) > 0.05  # the tone is in the session's audio too


def test_losing_the_sound_server_is_shown_and_capture_comes_back(tmp_path):
    pulse_proc, env = start_pulse(tmp_path)
    proc = subprocess.Popen([*STUB_SAM_LIVE, "--headless", "--checkpoint", str(tmp_path), "--log-dir",
                             str(tmp_path / "log")], env=env, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            stderr=open(tmp_path / "sam-live.log", "w"), text=True)
    try:
        events = Reader(proc)
        events.wait_for(lambda e: e["type"] == "level" and e["stream_time"] >= 1.0)
        pulse_proc.kill()  # the "microphone" disappears mid-session
        pulse_proc.wait(10)
        lost = events.wait_for(lambda e: e["type"] == "device_lost", timeout=10)
        time.sleep(1.5)
        pulse_proc, _ = start_pulse(tmp_path)
        events.wait_for(lambda e: e["type"] == "device_restored", timeout=20)
        events.wait_for(lambda e: e["type"] == "level" and e["stream_time"] >= lost["stream_time"] + 1.0, timeout=20)
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)
        pulse_proc.terminate()
        pulse_proc.wait(10)
    assert code == 0, (tmp_path / "sam-live.log").read_text()
    assert events.lines[-1]["type"] == "session_ended"
