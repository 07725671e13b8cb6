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
import json
import math
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from .batches import Batch, BatchSpec, TASK_KINDS, batch_loader, corpus_text, load_corpus
from .checkpoint import load_sam, save_sam
from .config import ConnectorConfig, SAMConfig
from .files import read_safetensors, write_safetensors
from .prompt import training_batch
from .sam import SAM
from .tokenizer import Tokenizer


@dataclass
class TrainConfig:
    """Everything one stage needs; presets fill the stage's fields, flags override any of them."""

    stage: str = "joint"
    model: str = "sam-small"  # SAM preset for a fresh model (stage tagger without --init)
    init: str = ""  # checkpoint directory to start from (the previous stage's)
    corpus: str = "data/corpus"
    out: str = "runs/sam-small"
    minutes: float = 2.0  # wall-clock budget of the stage
    max_steps: int = 0  # 0: until the budget is spent
    stop_after: int = 0  # end this run after N steps; the schedule still spans the stage (--resume goes on)
    batch_size: int = 32
    lr: float = 1e-3
    min_lr_ratio: float = 0.1
    warmup: float = 0.05  # fraction of the budget
    weight_decay: float = 0.05
    grad_clip: float = 1.0
    kinds: tuple[str, ...] = ("description", "tags", "open")
    seconds: tuple[float, float] = (2.0, 15.0)  # scene durations
    long_fraction: float = 0.0  # batches of long streams (streaming questions)
    long_seconds: tuple[float, float] = (30.0, 120.0)
    augment: bool = True
    hold_out: tuple[str, ...] = ()  # source packages kept out of training
    freeze: tuple[str, ...] = ()  # of "encoder", "connector", "lm"
    layout: str = ""  # connector layout for a fresh connector (ablation); "" keeps the model's
    vocab_size: int = 0  # BPE vocabulary for a fresh tokenizer; 0: the preset's
    tokenizer_texts: int = 20_000  # texts drawn from the task generators to train that BPE on
    backend: str = "auto"  # Mamba-2 path: auto (kernels on CUDA when importable), torch, kernels
    seed: int = 0
    workers: int = 4
    log_every: int = 25
    save_every_minutes: float = 5.0
    resume: bool = False


STAGES: dict[str, dict[str, Any]] = {
    "tagger": dict(kinds=("tags",), lr=2e-3, seconds=(1.0, 10.0)),
    "connector": dict(freeze=("encoder", "lm"), lr=2e-3),
    "joint": dict(lr=1e-3),
    "instruct": dict(kinds=TASK_KINDS, lr=7e-4, long_fraction=0.2),
}


# -- distributed set-up ------------------------------------------------------------------------
def setup_distributed() -> tuple[int, int, torch.device]:
    """(rank, world size, device) under torchrun, or (0, 1, best device) alone."""
    if "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
        rank, world = dist.get_rank(), dist.get_world_size()
        if torch.cuda.is_available():
            local = int(os.environ.get("LOCAL_RANK", 0))
            torch.cuda.set_device(local)
            return rank, world, torch.device("cuda", local)
        return rank, world, torch.device("cpu")
    return 0, 1, torch.device("cuda" if torch.cuda.is_available() else "cpu")


# -- model -------------------------------------------------------------------------------------
def build_model(cfg: TrainConfig, corpus) -> SAM:
    """From --init, or fresh from the preset with a BPE trained on the corpus text."""
    if cfg.init:
        model = load_sam(cfg.init)
        if cfg.layout and cfg.layout != model.cfg.connector.layout:
            return with_new_connector(model, cfg.layout)
        return model
    sam_cfg = SAMConfig.from_name(cfg.model)
    if cfg.layout:
        sam_cfg = sam_cfg.replace(connector=ConnectorConfig(layout=cfg.layout))
    vocab = cfg.vocab_size or sam_cfg.lm.vocab_size
    tok = Tokenizer.train(corpus_text(corpus, cfg.seed, cfg.tokenizer_texts), vocab_size=vocab)
    return SAM(sam_cfg, tok)


def with_new_connector(model: SAM, layout: str) -> SAM:
    """The same encoder and LM with a fresh connector of another layout (the ablation of token layouts)."""
    fresh = SAM(model.cfg.replace(connector=ConnectorConfig(layout=layout)), model.tokenizer)
    fresh.encoder.load_state_dict(model.encoder.state_dict())
    fresh.lm.load_state_dict(model.lm.state_dict())
    return fresh


