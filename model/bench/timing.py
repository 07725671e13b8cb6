"""Timing helpers shared by the benchmarks."""
from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Any, Callable

import torch


def sync(device: torch.device | str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def median_time(fn: Callable[[], Any], device: torch.device | str = "cpu", warmup: int = 2, repeat: int = 7) -> float:
    """Median wall-clock seconds of fn() over `repeat` runs after `warmup` runs."""
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def report(results: dict[str, Any], out: Path | None, name: str) -> None:
    """Print results as aligned lines and, with `out`, write them to OUT/name.json."""
    width = max(map(len, results), default=0)
    for key, value in results.items():
        shown = f"{value:.4g}" if isinstance(value, float) else value
        print(f"{key:<{width}}  {shown}", flush=True)
    save(results, out, name)


def save(results: dict[str, Any], out: Path | None, name: str) -> None:
    """With `out`, write results to OUT/name.json."""
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / f"{name}.json").write_text(json.dumps(results, indent=1, default=str))
