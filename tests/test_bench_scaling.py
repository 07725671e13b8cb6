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
