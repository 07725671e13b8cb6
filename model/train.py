"""sam-train: one stage of SAM's training curriculum, top to bottom: config, data, loop, checkpoint.

The curriculum (each stage a preset, rerunnable alone, each starting from the last one's checkpoint):
  tagger     the encoder learns to tag the corpus classes (the role EAT's AudioSet training plays in
             the paper) while the LM learns the corpus text; the two share nothing yet
  connector  only the connector trains, encoder and LM held fixed: audio starts to reach the LM
  joint      everything trains on descriptions, tags and open questions
  instruct   adds the instruction data: multiple-choice, true/false, counting, order, loudness,
             type, and "what did you just hear?" on long streams

Runs on the CPU for a smoke test, and on GPUs under torchrun (DDP, one process per GPU; FSDP for
the large presets) with bf16 autocast. The wall-clock budget (--minutes) drives the cosine
schedule, so a stage always ends on time; --max-steps caps it by steps instead.
"""
from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import math
import os
import signal
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from . import parallel
from .bank import bank_batches, check_fits, load_bank
from .batches import Batch, BatchSpec, TASK_KINDS, batch_loader, corpus_text, load_corpus, validation_batches
from .checkpoint import load_sam, save_sam
from .config import ConnectorConfig, SAMConfig
from .data.augment_torch import augment_batch
from .data.feature_masks import FeatureMasks
from .files import read_safetensors, write_safetensors
from .objectives import objective_for
from .plots import pyplot
from .sam import SAM
from .tokenizer import Tokenizer
from .yamnet import load_yamnet

LARGE = ("sam-780m", "sam-2.7b")  # presets sharded with FSDP under torchrun


@dataclass
class TrainConfig:
    """Everything one stage needs; presets fill the stage's fields, flags override any of them."""

    stage: str = "joint"  # curriculum stage (sets its defaults)
    model: str = "sam-small"  # SAM preset for a fresh model (stage tagger without --init)
    init: str = ""  # checkpoint directory to start from (the previous stage's)
    corpus: str = "data/corpus"  # corpus folder or its packed .tar (sam-data build)
    out: str = "runs/sam-small"  # run folder: checkpoint/, log.jsonl, loss.png, trainer state
    minutes: float = 2.0  # wall-clock budget of the stage, from its first batch (resumed runs add up)
    max_steps: int = 0  # a budget in steps instead of minutes; 0: until the wall-clock budget is spent
    stop_after: int = 0  # end this run after N steps; the schedule still spans the stage (--resume goes on)
    batch_size: int = 32  # scenes per step (long-stream batches hold fewer, of equal total length)
    lr: float = 1e-3  # peak learning rate (AdamW)
    min_lr_ratio: float = 0.1  # the cosine decays to lr times this
    warmup: float = 0.05  # linear warm-up, as a fraction of the budget
    weight_decay: float = 0.05  # AdamW weight decay of matrices (not of norms and biases)
    grad_clip: float = 1.0  # gradient norm clipping
    kinds: tuple[str, ...] = ("description", "tags", "open")  # question kinds asked (model/data/tasks.py)
    seconds: tuple[float, float] = (2.0, 15.0)  # scene durations, min and max
    long_fraction: float = 0.0  # share of batches that are long streams (for the streaming questions)
    long_seconds: tuple[float, float] = (30.0, 120.0)  # durations of the long streams
    augment: bool = True  # gain, playback speed, microphone colouring, reverberation, noise, band limits, clipping
    speed: tuple[float, float] = BatchSpec.speed  # with augment: clips' playback speed range; 1 1 for none
    quiet_prob: float = BatchSpec.quiet_prob  # share of scenes without foreground events
    quiet_background_prob: float = BatchSpec.quiet_background_prob  # share of quiet scenes with a background
    augment_on: str = "auto"  # where augmentations run: cpu (data workers), device (batched), auto (device on CUDA)
    wording: str = "varied"  # questions in people's many wordings (stems.txt), or "classic": tasks.py's fixed ones
    bank: str = ""  # a heard-scene bank (python -m model.bank): train the language side on its audio tokens
    hold_out: tuple[str, ...] = ()  # source packages kept out of training
    freeze: tuple[str, ...] = ()  # modules held fixed: any of encoder, connector, lm, branch, branch.yamnet
    branch: str = ""  # give the model a second hearing branch: "yamnet" (AudioSet's tagger, model/branch.py)
    encoder_dropout: float = 0.0  # with a branch: share of scenes whose encoder tokens are left out (the branch alone hears)
    teacher: float = 0.0  # with a branch: weight of the loss that teaches the encoder what YAMNet hears in each scene
    yamnet: str = "data/yamnet"  # the folder `make yamnet` writes YAMNet's weights to, for --branch yamnet
    freq_masks: tuple[int, int] = (0, 0)  # SpecAugment: bands of mel bins masked per scene, and the widest (0 0: none)
    time_masks: tuple[int, int] = (0, 0)  # SpecAugment: stretches masked per 10.24 s, and the longest in 10 ms frames
    layout: str = ""  # a fresh connector of this layout (ablations), even with --init; "" keeps the model's connector
    vocab_size: int = 0  # BPE vocabulary for a fresh tokenizer; 0: the preset's
    tokenizer_texts: int = 20_000  # texts drawn from the task generators to train that BPE on
    backend: str = "auto"  # Mamba-2 path: auto (kernels on CUDA when importable), torch, kernels
    fsdp: str = "auto"  # under torchrun: "yes", "no", or "auto" (FSDP for the large presets, else DDP)
    seed: int = 0  # of the weights, the tokenizer and the data sequence
    workers: int = 4  # data-loader processes mixing scenes (0: in the training process)
    log_every: int = 25  # steps between lines of log.jsonl
    val_every: int = 250  # steps between validation losses (also logged at the end of the stage); 0: never
    val_batches: int = 8  # fixed batches of validation-split recordings the validation loss averages over
    save_every_minutes: float = 5.0  # checkpoint interval (a stop or the end of the stage also saves)
    resume: bool = False  # continue from the run folder's checkpoint, schedule and data position


