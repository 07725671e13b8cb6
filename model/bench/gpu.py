"""GPU benchmarks (bf16, random weights): our Mamba-2 paths, mamba_ssm's own model, the hardware limits.

For the 130m and 2.7b presets: prefill / forward throughput and chunk-append cost on the PyTorch
path and the kernel path; single-token decode latency eager and from a CUDA graph, against the
floor set by reading every weight once at the measured copy bandwidth; one streaming hop (8
tokens appended) eager and from a CUDA graph, against the graphed decode step; mamba_ssm's
MambaLMHeadModel with the same weights (logits agreement, forward, decode with its CUDA-graph
generate). Also sam-130m training throughput and model FLOPs utilisation.

`main(only="hop")` measures the streaming hop alone (gpu_hop.json), in a minute or two.
`main(only="decode")` measures the graphed decode step alone (gpu_decode.json), in about five
minutes: eager layers, one compiled block per layer, and the whole step compiled as one graph,
each against the floor, with the time each took to compile and capture.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import torch

from ..config import MambaConfig, SAMConfig
from ..cuda_graph import HOP_TOKENS
from ..lm import MambaLM
from .timing import median_time, report, save, sync

DEV = "cuda"
# The graphed decode steps, by key: GraphedStep's `compiled` and torch.compile's mode.
STEPS = {"step_graph": (False, None), "step_graph_compiled": (True, None), "step_graph_whole": ("whole", None)}
AUTOTUNED = {"step_graph_whole_autotuned": ("whole", "max-autotune-no-cudagraphs")}


def copy_bandwidth(gib: float = 4.0) -> float:
    """Device-to-device copy bandwidth in bytes/s, counting bytes read and written."""
    src = torch.empty(int(gib * 2**30), dtype=torch.uint8, device=DEV)
    dst = torch.empty_like(src)
    t = median_time(lambda: dst.copy_(src), DEV, warmup=3, repeat=10)
    return 2 * src.numel() / t


def matmul_flops(n: int = 8192) -> float:
    """bf16 dense matrix-product rate in FLOP/s on random data."""
    a = torch.randn(n, n, device=DEV, dtype=torch.bfloat16)
    b = torch.randn(n, n, device=DEV, dtype=torch.bfloat16)
    t = median_time(lambda: a @ b, DEV, warmup=3, repeat=10)
    return 2 * n**3 / t


def _weight_bytes(lm: MambaLM) -> int:
    """Bytes a decode step must read: every parameter once (the tied head counted once more)."""
    return sum(p.numel() * p.element_size() for p in lm.parameters()) + lm.lm_head.weight.nbytes


def _random_lm(preset: str) -> MambaLM:
    """The preset with random weights, in bf16 on the GPU (initialised there: seconds, not minutes, at 2.7b)."""
    torch.manual_seed(0)
    with torch.device(DEV):
        lm = MambaLM(MambaConfig.from_name(preset))
    return lm.to(torch.bfloat16).eval()


@torch.inference_mode()
def bench_lm(preset: str, bandwidth: float, peak: float) -> dict[str, Any]:
    lm = _random_lm(preset)
    cfg = lm.cfg
    res: dict[str, Any] = {}
    p = f"{preset}."
    n_params = sum(x.numel() for x in lm.parameters())
    floor = _weight_bytes(lm) / bandwidth
    res[p + "decode_floor_ms"] = 1e3 * floor
    prompt = torch.randint(0, cfg.vocab_size, (1, 4096), device=DEV)
    for backend in ("torch", "kernels"):
        lm.set_backend(backend)
        q = f"{p}{backend}."
        t = median_time(lambda: lm.hidden(prompt), DEV, repeat=5)
        res[q + "prefill_4096_tokens_per_s"] = 4096 / t
        res[q + "prefill_4096_mfu"] = 2 * n_params * 4096 / t / peak
        _, state = lm.hidden(prompt)
        res.update(_eager_append(lm, state, (HOP_TOKENS, 512), q))
        tok = torch.tensor([7], device=DEV)
        t = median_time(lambda: lm.step(tok, state=state), DEV, warmup=3, repeat=20)
        res[q + "step_eager_ms"] = 1e3 * t
        res[q + "step_eager_over_floor"] = t / floor
        res.update(_graphed(lm, state, floor, q, compiled=backend == "kernels", whole=backend == "kernels"))
    lm.set_backend("auto")
    res.update(_peer(lm, prompt, floor, p))
    return res


@torch.inference_mode()
def bench_hop(preset: str, bandwidth: float, compiled: bool = False) -> dict[str, Any]:
    """One streaming hop only: the eager and graphed append of HOP_TOKENS, against the graphed decode step."""
    lm = _random_lm(preset)
    p = f"{preset}."
    floor = _weight_bytes(lm) / bandwidth
    res: dict[str, Any] = {p + "decode_floor_ms": 1e3 * floor}
    prompt = torch.randint(0, lm.cfg.vocab_size, (1, 512), device=DEV)
    for backend in ("torch", "kernels"):
        lm.set_backend(backend)
        q = f"{p}{backend}."
        _, state = lm.hidden(prompt)
        res.update(_eager_append(lm, state, (HOP_TOKENS,), q))
        res.update(_graphed(lm, state, floor, q, compiled=compiled and backend == "kernels"))
    return res


def _eager_append(lm: MambaLM, state, lengths: tuple[int, ...], q: str) -> dict[str, Any]:
    """lm.hidden of n embeddings onto `state`, as model.listen appends a hop: ms and tokens/s."""
    res = {}
    for n in lengths:
        chunk = torch.randn(1, n, lm.cfg.d_model, device=DEV, dtype=torch.bfloat16)
        t = median_time(lambda: lm.hidden(inputs_embeds=chunk, state=state), DEV, repeat=10)
        res[q + f"append_{n}_ms"] = 1e3 * t
        res[q + f"append_{n}_tokens_per_s"] = n / t
    return res


def _graphed(lm: MambaLM, state, floor: float, q: str, compiled: bool, whole: bool = False) -> dict[str, Any]:
    """The decode step and one hop's append from CUDA graphs (eager layers, then compiled ones if asked;
    `whole` adds the step compiled whole), each append against the step of the same kind."""
    from ..cuda_graph import GraphedAppend

    hop = torch.randn(1, HOP_TOKENS, lm.cfg.d_model, device=DEV, dtype=torch.bfloat16)
    res: dict[str, Any] = {}
    steps = ["step_graph"]
    if compiled:
        steps += ["step_graph_compiled", "step_graph_whole"] if whole else ["step_graph_compiled"]
    for key in steps:
        res.update(_graphed_step(lm, state, floor, q + key, *STEPS[key]))
    for fused in (False, True) if compiled else (False,):
        tail = "_compiled" if fused else ""
        append = GraphedAppend(lm, 1, HOP_TOKENS, compiled=fused)
        append.load(state)
        t_append = median_time(lambda: append(hop), DEV, warmup=3, repeat=50)
        del append
        step_name, append_name = f"step_graph{tail}", f"append_{HOP_TOKENS}_graph{tail}"
        res.update({q + append_name + "_ms": 1e3 * t_append,
                    q + f"{append_name}_over_{step_name}": 1e3 * t_append / res[q + step_name + "_ms"]})
    return res


def _graphed_step(lm: MambaLM, state, floor: float, key: str, compiled: bool | str,
                  mode: str | None) -> dict[str, Any]:
    """GraphedStep from `state`: ms per step (synchronised after each, and pipelined), over the floor, and the
    seconds its construction took (compilation, warm-up, capture)."""
    from ..cuda_graph import GraphedStep

    tok = torch.tensor([7], device=DEV)
    sync(DEV)
    start = time.perf_counter()
    step = GraphedStep(lm, 1, compiled=compiled, mode=mode)
    sync(DEV)
    build = time.perf_counter() - start
    step.load(state)
    t = median_time(lambda: step(tok), DEV, warmup=3, repeat=50)
    t_pipelined = _pipelined(lambda: step(tok))
    del step
    return {key + "_ms": 1e3 * t, key + "_over_floor": t / floor, key + "_pipelined_ms": 1e3 * t_pipelined,
            key + "_build_s": build}


def _pipelined(fn: Callable[[], Any], n: int = 100) -> float:
    """Seconds per call of n calls issued back to back, one synchronisation at the end: the GPU's time per
    replay when the host keeps ahead, without the per-call synchronisation median_time pays."""
    fn()
    sync(DEV)
    start = time.perf_counter()
    for _ in range(n):
        fn()
    sync(DEV)
    return (time.perf_counter() - start) / n


@torch.inference_mode()
def bench_decode(preset: str, bandwidth: float, autotuned: bool = False,
                 measured: Callable[[dict[str, Any]], None] = lambda res: None) -> dict[str, Any]:
    """The graphed decode step alone: eager layers, one compiled block per layer, the whole step compiled
    (and autotuned, if asked); each against the floor. Prints a line and calls `measured` as each finishes."""
    from .. import kernels

    lm = _random_lm(preset)
    p = f"{preset}."
    floor = _weight_bytes(lm) / bandwidth
    res: dict[str, Any] = {p + "decode_floor_ms": 1e3 * floor}
    print(f"{preset}: floor {1e3 * floor:.3f} ms", flush=True)
    lm.set_backend("torch")  # a state to start from; mamba_ssm's scan would first tune itself for minutes
    _, state = lm.hidden(torch.randint(0, lm.cfg.vocab_size, (1, 64), device=DEV))
    lm.set_backend("auto")  # the eager graph runs mamba_ssm's state update where it imports
    res[p + "step_graph_backend"] = "kernels" if kernels.usable(torch.device(DEV), "auto") else "torch"
    for key, (compiled, mode) in ((STEPS | AUTOTUNED) if autotuned else STEPS).items():
        res.update(_graphed_step(lm, state, floor, p + key, compiled, mode))
        print(f"{preset} {key}: {res[p + key + '_ms']:.3f} ms ({res[p + key + '_over_floor']:.2f}x the floor; "
              f"pipelined {res[p + key + '_pipelined_ms']:.3f} ms), built in {res[p + key + '_build_s']:.0f} s",
              flush=True)
        measured(res)
    return res


def _peer(lm: MambaLM, prompt: torch.Tensor, floor: float, p: str) -> dict[str, Any]:
    """mamba_ssm's MambaLMHeadModel on the same weights."""
    from .. import kernels

    if kernels.load() is None:
        return {p + "mamba_ssm": "not importable"}
    from mamba_ssm.models.config_mamba import MambaConfig as PeerConfig
    from mamba_ssm.models.mixer_seq_simple import MambaLMHeadModel

    c = lm.cfg
    peer_cfg = PeerConfig(d_model=c.d_model, d_intermediate=0, n_layer=c.n_layer, vocab_size=c.vocab_size,
                          ssm_cfg={"layer": "Mamba2", "use_mem_eff_path": False}, rms_norm=True, residual_in_fp32=True, fused_add_norm=True,
                          pad_vocab_size_multiple=c.pad_vocab_size_multiple, tie_embeddings=True)
    peer = MambaLMHeadModel(peer_cfg, device=DEV, dtype=torch.bfloat16).eval()
    missing = peer.load_state_dict(lm.state_dict(), strict=False)
    res: dict[str, Any] = {p + "peer_missing_keys": len(missing.missing_keys),
                           p + "peer_unexpected_keys": len(missing.unexpected_keys)}
    short = prompt[:, :512]
    ours = lm(short)[0].float()
    theirs = peer(short).logits.float()
    res[p + "peer_logits_rel_diff"] = ((ours - theirs).norm() / theirs.norm()).item()
    t = median_time(lambda: peer(prompt), DEV, repeat=5)
    res[p + "peer.prefill_4096_tokens_per_s"] = 4096 / t
    for cg in (False, True):
        per_token = _peer_decode(peer, short, cg)
        res[p + f"peer.step_{'graph' if cg else 'eager'}_ms"] = 1e3 * per_token
        res[p + f"peer.step_{'graph' if cg else 'eager'}_over_floor"] = per_token / floor
    return res


