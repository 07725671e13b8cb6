"""Our PyTorch Mamba-2 against the transformers library's Mamba2 PyTorch path, on this CPU.

Both models hold the same weights: our state dict is mapped onto `Mamba2ForCausalLM` (only the
embedding's name differs) and loaded strictly, and their logits are compared on a prefill, a
chunk-append onto the prefilled state and single-token steps before anything is timed. Then:

  step     one token with logits: our `lm.step` against their forward of one token with a cache
           (their `cache` path: causal_conv1d_update + selective_state_update, in PyTorch)
  append   8, 64 and 512 tokens of embeddings onto an existing state, no LM head: our
           `lm.hidden(state=...)` against their backbone with a filled cache (their chunk scan
           with `initial_states`)

On CPU without mamba_ssm / causal_conv1d, transformers falls back to its PyTorch functions,
which is the path measured. Timings alternate between the two models call by call, so load
from other processes on a shared machine slows both alike. Beside them runs the floor that
both share: the same matrix products alone ("projections_only").
"""
from __future__ import annotations

import os
import statistics
import time
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from ..config import MambaConfig
from ..lm import MambaLM
from ..mamba2 import CPU_CHUNK
from .timing import report

APPEND_LENGTHS = (8, 64, 512)


def peer_config(cfg: MambaConfig):
    """transformers' Mamba2Config for our config (their vocabulary is our padded one)."""
    from transformers import Mamba2Config

    return Mamba2Config(num_heads=cfg.nheads, head_dim=cfg.headdim, vocab_size=cfg.padded_vocab_size,
                        hidden_size=cfg.d_model, state_size=cfg.d_state, num_hidden_layers=cfg.n_layer,
                        layer_norm_epsilon=cfg.norm_eps, expand=cfg.expand, conv_kernel=cfg.d_conv,
                        n_groups=cfg.ngroups, chunk_size=cfg.chunk_size, use_bias=False, use_conv_bias=True,
                        residual_in_fp32=True, tie_word_embeddings=cfg.tie_embeddings)


def peer_state_dict(lm: MambaLM) -> dict[str, Tensor]:
    """Our state dict under their names: `backbone.embedding` is `backbone.embeddings` there."""
    return {k.replace("backbone.embedding.", "backbone.embeddings."): v for k, v in lm.state_dict().items()}


def build_peer(lm: MambaLM, chunk_size: int | None = None):
    """A transformers Mamba2ForCausalLM holding `lm`'s weights (strict load: every key maps).

    chunk_size overrides the config's for their chunked scan (it changes speed, not results).
    """
    import transformers
    from transformers import Mamba2ForCausalLM

    # transformers warns once per function that it falls back to PyTorch without the CUDA
    # packages; that fallback is the path this benchmark means to measure.
    transformers.logging.set_verbosity_error()
    config = peer_config(lm.cfg)
    if chunk_size is not None:
        config.chunk_size = chunk_size
    peer = Mamba2ForCausalLM(config)
    peer.load_state_dict(peer_state_dict(lm), strict=True)
    return peer.to(lm.backbone.embedding.weight.dtype).eval()


def _rel(a: Tensor, b: Tensor) -> float:
    """Largest elementwise difference relative to the largest magnitude of the reference."""
    return ((a.float() - b.float()).abs().max() / b.float().abs().max()).item()


@torch.inference_mode()
def agreement(lm: MambaLM, peer, prefill: int = 100, append: int = 20, steps: int = 4,
              seed: int = 0) -> dict[str, float]:
    """Relative logit differences (ours vs theirs) after a prefill, a chunk-append and single steps."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, lm.cfg.vocab_size, (1, prefill + append + steps), generator=g)
    first, more, tail = ids[:, :prefill], ids[:, prefill:prefill + append], ids[:, prefill + append:]
    ours, state = lm(first)
    out = peer(first, use_cache=True)
    res = {"prefill": _rel(ours, out.logits)}
    cache = out.cache
    ours, state = lm(more, state=state)
    res["append"] = _rel(ours, peer(more, cache=cache, use_cache=True).logits)
    worst = 0.0
    for t in range(steps):
        ours, state = lm.step(tail[:, t], state=state)
        worst = max(worst, _rel(ours, peer(tail[:, t:t + 1], cache=cache, use_cache=True).logits[:, -1]))
    res["step"] = worst
    return res


def alternating_medians(fns: dict[str, Callable[[], Any]], repeat: int, warmup: int = 2) -> dict[str, float]:
    """Median seconds of each fn, timed in turn (a, b, a, b, ...) so that load hits all of them alike."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


