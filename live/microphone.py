"""The microphone: PortAudio devices, and a capture source that survives losing its device.

PortAudio's callback thread only copies each block into a bounded queue and counts what it
could not keep; resampling to 16 kHz happens in `read`, on the engine thread. When the stream
fails or stalls (a device unplugged), the source reports LOST and retries every second, first
the same device by name, then the default input (when no device was asked for).
"""
from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Protocol

import numpy as np

from model.audio import SAMPLE_RATE, SampleGuard
from model.resample import Resampler

from .capture import LIVE, LOST, SourceCondition


class NoInputDevice(RuntimeError):
    """The machine has no audio input device (or none by the asked name)."""


@dataclass(frozen=True)
class InputDevice:
    index: int
    name: str
    hostapi: str
    channels: int
    default_rate: int  # Hz; many microphones refuse anything else

    @property
    def label(self) -> str:
        return f"{self.name} ({self.default_rate / 1000:g} kHz)"


class Backend(Protocol):
    """The audio system: PortAudio through sounddevice, or a fake one in tests."""

    def input_devices(self) -> list[InputDevice]: ...

    def default_input(self) -> InputDevice | None: ...

    def open(self, device: InputDevice, rate: int, blocksize: int, callback: Callable[..., None],
             finished_callback: Callable[[], None]) -> Any: ...  # a started-able InputStream

    def rescan(self) -> None: ...


class PortAudioBackend:
    """sounddevice's view of PortAudio."""

    def __init__(self) -> None:
        try:
            import sounddevice
        except OSError as e:  # the PortAudio library itself is missing
            raise RuntimeError("PortAudio is not installed (Debian: apt-get install libportaudio2)") from e
        self.sd = sounddevice

    def input_devices(self) -> list[InputDevice]:
        apis = self.sd.query_hostapis()
        return [InputDevice(i, d["name"], apis[d["hostapi"]]["name"], d["max_input_channels"],
                            int(d["default_samplerate"]))
                for i, d in enumerate(self.sd.query_devices()) if d["max_input_channels"] > 0]

    def default_input(self) -> InputDevice | None:
        index = self.sd.default.device[0]
        if index is None or index < 0:
            return None
        return next((d for d in self.input_devices() if d.index == index), None)

    def open(self, device, rate, blocksize, callback, finished_callback):
        try:
            return self.sd.InputStream(device=device.index, samplerate=rate, blocksize=blocksize, channels=1,
                                       dtype="float32", callback=callback, finished_callback=finished_callback)
        except self.sd.PortAudioError as e:
            raise RuntimeError(f"cannot open {device.label}: {e}") from e

    def rescan(self) -> None:
        # PortAudio lists devices once, at initialisation; sounddevice has no public re-scan, so
        # re-initialise it (only ever with our own stream closed) to see a device plugged back.
        self.sd._terminate()
        self.sd._initialize()


def find_device(spec: str | int | None, devices: list[InputDevice], default: InputDevice | None) -> InputDevice:
    """The device for `--device`: an index, an exact or partial name, or None for the default."""
    if spec is None:
        if default is None:
            raise NoInputDevice("this machine has no audio input device")
        return default
    text = str(spec).strip()
    if text.isdigit():
        match = [d for d in devices if d.index == int(text)]
    else:
        match = [d for d in devices if d.name.lower() == text.lower()] or \
                [d for d in devices if text.lower() in d.name.lower()]
    if len(match) == 1:
        return match[0]
    if not match:
        raise ValueError(f"no input device matches {text!r}; `sam-live --list-devices` shows them")
    names = ", ".join(f"{d.index}: {d.name}" for d in match)
    raise ValueError(f"{text!r} matches several input devices ({names}); give the index")


def format_devices(devices: list[InputDevice], default: InputDevice | None) -> str:
    """The table printed by `sam-live --list-devices`."""
    if not devices:
        return "No audio input devices found."
    lines = [f"{'':2}{'index':>5}  {'name':<40} {'host API':<10} {'rate':>8}  ch"]
    for d in devices:
        mark = "*" if default is not None and d.index == default.index else " "
        lines.append(f"{mark:2}{d.index:>5}  {d.name[:40]:<40} {d.hostapi[:10]:<10} {d.default_rate:>8}  {d.channels}")
    lines.append("* the default input")
    return "\n".join(lines)