STAGES: dict[str, dict[str, Any]] = {
    "tagger": dict(kinds=("tags",), lr=2e-3, seconds=(1.0, 10.0)),
    "connector": dict(freeze=("encoder", "lm"), lr=2e-3),
    "joint": dict(lr=1e-3),
    "instruct": dict(kinds=TASK_KINDS, lr=7e-4, long_fraction=0.2),
}


# -- model -------------------------------------------------------------------------------------
def build_model(cfg: TrainConfig, corpus) -> SAM:
    """From --init, or fresh from the preset with a BPE trained on the corpus text."""
    if cfg.init:
        model = load_sam(cfg.init)
        if cfg.layout:  # the checkpoint's encoder and LM, a connector learnt afresh (its own layout or another)
            model = with_new_connector(model, cfg.layout)
    else:
        sam_cfg = SAMConfig.from_name(cfg.model)
        if cfg.layout:
            sam_cfg = sam_cfg.replace(connector=ConnectorConfig(layout=cfg.layout))
        vocab = cfg.vocab_size or sam_cfg.lm.vocab_size
        tok = Tokenizer.train(corpus_text(corpus, cfg.seed, cfg.tokenizer_texts), vocab_size=vocab)
        model = SAM(sam_cfg, tok)
    return with_branch(model, cfg.branch, cfg.yamnet) if cfg.branch and cfg.branch != model.cfg.branch else model


def with_branch(model: SAM, kind: str, yamnet: str) -> SAM:
    """The same encoder, connector and LM with a new hearing branch (YAMNet's weights from `yamnet`).

    The branch's projection starts at zero, so the model answers as before until it learns to use it.
    """
    if model.branch is not None:
        raise ValueError(f"the model already has a {model.cfg.branch!r} branch; start from one without to add {kind!r}")
    fresh = SAM(model.cfg.replace(branch=kind), model.tokenizer)
    for name in ("encoder", "connector", "lm"):
        getattr(fresh, name).load_state_dict(getattr(model, name).state_dict())
    fresh.branch.yamnet.load_state_dict(load_yamnet(yamnet).state_dict())
    return fresh


def with_new_connector(model: SAM, layout: str) -> SAM:
    """The same encoder and LM with a fresh connector of another layout (the ablation of token layouts)."""
    fresh = SAM(model.cfg.replace(connector=ConnectorConfig(layout=layout)), model.tokenizer)
    fresh.encoder.load_state_dict(model.encoder.state_dict())
    fresh.lm.load_state_dict(model.lm.state_dict())
    return fresh


# -- schedule and checkpoints --------------------------------------------------------------------
def lr_at(cfg: TrainConfig, progress: float) -> float:
    """Linear warm-up then cosine decay to min_lr_ratio, over progress in [0, 1]."""
    if progress < cfg.warmup:
        return cfg.lr * max(progress / cfg.warmup, 0.01)
    p = min((progress - cfg.warmup) / max(1 - cfg.warmup, 1e-9), 1.0)
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * p)))


