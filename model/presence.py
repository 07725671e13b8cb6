"""What the model hears of its own classes, column by column: a presence head on its audio tokens.

The language model answers "is there a dog?" from its state, and on recordings of its own training
sources says "yes" to a present sound only about three times in five. YAMNet's tags (model/tags.py) know
AudioSet's classes, not ours, and hear the games' stylised effects as other things. The presence head is a
third witness: a small MLP over each 160 ms column's LM input token (the encoder's and the YAMNet branch's
parts together, model/sam.py) that gives, for each class of the corpus the model was trained on, the
probability that it sounds in the last LABEL_S seconds of the column. It is trained alone, with the model
frozen, on training scenes mixed as for training, every column labelled from the scene's events; the
packages left out of the model's training (data.sources.UNHEARD_PACKAGES) stay out of the head's.

Its scores join YAMNet's in the stream's tags as rows after AudioSet's 521 (Tags.own names their classes),
so they are kept, forked and saved with the state, and the answers and watches read them as they read the
tags (answer_forms.heard_priors, watch.with_tags).

    python -m model.presence --checkpoint assets/sam-small --out runs/presence --batches 300

`--reads` chooses what the head reads of a column: its LM input token (as the shipped head does), YAMNet's
embedding of its 0.96 s, or both side by side (config.PRESENCE_READS; the checkpoint's config keeps the choice).

The head reads the tokens its model's encoder, connector and branch make: a model trained further
(`sam-train --init`) keeps the head it had, which then hears through changed tokens; make it again.
"""
from __future__ import annotations

import argparse
import json
import math
import random
import shutil
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from .audio import TOKENS_PER_SECOND
from .config import PRESENCE_READS

HIDDEN = 512  # the MLP's width
LABEL_S = 0.48  # a column is labelled with the classes sounding in the last LABEL_S seconds before its end
STEP_COLUMNS = 1024  # columns per training step


class PresenceHead(nn.Module):
    """(b, n, width) what it reads of each column (`presence_input`) -> (b, n, classes) probabilities that each
    class sounds in each column."""

    def __init__(self, width: int, n_classes: int, hidden: int = HIDDEN):
        super().__init__()
        self.register_buffer("mean", torch.zeros(width))  # the training columns' statistics: inputs standardised
        self.register_buffer("scale", torch.ones(width))
        self.net = nn.Sequential(nn.Linear(width, hidden), nn.GELU(), nn.Dropout(0.2), nn.Linear(hidden, n_classes))

    def logits(self, tokens: Tensor) -> Tensor:
        x = (tokens.to(self.mean.dtype) - self.mean) / self.scale
        return self.net(x)

    def forward(self, tokens: Tensor) -> Tensor:
        return torch.sigmoid(self.logits(tokens).float())


def presence_width(cfg) -> int:
    """The width of what a presence head of SAMConfig `cfg` reads of a column (config.PRESENCE_READS)."""
    from .yamnet import EMBEDDING

    return {"tokens": cfg.lm.d_model, "embedding": EMBEDDING, "both": cfg.lm.d_model + EMBEDDING}[cfg.presence_reads]


def presence_input(reads: str, tokens: Tensor, emb: Tensor) -> Tensor:
    """What a presence head reads of columns (config.PRESENCE_READS): their LM input tokens (b, n, d_model), YAMNet's
    embeddings of them (b, n, 1024), or both side by side, in float32."""
    if reads == "tokens":
        return tokens.float()
    if reads == "embedding":
        return emb.float()
    return torch.cat([tokens.float(), emb.float()], dim=-1)


def column_labels(events: list[tuple[str, float, float]], background: str | None, n_columns: int,
                  index: dict[str, int]) -> np.ndarray:
    """(n_columns, len(index)) uint8: 1 where a class sounds in the LABEL_S seconds before the column's end;
    `events` are (label, start_s, end_s); a background sounds in every column."""
    y = np.zeros((n_columns, len(index)), np.uint8)
    ends = (np.arange(n_columns) + 1) / TOKENS_PER_SECOND
    for label, start, end in events:
        y[(ends > start) & (ends - LABEL_S < end), index[label]] = 1
    if background is not None:
        y[:, index[background]] = 1
    return y


@dataclass
class Columns:
    """Heard columns: what a head reads of them (n, width) float16, labels (n, classes) uint8, and where each
    scene's run starts."""

    tokens: np.ndarray  # what the head reads of each column (`presence_input`)
    labels: np.ndarray
    starts: np.ndarray  # (scenes + 1,) offsets: scene i is rows starts[i]:starts[i + 1]
    streams: np.ndarray  # (scenes,) bool: longer than a recording (asked about its last seconds)


