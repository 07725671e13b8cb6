"""Heard-scene banks: the audio tokens of a fixed set of training scenes, computed once.

Teaching the model new wording changes only the text it reads. With the encoder and connector
held fixed, a scene's audio tokens are the same at every step, so they can be computed once and
the language side trained on them with a fresh question at every step (`sam-train --bank DIR`),
without hearing the audio again: on a CPU, hearing is most of a training step's cost.

A bank is a folder: `tokens.npy` (all scenes' tokens, float16, back to back), `scenes.jsonl` (per
scene: its batch, where its tokens are, and what is true of it) and `bank.json` (the checkpoint
whose encoder and connector made it, with their fingerprint: a bank only fits that hearing).

    python -m model.bank --checkpoint assets/sam-small --corpus data/corpus.tar --out data/bank --batches 400
"""
from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from .batches import STREAM_KINDS, BatchSpec, batch_loader
from .data.mixer import Background, Event, Scene
from .data.questions import TRAINING_VARIED, Asker, ask
from .sam import SAM

TOKEN_S = 0.16  # seconds of audio per LM token (one 160 ms column)


@dataclass
class TokenBatch:
    """A training batch of heard scenes: their audio tokens and a question and answer each."""

    tokens: torch.Tensor  # (B, T, d_model) float32
    questions: list[str]
    answers: list[str]
    kinds: list[str]
    chains: None = None  # nothing to augment: the audio was heard when the bank was made

    @property
    def seconds(self) -> float:
        return self.tokens.shape[1] * TOKEN_S


@dataclass
class Bank:
    """A bank on disk, its tokens memory-mapped."""

    root: Path
    tokens: np.ndarray  # (total tokens, d_model) float16
    scenes: list[dict]
    groups: list[list[int]]  # scenes that were one batch (equal length), in order
    meta: dict