def save_trainer(out: Path, objective: nn.Module, opt: torch.optim.Optimizer, weights: dict[str, torch.Tensor],
                 meta: dict[str, Any], write: bool) -> None:
    """Optimizer state, the objective's own parameters (e.g. the tagging head) and progress, as safetensors.

    `weights` is the objective's full state, already gathered. Collective under FSDP: every rank
    gathers the optimizer state, rank 0 (`write`) writes. No pickles.
    """
    state = parallel.full_optimizer_state(objective, opt)
    own = {k: v for k, v in weights.items() if not k.startswith("sam.")}
    if not write:
        return
    tensors = {f"opt.{name}.{k}": v for name, st in state["state"].items() for k, v in st.items() if torch.is_tensor(v)}
    scalars = {name: {k: v for k, v in st.items() if not torch.is_tensor(v)} for name, st in state["state"].items()}
    tensors.update({f"own.{k}": v for k, v in own.items()})
    write_safetensors(out / "trainer.safetensors", tensors,
                      {"param_groups": json.dumps(state["param_groups"]), "scalars": json.dumps(scalars),
                       "meta": json.dumps(meta)})


def load_trainer(out: Path, objective: nn.Module, opt: torch.optim.Optimizer, sharded: bool) -> dict[str, Any]:
    tensors, meta = read_safetensors(out / "trainer.safetensors")
    state: dict[str, dict[str, Any]] = {n: dict(v) for n, v in json.loads(meta["scalars"]).items()}
    for key, v in tensors.items():
        if key.startswith("opt."):
            name, field = key[4:].rsplit(".", 1)
            state.setdefault(name, {})[field] = v
    own = {k[4:]: v for k, v in tensors.items() if k.startswith("own.")}
    if own:
        objective.load_state_dict(own, strict=False)
    parallel.load_optimizer_state(objective, opt, {"state": state, "param_groups": json.loads(meta["param_groups"])},
                                  sharded)
    return json.loads(meta["meta"])


# -- the loop ------------------------------------------------------------------------------------
@dataclass
class Run:
    """What the loop works on: the model, its objective (possibly wrapped for DDP/FSDP) and optimizer."""

    model: SAM
    objective: nn.Module
    wrapped: nn.Module
    opt: torch.optim.Optimizer
    params: list[nn.Parameter]
    sharded: bool
    rank: int
    world: int = 1


FREEZABLE = ("encoder", "connector", "lm", "branch", "branch.yamnet")


def frozen(model: SAM, name: str) -> nn.Module:
    """The part of the model that --freeze names; ValueError for a name it does not know or a part the model lacks."""
    if name not in FREEZABLE:
        raise ValueError(f"--freeze {name}: not one of {', '.join(FREEZABLE)}")
    if name.startswith("branch") and model.branch is None:
        raise ValueError(f"--freeze {name}: the model has no branch (add one with --branch yamnet)")
    return model.get_submodule(name)


def prepare(cfg: TrainConfig, corpus, rank: int, world: int, device: torch.device, out: Path) -> tuple[Run, dict]:
    """Model (fresh, from --init, or resumed), objective, parallel wrapping, optimizer, and progress so far."""
    ckpt = out / "checkpoint"
    resuming = cfg.resume and (ckpt / "config.json").is_file()
    model = load_sam(ckpt) if resuming else build_model(cfg, corpus)
    model.lm.set_backend(cfg.backend)
    hearing = ("encoder", "connector") + (("branch",) if model.branch is not None else ())
    for name in cfg.freeze + (hearing if cfg.bank else ()):  # a bank's tokens fix the hearing
        frozen(model, name).requires_grad_(False)
    masks = FeatureMasks(*cfg.freq_masks, *cfg.time_masks)
    objective = objective_for(cfg.stage, model, len(corpus.classes), masks, heard=bool(cfg.bank),
                              encoder_dropout=cfg.encoder_dropout, teacher=cfg.teacher).to(device).train()
    sharded = world > 1 and (cfg.fsdp == "yes" or (cfg.fsdp == "auto" and model.cfg.name in LARGE))
    wrapped = parallel.parallelize(objective, world, device, sharded)
    params = [p for p in objective.parameters() if p.requires_grad]
    decay, no_decay = [p for p in params if p.dim() >= 2], [p for p in params if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr, betas=(0.9, 0.95),
                            fused=device.type == "cuda")
    run = Run(model, objective, wrapped, opt, params, sharded, rank, world)
    meta = load_trainer(out, objective, opt, sharded) if resuming else {"step": 0, "elapsed": 0.0}
    return run, meta


