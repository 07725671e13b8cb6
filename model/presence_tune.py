"""YAMNet's last blocks taught the corpus's classes: does AudioSet's hearing, fine-tuned with a presence head on
scenes mixed afresh every step, hear sources it never heard better than a head on its frozen embedding?

The presence head (model/presence.py) is fitted on columns heard once by the frozen model: 12 h of scenes, each
column's features fixed. Here YAMNet's trunk stays frozen, its last `blocks` separable blocks are copied and
trained together with a head of the same shape, and every step mixes new training scenes (augmented on the
device, the twenty packages the model never heard left out), so the head never sees a column twice. `--blocks 0`
trains the head alone on the same stream: the effect of fresh scenes apart from that of fine-tuning.

    python -m model.presence_tune train --blocks 0 2 4 --minutes 3 --corpus data/train_pack.tar --out runs/tune
    python -m model.presence_tune report --tuned runs/tune --corpus data/corpus.tar --out eval/presence_tune.json

`report` hears the validation scenes of the training sources and of the unheard packages (the scenes
`python -m model.presence` reports on) and gives each tuned head's scene-level AUC beside the shipped head's.
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from .audio import FRAMES_PER_TOKEN, TOKENS_PER_SECOND, with_floor
from .presence import Columns, PresenceHead, column_labels, mixed_batches, presence_input, report as scene_report
from .yamnet import PATCH_FRAMES

BLOCKS = 13  # YAMNet's separable blocks after its stem
TOP_LR = 1e-4  # the copied blocks start from AudioSet's weights: a tenth of the head's rate
HEAD_LR = 1e-3


class TunedTop(nn.Module):
    """YAMNet's last `blocks` blocks (copied, trainable) and a presence head over their mean-pooled output."""

    def __init__(self, yamnet, blocks: int, n_classes: int):
        super().__init__()
        self.blocks = blocks
        self.top = copy.deepcopy(yamnet.blocks[BLOCKS - blocks:]) if blocks else nn.Sequential()
        self.head = PresenceHead(yamnet.classifier.in_features, n_classes)

    def forward(self, trunk: Tensor) -> Tensor:
        """(N, C, H, W) features after YAMNet's first BLOCKS - blocks blocks -> (N, classes) logits."""
        return self.head.logits(self.top(trunk).mean((2, 3)))


def trunk_features(yamnet, patches: Tensor, blocks: int) -> Tensor:
    """(N, 96, 64) log-mel patches -> YAMNet's frozen features before its last `blocks` blocks."""
    x = torch.relu(yamnet.stem(patches.unsqueeze(1).to(yamnet.stem.weight.dtype)))
    return yamnet.blocks[: BLOCKS - blocks](x)


def column_patches(branch, audio: Tensor, block_samples: int) -> Tensor:
    """(b, n) scenes -> (b, columns, 96, 64): each column's patch as the model's branch cuts it (model/branch.py)."""
    floored, before = with_floor(audio, block_samples)
    frames = branch.frames(floored, before)
    x = torch.cat([branch.zero_context(audio.shape[0], audio.device), frames], dim=1)
    return x.unfold(1, PATCH_FRAMES, FRAMES_PER_TOKEN).transpose(-1, -2)


def labelled(batch, patches: Tensor, index: dict[str, int]) -> tuple[Tensor, Tensor]:
    """A batch's columns that lie within their scene, as (N, 96, 64) patches and (N, classes) labels."""
    keep, labels = [], []
    for i, scene in enumerate(batch.scenes):
        n = min(patches.shape[1], math.ceil(scene.duration_s * TOKENS_PER_SECOND))
        events = [(e.label, e.start_s, e.end_s) for e in scene.events]
        labels.append(column_labels(events, scene.background.label if scene.background else None, n, index))
        keep.append(patches[i, :n])
    return torch.cat(keep), torch.from_numpy(np.concatenate(labels)).to(patches.device)


