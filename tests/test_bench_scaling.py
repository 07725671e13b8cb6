"""sam-bench scaling on CPU processes (gloo): every GPU count runs the real training path and reports every rank."""
import json
import sys
from pathlib import Path

import pytest

from model.bench.scaling import main, with_efficiency
from model.recipes import command, default_plan, default_workers
from test_data_build import make_corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return str(make_corpus(tmp_path_factory.mktemp("scaling")))


@pytest.mark.parametrize("fsdp", ["no", "yes"])
def test_one_and_two_processes_each_report_every_rank(corpus, tmp_path, fsdp):
    out = tmp_path / "bench"
    rc = main(["--presets", "sam-tiny", "--gpus", "1", "2", "4", "--cpu-processes", "2", "--steps", "2", "--warmup",
               "1", "--corpus", corpus, "--workers", "0", "--fsdp", fsdp, "--seconds", "2.56", "--batch-size", "2",
               "--tokenizer-texts", "300", "--vocab-size", "300", "--backend", "torch", "--loader-batches", "2",
               "--out", str(out)])
    assert rc == 0
    assert json.loads((out / "loader.json").read_text())["scenes_per_s_per_worker"] > 0
    rows = json.loads((out / "scaling.json").read_text())
    assert [r["gpus"] for r in rows] == [1, 2]  # 4 processes are more than --cpu-processes allows: skipped
    assert [r["wrapping"] for r in rows] == ["none", "ddp" if fsdp == "no" else "fsdp"]
    for r in rows:
        assert len(r["step_s_per_rank"]) == r["gpus"]
        assert r["step_s"] == max(r["step_s_per_rank"])  # every rank waits for the slowest
        assert 0 <= r["data_wait_share"] < 1
        assert r["scenes_per_s"] == pytest.approx(r["gpus"] * 2 / r["step_s"])
        assert r["model_flops_per_step_per_gpu"] > 0 and r["mfu"] is None  # no GPU: no peak to compare with
        assert set(r["phases_s"]) == {"inputs", "forward", "backward", "optimizer"}
        assert 0 < sum(r["phases_s"].values()) < 10 * r["step_s"]
    assert rows[0]["efficiency"] == 1.0
    assert rows[1]["efficiency"] == pytest.approx(rows[1]["scenes_per_s_per_gpu"] / rows[0]["scenes_per_s_per_gpu"])


def test_a_failed_run_is_kept_as_a_row_with_its_error(corpus, tmp_path):
    rc = main(["--presets", "no-such-preset", "--gpus", "1", "--corpus", corpus, "--steps", "1", "--warmup", "0",
               "--workers", "0", "--loader-batches", "0", "--out", str(tmp_path)])
    assert rc == 1
    row, = json.loads((tmp_path / "scaling.json").read_text())
    assert "no-such-preset" in row["reason"] and "step_s" not in row
    assert with_efficiency([row]) == [row]


def test_the_recipe_runs_each_stage_under_torchrun_with_the_cores_shared():
    run = default_plan()[0]
    alone = command(run, Path("runs"), 60.0, [])
    eight = command(run, Path("runs"), 60.0, ["--model", "sam-130m"], gpus=8)
    assert alone[:3] == [sys.executable, "-m", "model.train"]
    i = eight.index("model.train")
    assert eight[i - 3:i] == ["--nproc-per-node", "8", "-m"] and "--standalone" in eight[:i]
    assert eight[i + 1:] == command(run, Path("runs"), 60.0, ["--model", "sam-130m"])[3:]  # the same sam-train run
    assert default_workers(1, cores=16) == 14 and default_workers(8, cores=128) == 14
    assert default_workers(8, cores=64) == 7 and default_workers(4, cores=8) == 1


def test_model_flops_count_the_parameters_work_and_not_more_than_pytorch_counts():
    """6 x parameters x tokens leaves out attention scores, the SSD's own products and the features, so it is
    below PyTorch's count of every matrix product of a step, and for sam-small not far below."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from model.bench.scaling import step_flops
    from model.config import SAMConfig
    from model.prompt import training_batch
    from model.sam import SAM
    from model.tokenizer import Tokenizer

    torch.manual_seed(0)
    tok = Tokenizer.train(["what do you hear? a dog barks and rain falls"] * 20, vocab_size=300)
    model = SAM(SAMConfig.from_name("sam-small"), tok).train()
    model.lm.set_backend("torch")
    audio = torch.randn(2, 5 * 20480) * 0.1
    ids, mask = training_batch(tok, ["what do you hear?"] * 2, ["a dog barks"] * 2)
    with FlopCounterMode(display=False) as counter:
        model.answer_loss(model.heard(audio)[0], ids, mask).backward()
    ratio = step_flops(model.num_parameters(), audio.shape[-1], 2, ids.shape[1]) / counter.get_total_flops()
    assert 0.6 < ratio < 1.0