def train(cfg: TrainConfig) -> Path:
    """Run one stage; returns the directory of its final checkpoint."""
    if cfg.augment_on not in ("auto", "cpu", "device"):
        raise ValueError(f"--augment-on {cfg.augment_on!r}: choose auto, cpu or device")
    rank, world, device = parallel.setup()
    augment_on = cfg.augment_on if cfg.augment_on != "auto" else ("device" if device.type == "cuda" else "cpu")
    torch.manual_seed(cfg.seed)  # the same initial weights on every rank (FSDP shards them, it does not broadcast)
    out = Path(cfg.out)
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        (out / "train_config.json").write_text(json.dumps(dataclasses.asdict(cfg), indent=1))
    corpus = load_corpus(cfg.corpus)
    run, meta = prepare(cfg, corpus, rank, world, device, out)
    if cfg.bank:
        bank = load_bank(cfg.bank)
        check_fits(bank, run.model)
        loader = bank_batches(bank, cfg.kinds, corpus.classes, seed=cfg.seed * 1000 + rank, start=meta["step"])
        step, elapsed, finished = loop(cfg, run, loader, device, out, meta, [])
        return finish(cfg, run, out, step, elapsed, finished, rank, world)
    spec = BatchSpec(kinds=cfg.kinds, batch_size=cfg.batch_size, seconds=cfg.seconds,
                     long_fraction=cfg.long_fraction, long_seconds=cfg.long_seconds, augment=cfg.augment,
                     quiet_prob=cfg.quiet_prob, quiet_background_prob=cfg.quiet_background_prob, speed=cfg.speed,
                     augment_on=augment_on, hold_out=cfg.hold_out, block_samples=run.model.block_samples,
                     wording=cfg.wording)
    loader = batch_loader(corpus, spec, seed=cfg.seed * 1000 + rank, workers=cfg.workers, start=meta["step"])
    val = validation_batches(corpus, spec, seed=cfg.seed, n=cfg.val_batches) if cfg.val_every else []
    step, elapsed, finished = loop(cfg, run, loader, device, out, meta, val)
    return finish(cfg, run, out, step, elapsed, finished, rank, world)


def finish(cfg: TrainConfig, run: Run, out: Path, step: int, elapsed: float, finished: bool, rank: int,
           world: int) -> Path:
    """The stage's last save, loss curves and done marker."""
    save(run, out, step, elapsed)
    if rank == 0:
        plot_log(out / "log.jsonl", out / "loss.png")
        if finished:  # the stage spent its budget; a stopped one has no marker and goes on with --resume
            (out / "done.json").write_text(json.dumps({"stage": cfg.stage, "step": step, "elapsed": round(elapsed, 1)}))
        print(f"{cfg.stage}: {step} steps in {elapsed:.0f} s -> {out / 'checkpoint'}"
              + ("" if finished else " (stopped early; --resume goes on)"), flush=True)
    parallel.teardown(world)
    return out / "checkpoint"