def train(args) -> int:
    from tqdm import tqdm

    from .batches import BatchSpec, batch_loader
    from .checkpoint import default_checkpoint, load_sam
    from .data.augment_torch import augment_batch
    from .data.corpus import load_corpus
    from .data.mixer import LONG_SCENE_S
    from .data.sources import UNHEARD_PACKAGES
    from .train import STAGES

    device = torch.device(args.device)
    model = load_sam(args.checkpoint or default_checkpoint(), device=device)
    corpus = load_corpus(args.corpus)
    index = {c: i for i, c in enumerate(corpus.class_names)}
    yamnet = model.branch.yamnet.float().eval().requires_grad_(False)
    spec = BatchSpec(kinds=STAGES["instruct"]["kinds"], batch_size=args.batch_size, seconds=(10.24, 10.24),
                     long_fraction=0.15, long_seconds=(LONG_SCENE_S, 2 * LONG_SCENE_S), augment=True,
                     hold_out=UNHEARD_PACKAGES, block_samples=model.block_samples, augment_on="device")
    args.out.mkdir(parents=True, exist_ok=True)
    for blocks in args.blocks:
        torch.manual_seed(args.seed)
        tuned = TunedTop(yamnet, blocks, len(index)).to(device).train().requires_grad_(True)
        groups = [{"params": list(tuned.head.net.parameters()), "lr": HEAD_LR}]
        if blocks:
            groups.append({"params": list(tuned.top.parameters()), "lr": TOP_LR})
        opt = torch.optim.AdamW(groups, weight_decay=1e-2)
        loader = iter(batch_loader(corpus, spec, args.seed, args.workers))
        start, step, waited, losses = time.monotonic(), 0, 0.0, []
        budget = args.minutes * 60
        bar = tqdm(desc=f"tuning {blocks} blocks", unit="step", file=sys.stderr, disable=None)
        while time.monotonic() - start < budget:
            t0 = time.monotonic()
            batch = next(loader)
            waited += time.monotonic() - t0
            audio = augment_batch(batch.audio.to(device, non_blocking=True), batch.chains)
            with torch.no_grad():
                patches, y = labelled(batch, column_patches(model.branch, audio, model.block_samples), index)
                with torch.autocast(device.type, torch.bfloat16, enabled=device.type == "cuda"):
                    trunk = trunk_features(yamnet, patches, blocks)
                if step == 0:  # inputs standardised by the first batch's statistics, then fixed
                    first = tuned.top(trunk.float()).mean((2, 3))
                    tuned.head.mean.copy_(first.mean(0))
                    spread = first.std(0)  # a feature silent in this batch must not blow up in the next
                    tuned.head.scale.copy_(spread.clamp(min=0.1 * float(spread.mean()) + 1e-5))
            frac = (time.monotonic() - start) / budget  # warm-up then cosine, by the clock
            for g, lr in zip(opt.param_groups, (HEAD_LR, TOP_LR)):
                g["lr"] = lr * min(1.0, frac / 0.05) * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0)))
            with torch.autocast(device.type, torch.bfloat16, enabled=device.type == "cuda"):
                logits = tuned(trunk.float())
            loss = nn.functional.binary_cross_entropy_with_logits(logits.float(), y.float())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(loss.item())
            step += 1
            bar.update()
            bar.set_postfix(loss=f"{np.mean(losses[-50:]):.4f}", refresh=False)
        bar.close()
        del loader
        seconds = time.monotonic() - start
        torch.save({"blocks": blocks, "classes": corpus.class_names, "state": tuned.cpu().state_dict(),
                    "steps": step, "seconds": seconds, "batch_size": args.batch_size, "data_wait_s": waited,
                    "loss_last_100": float(np.mean(losses[-100:]))}, args.out / f"blocks{blocks}.pt")
        print(f"{blocks} blocks: {step} steps in {seconds:.0f} s (data wait {waited:.0f} s), "
              f"loss {np.mean(losses[-100:]):.4f}", flush=True)
    return 0


def load_tuned(path: Path, yamnet) -> tuple[TunedTop, list[str]]:
    saved = torch.load(path, map_location="cpu", weights_only=False)
    tuned = TunedTop(yamnet, saved["blocks"], len(saved["classes"]))
    tuned.load_state_dict(saved["state"])
    return tuned.eval(), saved["classes"]


