"""Optional CUDA kernels: mamba_ssm's Triton SSD kernels and causal_conv1d.

Nothing here is required. `load()` returns the kernels when CUDA, mamba_ssm and Triton are all
usable, and None otherwise; the PyTorch path in `model.ssd` is the reference they are tested against.
"""
from __future__ import annotations

import functools
import importlib.util
import os
import sys
import types
import warnings
from dataclasses import dataclass
from typing import Callable

import torch


@dataclass(frozen=True)
class Kernels:
    """Handles to the fast kernels; `conv_update` is None without causal_conv1d."""

    chunk_scan: Callable  # mamba_chunk_scan_combined
    state_update: Callable  # selective_state_update
    conv_update: Callable | None  # causal_conv1d_update


@functools.cache
def load() -> Kernels | None:
    """Import the kernels once; None (with one warning on CUDA machines) when they are missing."""
    if not torch.cuda.is_available():
        return None
    if importlib.util.find_spec("mamba_ssm") is None:
        warnings.warn("mamba_ssm is not installed: Mamba-2 runs on the PyTorch path on CUDA "
                      "(install the 'cuda' extra for the Triton kernels)", stacklevel=2)
        return None
    # mamba_ssm's package __init__ imports the Mamba-1 CUDA extension unconditionally; Mamba-2's
    # Triton kernels do not need it, so an empty stand-in lets them import without it.
    if importlib.util.find_spec("selective_scan_cuda") is None:
        sys.modules.setdefault("selective_scan_cuda", types.ModuleType("selective_scan_cuda"))
    # The kernels tune themselves on first use (about 2 minutes for a training step). Keeping the
    # chosen configurations in Triton's disk cache (TRITON_CACHE_DIR) lets every later process on
    # the machine skip that; the setting is read when the kernels are defined, so it goes first.
    os.environ.setdefault("TRITON_CACHE_AUTOTUNING", "1")
    try:
        from mamba_ssm.ops.triton.selective_state_update import selective_state_update
        from mamba_ssm.ops.triton.ssd_combined import mamba_chunk_scan_combined
    except ImportError as e:
        warnings.warn(f"mamba_ssm's Triton kernels failed to import ({e}); using the PyTorch path", stacklevel=2)
        return None
    conv_update = None
    if importlib.util.find_spec("causal_conv1d") is not None:
        try:
            from causal_conv1d import causal_conv1d_update as conv_update
        except ImportError as e:
            warnings.warn(f"causal_conv1d failed to import ({e}); using the PyTorch conv", stacklevel=2)
    return Kernels(mamba_chunk_scan_combined, selective_state_update, conv_update)


def usable(device: torch.device, backend: str) -> Kernels | None:
    """The kernels to use for tensors on `device` under backend 'auto' | 'torch' | 'kernels'."""
    if backend not in ("auto", "torch", "kernels"):
        raise ValueError(f"backend must be 'auto', 'torch' or 'kernels', got {backend!r}")
    if backend == "torch" or device.type != "cuda":
        if backend == "kernels" and device.type != "cuda":
            raise ValueError("backend 'kernels' needs CUDA tensors")
        return None
    k = load()
    if k is None and backend == "kernels":
        raise RuntimeError("backend 'kernels' was asked for but mamba_ssm's kernels are not importable")
    return k
