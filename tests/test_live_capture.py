"""Capture: streaming resampling, file replay pacing, and the microphone source on a fake PortAudio."""
from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from live.capture import ENDED, LIVE, LOST, FileSource
from live.microphone import InputDevice, MicrophoneSource, NoInputDevice, find_device
from model.audio import resample
from model.resample import Resampler


@pytest.mark.parametrize("rate", [44100, 48000, 22050, 8000])
def test_streaming_resampler_equals_whole_signal_resampling(rate):
    rng = np.random.default_rng(rate)
    x = (rng.standard_normal(rate * 2 + 77) * 0.1).astype(np.float32)
    r, parts, i = Resampler(rate, 16_000), [], 0
    while i < x.size:
        n = int(rng.integers(1, 2000))
        parts.append(r.push(x[i:i + n]))
        i += n
    parts.append(r.flush())
    ours = np.concatenate(parts)
    ref = resample(torch.from_numpy(x), rate).numpy()
    assert ours.shape == ref.shape
    assert np.abs(ours - ref).max() < 1e-4


def test_file_source_replays_in_real_time_then_ends():
    src = FileSource(np.ones(16000, np.float32), name="one second")
    src.start()
    got, t0 = 0, time.monotonic()
    while time.monotonic() - t0 < 0.4:
        got += src.read(0.05).size
    elapsed = time.monotonic() - t0
    assert elapsed - 0.1 < got / 16000 <= elapsed + 0.01  # what is due by now, no more
    while src.condition.status == LIVE:
        got += src.read(0.05).size
    assert got == 16000 and src.condition.status == ENDED


def test_file_source_fast_hands_out_blocks_at_once_and_loops_to_a_duration():
    src = FileSource(np.arange(1000, dtype=np.float32), name="ramp", realtime=False, duration=0.25)
    src.start()
    t0 = time.monotonic()
    out = src.read(1.0)
    assert time.monotonic() - t0 < 0.1
    assert out.size == 4000 and out[1000] == 0 and out[1999] == 999  # looped
    assert src.condition.status == ENDED


# --- a fake PortAudio: streams that run on their own thread, fail, and come back ---------------

class FakeStream:
    def __init__(self, device, rate, blocksize, callback, finished_callback, hz=440.0):
        self.rate, self.blocksize, self.callback, self.finished = rate, blocksize, callback, finished_callback
        self.hz, self.active, self.closed = hz, False, False
        self.stall = False  # stop calling back without finishing, as an unplugged USB device may
        self._n = 0

    def start(self):
        self.active = True
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        """Deliver blocks on the wall clock, like a sound card, however late this thread runs."""
        flags = SimpleNamespace(input_overflow=False)
        t0 = time.monotonic()
        while self.active:
            if (self._n + self.blocksize) / self.rate > time.monotonic() - t0:
                time.sleep(0.005)
                continue
            t = (self._n + np.arange(self.blocksize)) / self.rate
            self._n += self.blocksize
            if not self.stall:
                self.callback((0.3 * np.sin(2 * np.pi * self.hz * t)).astype(np.float32)[:, None],
                              self.blocksize, None, flags)

    def fail(self):
        self.active = False
        self.finished()

    def close(self):
        self.active, self.closed = False, True


class FakeBackend:
    def __init__(self, rate=48000):
        self.devices = [InputDevice(0, "Fake USB Mic", "ALSA", 1, rate), InputDevice(1, "Fake Webcam", "ALSA", 2, 44100)]
        self.plugged = True
        self.silent = False  # new streams never call back
        self.streams: list[FakeStream] = []
        self.rescans = 0

    def input_devices(self):
        return list(self.devices) if self.plugged else []

    def default_input(self):
        return self.devices[0] if self.plugged else None

    def open(self, device, rate, blocksize, callback, finished_callback):
        if not self.plugged:
            raise RuntimeError(f"cannot open {device.label}: device unavailable")
        self.streams.append(FakeStream(device, rate, blocksize, callback, finished_callback))
        self.streams[-1].stall = self.silent
        return self.streams[-1]

    def rescan(self):
        self.rescans += 1


def read_for(src, seconds):
    parts, t0 = [], time.monotonic()
    while time.monotonic() - t0 < seconds:
        parts.append(src.read(0.05))
    return np.concatenate(parts)


def test_microphone_resamples_the_device_rate_to_16k():
    src = MicrophoneSource(None, backend=FakeBackend(rate=48000))
    src.start()
    x = read_for(src, 1.0)
    src.stop()
    assert 0.7 * 16000 < x.size < 1.2 * 16000
    spec = np.abs(np.fft.rfft(x[2000:2000 + 8000]))
    assert abs(np.argmax(spec) * 16000 / 8000 - 440) <= 2  # the tone keeps its pitch