@torch.inference_mode()
def hear(model, tuned: list[TunedTop], corpus, split: str, hold_out: tuple[str, ...], batches: int, seed: int,
         index: dict[str, int]) -> tuple[list[Columns], Columns]:
    """The scenes `python -m model.presence` hears for `split`: per tuned top, and for the shipped head, each column's
    probabilities in Columns.tokens (so presence.report reads them through an identity), with every column's labels."""
    from .data.mixer import LONG_SCENE_S

    deepest = max(t.blocks for t in tuned)
    yamnet = model.branch.yamnet.float()
    _, mixed = mixed_batches(model, corpus, split, hold_out, f"presence/{split}/{seed}", batches,
                             f"hearing {split} scenes")
    probs, shipped, labels, lengths, streams = [[] for _ in tuned], [], [], [], []
    for batch in mixed:
        audio = batch.audio.to(model.device)
        patches, y = labelled(batch, column_patches(model.branch, audio, model.block_samples), index)
        base = torch.cat([trunk_features(yamnet, p, deepest) for p in patches.split(2048)])
        for t, out in zip(tuned, probs):
            x = yamnet.blocks[BLOCKS - deepest: BLOCKS - t.blocks](base)
            out.append(torch.sigmoid(t(x)).numpy())
        heard, _, emb = model.heard(audio)
        own = model.presence(presence_input(model.cfg.presence_reads, heard, emb))
        for i, scene in enumerate(batch.scenes):
            n = min(own.shape[1], math.ceil(scene.duration_s * TOKENS_PER_SECOND))
            shipped.append(own[i, :n].float().numpy())
            lengths.append(n)
            streams.append(scene.duration_s > LONG_SCENE_S)
        labels.append(y.cpu().numpy())
    starts, streams, labels = np.concatenate([[0], np.cumsum(lengths)]), np.array(streams), np.concatenate(labels)
    return ([Columns(np.concatenate(p), labels, starts, streams) for p in probs],
            Columns(np.concatenate(shipped), labels, starts, streams))


def report(args) -> int:
    from .checkpoint import default_checkpoint, load_sam
    from .data.corpus import load_corpus
    from .data.sources import UNHEARD_PACKAGES
    from .tags import OWN_THRESHOLD

    model = load_sam(args.checkpoint or default_checkpoint(), device="cpu")
    corpus = load_corpus(args.corpus)
    files = sorted(args.tuned.glob("blocks*.pt"))
    loaded = [load_tuned(f, model.branch.yamnet) for f in files]
    if any(classes != corpus.class_names for _, classes in loaded):
        raise SystemExit(f"error: {args.corpus}: its classes are not the ones the heads were tuned on")
    index = {c: i for i, c in enumerate(corpus.class_names)}
    packages = {r.package for r in corpus.records}
    sets = {"validation": ("validation", UNHEARD_PACKAGES),
            "unheard": ("validation", tuple(sorted(packages - set(UNHEARD_PACKAGES))))}
    out = {"what": __doc__.split("\n\n")[0], "heads": [], "shipped": {}}
    results = {}
    for name, (split, hold_out) in sets.items():
        results[name] = hear(model, [t for t, _ in loaded], corpus, split, hold_out, args.val_batches, args.seed,
                             index)
        out["shipped"][name] = scene_report(nn.Identity(), results[name][1], OWN_THRESHOLD)
    for k, (f, (t, _)) in enumerate(zip(files, loaded)):
        saved = torch.load(f, map_location="cpu", weights_only=False)
        row = {"blocks": t.blocks, **{key: saved[key] for key in ("steps", "seconds", "batch_size", "data_wait_s",
                                                                  "loss_last_100")}}
        row.update({name: scene_report(nn.Identity(), results[name][0][k], OWN_THRESHOLD) for name in sets})
        out["heads"].append(row)
        print(json.dumps(row), flush=True)
    print("shipped head:", json.dumps(out["shipped"]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1))
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m model.presence_tune", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="tune YAMNet's last blocks with a presence head, one run per --blocks")
    t.add_argument("--blocks", type=int, nargs="+", default=[0, 2], help=f"blocks to tune, 0-{BLOCKS} (0: the head)")
    t.add_argument("--minutes", type=float, default=3.0, help="training time per run")
    t.add_argument("--batch-size", type=int, default=32, help="scenes of 10.24 s per step")
    t.add_argument("--workers", type=int, default=14, help="data workers mixing scenes")
    r = sub.add_parser("report", help="scene-level AUC of each tuned head and the shipped one")
    r.add_argument("--tuned", type=Path, required=True, help="the folder `train` wrote")
    r.add_argument("--val-batches", type=int, default=40, help="batches of 16 validation scenes per set")
    for s in (t, r):
        s.add_argument("--checkpoint", type=Path, help="the model whose YAMNet is tuned (default: assets/)")
        s.add_argument("--corpus", default="data/corpus.tar", help="corpus folder or packed archive")
        s.add_argument("--out", type=Path, required=True, help="train: folder to write; report: JSON file")
        s.add_argument("--seed", type=int, default=1)
        s.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = p.parse_args(argv)
    if args.command == "train" and not all(0 <= b <= BLOCKS for b in args.blocks):
        p.error(f"--blocks must lie in 0..{BLOCKS}")
    return train(args) if args.command == "train" else report(args)


if __name__ == "__main__":
    raise SystemExit(main())
