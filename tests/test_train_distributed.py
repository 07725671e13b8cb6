"""sam-train under torchrun on the CPU (gloo): DDP and FSDP both train, stop, and resume from a checkpoint."""
import json
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