class MicrophoneSource:
    """Live capture from an input device at its own rate, handed out at 16 kHz."""

    BLOCK_SECONDS = 0.05  # PortAudio block
    QUEUE_SECONDS = 20.0  # what the queue holds before it drops audio
    STALL_SECONDS = 2.0  # an active stream silent for this long has lost its device
    START_SECONDS = 6.0  # the first block may take longer: some devices (and busy machines) start slowly
    RETRY_SECONDS = 1.0

    def __init__(self, device: str | int | None = None, backend: Backend | None = None):
        self.backend = backend or PortAudioBackend()
        self.spec = device
        self.device = find_device(device, self.backend.input_devices(), self.backend.default_input())
        self.name = self.device.label
        self._queue: queue.Queue[np.ndarray] = queue.Queue()
        self._stream: Any = None
        self._condition = SourceCondition(LIVE)
        self._repaired_before = 0  # samples repaired by the guards of devices used before this one
        self._guard: SampleGuard | None = None
        self._use_rate(self.device)
        self._dropped = 0.0  # s, at the device rate: blocks the full queue refused
        self._overflows = 0  # blocks PortAudio flagged as overflowed
        self._last_block: float | None = None  # monotonic time of the last callback
        self._opened = 0.0  # monotonic time the stream was opened
        self._failure: str | None = None  # set by PortAudio's thread when the stream ends
        self._stopping = threading.Event()
        self._next_retry = 0.0

    # --- PortAudio's thread: copy, count, never block -------------------------------------------

    def _callback(self, indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        self._last_block = time.monotonic()
        if status.input_overflow:
            self._overflows += 1
        try:
            self._queue.put_nowait(indata[:, 0].copy())
        except queue.Full:
            self._dropped += frames / self._rate

    def _finished(self) -> None:
        if not self._stopping.is_set():
            self._failure = "the input stream stopped"

    # --- the engine's thread ----------------------------------------------------------------------

    @property
    def condition(self) -> SourceCondition:
        return self._condition

    @property
    def dropped_seconds(self) -> float:
        return self._dropped

    @property
    def overflows(self) -> int:
        return self._overflows

    @property
    def repaired_samples(self) -> int:
        """Damaged samples (NaN, Inf, absurd values) heard as silence or clipped so far, at the device rate."""
        return self._repaired_before + self._guard.repaired

    def start(self) -> None:
        """Open the device; RuntimeError when it cannot be opened at all."""
        self._stopping.clear()
        self._open(self.device)

    def stop(self) -> None:
        self._stopping.set()
        self._close()

    def read(self, timeout: float) -> np.ndarray:
        """All samples captured since the last read, at 16 kHz (empty while the device is lost)."""
        if self._condition.status == LOST:
            self._retry()
            if self._condition.status == LOST:
                time.sleep(timeout)
                return np.zeros(0, np.float32)
        blocks = []
        try:
            blocks.append(self._queue.get(timeout=timeout))
            while True:
                blocks.append(self._queue.get_nowait())
        except queue.Empty:
            pass
        self._check_health()
        if not blocks:
            return np.zeros(0, np.float32)
        return self._resampler.push(self._guard(np.concatenate(blocks)))  # repaired before resampling spreads it

    def _use_rate(self, device: InputDevice) -> None:
        """Check, repair and resample at `device`'s rate; ValueError for a rate no audio has."""
        self._rate = device.default_rate
        if self._guard is not None:
            self._repaired_before += self._guard.repaired
        self._guard = SampleGuard(self._rate, device.label, warn=False)
        self._resampler = Resampler(self._rate, SAMPLE_RATE)

    def _open(self, device: InputDevice) -> None:
        rate = device.default_rate
        blocksize = int(rate * self.BLOCK_SECONDS)
        self._queue = queue.Queue(maxsize=int(self.QUEUE_SECONDS / self.BLOCK_SECONDS))
        self._use_rate(device)
        self._failure = None
        stream = self.backend.open(device, rate, blocksize, self._callback, self._finished)
        try:
            stream.start()
        except Exception as e:  # PortAudio raises its own error type; the fake backend others
            stream.close()
            raise RuntimeError(f"cannot start {device.label}: {e}") from e
        self._stream, self.device, self.name = stream, device, device.label
        self._last_block, self._opened = None, time.monotonic()
        self._condition = SourceCondition(LIVE)

    def _close(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.close()
            except Exception as e:  # closing a dead device can fail; the stream is gone either way
                self._condition = SourceCondition(self._condition.status, f"{self._condition.detail}; close: {e}")

    def _check_health(self) -> None:
        if self._stream is None or self._stopping.is_set():
            return
        reason = self._failure
        if reason is None and not self._stream.active:
            reason = "the input stream is no longer active"
        since, limit = ((self._opened, self.START_SECONDS) if self._last_block is None
                        else (self._last_block, self.STALL_SECONDS))
        if reason is None and time.monotonic() - since > limit:
            reason = f"no audio from the device for {limit:g} s"
        if reason is not None:
            self._condition = SourceCondition(LOST, reason)
            self._close()
            self._next_retry = time.monotonic() + self.RETRY_SECONDS

    def _retry(self) -> None:
        if time.monotonic() < self._next_retry or self._stopping.is_set():
            return
        self._next_retry = time.monotonic() + self.RETRY_SECONDS
        try:
            self.backend.rescan()
            devices = self.backend.input_devices()
            same = [d for d in devices if d.name == self.device.name]
            device = same[0] if same else find_device(self.spec, devices, self.backend.default_input())
            self._open(device)
        except (RuntimeError, ValueError) as e:  # NoInputDevice is a RuntimeError
            self._condition = SourceCondition(LOST, f"waiting for the device ({e})")
