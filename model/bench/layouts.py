"""The cost of the paper's second principle: compact tokens against the two long layouts, on this CPU.

For each connector layout of a preset (random weights; cost does not depend on them): audio
tokens per second, listening cost at the live hop, time to the first answer token, and one
training step (forward and backward) on a batch of scenes. The accuracy side of the principle
is in docs/RESULTS.md.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..audio import SAMPLE_RATE
from ..config import ConnectorConfig, SAMConfig
from ..connector import CONNECTORS
from ..prompt import training_batch
from ..sam import SAM
from .core import bench_tokenizer, streaming_costs
from .timing import median_time, report


def bench_layouts(preset: str = "sam-small", seconds: float = 60.0, batch: int = 4,
                  scene_blocks: int = 8) -> dict[str, Any]:
    """Per layout: tokens per audio second, streaming costs, and a training step on `batch` scenes."""
    base = SAMConfig.from_name(preset)
    tok = bench_tokenizer(base.lm.vocab_size)
    ids, mask = training_batch(tok, ["What do you hear?"] * batch, ["w1 w2 at 0.5-1.5 s, w3 at 2.0-4.0 s"] * batch)
    out: dict[str, Any] = {"preset": preset, "threads": torch.get_num_threads(), "train_batch": batch}
    for layout in CONNECTORS:
        torch.manual_seed(0)
        model = SAM(base.replace(connector=ConnectorConfig(layout=layout)), tok, backend="torch")
        block = model.block_samples
        with torch.inference_mode():
            per_block = model.eval().audio_tokens(torch.zeros(1, block)).shape[1]
        row: dict[str, Any] = {"audio_tokens_per_second": per_block * SAMPLE_RATE / block,
                               **streaming_costs(model, seconds)}
        model.train()
        audio = torch.randn(batch, scene_blocks * block) * 0.1

        def step() -> None:
            model.zero_grad(set_to_none=True)
            model(audio, ids, mask).backward()

        row["train_scene_seconds"] = scene_blocks * block / SAMPLE_RATE
        row["train_step_s"] = median_time(step, warmup=1, repeat=3)
        out[layout] = row
    for layout in CONNECTORS:  # each long layout against the compact one
        for key in ("audio_tokens_per_second", "listen_compute_per_audio_second", "ask_time_to_first_token_ms",
                    "train_step_s"):
            out[layout][f"{key}_vs_column"] = out[layout][key] / out["column"][key]
    return out


def main(out: Path | None) -> None:
    res = bench_layouts()
    flat = {k: v for k, v in res.items() if not isinstance(v, dict)}
    for layout in CONNECTORS:
        flat.update({f"{layout}.{k}": v for k, v in res[layout].items()})
    report(flat, out, "layouts_cpu")
