"""The CPU decode step of a SAM's LM against its floor, in fp32 and bf16.

One decode step reads every LM weight once (the output layer included; of the embedding only a
row, but a tied output layer reads it whole) and reads and writes the recurrent state. At batch 1
that is memory traffic, not arithmetic, so its floor is

    floor = (weight bytes + 2 x state bytes) / read bandwidth of this CPU's memory

with the bandwidth measured here, on as many threads as the step runs on, over a buffer far larger
than the last-level cache. Measured against it: the step itself; the projections alone (every
in_proj and out_proj and the output layer, one token each, as F.linear); the same products with
the weights stored transposed; and the aten operations the step dispatches, with the time of an
empty one, which together say where the rest goes.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

from ..checkpoint import DEFAULT_NAME, default_checkpoint, load_sam
from ..lm import MambaLM
from .memory import weight_bytes
from .timing import median_time, report

MIB, GIB = 2**20, 2**30
BANDWIDTH_BYTES = 512 * MIB  # a buffer 16x this CPU's 32 MiB L3: what is read comes from memory
AUDIO_SECONDS = 10.0  # heard before decoding, so the state is a listening one


def median_ms(fn: Callable[[], Any], repeat: int, warmup: int = 10) -> float:
    """Median milliseconds of fn() on the CPU (`timing.median_time`, with this suite's longer warm-up)."""
    return 1e3 * median_time(fn, warmup=warmup, repeat=repeat)


def read_bandwidth() -> float:
    """Bytes per second this CPU reads from memory (a sum over a buffer far larger than its caches)."""
    x = torch.ones(BANDWIDTH_BYTES // 4)
    return BANDWIDTH_BYTES / (median_ms(x.sum, repeat=9, warmup=2) / 1e3)


class CountOps(TorchDispatchMode):
    """Counts the aten operations dispatched (each a kernel call with its own overhead)."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.count += 1
        return func(*args, **(kwargs or {}))


def projections(lm: MambaLM, transposed: bool) -> Callable[[], None]:
    """Every projection of one decode step on one token: in_proj and out_proj of each layer, then the output layer."""
    weights = [w for layer in lm.backbone.layers for w in (layer.mixer.in_proj.weight, layer.mixer.out_proj.weight)]
    weights.append(lm.lm_head.weight)
    inputs = [torch.randn(1, w.shape[1], dtype=w.dtype) for w in weights]
    if transposed:  # stored (in, out), contiguous: the product reads W^T row after row
        weights = [w.t().contiguous() for w in weights]

    def run() -> None:
        for x, w in zip(inputs, weights):
            _ = x @ w if transposed else F.linear(x, w)
    return run


@torch.inference_mode()
def measure(checkpoint: Path, dtype: torch.dtype, bandwidth: float) -> dict[str, Any]:
    """Step, projections and floor of one dtype."""
    model = load_sam(checkpoint, dtype=dtype)
    lm = model.lm
    state = model.hear(0.05 * torch.randn(int(AUDIO_SECONDS * 16000), generator=torch.Generator().manual_seed(0))).lm
    token = torch.tensor([5])
    weights, state_bytes = weight_bytes(lm), state.nbytes
    floor = 1e3 * (weights + 2 * state_bytes) / bandwidth
    step = median_ms(lambda: lm.step(token, state=state), repeat=200)
    proj = median_ms(projections(lm, transposed=False), repeat=200)
    proj_t = median_ms(projections(lm, transposed=True), repeat=200)
    with CountOps() as ops:
        lm.step(token, state=state)
    one = torch.ones(1, dtype=dtype)
    empty = median_ms(lambda: one.add(1), repeat=2000, warmup=100)
    return {"weight_mib": weights / MIB, "state_mib": state_bytes / MIB, "floor_ms": floor, "step_ms": step,
            "step_over_floor": step / floor, "projections_ms": proj,
            "projections_gib_per_s": weights / GIB / (proj / 1e3), "projections_transposed_ms": proj_t,
            "rest_ms": step - proj, "aten_ops_per_step": ops.count, "empty_op_us": 1e3 * empty,
            "ops_times_empty_ms": ops.count * empty}


def main(checkpoint: Path | None, out: Path | None) -> None:
    """Measure the bandwidth once, then the step of each dtype against its floor."""
    path = checkpoint or default_checkpoint()
    if path is None:
        raise ValueError(f"no checkpoint: {DEFAULT_NAME} is not installed; give one with --checkpoint DIR")
    bandwidth = read_bandwidth()
    results: dict[str, Any] = {"checkpoint": str(path), "threads": torch.get_num_threads(),
                               "read_gib_per_s": bandwidth / GIB}
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        results.update({f"{name}_{k}": v for k, v in measure(path, dtype, bandwidth).items()})
    report(results, out, "decode_cpu")