def _peer_decode(peer, prompt: torch.Tensor, cg: bool, new: int = 64) -> float:
    """Seconds per generated token of mamba_ssm's generate(), prefill time removed by difference."""
    def run(n: int) -> Callable[[], Any]:
        return lambda: peer.generate(prompt, max_length=prompt.shape[1] + n, cg=cg, temperature=0.0, top_k=1)
    t_long = median_time(run(new), DEV, warmup=1, repeat=3)
    t_short = median_time(run(1), DEV, warmup=1, repeat=3)
    return (t_long - t_short) / (new - 1)


def bench_training(peak: float, batch: int = 16, seconds: float = 10.24, steps: int = 6) -> dict[str, Any]:
    """sam-130m forward + backward + AdamW under bf16 autocast: tokens/s and model FLOPs utilisation."""
    from ..prompt import training_batch
    from ..sam import SAM
    from ..tokenizer import Tokenizer

    torch.manual_seed(0)
    tok = Tokenizer.train(["what do you hear? a dog barks"] * 10, vocab_size=300)
    model = SAM(SAMConfig.from_name("sam-130m"), tok).to(DEV).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5, fused=True)
    audio = torch.randn(batch, int(seconds * 16000), device=DEV) * 0.1
    ids, mask = training_batch(tok, ["what do you hear?"] * batch, ["a dog barks"] * batch)
    ids, mask = ids.to(DEV), mask.to(DEV)

    def step() -> None:
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = model(audio, ids, mask)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    t = median_time(step, DEV, warmup=2, repeat=steps)
    n_patches = batch * int(seconds / 0.16) * 8
    n_lm = batch * (int(seconds / 0.16) + ids.shape[1])
    counts = model.num_parameters()
    flops = 6 * ((counts["encoder"]) * n_patches + (counts["lm"] + counts["connector"]) * n_lm)
    return {"train.sam-130m.batch": batch, "train.sam-130m.step_s": t,
            "train.sam-130m.lm_tokens_per_s": n_lm / t, "train.sam-130m.audio_seconds_per_s": batch * seconds / t,
            "train.sam-130m.mfu": flops / t / peak}


