"""A stub SAM that follows live.protocol exactly, so the engine, UI and CLI test without weights.

It hears blocks of 1.28 s like the real model, remembers the loudness and pitch of the last
block in a constant-size state, and says "quiet", "a tone near N Hz" or "noise". Asked a
watch's yes/no question, it is sure of "yes" when the question names what it hears ("tone",
"noise") and of "no" otherwise. Delays are optional, to stand in for compute time. Other test
files import it from here.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from live.protocol import AnswerLike, SamModel, StreamStateLike

RATE = 16_000
BLOCK = 20_480  # samples: 8 tokens of 160 ms


@dataclass
class StubAnswer:
    text: str
    n_tokens: int
    time_to_first_token: float
    tokens_per_second: float
    total_time: float


@dataclass
class StubState:
    samples_seen: int
    pending: torch.Tensor  # (< BLOCK,) samples short of a block
    summary: torch.Tensor  # (3,) last block: rms dBFS, dominant Hz, spectral flatness
    blocks: int = 0

    @property
    def seconds(self) -> float:
        return self.samples_seen / RATE

    def fork(self) -> "StubState":
        return StubState(self.samples_seen, self.pending.clone(), self.summary.clone(), self.blocks)

    def save(self, path) -> None:
        from safetensors.torch import save_file

        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        save_file({"pending": self.pending.contiguous(), "summary": self.summary}, str(tmp),
                  {"samples_seen": str(self.samples_seen), "blocks": str(self.blocks), "format": "stub-state"})
        os.replace(tmp, path)

    @classmethod
    def load(cls, path, model_config=None) -> "StubState":
        from safetensors import safe_open

        try:
            with safe_open(str(path), "pt") as f:
                meta = f.metadata() or {}
                tensors = {k: f.get_tensor(k) for k in f.keys()}
        except Exception as e:  # safetensors raises several types for a bad file
            raise ValueError(f"{path}: not a state file ({e})") from e
        if meta.get("format") != "stub-state":
            raise ValueError(f"{path}: not a stub state file")
        return cls(int(meta["samples_seen"]), tensors["pending"], tensors["summary"], int(meta["blocks"]))


def summarize(block: np.ndarray) -> torch.Tensor:
    rms = float(np.sqrt(np.mean(block.astype(np.float64) ** 2)) + 1e-12)
    spec = np.abs(np.fft.rfft(block * np.hanning(len(block)))) + 1e-12
    hz = float(np.argmax(spec) * RATE / len(block))
    flatness = float(np.exp(np.mean(np.log(spec))) / np.mean(spec))
    return torch.tensor([20 * np.log10(rms), hz, flatness], dtype=torch.float32)


class StubModel(torch.nn.Module):
    """Follows the SAM protocol; `listen_delay` and `token_delay` (s) simulate compute."""

    def __init__(self, listen_delay: float = 0.0, token_delay: float = 0.0, name: str = "stub"):
        super().__init__()
        self.name = name
        self.listen_delay = listen_delay
        self.token_delay = token_delay
        self.listen_calls = 0
        self.asked: list[tuple[str, int]] = []  # (question, samples_seen of the state it was asked on)
        self.scored: list[tuple[list[str], int]] = []  # (watch questions, samples_seen) of each confidence call

    def new_state(self) -> StubState:
        return StubState(0, torch.zeros(0), torch.tensor([-120.0, 0.0, 1.0]))

    def listen(self, audio: torch.Tensor, state: StubState) -> StubState:
        assert audio.dim() == 1 and audio.dtype == torch.float32
        self.listen_calls += 1
        new = state.fork()
        new.samples_seen += audio.numel()
        buf = torch.cat([new.pending, audio])
        while buf.numel() >= BLOCK:
            new.summary = summarize(buf[:BLOCK].numpy())
            new.blocks += 1
            buf = buf[BLOCK:]
            time.sleep(self.listen_delay)
        new.pending = buf.clone()
        return new

    def heard(self, state: StubState) -> str:
        db, hz, flat = state.summary.tolist()
        if db < -50:
            return "quiet"
        if flat > 0.3:
            return "noise"
        return f"a tone near {int(round(hz, -2))} Hz"

    def _speak(self, text: str, on_token, max_new_tokens: int) -> StubAnswer:
        t0 = time.perf_counter()
        words = text.split()[:max_new_tokens]
        first = None
        for i, w in enumerate(words):
            time.sleep(self.token_delay)
            if first is None:
                first = time.perf_counter() - t0
            if on_token is not None:
                on_token(w if i == 0 else " " + w)
        total = time.perf_counter() - t0
        return StubAnswer(" ".join(words), len(words), first or total, len(words) / max(total, 1e-9), total)

    def ask(self, state: StubState, question: str, *, max_new_tokens: int = 48, temperature: float = 0.0,
            top_p: float = 1.0, on_token=None) -> StubAnswer:
        self.asked.append((question, state.samples_seen))
        text = f"after {state.blocks} blocks I hear {self.heard(state)}"
        return self._speak(text, on_token, max_new_tokens)

    def confidence(self, state: StubState, questions: list[str]) -> list[float]:
        """P(yes) of each yes/no question: 0.95 when it names what the last block was ("tone", "noise")."""
        self.scored.append((list(questions), state.samples_seen))
        heard = self.heard(state)
        return [0.95 if any(w in q.lower() and w in heard for w in ("tone", "noise", "quiet")) else 0.05
                for q in questions]

    def describe(self, state: StubState, **kw) -> StubAnswer:
        return self._speak(self.heard(state), kw.get("on_token"), kw.get("max_new_tokens", 48))


def tone(seconds: float, hz: float = 440.0, amp: float = 0.3, rate: int = RATE) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amp * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def silence(seconds: float, rate: int = RATE) -> np.ndarray:
    return np.zeros(int(seconds * rate), np.float32)


# The stub itself is held to the protocol, so the engine tests mean something for the real model.

def test_stub_satisfies_protocol():
    m = StubModel()
    s = m.new_state()
    assert isinstance(m, SamModel) and isinstance(s, StreamStateLike)
    assert isinstance(m.describe(s), AnswerLike)


def test_listen_leaves_argument_unchanged_and_buffers_partial_blocks():
    m = StubModel()
    s0 = m.new_state()
    s1 = m.listen(torch.from_numpy(tone(1.0)), s0)
    assert s0.samples_seen == 0 and s1.samples_seen == RATE and s1.blocks == 0
    s2 = m.listen(torch.from_numpy(tone(1.0)), s1)
    assert s2.blocks == 1 and s2.pending.numel() == 2 * RATE - BLOCK
    assert m.describe(s2).text == "a tone near 400 Hz"


def test_state_save_load_round_trip(tmp_path):
    m = StubModel()
    s = m.listen(torch.from_numpy(tone(2.0)), m.new_state())
    s.save(tmp_path / "s.safetensors")
    r = StubState.load(tmp_path / "s.safetensors")
    assert r.samples_seen == s.samples_seen and torch.equal(r.summary, s.summary)
    (tmp_path / "bad.safetensors").write_bytes(b"nope")
    with pytest.raises(ValueError, match="bad.safetensors"):
        StubState.load(tmp_path / "bad.safetensors")
