"""The memory and decode suites' own measuring: /proc read in the right units, the looped recording, op counts."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch

from model.audio import SAMPLE_RATE, load_audio
from model.bench.decode import CountOps
from model.bench.memory import DEMO, looped_recording, resident

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def test_resident_memory_is_read_in_mib_and_sees_what_a_process_holds():
    holds = "import sys, time; x = bytearray(64 * 2**20); x[::4096] = b'x' * len(x[::4096]); print(1, flush=True); time.sleep(30)"
    bare = "import sys, time; print(1, flush=True); time.sleep(30)"
    seen = []
    for code in (bare, holds):
        proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        try:
            proc.stdout.readline()  # it has allocated and touched its pages
            seen.append(resident(proc.pid))
        finally:
            proc.kill()
            proc.wait()
    grew = seen[1].anon - seen[0].anon
    assert 63 < grew < 70  # 64 MiB touched, in MiB
    assert abs(seen[1].rss - seen[1].anon - seen[1].file) < 2 and seen[1].peak >= seen[1].rss


def test_the_replayed_recording_is_the_demo_looped_to_the_minute(tmp_path):
    path = looped_recording(tmp_path / "x.wav", 0.2)
    got = sf.read(path, dtype="float32")[0]
    demo = load_audio(DEMO).numpy()
    assert got.size == int(0.2 * 60 * SAMPLE_RATE)
    want = np.resize(np.clip(demo, -1, 1), got.size)
    assert np.abs(got - want).max() <= 1 / 2**15  # 16-bit PCM


def test_op_counting_counts_each_dispatched_kernel():
    x = torch.ones(3)
    with CountOps() as ops:
        (x + 1).mul_(2).sum()
    assert ops.count == 3
