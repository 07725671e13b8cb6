"""Small file helpers shared by checkpoints, states and logs: atomic writes, checked reads."""
from __future__ import annotations

import os
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import Tensor


def atomic_replace(tmp: Path, path: Path) -> None:
    """Make `tmp` become `path` in one step, durable on disk: readers see the old or the new file."""
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    tmp.replace(path)


def write_safetensors(path: str | Path, tensors: dict[str, Tensor], metadata: dict[str, str] | None = None) -> None:
    """save_file through a temporary file and a rename, so a crash never leaves half a file."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    save_file({k: v.detach().contiguous() for k, v in tensors.items()}, str(tmp), metadata=metadata)
    atomic_replace(tmp, path)


def read_safetensors(path: str | Path, device: str | torch.device = "cpu") -> tuple[dict[str, Tensor], dict[str, str]]:
    """Tensors and metadata of a safetensors file; ValueError naming the file when it is not one."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    try:
        with safe_open(str(path), framework="pt", device=str(device)) as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError) as e:
        raise ValueError(f"{path}: not a readable safetensors file ({e})") from e
    return tensors, meta


def check_tensors(model: torch.nn.Module, tensors: dict[str, Tensor], source: str,
                  optional: tuple[str, ...] = ()) -> None:
    """ValueError naming the first key whose presence or shape differs from the model's.

    Keys in `optional` (a tied output layer, stored under the embedding's name) may be absent.
    """
    expected = model.state_dict()
    for key, value in expected.items():
        if key not in tensors:
            if key in optional:
                continue
            raise ValueError(f"{source}: missing tensor {key} (expected shape {tuple(value.shape)})")
        if tuple(tensors[key].shape) != tuple(value.shape):
            raise ValueError(f"{source}: tensor {key} has shape {tuple(tensors[key].shape)} but its config "
                             f"needs {tuple(value.shape)}")
    extra = sorted(set(tensors) - set(expected))
    if extra:
        raise ValueError(f"{source}: unexpected tensor {extra[0]} (and {len(extra) - 1} more)")