def main(out: Path | None, presets: tuple[str, ...] = ("mamba2-130m", "mamba2-2.7b"), only: str | None = None,
         compiled: bool = False, autotuned: bool = False) -> None:
    """The whole suite (gpu.json); only="hop": the streaming hop alone (gpu_hop.json; `compiled` adds the
    torch.compile'd variants, which the whole suite always measures); only="decode": the graphed decode step
    alone (gpu_decode.json; `autotuned` adds the whole step compiled in max-autotune mode)."""
    res: dict[str, Any] = {"gpu": torch.cuda.get_device_name(), "torch": torch.__version__}
    if only == "hop":
        _main_hop(res, out, presets, compiled)
        return
    if only == "decode":
        _main_decode(res, out, presets, autotuned)
        return
    if only is not None:
        raise ValueError(f"only must be None, 'hop' or 'decode', got {only!r}")
    bw = copy_bandwidth()
    peak = matmul_flops()
    res.update({"copy_bandwidth_GBps": bw / 1e9, "bf16_matmul_TFLOPs": peak / 1e12})
    report(res, out, "gpu")
    for preset in presets:
        start = time.perf_counter()
        res.update(bench_lm(preset, bw, peak))
        res[f"{preset}.bench_seconds"] = time.perf_counter() - start
        report(res, out, "gpu")
    res.update(bench_training(peak))
    report(res, out, "gpu")


def _main_hop(res: dict[str, Any], out: Path | None, presets: tuple[str, ...], compiled: bool) -> None:
    bw = copy_bandwidth()
    res.update({"copy_bandwidth_GBps": bw / 1e9, "hop_tokens": HOP_TOKENS})
    for preset in presets:
        start = time.perf_counter()
        res.update(bench_hop(preset, bw, compiled))
        res[f"{preset}.hop_bench_seconds"] = time.perf_counter() - start
        report(res, out, "gpu_hop")


def _main_decode(res: dict[str, Any], out: Path | None, presets: tuple[str, ...], autotuned: bool) -> None:
    bw = copy_bandwidth()
    res["copy_bandwidth_GBps"] = bw / 1e9
    print(f"copy bandwidth {bw / 1e9:,.0f} GB/s", flush=True)

    def measured(partial: dict[str, Any]) -> None:  # written after each step measured: a cut-off run keeps its rows
        save(res | partial, out, "gpu_decode")

    for preset in presets:
        start = time.perf_counter()
        res.update(bench_decode(preset, bw, autotuned, measured))
        res[f"{preset}.decode_bench_seconds"] = time.perf_counter() - start
    report(res, out, "gpu_decode")