@torch.inference_mode()
def bench_preset(preset: str, step_repeat: int = 30, append_repeat: int = 9) -> dict[str, Any]:
    """Agreement, then step latency and append throughput of ours and theirs for one preset.

    When the preset's chunk_size differs from the chunk our CPU scan uses, a second peer built
    with that chunk ("theirs_cpu_chunk") is timed on appends too, so that the comparison of the
    two implementations does not rest on a configuration choice alone.
    """
    torch.manual_seed(0)
    cfg = MambaConfig.from_name(preset)
    lm = MambaLM(cfg, backend="torch").eval()
    peers = {"theirs": build_peer(lm)}
    if cfg.chunk_size != CPU_CHUNK:
        peers["theirs_cpu_chunk"] = build_peer(lm, chunk_size=CPU_CHUNK)
    p = f"{preset}."
    res: dict[str, Any] = {p + "parameters": lm.num_parameters(), p + "chunk_size": cfg.chunk_size,
                           p + "our_cpu_chunk": min(cfg.chunk_size, CPU_CHUNK)}
    for name, peer in peers.items():
        diffs = agreement(lm, peer)
        res.update({p + f"{name}.max_rel_diff_{k}": v for k, v in diffs.items()})
    res[p + "max_rel_diff"] = max(v for k, v in res.items() if "max_rel_diff_" in k)

    history = torch.randint(0, cfg.vocab_size, (1, 256))
    _, state = lm(history)
    caches = {name: peer(history, use_cache=True).cache for name, peer in peers.items()}
    tok = torch.tensor([5])
    t = alternating_medians({"ours": lambda: lm.step(tok, state=state),
                             "theirs": lambda: peers["theirs"](tok[:, None], cache=caches["theirs"], use_cache=True),
                             "projections_only": projections(lm, 1, head=True)}, step_repeat)
    res.update(_compare(p + "step", t))
    for n in APPEND_LENGTHS:
        chunk = torch.randn(1, n, cfg.d_model) * 0.5
        # Their caches are updated in place, so each timed call appends onto a state that grew by n:
        # the cost of a Mamba-2 append does not depend on how much the state has seen.
        fns = {"ours": lambda: lm.hidden(inputs_embeds=chunk, state=state), "projections_only": projections(lm, n)}
        for name, peer in peers.items():
            fns[name] = (lambda peer, cache: lambda: peer.backbone(inputs_embeds=chunk, cache=cache, use_cache=True))(
                peer, caches[name])
        t = alternating_medians(fns, append_repeat if n < 512 else max(3, append_repeat // 2))
        res.update(_compare(p + f"append_{n}", t, tokens=n))
    return res


def projections(lm: MambaLM, n: int, head: bool = False) -> Callable[[], None]:
    """Only the matrix products of `n` tokens through the model (in_proj and out_proj of every
    layer, and the LM head): the floor under both implementations, which compute the same ones."""
    c = lm.cfg
    u, y = torch.randn(1, n, c.d_model), torch.randn(1, n, c.d_inner)
    weights = [(layer.mixer.in_proj.weight, layer.mixer.out_proj.weight) for layer in lm.backbone.layers]

    def run() -> None:
        for w_in, w_out in weights:
            F.linear(u, w_in)
            F.linear(y, w_out)
        if head:
            F.linear(u[:, -1], lm.lm_head.weight)

    return run


def _compare(key: str, t: dict[str, float], tokens: int | None = None) -> dict[str, Any]:
    """Milliseconds (and tokens/s) of each, and each peer's time over ours ("speedup")."""
    out: dict[str, Any] = {}
    for name, seconds in t.items():
        out[f"{key}.{name}_ms"] = 1e3 * seconds
        if tokens is not None:
            out[f"{key}.{name}_tokens_per_s"] = tokens / seconds
    for name in t:
        if name.startswith("theirs"):
            out[f"{key}.speedup" + ("" if name == "theirs" else f"_vs_{name}")] = t[name] / t["ours"]
    return out


def machine() -> dict[str, Any]:
    """What the numbers depend on: library versions, threads, load from other processes."""
    import transformers

    return {"torch": torch.__version__, "transformers": transformers.__version__,
            "threads": torch.get_num_threads(), "cpus": os.cpu_count(),
            "load_average_1min": os.getloadavg()[0]}


def main(out, presets: tuple[str, ...] = ("mamba2-small", "mamba2-130m")) -> dict[str, Any]:
    """Run every preset, print the numbers, write OUT/peers_cpu.json."""
    res = machine()
    for preset in presets:
        print(f"peers: {preset} ...", flush=True)
        res.update(bench_preset(preset))
    res["load_average_1min_after"] = os.getloadavg()[0]
    report(res, out, "peers_cpu")
    return res