def test_damaged_device_samples_are_repaired_before_resampling_spreads_them():
    src = MicrophoneSource(None, backend=FakeBackend(rate=48000))
    deliver = src._callback

    def damaged(indata, *rest):  # a broken driver: NaN, Inf and absurd values in every block
        indata = indata.copy()
        indata[100:110], indata[200], indata[300] = np.nan, np.inf, 1e30
        deliver(indata, *rest)

    src._callback = damaged
    src.start()
    x = read_for(src, 0.5)
    src.stop()
    assert x.size > 4000 and np.isfinite(x).all() and np.abs(x).max() <= 1000


def test_a_device_rate_no_audio_has_is_refused_with_its_name():
    with pytest.raises(ValueError, match="Fake USB Mic.*sample rate 1 Hz"):
        MicrophoneSource(None, backend=FakeBackend(rate=1))


def test_callback_never_blocks_and_counts_what_the_full_queue_refused(monkeypatch):
    monkeypatch.setattr(MicrophoneSource, "QUEUE_SECONDS", 0.2)  # 4 blocks of 50 ms
    backend = FakeBackend(rate=16000)
    src = MicrophoneSource("Fake USB Mic", backend=backend)
    src.start()
    backend.streams[0].active = False  # stop the fake's own thread; drive the callback by hand
    time.sleep(0.1)
    src._queue = type(src._queue)(maxsize=4)
    block = np.zeros((800, 1), np.float32)
    t0 = time.perf_counter()
    for i in range(10):
        src._callback(block, 800, None, SimpleNamespace(input_overflow=(i == 0)))
    assert time.perf_counter() - t0 < 0.5  # ten callbacks return at once (a blocking put would hang)
    assert src.dropped_seconds == pytest.approx(6 * 800 / 16000)
    assert src.overflows == 1


def test_device_loss_is_reported_and_capture_resumes_when_it_is_back(monkeypatch):
    monkeypatch.setattr(MicrophoneSource, "RETRY_SECONDS", 0.2)
    backend = FakeBackend()
    src = MicrophoneSource(None, backend=backend)
    src.start()
    assert read_for(src, 0.3).size > 0
    backend.plugged = False
    backend.streams[0].fail()
    read_for(src, 0.1)
    assert src.condition.status == LOST and "stopped" in src.condition.detail
    assert read_for(src, 0.6).size == 0 and src.condition.status == LOST  # retries fail while unplugged
    assert backend.rescans >= 1
    backend.plugged = True
    x = read_for(src, 0.8)
    assert src.condition.status == LIVE and x.size > 0
    assert len(backend.streams) == 2 and backend.streams[0].closed
    src.stop()


def test_a_stalled_stream_counts_as_lost(monkeypatch):
    monkeypatch.setattr(MicrophoneSource, "STALL_SECONDS", 0.3)
    backend = FakeBackend()
    src = MicrophoneSource(None, backend=backend)
    src.start()
    read_for(src, 0.2)
    backend.streams[0].stall = True
    read_for(src, 0.5)
    assert src.condition.status == LOST and "no audio" in src.condition.detail
    src.stop()


def test_a_device_gets_longer_to_deliver_its_first_block(monkeypatch):
    monkeypatch.setattr(MicrophoneSource, "STALL_SECONDS", 0.2)
    monkeypatch.setattr(MicrophoneSource, "START_SECONDS", 1.0)
    backend = FakeBackend()
    backend.silent = True
    src = MicrophoneSource(None, backend=backend)
    src.start()
    read_for(src, 0.5)
    assert src.condition.status == LIVE  # past the stall limit, within the start grace
    read_for(src, 0.8)
    assert src.condition.status == LOST and "for 1 s" in src.condition.detail
    src.stop()


def test_device_choice_by_index_or_name():
    devs = FakeBackend().devices
    assert find_device("1", devs, devs[0]).name == "Fake Webcam"
    assert find_device("usb", devs, devs[0]).index == 0
    assert find_device("fake webcam", devs, devs[0]).index == 1
    assert find_device(None, devs, devs[0]).index == 0
    with pytest.raises(ValueError, match="several"):
        find_device("fake", devs, devs[0])
    with pytest.raises(ValueError, match="--list-devices"):
        find_device("7", devs, devs[0])
    with pytest.raises(NoInputDevice):
        find_device(None, [], None)