def mixed_batches(model, corpus, split: str, hold_out: tuple[str, ...], key: str, batches: int, desc: str,
                  long_fraction: float = 0.15, batch_size: int = 16):
    """`split`'s scenes as the trainer mixes them (augmented for training, clean for validation; a share
    `long_fraction` of the batches 30-60 s streams): (the split's corpus, an iterator of `batches` batches, batch b
    drawn by a generator seeded by `key`/b, with a progress bar)."""
    from tqdm import tqdm

    from .batches import BatchSpec, BatchStream
    from .data.dataset import clip_bank
    from .data.mixer import LONG_SCENE_S
    from .train import STAGES, TrainConfig

    cfg = TrainConfig(**{**STAGES["instruct"], "stage": "instruct"})
    spec = BatchSpec(kinds=cfg.kinds, batch_size=batch_size, seconds=cfg.seconds, long_fraction=long_fraction,
                     long_seconds=(LONG_SCENE_S, 2 * LONG_SCENE_S), augment=split == "train", hold_out=hold_out,
                     block_samples=model.block_samples)
    part = corpus.subset(split, hold_out)
    bank, stream = clip_bank(part), BatchStream(corpus, spec, 0)  # the seed is in `key`: batch() takes its generator
    bar = tqdm(range(batches), desc=desc, unit="batch", file=sys.stderr, disable=None)
    return part, (stream.batch(random.Random(f"{key}/{b}"), bank, corpus.class_names, part) for b in bar)


@torch.inference_mode()
def hear_columns(model, corpus, split: str, batches: int, seed: int, hold_out: tuple[str, ...],
                 reads: str = "tokens") -> Columns:
    """Mix `batches` batches of `split` scenes (`mixed_batches`), hear them with `model` and label every column;
    each column kept as a head that `reads` it reads it (`presence_input`)."""
    from .data.mixer import LONG_SCENE_S

    index = {c: i for i, c in enumerate(corpus.class_names)}
    _, mixed = mixed_batches(model, corpus, split, hold_out, f"presence/{split}/{seed}", batches,
                             f"hearing {split} scenes")
    tokens, labels, lengths, streams = [], [], [], []
    for batch in mixed:
        heard, _, emb = model.heard(batch.audio.to(model.device))
        tok = presence_input(reads, heard, emb).cpu().numpy()
        for i, scene in enumerate(batch.scenes):
            n = min(tok.shape[1], math.ceil(scene.duration_s * TOKENS_PER_SECOND))
            events = [(e.label, e.start_s, e.end_s) for e in scene.events]
            tokens.append(tok[i, :n].astype(np.float16))
            labels.append(column_labels(events, scene.background.label if scene.background else None, n, index))
            lengths.append(n)
            streams.append(scene.duration_s > LONG_SCENE_S)
    return Columns(np.concatenate(tokens), np.concatenate(labels), np.concatenate([[0], np.cumsum(lengths)]),
                   np.array(streams))


def fit(columns: Columns, steps: int, seed: int = 0, lr: float = 1e-3, device: str = "cpu",
        hidden: int = HIDDEN) -> PresenceHead:
    """A head trained on `columns` (binary cross-entropy per class and column, AdamW, STEP_COLUMNS a step)."""
    from tqdm import tqdm

    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    x = torch.from_numpy(columns.tokens).to(device)
    y = torch.from_numpy(columns.labels).to(device)
    head = PresenceHead(x.shape[1], y.shape[1], hidden).to(device)
    head.mean.copy_(x.float().mean(0))
    head.scale.copy_(x.float().std(0) + 1e-5)
    opt = torch.optim.AdamW(head.parameters(), lr, weight_decay=1e-2)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=steps, pct_start=0.05)
    head.train()
    bar = tqdm(range(steps), desc="fitting the presence head", unit="step", file=sys.stderr, disable=None)
    for _ in bar:
        i = torch.randint(0, len(x), (STEP_COLUMNS,), generator=gen).to(device)
        loss = nn.functional.binary_cross_entropy_with_logits(head.logits(x[i].float()), y[i].float())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        bar.set_postfix(loss=f"{loss.item():.4f}", refresh=False)
    return head.eval().cpu()


@torch.inference_mode()
def scene_scores(head: PresenceHead, columns: Columns, recent_columns: int) -> tuple[np.ndarray, np.ndarray]:
    """Per scene, each class's highest probability and whether it sounds: over the whole recording, or over the
    last `recent_columns` of a stream (what "is there a dog?" asks of each)."""
    probs = head(torch.from_numpy(columns.tokens).float()).numpy()
    scores, truth = [], []
    for k in range(len(columns.starts) - 1):
        lo, hi = columns.starts[k], columns.starts[k + 1]
        if columns.streams[k]:
            lo = max(lo, hi - recent_columns)
        scores.append(probs[lo:hi].max(0))
        truth.append(columns.labels[lo:hi].any(0))
    return np.stack(scores), np.stack(truth)


def auc(positive: np.ndarray, negative: np.ndarray) -> float:
    """The chance that a positive scores above a negative (ties count half)."""
    if len(positive) == 0 or len(negative) == 0:
        return float("nan")
    both = np.concatenate([positive, negative])
    order = both.argsort(kind="stable")
    ranks = np.empty(len(both))
    ranks[order] = np.arange(1, len(both) + 1)
    for v in np.unique(both):  # average ranks over ties
        tie = both == v
        ranks[tie] = ranks[tie].mean()
    return float((ranks[: len(positive)].sum() - len(positive) * (len(positive) + 1) / 2)
                 / (len(positive) * len(negative)))