class TaggerHead(nn.Module):
    """Mean-pooled encoder patches -> class logits: the encoder's pretraining objective."""

    def __init__(self, dim: int, n_classes: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.proj = nn.Linear(dim, n_classes)

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        return self.proj(self.norm(patches.mean(dim=(1, 2))))


def tagger_loss(model: SAM, head: TaggerHead, batch: Batch, device: torch.device) -> torch.Tensor:
    """Multi-label BCE of the scene's classes, plus next-token loss of the LM on the batch's text."""
    from .audio import features

    patches = model.encoder(features(batch.audio.to(device, non_blocking=True)))
    tag = F.binary_cross_entropy_with_logits(head(patches).float(), batch.labels.to(device))
    tok = model.tokenizer
    rows = [[tok.eot_id, *tok.encode(" " + t), tok.eot_id] for t in batch.texts]
    L = max(map(len, rows))
    ids = torch.full((len(rows), L), -100, dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r)
    ids = ids.to(device)
    logits, _ = model.lm(ids.clamp_min(0))
    text = F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), ids[:, 1:].flatten(), ignore_index=-100)
    return tag + text


def qa_loss(model: nn.Module, sam: SAM, batch: Batch, device: torch.device) -> torch.Tensor:
    ids, mask = training_batch(sam.tokenizer, batch.questions, batch.answers)
    return model(batch.audio.to(device, non_blocking=True), ids.to(device), mask.to(device))


# -- schedule and checkpoints --------------------------------------------------------------------
def lr_at(cfg: TrainConfig, progress: float) -> float:
    """Linear warm-up then cosine decay to min_lr_ratio, over progress in [0, 1]."""
    if progress < cfg.warmup:
        return cfg.lr * max(progress / cfg.warmup, 0.01)
    p = min((progress - cfg.warmup) / max(1 - cfg.warmup, 1e-9), 1.0)
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * p)))


def save_trainer(out: Path, opt: torch.optim.Optimizer, head: nn.Module | None, meta: dict[str, Any]) -> None:
    """Optimizer state, tagger head and progress as safetensors + JSON (no pickles)."""
    sd = opt.state_dict()
    tensors = {f"opt.{i}.{k}": v for i, s in sd["state"].items() for k, v in s.items() if torch.is_tensor(v)}
    if head is not None:
        tensors.update({f"head.{k}": v for k, v in head.state_dict().items()})
    write_safetensors(out / "trainer.safetensors", {k: v.detach().cpu() for k, v in tensors.items()},
                      {"param_groups": json.dumps(sd["param_groups"]), "meta": json.dumps(meta)})


def load_trainer(out: Path, opt: torch.optim.Optimizer, head: nn.Module | None) -> dict[str, Any]:
    tensors, meta = read_safetensors(out / "trainer.safetensors")
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, v in tensors.items():
        if key.startswith("opt."):
            _, i, name = key.split(".", 2)
            state.setdefault(int(i), {})[name] = v
    opt.load_state_dict({"state": state, "param_groups": json.loads(meta["param_groups"])})
    if head is not None:
        head.load_state_dict({k[5:]: v for k, v in tensors.items() if k.startswith("head.")})
    return json.loads(meta["meta"])


