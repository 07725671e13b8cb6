"""What keeps sam-live small: one copy of the weights, nothing kept from the warm-up, a file replayed from disk."""
from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import threading
import tracemalloc
import weakref

import numpy as np
import pytest
import soundfile as sf
import torch

from live import events as ev
from live import footprint
from live.capture import FileSource
from live.engine import Engine, EngineConfig
from live.speaker import Describe, Speaker
from model import audio as A
from model.bench.memory import weight_bytes
from model.checkpoint import TIED, load_sam, save_sam
from model.config import SAMConfig
from model.files import read_safetensors
from model.sam import SAM
from model.tokenizer import Tokenizer
from test_live_stubmodel import StubModel, tone


@pytest.fixture(scope="module")
def shipped_like(tmp_path_factory):
    """A tiny checkpoint stored as the shipped one is: bf16, the output layer tied to the embedding."""
    tok = Tokenizer.train(["a dog barks", "quiet", "what do you hear?"] * 30, vocab_size=290)
    model = SAM(SAMConfig.from_name("sam-tiny"), tok)
    assert model.lm.lm_head.weight is model.lm.backbone.embedding.weight
    return save_sam(model, tmp_path_factory.mktemp("ck") / "ck", dtype=torch.bfloat16)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_load_sam_holds_one_copy_of_the_weights_at_the_loaded_dtype(shipped_like, dtype):
    stored, _ = read_safetensors(shipped_like / "model.safetensors")
    model = load_sam(shipped_like, dtype=dtype)
    expected = sum(t.numel() for t in stored.values()) * dtype.itemsize  # the tied layer is stored once
    assert weight_bytes(model) == expected
    storages = {}
    for name, p in model.named_parameters(remove_duplicate=False):
        assert p.dtype == dtype, name
        # its own storage, exactly its size: no view into a file's mapping or a leftover buffer
        assert p.untyped_storage().nbytes() == p.nbytes, name
        storages.setdefault(p.untyped_storage().data_ptr(), []).append(name)
    shared = [names for names in storages.values() if len(names) > 1]
    assert shared == [["lm.backbone.embedding.weight", *TIED]]
    if os.path.exists("/proc/self/maps"):  # nor in the checkpoint file's pages, mapped while it was read
        files = [m for m in mapped_ranges() if m[2].startswith(str(shipped_like))]
        assert not [n for n, p in model.named_parameters() for lo, hi, _ in files if lo <= p.data_ptr() < hi]


def mapped_ranges() -> list[tuple[int, int, str]]:
    """(start, end, path) of each file mapped into this process."""
    out = []
    for line in open("/proc/self/maps"):
        fields = line.split(maxsplit=5)
        if len(fields) == 6 and fields[5].startswith("/"):
            lo, hi = (int(x, 16) for x in fields[0].split("-"))
            out.append((lo, hi, fields[5].strip()))
    return out


def test_loaded_weights_are_the_checkpoints_values(shipped_like):
    stored, _ = read_safetensors(shipped_like / "model.safetensors")
    for dtype in (torch.float32, torch.bfloat16):
        params = load_sam(shipped_like, dtype=dtype).state_dict()
        for key, value in stored.items():
            assert torch.equal(params[key], value.to(dtype)), key


def test_load_sam_leaves_the_default_dtype_as_it_was_even_when_it_fails(shipped_like, tmp_path):
    load_sam(shipped_like, dtype=torch.bfloat16)
    assert torch.get_default_dtype() == torch.float32
    broken = tmp_path / "broken"
    broken.mkdir()
    for f in shipped_like.iterdir():
        (broken / f.name).write_bytes(f.read_bytes())
    cfg = json.loads((broken / "config.json").read_text())
    cfg["lm"]["vocab_size"] = 100  # fewer ids than the tokenizer: the model's constructor refuses it
    (broken / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="tokenizer has"):
        load_sam(broken, dtype=torch.bfloat16)
    assert torch.get_default_dtype() == torch.float32