def fingerprint(model: SAM) -> str:
    """A hash of the encoder's and connector's weights: what a bank's tokens depend on."""
    h = hashlib.sha256()
    for part in (model.encoder, model.connector):
        for name, t in sorted(part.state_dict().items()):
            h.update(name.encode())
            h.update(t.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def scene_json(scene: Scene) -> dict:
    """What the question generators need of a scene (everything but its audio)."""
    return {"duration_s": scene.duration_s, "events": [asdict(e) for e in scene.events],
            "background": asdict(scene.background) if scene.background else None, "quiet": scene.quiet}


def scene_of(d: dict) -> Scene:
    """The inverse of scene_json: a Scene without audio."""
    bg = Background(**d["background"]) if d.get("background") else None
    return Scene(None, [Event(**e) for e in d["events"]], bg, [tuple(q) for q in d.get("quiet", [])], d["duration_s"])


@torch.inference_mode()
def build_bank(model: SAM, corpus, out: Path, spec: BatchSpec, batches: int, seed: int, workers: int,
               checkpoint: str) -> Bank:
    """Hear `batches` training batches (mixed and augmented as `spec` says) and store their audio tokens."""
    from tqdm import tqdm

    out.mkdir(parents=True, exist_ok=True)
    model.eval()
    loader = batch_loader(corpus, spec, seed=seed, workers=workers)
    rows, chunks, offset = [], [], 0
    for g, batch in enumerate(tqdm(loader, total=batches, desc="hearing", unit="batch", file=sys.stderr,
                                   disable=None)):
        if g == batches:
            break
        tok = model.audio_tokens(batch.audio.to(model.device)).float().cpu().numpy().astype(np.float16)
        for i, scene in enumerate(batch.scenes):
            rows.append({"group": g, "offset": offset, "length": tok.shape[1], **scene_json(scene)})
            offset += tok.shape[1]
        chunks.append(tok.reshape(-1, tok.shape[-1]))
    np.save(out / "tokens.npy", np.concatenate(chunks))
    (out / "scenes.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    meta = {"checkpoint": checkpoint, "fingerprint": fingerprint(model), "d_model": int(chunks[0].shape[-1]),
            "batches": batches, "scenes": len(rows), "hours": round(offset * TOKEN_S / 3600, 3), "seed": seed,
            "long_fraction": spec.long_fraction}
    (out / "bank.json").write_text(json.dumps(meta, indent=1))
    return load_bank(out)


def load_bank(root: str | Path) -> Bank:
    """A bank folder; ValueError naming what is missing when it is not one."""
    root = Path(root)
    for name in ("bank.json", "scenes.jsonl", "tokens.npy"):
        if not (root / name).is_file():
            raise ValueError(f"{root}: no {name}; make the bank with `python -m model.bank --out {root}`")
    scenes = [json.loads(line) for line in (root / "scenes.jsonl").read_text().splitlines() if line.strip()]
    groups: dict[int, list[int]] = {}
    for i, s in enumerate(scenes):
        groups.setdefault(s["group"], []).append(i)
    return Bank(root, np.load(root / "tokens.npy", mmap_mode="r"), scenes, list(groups.values()),
                json.loads((root / "bank.json").read_text()))


def check_fits(bank: Bank, model: SAM) -> None:
    """ValueError unless the bank was made by this model's encoder and connector."""
    if bank.meta["fingerprint"] != fingerprint(model):
        raise ValueError(f"{bank.root} was made by the encoder and connector of {bank.meta['checkpoint']}, not by "
                         "this model's: make the bank again from the checkpoint you train (python -m model.bank)")


def bank_batches(bank: Bank, kinds: tuple[str, ...], classes, seed: int, start: int = 0,
                 stream_focus: float = 0.7) -> Iterator[TokenBatch]:
    """Endless batches: batch b is group b's scenes (drawn by a generator seeded by seed and b), each asked a
    fresh question, so a scene heard once is asked many different things."""
    asker = Asker.create(classes, varied=TRAINING_VARIED)
    b = start
    while True:
        rng = random.Random(f"bank/{seed}/{b}")
        idx = bank.groups[rng.randrange(len(bank.groups))]
        long = bank.scenes[idx[0]]["duration_s"] > 30.0
        questions = []
        for i in idx:
            want = STREAM_KINDS if long and rng.random() < stream_focus else kinds
            questions.append(ask(scene_of(bank.scenes[i]), rng, tuple(k for k in want if k in kinds) or kinds, asker))
        rows = [bank.tokens[bank.scenes[i]["offset"]: bank.scenes[i]["offset"] + bank.scenes[i]["length"]] for i in idx]
        yield TokenBatch(torch.from_numpy(np.stack(rows).astype(np.float32)), [q.question for q in questions],
                         [q.answer for q in questions], [q.kind for q in questions])
        b += 1


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments and make a bank."""
    from .checkpoint import default_checkpoint, load_sam
    from .data.corpus import load_corpus
    from .train import STAGES, TrainConfig

    p = argparse.ArgumentParser(prog="python -m model.bank", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--checkpoint", type=Path, help="the model whose encoder and connector hear the scenes "
                                                   "(default: the model in assets/)")
    p.add_argument("--corpus", default="data/corpus.tar", help="corpus folder or packed archive")
    p.add_argument("--out", type=Path, default=Path("data/bank"), help="bank folder to write")
    p.add_argument("--batches", type=int, default=400, help="batches of scenes to hear")
    p.add_argument("--batch-size", type=int, default=32, help="scenes per batch (long streams: fewer)")
    p.add_argument("--long-fraction", type=float, default=0.3, help="share of batches that are long streams")
    p.add_argument("--seed", type=int, default=7, help="of the scenes mixed")
    p.add_argument("--workers", type=int, default=1, help="processes mixing scenes")
    args = p.parse_args(argv)
    path = args.checkpoint or default_checkpoint()
    if path is None:
        p.error("no checkpoint: pass --checkpoint DIR")
    if args.batches < 1 or args.batch_size < 1 or not 0 <= args.long_fraction <= 1:
        p.error("--batches and --batch-size must be at least 1, --long-fraction between 0 and 1")
    cfg = TrainConfig(**{**STAGES["instruct"], "stage": "instruct"})
    try:
        model = load_sam(path)
        corpus = load_corpus(args.corpus)
    except ValueError as e:
        raise SystemExit(f"error: {e}") from e
    spec = BatchSpec(kinds=cfg.kinds, batch_size=args.batch_size, seconds=cfg.seconds,
                     long_fraction=args.long_fraction, long_seconds=cfg.long_seconds, augment=True,
                     hold_out=(), block_samples=model.block_samples, augment_on="cpu")
    bank = build_bank(model, corpus, args.out, spec, args.batches, args.seed, args.workers, str(path))
    print(f"{args.out}: {bank.meta['scenes']} scenes, {bank.meta['hours']} h of audio, "
          f"{bank.tokens.nbytes / 1e6:.0f} MB of tokens")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