# -- the loop ------------------------------------------------------------------------------------
def train(cfg: TrainConfig) -> Path:
    """Run one stage; returns the directory of its final checkpoint."""
    rank, world, device = setup_distributed()
    torch.manual_seed(cfg.seed + rank)
    out = Path(cfg.out)
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        (out / "train_config.json").write_text(json.dumps(dataclasses.asdict(cfg), indent=1))
    corpus = load_corpus(cfg.corpus)
    ckpt = out / "checkpoint"
    resuming = cfg.resume and (ckpt / "config.json").is_file()
    model = load_sam(ckpt) if resuming else build_model(cfg, corpus)
    model.lm.set_backend(cfg.backend)
    model.to(device).train()
    for name in cfg.freeze:
        getattr(model, name).requires_grad_(False)
    head = TaggerHead(model.cfg.encoder.dim, len(corpus.classes)).to(device) if cfg.stage == "tagger" else None
    params = [p for p in model.parameters() if p.requires_grad] + (list(head.parameters()) if head else [])
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr, betas=(0.9, 0.95),
                            fused=device.type == "cuda")
    meta = load_trainer(out, opt, head) if resuming else {"step": 0, "elapsed": 0.0}
    wrapped: nn.Module = model
    if world > 1:
        wrapped = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

    spec = BatchSpec(kinds=cfg.kinds, batch_size=cfg.batch_size, seconds=cfg.seconds,
                     long_fraction=cfg.long_fraction, long_seconds=cfg.long_seconds, augment=cfg.augment,
                     hold_out=cfg.hold_out, block_samples=model.block_samples)
    loader = batch_loader(corpus, spec, seed=cfg.seed * 1000 + rank, workers=cfg.workers, start=meta["step"])
    budget = cfg.minutes * 60
    log = open(out / "log.jsonl", "a") if rank == 0 else None
    bar = _progress(budget, meta["elapsed"], rank)
    step, elapsed, last_save = meta["step"], meta["elapsed"], time.perf_counter()
    start = time.perf_counter() - elapsed
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else torch.autocast("cpu", enabled=False)
    running = None
    stop = _StopOnSignal()
    for batch in loader:
        elapsed = time.perf_counter() - start
        progress = step / cfg.max_steps if cfg.max_steps else elapsed / budget
        if progress >= 1.0 or (cfg.stop_after and step - meta["step"] >= cfg.stop_after) or stop.asked:
            break
        lr = lr_at(cfg, progress)
        for g in opt.param_groups:
            g["lr"] = lr
        with autocast:
            loss = tagger_loss(model, head, batch, device) if head is not None else qa_loss(wrapped, model, batch, device)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        opt.step()
        step += 1
        value = loss.item()
        running = value if running is None else 0.95 * running + 0.05 * value
        if rank == 0:
            bar.update(elapsed - bar.n)
            bar.set_postfix(step=step, loss=f"{running:.3f}", lr=f"{lr:.1e}")
            if step % cfg.log_every == 0 or step == 1:
                log.write(json.dumps({"stage": cfg.stage, "step": step, "elapsed": round(elapsed, 2), "loss": value,
                                      "loss_avg": running, "lr": lr, "grad_norm": float(grad_norm),
                                      "seconds": batch.audio.shape[-1] / 16000}) + "\n")
                log.flush()
            if time.perf_counter() - last_save > cfg.save_every_minutes * 60:
                _save(model, opt, head, out, step, elapsed)
                last_save = time.perf_counter()
    if rank == 0:
        bar.close()
        _save(model, opt, head, out, step, time.perf_counter() - start)
        log.close()
        plot_log(out / "log.jsonl", out / "loss.png")
        print(f"{cfg.stage}: {step} steps in {time.perf_counter() - start:.0f} s -> {ckpt}", flush=True)
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return ckpt


class _StopOnSignal:
    """SIGTERM or SIGINT ends the stage after the current step, with its checkpoint saved (resume goes on)."""

    def __init__(self):
        self.asked = False
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._ask)

    def _ask(self, signum, frame) -> None:
        self.asked = True


def _save(model: SAM, opt, head, out: Path, step: int, elapsed: float) -> None:
    save_sam(model, out / "checkpoint")
    save_trainer(out, opt, head, {"step": step, "elapsed": elapsed})


def _progress(budget: float, done: float, rank: int):
    from tqdm import tqdm

    return tqdm(total=round(budget), initial=round(done), unit="s", desc="train", disable=rank != 0 or None,
                bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} s {postfix}")


def plot_log(log_path: Path, png: Path) -> None:
    """Loss against steps (one line per stage in the log) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
    fig, ax = plt.subplots(figsize=(7, 4))
    for stage in dict.fromkeys(r["stage"] for r in rows):
        pts = [(r["step"], r["loss_avg"]) for r in rows if r["stage"] == stage and "loss_avg" in r]
        if pts:
            ax.plot(*zip(*pts), label=stage)
    ax.set_xlabel("step")
    ax.set_ylabel("training loss (smoothed)")
    ax.set_yscale("log")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)


# -- command line --------------------------------------------------------------------------------
def parse_args(argv: list[str] | None = None) -> TrainConfig:
    p = argparse.ArgumentParser(
        prog="sam-train", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="stages: " + ", ".join(STAGES) + "\nexample: sam-train --stage tagger --minutes 2 --out runs/s1\n"
               "         sam-train --stage connector --init runs/s1/checkpoint --out runs/s2")
    p.add_argument("--stage", choices=list(STAGES), required=True, help="curriculum stage (sets its defaults)")
    for f in dataclasses.fields(TrainConfig):
        if f.name == "stage":
            continue
        flag = "--" + f.name.replace("_", "-")
        if f.type == "bool":
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=None)
        elif f.type.startswith("tuple"):
            p.add_argument(flag, nargs="*", default=None)
        else:
            kind = {"int": int, "float": float}.get(f.type, str)
            p.add_argument(flag, type=kind, default=None)
    args = vars(p.parse_args(argv))
    values: dict[str, Any] = dict(STAGES[args["stage"]])
    for f in dataclasses.fields(TrainConfig):
        given = args.get(f.name)
        if given is None:
            continue
        if f.type.startswith("tuple[float"):
            given = tuple(float(x) for x in given)
        elif f.type.startswith("tuple"):
            given = tuple(given)
        values[f.name] = given
    unknown = set(values.get("kinds", ())) - set(TASK_KINDS)
    if unknown:
        p.error(f"unknown task kinds {sorted(unknown)}; choose from {TASK_KINDS}")
    return TrainConfig(**values)


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