def test_loading_imports_neither_sympy_nor_dynamo(shipped_like):
    """Building on the meta device would: its init kernels are Python, and they stay resident (~110 MB)."""
    code = (f"import sys; from model.checkpoint import load_sam; load_sam({str(shipped_like)!r}); "
            "print(sorted(m for m in ('sympy', 'torch._dynamo', 'triton') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


class Tracked(StubModel):
    """A stub that keeps a weak reference to every state made after `track` is set, and to what listen makes of them."""

    def __init__(self):
        super().__init__()
        self.track = False
        self.made: list[weakref.ref] = []

    def new_state(self):
        state = super().new_state()
        if self.track:
            self.made.append(weakref.ref(state))
        return state

    def listen(self, audio, state):
        new = super().listen(audio, state)
        if any(r() is state for r in self.made):
            self.made.append(weakref.ref(new))
        return new


def test_the_engine_keeps_nothing_of_its_warm_ups():
    model = Tracked()
    engine = Engine(model, FileSource(tone(6.0), name="t", realtime=False),
                    config=EngineConfig(wait_for_descriptions=True))
    model.track = True  # the session's own state is made; the warm-ups' are made from here on
    engine.start()
    try:
        assert engine.ended.wait(30)  # listened, described and idle, both threads still running
        assert len(model.made) >= 3  # the listener's and the speaker's warm-up states, and the hop heard on one
        gc.collect()
        assert [r() for r in model.made if r() is not None] == []
    finally:
        engine.stop()


def test_the_speaker_lets_go_of_a_state_once_it_is_described():
    model, said = StubModel(), threading.Event()
    speaker = Speaker(model, lambda e: said.set() if isinstance(e, ev.SceneDescribed) else None, lambda: 0.0,
                      quiet_db=-200.0, description_tokens=8, answer_tokens=8, on_error=pytest.fail)
    speaker.start()
    try:
        state = model.listen(torch.from_numpy(tone(2.0)), model.new_state())
        held = weakref.ref(state)
        speaker.describe(Describe(state, 2.0, loudest_db=0.0))
        del state
        assert said.wait(10)
        speaker.wait_idle(threading.Event())
        gc.collect()
        assert held() is None  # not kept alive while the speaker waits for its next job
    finally:
        speaker.stop()


def _peak_replaying(path) -> tuple[int, int]:
    """(samples replayed, largest Python-visible memory while replaying `path` as fast as it goes)."""
    tracemalloc.start()
    try:
        source = FileSource.open(path, realtime=False)
        source.start()
        n = 0
        while source.condition.status != "ended":
            n += source.read(0.01).size
        return n, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_replayed_file_is_decoded_as_it_plays_in_memory_that_does_not_grow_with_its_length(tmp_path):
    rng = np.random.default_rng(0)
    for minutes in (1, 8):
        sf.write(tmp_path / f"{minutes}.wav", (rng.standard_normal(A.SAMPLE_RATE * 60 * minutes) * 3000)
                 .astype(np.int16), A.SAMPLE_RATE)
    (n_short, short), (n_long, long) = _peak_replaying(tmp_path / "1.wav"), _peak_replaying(tmp_path / "8.wav")
    assert (n_short, n_long) == (60 * A.SAMPLE_RATE, 8 * 60 * A.SAMPLE_RATE)
    assert long < 1.2 * short  # eight times the audio in the memory of one
    assert long < n_long * 4 / 10  # a tenth of the recording as float32 (the reads a whole-file reader makes are more)


def test_a_replayed_file_is_the_file_once_and_loops_to_a_duration(tmp_path):
    x = (np.random.default_rng(1).standard_normal(70_000) * 0.1).astype(np.float32)
    sf.write(tmp_path / "a.wav", x, A.SAMPLE_RATE, subtype="FLOAT")
    for duration, want in ((None, x), (10.0, np.resize(x, 10 * A.SAMPLE_RATE))):
        source = FileSource.open(tmp_path / "a.wav", realtime=False, duration=duration)
        source.start()
        parts = []
        while source.condition.status != "ended":
            parts.append(source.read(0.01))
        assert np.array_equal(np.concatenate(parts), want)
    sf.write(tmp_path / "empty.wav", np.zeros(0, np.float32), A.SAMPLE_RATE)
    with pytest.raises(ValueError, match="empty.wav: the file holds no audio"):
        FileSource.open(tmp_path / "empty.wav")


def test_the_kernel_caches_are_bounded_unless_the_user_bounded_them(monkeypatch):
    monkeypatch.delenv("ONEDNN_PRIMITIVE_CACHE_CAPACITY", raising=False)
    monkeypatch.setenv("LRU_CACHE_CAPACITY", "5")
    footprint.keep_small(torch.get_num_threads())  # this test process keeps its thread count
    assert os.environ["ONEDNN_PRIMITIVE_CACHE_CAPACITY"] == str(footprint.KERNEL_CACHE)
    assert os.environ["LRU_CACHE_CAPACITY"] == "5"
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert footprint.limit_malloc_arenas() is False  # the user's setting stands