def loop(cfg: TrainConfig, run: Run, loader, device: torch.device, out: Path, meta: dict,
         val: list[Batch] = ()) -> tuple[int, float, bool]:
    """Steps until the budget, --max-steps, --stop-after or a stop signal; the validation loss every val_every.

    Returns (step, elapsed seconds, whether the stage's budget is spent).
    """
    budget = cfg.minutes * 60
    log = open(out / "log.jsonl", "a") if run.rank == 0 else None
    bar = _progress(budget, meta["elapsed"], run.rank)
    step, last_save = meta["step"], time.perf_counter()
    start = None  # the clock runs from the first batch: the data workers' start-up is not training time
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")
    running, stop, progress, asked = None, _StopOnSignal(), 0.0, False
    try:
        for batch in loader:
            if start is None:
                start = time.perf_counter() - meta["elapsed"]
            now = time.perf_counter()
            # Under torchrun the ranks agree on the clock and on a stop that reached some of them only.
            elapsed, since_save, stopping = parallel.agreed([now - start, now - last_save, float(stop.asked)], device)
            asked = bool(stopping)
            progress = step / cfg.max_steps if cfg.max_steps else elapsed / budget
            if progress >= 1.0 or (cfg.stop_after and step - meta["step"] >= cfg.stop_after) or asked:
                break
            lr = lr_at(cfg, progress)
            for g in run.opt.param_groups:
                g["lr"] = lr
            if batch.chains:
                batch.audio = augment_batch(batch.audio.to(device, non_blocking=True), batch.chains)
            if run.objective.masks:  # a step's masks depend on the seed, rank and step alone: --resume redraws them
                torch.manual_seed((cfg.seed * 1_000_003 + run.rank) * 1_000_003 + step)
            with autocast:
                loss = run.wrapped(*run.objective.inputs(batch, device))
            run.opt.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(run.params, cfg.grad_clip)
            run.opt.step()
            step += 1
            value = loss.item()
            running = value if running is None else 0.95 * running + 0.05 * value
            if log is not None and (step % cfg.log_every == 0 or step == 1):
                log.write(json.dumps({"stage": cfg.stage, "step": step, "elapsed": round(elapsed, 2), "loss": value,
                                      "loss_avg": running, "lr": lr, "grad_norm": float(grad_norm),
                                      "seconds": batch.seconds}) + "\n")
                log.flush()
            bar.update(elapsed - bar.n)
            bar.set_postfix(step=step, loss=f"{running:.3f}", lr=f"{lr:.1e}")
            if val and step % cfg.val_every == 0:
                _log_validation(log, cfg, run, val, device, autocast, step, elapsed)
            if since_save > cfg.save_every_minutes * 60:
                save(run, out, step, elapsed)
                last_save = time.perf_counter()
            if stop.asked and run.world == 1:  # straight to the save: nothing more from the data workers
                asked = True  # (under torchrun the next step's agreement stops every rank together)
                break
    finally:
        stop.restore()
    bar.close()
    elapsed = time.perf_counter() - start if start is not None else meta["elapsed"]
    if val and step % cfg.val_every and not asked:  # the stage's last word, unless just measured or stopped
        _log_validation(log, cfg, run, val, device, autocast, step, elapsed)
    if log is not None:
        log.close()
    return step, elapsed, progress >= 1.0


def validation_loss(run: Run, val: list[Batch], device: torch.device, autocast) -> float:
    """The objective's mean loss over the fixed validation batches, without gradients (collective under DDP/FSDP)."""
    run.objective.eval()
    with torch.no_grad(), autocast:
        total = sum(run.wrapped(*run.objective.inputs(b, device)).item() for b in val)
    run.objective.train()
    return total / len(val)


def _log_validation(log, cfg: TrainConfig, run: Run, val: list[Batch], device, autocast, step: int,
                    elapsed: float) -> None:
    value = validation_loss(run, val, device, autocast)
    if log is not None:
        log.write(json.dumps({"stage": cfg.stage, "step": step, "elapsed": round(elapsed, 2), "val_loss": value}) + "\n")
        log.flush()


class _StopOnSignal:
    """SIGTERM or SIGINT ends the stage after the current step, with its checkpoint saved (resume goes on)."""

    def __init__(self):
        self.asked = False
        self.previous = {sig: signal.signal(sig, self._ask) for sig in (signal.SIGTERM, signal.SIGINT)}

    def restore(self) -> None:
        """The handlers from before the stage: a process that trains in-process stops as it did before."""
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)

    def _ask(self, signum, frame) -> None:
        self.asked = True


def save(run: Run, out: Path, step: int, elapsed: float) -> None:
    """The checkpoint directory and the trainer state (every rank gathers; rank 0 writes)."""
    weights = parallel.full_model_state(run.objective)
    if run.rank == 0:
        save_sam(run.model, out / "checkpoint", tensors={k[4:]: v for k, v in weights.items() if k.startswith("sam.")})
    save_trainer(out, run.objective, run.opt, weights, {"step": step, "elapsed": elapsed}, write=run.rank == 0)


def _progress(budget: float, done: float, rank: int):
    from tqdm import tqdm

    return tqdm(total=round(budget), initial=round(done), unit="s", desc="train", disable=rank != 0 or None,
                bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} s {postfix}")


