"""sam-train on the CPU: the loss falls, a stopped run resumes to the same losses, stages chain."""
import json
import signal
import sys

import pytest
import torch

from model.checkpoint import load_sam
from model.train import build_model, parse_args, plot_log, train
from test_data_build import make_corpus

COMMON = ["--model", "sam-tiny", "--batch-size", "4", "--seconds", "1.28", "2.56", "--workers", "0",
          "--log-every", "1", "--vocab-size", "300", "--no-augment", "--tokenizer-texts", "500"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return str(make_corpus(tmp_path_factory.mktemp("train")))


def rows(run):
    return [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]


def losses(run):
    return [r["loss"] for r in rows(run) if "loss" in r]


def test_tagger_stage_learns_and_writes_its_outputs(corpus, tmp_path):
    out = tmp_path / "s1"
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    train(parse_args(["--stage", "tagger", "--corpus", corpus, "--out", str(out), "--max-steps", "30",
                      "--lr", "3e-3", "--val-every", "12", "--val-batches", "2", *COMMON]))
    # the stage's stop handlers are gone with it: the calling process stops on a signal as it did before
    assert {sig: signal.getsignal(sig) for sig in before} == before
    got = losses(out)
    assert len(got) == 30
    assert sum(got[-5:]) / 5 < 0.85 * sum(got[:5]) / 5
    held = [(r["step"], r["val_loss"]) for r in rows(out) if "val_loss" in r]
    assert [s for s, _ in held] == [12, 24, 30]  # every 12 steps, and the stage's end
    assert held[-1][1] < held[0][1]  # the held-out loss falls too
    assert (out / "loss.png").stat().st_size > 1000
    model = load_sam(out / "checkpoint")
    assert model.cfg.name == "sam-tiny" and model.tokenizer.vocab_size <= 300


@pytest.mark.parametrize("masks", [[], ["--freq-masks", "2", "30", "--time-masks", "2", "20"]], ids=["plain", "masked"])
def test_resumed_run_continues_with_the_same_losses(corpus, tmp_path, masks):
    base = ["--stage", "joint", "--corpus", corpus, "--max-steps", "6", *COMMON, *masks]
    train(parse_args([*base, "--out", str(tmp_path / "whole")]))
    train(parse_args([*base, "--out", str(tmp_path / "split"), "--stop-after", "3"]))
    assert len(losses(tmp_path / "split")) == 3
    train(parse_args([*base, "--out", str(tmp_path / "split"), "--resume"]))
    whole, split = losses(tmp_path / "whole"), losses(tmp_path / "split")
    assert len(split) == 6
    assert split == whole  # bit for bit: the data, the masks and the optimiser all continue exactly


def test_a_stop_sent_to_the_whole_process_group_saves_the_last_step(corpus, tmp_path):
    """Ctrl-C (or `timeout`) signals the data workers as well as the trainer; no step may be lost."""
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "stopped"
    args = ["--stage", "joint", "--corpus", corpus, "--out", str(out), "--minutes", "30", *COMMON, "--workers", "2"]
    proc = subprocess.Popen([sys.executable, "-m", "model.train", *args], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not ((out / "log.jsonl").is_file() and len(losses(out)) >= 3):
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()[-2000:]
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGTERM)
    assert proc.wait(timeout=60) == 0, proc.stderr.read()[-2000:]
    assert not (out / "done.json").exists()  # stopped, not finished
    assert "loss" in rows(out)[-1]  # the save came straight after the step: no validation in between
    stopped_at = rows(out)[-1]["step"]
    train(parse_args([*args, "--resume", "--stop-after", "1"]))
    assert [r["step"] for r in rows(out) if "loss" in r][-1] == stopped_at + 1


def test_connector_stage_trains_only_the_connector(corpus, tmp_path):
    first = tmp_path / "a"
    train(parse_args(["--stage", "joint", "--corpus", corpus, "--out", str(first), "--max-steps", "1", *COMMON]))
    second = tmp_path / "b"
    train(parse_args(["--stage", "connector", "--corpus", corpus, "--out", str(second), "--max-steps", "3",
                      "--init", str(first / "checkpoint"), *COMMON]))
    a, b = load_sam(first / "checkpoint").state_dict(), load_sam(second / "checkpoint").state_dict()
    changed = {k.split(".")[0] for k in a if not torch.equal(a[k], b[k])}
    assert changed == {"connector"}


@pytest.mark.parametrize("layout", ["column", "time_major"])
def test_layout_with_init_gives_a_fresh_connector_on_the_same_encoder_and_lm(corpus, tmp_path, layout):
    first = tmp_path / "a"
    train(parse_args(["--stage", "joint", "--corpus", corpus, "--out", str(first), "--max-steps", "1", *COMMON]))
    old = load_sam(first / "checkpoint")
    new = build_model(parse_args(["--stage", "joint", "--init", str(first / "checkpoint"), "--layout", layout]), None)
    assert new.cfg.connector.layout == layout
    a, b = old.state_dict(), new.state_dict()
    for part in ("encoder", "lm"):
        keys = [k for k in a if k.startswith(part + ".")]
        assert keys and all(torch.equal(a[k], b[k]) for k in keys)
    shared = [k for k in a if k.startswith("connector.") and k in b and a[k].shape == b[k].shape]
    if layout == "column":  # the same layout: the same shapes, other values
        assert shared and not any(torch.equal(a[k], b[k]) for k in shared if a[k].dim() > 1)


def test_bad_arguments_are_refused(corpus, tmp_path):
    with pytest.raises(SystemExit):
        parse_args(["--stage", "joint", "--kinds", "poetry"])
    with pytest.raises(SystemExit):
        parse_args(["--stage", "sightseeing"])


def test_augmenting_on_the_device_changes_the_audio_not_the_questions(corpus, tmp_path):
    base = ["--stage", "joint", "--corpus", corpus, "--max-steps", "3", *[a for a in COMMON if a != "--no-augment"]]
    train(parse_args([*base, "--out", str(tmp_path / "workers")]))
    train(parse_args([*base, "--out", str(tmp_path / "device"), "--augment-on", "device"]))
    train(parse_args([*base, "--out", str(tmp_path / "none"), "--no-augment"]))
    workers, device, none = (losses(tmp_path / name) for name in ("workers", "device", "none"))
    assert all(torch.isfinite(torch.tensor(device)))
    assert device[0] != none[0]  # the loop applied the chains before the forward pass
    # the same chains as the workers apply, only their noise signals come from another generator
    assert abs(device[0] - workers[0]) < abs(device[0] - none[0])
    with pytest.raises(SystemExit, match="augment-on"):
        from model.train import main
        main(["--stage", "joint", "--corpus", corpus, "--augment-on", "gpu", "--out", str(tmp_path / "bad")])


def test_validation_batches_are_fixed_and_mixed_from_validation_recordings(corpus, monkeypatch):
    from model.batches import BatchSpec, validation_batches
    from model.data.corpus import Corpus, load_corpus

    full = load_corpus(corpus)
    heard, read = [], Corpus.audio
    monkeypatch.setattr(Corpus, "audio", lambda self, clip_id: heard.append(clip_id) or read(self, clip_id))
    spec = BatchSpec(kinds=("tags",), batch_size=3, seconds=(1.0, 2.0), long_fraction=0.0, long_seconds=(30.0, 60.0),
                     augment=True, hold_out=(), block_samples=20480)
    a, b = validation_batches(full, spec, 0, 4), validation_batches(full, spec, 0, 4)
    assert len(a) == 4 and all(torch.equal(x.audio, y.audio) and x.answers == y.answers for x, y in zip(a, b))
    assert all(x.chains is None for x in a)  # unaugmented: the same measurement every time
    assert heard and set(heard) <= {r.id for r in full.subset("validation").records}


def test_every_option_is_explained():
    import dataclasses

    from model.train import TrainConfig, field_help

    helps = field_help()
    assert set(helps) == {f.name for f in dataclasses.fields(TrainConfig)}
    assert all(len(text) > 10 for text in helps.values())


def test_quiet_scenes_come_in_the_share_asked_with_a_background_in_the_share_asked(corpus):
    """Background-only scenes are where the model invents events; their share is a training setting."""
    import random

    from model.batches import BatchSpec, BatchStream
    from model.data.corpus import load_corpus
    from model.data.dataset import clip_bank
    from model.data.mixer import BACKGROUND_CLASSES
    from model.data.tasks import QUIET, quiet_description

    full = load_corpus(corpus)
    train_part = full.subset("train")
    bank, names = clip_bank(train_part), full.class_names

    def scenes(quiet, background, n=6):
        spec = BatchSpec(kinds=("description",), batch_size=10, seconds=(1.0, 2.0), long_fraction=0.0,
                         long_seconds=(30.0, 60.0), augment=False, hold_out=(), block_samples=2560,
                         quiet_prob=quiet, quiet_background_prob=background, wording="classic")
        stream = BatchStream(full, spec, 0)
        batches = [stream.batch(random.Random(b), bank, names, train_part) for b in range(n)]
        return [(a, {names[i] for i in torch.nonzero(y).flatten().tolist()})
                for x in batches for a, y in zip(x.answers, x.labels)]

    for answer, present in scenes(1.0, 1.0):  # a background alone, and the description says so
        assert len(present) == 1 and present <= set(BACKGROUND_CLASSES)
        assert answer == quiet_description(next(iter(present)))
    assert all(answer == QUIET and not present for answer, present in scenes(1.0, 0.0))  # hiss alone
    busy = scenes(0.0, 1.0)
    assert all(present and "quiet" not in answer for answer, present in busy)  # every scene has an event
    silent = sum(answer == QUIET for answer, _ in scenes(0.5, 0.0, n=10))
    assert 25 <= silent <= 75  # about half of 100


def test_loss_plot_without_matplotlib_says_so_and_draws_nothing(tmp_path, monkeypatch, capsys):
    log = tmp_path / "log.jsonl"
    log.write_text(json.dumps({"stage": "joint", "step": 1, "loss_avg": 2.0}) + "\n")
    plot_log(log, tmp_path / "drawn.png")
    assert (tmp_path / "drawn.png").is_file()
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if not installed: importing it fails
    plot_log(log, tmp_path / "loss.png")
    assert not (tmp_path / "loss.png").exists() and "plots" in capsys.readouterr().err


def test_the_budget_runs_from_the_first_batch_not_from_the_data_workers_start(corpus, tmp_path, monkeypatch):
    import time

    import model.train as train_module

    real = train_module.batch_loader

    def slow_to_start(*args, **kw):  # data workers that take 3 s to send their first batch
        time.sleep(3.0)
        yield from real(*args, **kw)

    monkeypatch.setattr(train_module, "batch_loader", slow_to_start)
    out = tmp_path / "slow"
    train(parse_args(["--stage", "joint", "--corpus", corpus, "--out", str(out), "--minutes", "0.5",
                      "--stop-after", "2", *COMMON]))
    first = [r for r in rows(out) if "loss" in r][0]
    assert first["elapsed"] < 1.0  # the 3 s before it are not counted as training