def report(head: PresenceHead, columns: Columns, threshold: float) -> dict:
    """Scene-level presence on held columns: AUC of present against absent classes, and the share called present
    at `threshold` of each."""
    from .tags import RECENT_COLUMNS

    scores, truth = scene_scores(head, columns, RECENT_COLUMNS)
    pos, neg = scores[truth], scores[~truth]
    return {"scenes": int(len(scores)), "present": int(len(pos)), "absent": int(len(neg)), "auc": round(auc(pos, neg), 4),
            "threshold": threshold, "present_called": round(float((pos > threshold).mean()), 4),
            "absent_called": round(float((neg > threshold).mean()), 4)}


def with_head(model, head: PresenceHead, classes: list[str], reads: str = "tokens"):
    """`model` (unchanged) as a new SAM whose config names `classes` and which carries `head`, reading `reads`."""
    from .sam import SAM

    cfg = replace(model.cfg, presence=tuple(classes), presence_reads=reads)
    out = SAM(cfg, model.tokenizer)
    state = {k: v for k, v in model.state_dict().items() if not k.startswith("presence.")}
    state.update({f"presence.{k}": v for k, v in head.state_dict().items()})
    out.load_state_dict(state, strict=True)
    return out.eval()


def main(argv: list[str] | None = None) -> int:
    """Hear training and validation scenes, fit the head, report it, and write the checkpoint with it."""
    from .checkpoint import default_checkpoint, load_sam, save_sam
    from .data.corpus import load_corpus
    from .data.sources import UNHEARD_PACKAGES
    from .tags import OWN_THRESHOLD

    p = argparse.ArgumentParser(prog="python -m model.presence", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--checkpoint", type=Path, help="the model the head listens to (default: the model in assets/)")
    p.add_argument("--corpus", default="data/corpus.tar", help="corpus folder or packed archive")
    p.add_argument("--out", type=Path, required=True, help="checkpoint directory to write: the model with its head")
    p.add_argument("--batches", type=int, default=300, help="batches of 16 training scenes to hear")
    p.add_argument("--val-batches", type=int, default=40, help="batches of validation scenes to report on")
    p.add_argument("--steps", type=int, default=20_000, help=f"training steps of {STEP_COLUMNS} columns")
    p.add_argument("--threshold", type=float, default=OWN_THRESHOLD, help="the probability reported as 'present'")
    p.add_argument("--reads", choices=PRESENCE_READS, default="tokens",
                   help="what the head reads of each column: the LM input token, YAMNet's embedding, or both")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--all-packages", action="store_true",
                   help="train on every package, the ones the model never heard (UNHEARD_PACKAGES) included")
    args = p.parse_args(argv)
    path = args.checkpoint or default_checkpoint()
    if path is None:
        p.error("no checkpoint: pass --checkpoint DIR")
    if min(args.batches, args.val_batches, args.steps) < 1 or not 0 < args.threshold < 1:
        p.error("--batches, --val-batches and --steps must be at least 1, --threshold between 0 and 1")
    if args.out.resolve() == Path(path).resolve():
        p.error(f"--out {args.out} is the checkpoint read: write the model with its head elsewhere")
    try:
        model = load_sam(path, device=args.device)
        corpus = load_corpus(args.corpus)
    except ValueError as e:
        raise SystemExit(f"error: {e}") from e
    hold_out = () if args.all_packages else UNHEARD_PACKAGES
    if model.branch is None:
        p.error(f"{path}: the model has no YAMNet branch; a presence head's rows follow the branch's in the tags")
    train = hear_columns(model, corpus, "train", args.batches, args.seed, hold_out, args.reads)
    val = hear_columns(model, corpus, "validation", args.val_batches, args.seed, hold_out, args.reads)
    print(f"heard {len(train.tokens) / TOKENS_PER_SECOND / 3600:.2f} h of training scenes "
          f"({len(train.starts) - 1} scenes), {len(val.starts) - 1} validation scenes")
    head = fit(train, args.steps, args.seed, device=args.device)
    res = report(head, val, args.threshold)
    print(f"validation scenes: AUC {res['auc']:.3f} of present against absent classes; at {args.threshold}: "
          f"{res['present_called']:.3f} of present and {res['absent_called']:.4f} of absent ones called present")
    out = with_head(model.cpu(), head, corpus.class_names, args.reads)
    save_sam(out, args.out)
    card = Path(path) / "README.md"
    if card.is_file():
        shutil.copy(card, args.out / "README.md")
    (args.out / "presence.json").write_text(json.dumps(
        {**res, "checkpoint": str(path), "batches": args.batches, "steps": args.steps, "seed": args.seed,
         "hours": round(len(train.tokens) / TOKENS_PER_SECOND / 3600, 3), "held_out": list(hold_out),
         "reads": args.reads}, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