def plot_log(logs: Path | list[Path], png: Path) -> None:
    """Smoothed training loss (a line per stage) and validation loss (points) against steps, as a PNG.

    Several logs, such as the runs of a curriculum, are drawn one after another on one step axis.
    Without matplotlib (the `plots` extra) it says so and draws nothing: a plot never fails a stage.
    """
    plt = pyplot()
    if plt is None:
        print(f"no {png.name}: drawing the loss curves needs matplotlib (pip install 'sam-live[plots]'); "
              "the losses are in log.jsonl", file=sys.stderr)
        return
    logs = [logs] if isinstance(logs, Path) else logs
    fig, ax = plt.subplots(figsize=(7 if len(logs) == 1 else 8, 4))
    offset, runs = 0, Counter()
    for log_path in logs:
        rows = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
        for stage in dict.fromkeys(r["stage"] for r in rows):
            runs[stage] += 1
            name = stage if runs[stage] == 1 else f"{stage}, run {runs[stage]}"  # a stage continued in later runs
            pts = [(offset + r["step"], r["loss_avg"]) for r in rows if r["stage"] == stage and "loss_avg" in r]
            held = [(offset + r["step"], r["val_loss"]) for r in rows if r["stage"] == stage and "val_loss" in r]
            colour = ax.plot(*zip(*pts), label=name)[0].get_color() if pts else None
            if held:
                ax.plot(*zip(*held), "o--", color=colour, label=f"{name}, validation")
        offset = max([offset, *(offset + r["step"] for r in rows)])
    ax.set_xlabel("step" if len(logs) == 1 else "step (whole chain)")
    ax.set_ylabel("loss (training: smoothed)")
    ax.set_yscale("log")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)


# -- command line --------------------------------------------------------------------------------
def field_help() -> dict[str, str]:
    """Each TrainConfig field's help text: the comment on its line, so the config documents itself once."""
    out = {}
    for line in inspect.getsource(TrainConfig).splitlines():
        code, _, comment = line.partition("  # ")
        name = code.strip().split(":")[0]
        if comment and name.isidentifier():
            out[name] = comment.strip().replace("%", "%%")
    return out


def parse_args(argv: list[str] | None = None) -> TrainConfig:
    p = argparse.ArgumentParser(
        prog="sam-train", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="each stage's own defaults, over those shown above:\n"
               + "".join(f"  {name:10} {_preset(values)}\n" for name, values in STAGES.items())
               + "example: sam-train --stage tagger --minutes 2 --out runs/s1\n"
               "         sam-train --stage connector --init runs/s1/checkpoint --out runs/s2")
    p.add_argument("--stage", choices=list(STAGES), required=True, help="curriculum stage (sets its defaults)")
    helps = field_help()
    for f in dataclasses.fields(TrainConfig):
        if f.name == "stage":
            continue
        flag = "--" + f.name.replace("_", "-")
        text = f"{helps.get(f.name, '')} (default: {_shown(f.default)})".strip()
        if f.type == "bool":
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=text)
        elif f.type.startswith("tuple"):
            p.add_argument(flag, nargs="*", default=None, help=text)
        else:
            kind = {"int": int, "float": float}.get(f.type, str)
            p.add_argument(flag, type=kind, default=None, help=text)
    args = vars(p.parse_args(argv))
    values: dict[str, Any] = dict(STAGES[args["stage"]])
    for f in dataclasses.fields(TrainConfig):
        given = args.get(f.name)
        if given is None:
            continue
        if f.type.startswith(("tuple[float", "tuple[int")):
            kind = float if f.type.startswith("tuple[float") else int
            try:
                given = tuple(kind(x) for x in given)
            except ValueError:
                p.error(f"--{f.name.replace('_', '-')} takes {kind.__name__} numbers, got {' '.join(given)}")
            if len(given) != len(f.default):
                p.error(f"--{f.name.replace('_', '-')} takes {len(f.default)} numbers, got {len(given)}")
        elif f.type.startswith("tuple"):
            given = tuple(given)
        values[f.name] = given
    unknown = set(values.get("kinds", ())) - set(TASK_KINDS)
    if unknown:
        p.error(f"unknown task kinds {sorted(unknown)}; choose from {TASK_KINDS}")
    return TrainConfig(**values)


def _preset(values: dict[str, Any]) -> str:
    return " ".join(f"--{k.replace('_', '-')} {_shown(v)}" for k, v in values.items())


def _shown(default: Any) -> str:
    if isinstance(default, tuple):
        return " ".join(map(str, default)) or "none"
    return repr(default) if default == "" else str(default)


def main(argv: list[str] | None = None) -> int:
    """Parse the stage and its overrides, then train."""
    cfg = parse_args(argv)
    try:
        train(cfg)
    except ValueError as e:
        raise SystemExit(f"error: {e}") from e
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
