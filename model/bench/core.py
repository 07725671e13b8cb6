"""CPU benchmarks of the Mamba-2 core and of SAM's streaming calls (random weights).

  core: step latency per token and chunk-append throughput of the `mamba2-small` LM
  sam:  `sam-small`'s listen (seconds of compute per second of audio), ask (time to first
        token, tokens per second), parameter counts of every preset
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from ..audio import SAMPLE_RATE
from ..config import SAM_PRESETS, MambaConfig, SAMConfig
from ..lm import MambaLM
from ..sam import SAM
from ..tokenizer import Tokenizer
from .timing import median_time, report


@torch.inference_mode()
def bench_core(preset: str = "mamba2-small") -> dict[str, Any]:
    """Step latency and chunk-append throughput of an LM preset on this CPU."""
    lm = MambaLM(MambaConfig.from_name(preset), backend="torch").eval()
    state = lm(torch.randint(0, 100, (1, 256)))[1]
    tok = torch.tensor([5])
    res: dict[str, Any] = {"preset": preset, "threads": torch.get_num_threads(),
                           "parameters": lm.num_parameters(), "state_bytes": state.nbytes}
    res["step_ms"] = 1e3 * median_time(lambda: lm.step(tok, state=state), repeat=50)
    for n in (8, 64, 512):
        chunk = torch.randn(1, n, lm.cfg.d_model)
        t = median_time(lambda: lm(inputs_embeds=chunk, state=state), repeat=9)
        res[f"append_{n}_ms"] = 1e3 * t
        res[f"append_{n}_tokens_per_s"] = n / t
    return res


def parameter_counts() -> dict[str, Any]:
    """Parameters of every SAM preset, built on the meta device (no memory)."""
    out = {}
    for name, cfg in SAM_PRESETS.items():
        with torch.device("meta"):
            counts = SAM(cfg).num_parameters()
        out[f"params_{name}"] = {k: f"{v / 1e6:.2f}M" for k, v in counts.items()}
    return out


def bench_tokenizer(vocab_size: int) -> Tokenizer:
    """A BPE over made-up words: answers cost realistic token counts without a trained model."""
    words = [f"w{i}" for i in range(2000)]
    return Tokenizer.train([" ".join(words[i:i + 50]) for i in range(0, 2000, 10)] * 3, vocab_size=vocab_size)


@torch.inference_mode()
def streaming_costs(model: SAM, seconds: float) -> dict[str, float]:
    """listen() at the live hop over `seconds` of noise, then ask(): compute per audio second, first-token latency."""
    hop = model.block_samples
    audio = torch.randn(int(seconds * SAMPLE_RATE)) * 0.1
    state = model.listen(audio[: 4 * hop], model.new_state())  # warm-up
    n_hops = audio.numel() // hop
    t0 = time.perf_counter()
    for i in range(n_hops):
        state = model.listen(audio[i * hop:(i + 1) * hop], state)
    listen = time.perf_counter() - t0
    answers = [model.ask(state, "what do you hear right now?", max_new_tokens=24) for _ in range(5)]
    return {"audio_seconds": n_hops * hop / SAMPLE_RATE, "state_bytes": state.nbytes,
            "listen_compute_per_audio_second": listen / (n_hops * hop / SAMPLE_RATE),
            "listen_ms_per_hop": 1e3 * listen / n_hops,
            "ask_time_to_first_token_ms": 1e3 * sorted(a.time_to_first_token for a in answers)[2],
            "ask_tokens_per_s": sorted(a.tokens_per_second for a in answers)[2]}


def bench_sam(preset: str = "sam-small", seconds: float = 60.0) -> dict[str, Any]:
    """listen() cost per second of audio at the 1.28 s hop, and ask() latency, on this CPU."""
    cfg = SAMConfig.from_name(preset)
    model = SAM(cfg, bench_tokenizer(cfg.lm.vocab_size), backend="torch").eval()
    return {"preset": preset, "threads": torch.get_num_threads(), **model.num_parameters(),
            **streaming_costs(model, seconds)}


def main(which: str, out: Path | None) -> None:
    if which == "core":
        report(bench_core(), out, "core_cpu")
    elif which == "sam":
        report({**bench_sam(), **parameter_counts()}, out, "sam_cpu")
