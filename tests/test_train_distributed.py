"""sam-train under torchrun on the CPU (gloo): DDP and FSDP both train, stop, and resume from a checkpoint."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from model.checkpoint import load_sam
from test_data_build import make_corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return str(make_corpus(tmp_path_factory.mktemp("dist")))


def torchrun(args: list[str]) -> subprocess.CompletedProcess:
    cmd = [str(Path(sys.executable).parent / "torchrun"), "--nproc_per_node", "2", "-m", "model.train", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=240)


@pytest.mark.parametrize("fsdp", ["no", "yes"])
def test_two_processes_train_stop_and_resume(corpus, tmp_path, fsdp):
    out = tmp_path / "run"
    args = ["--stage", "joint", "--corpus", corpus, "--out", str(out), "--max-steps", "4", "--model", "sam-tiny",
            "--batch-size", "2", "--seconds", "1.28", "2.56", "--workers", "0", "--log-every", "1",
            "--vocab-size", "300", "--no-augment", "--tokenizer-texts", "300", "--fsdp", fsdp, "--backend", "torch"]
    first = torchrun([*args, "--stop-after", "2"])
    assert first.returncode == 0, first.stderr[-2000:]
    after_two = load_sam(out / "checkpoint").state_dict()
    second = torchrun([*args, "--resume"])
    assert second.returncode == 0, second.stderr[-2000:]
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "loss" in r] == [1, 2, 3, 4]  # rank 0 alone logs; the resume went on at 3
    assert [r["step"] for r in rows if "val_loss" in r] == [2, 4]  # each run ends on a validation loss
    final = load_sam(out / "checkpoint").state_dict()
    assert any(not torch.equal(after_two[k], final[k]) for k in final)


def _ranks(parent: int) -> dict[int, int]:
    """{rank: pid} of the processes torchrun `parent` started (read from their environment)."""
    found = {}
    for child in Path("/proc").glob("[0-9]*"):
        try:
            if int((child / "stat").read_text().split(")")[1].split()[1]) != parent:
                continue
            env = dict(e.split("=", 1) for e in (child / "environ").read_text().split("\0") if "=" in e)
        except (OSError, ValueError):
            continue
        if "RANK" in env:
            found[int(env["RANK"])] = int(child.name)
    return found


def test_a_stop_that_reaches_one_rank_stops_both_at_the_same_step_with_the_checkpoint_saved(corpus, tmp_path):
    """A stop signal that reaches one process alone (as a kill of one rank does), or the budget's end seen on
    one rank's clock first, must not leave the other rank waiting in a step its peer never takes."""
    import contextlib
    import signal
    import time

    out = tmp_path / "run"
    args = ["--stage", "joint", "--corpus", corpus, "--out", str(out), "--minutes", "10", "--model", "sam-tiny",
            "--batch-size", "2", "--seconds", "1.28", "1.28", "--workers", "0", "--log-every", "1", "--vocab-size",
            "300", "--no-augment", "--tokenizer-texts", "300", "--backend", "torch", "--val-every", "0"]
    cmd = [str(Path(sys.executable).parent / "torchrun"), "--nproc_per_node", "2", "-m", "model.train", *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        log = out / "log.jsonl"
        deadline = time.time() + 120
        while time.time() < deadline and not (log.is_file() and len(log.read_text().splitlines()) >= 5):
            time.sleep(0.5)
        ranks = _ranks(proc.pid)
        assert set(ranks) == {0, 1}
        os.kill(ranks[1], signal.SIGTERM)
        output, _ = proc.communicate(timeout=90)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # torchrun and both ranks, if they hang
    assert proc.returncode == 0, output[-2000:]
    assert "stopped early" in output  # rank 0, never signalled, stopped with rank 1 and saved
    steps = [json.loads(line)["step"] for line in (out / "log.jsonl").read_text().splitlines()]
    assert load_sam(out / "checkpoint").cfg.name == "sam-tiny" and steps == list(range(1, len(steps) + 1))
