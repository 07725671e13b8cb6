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


def create_fresh(path: Path, flags: int = os.O_WRONLY) -> int:
    """A descriptor of a new, empty file at `path`: any leftover there (a kill's, or a planted link) is
    removed first and the file created with O_EXCL | O_NOFOLLOW, so nothing is ever written through a link."""
    path.unlink(missing_ok=True)
    return os.open(path, flags | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)


def write_all(fd: int, data: bytes, offset: int | None = None) -> None:
    """Write every byte of `data` (at `offset` with pwrite, else at the file position); OSError when it fails.

    More than one call only when the disk fills part-way; what was written before the error stays.
    """
    view = memoryview(data)
    while view:
        n = os.write(fd, view) if offset is None else os.pwrite(fd, view, offset)
        view = view[n:]
        if offset is not None:
            offset += n


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """Write a small file whole through a new temporary file and a rename; OSError (a full disk) propagates.

    The temporary file is made by `create_fresh`, so a planted link is replaced, never written through;
    on failure it is removed and `path` is untouched.
    """
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    fd = create_fresh(tmp)
    try:
        write_all(fd, data)
        os.fsync(fd)
    except BaseException as e:
        _discard(fd, tmp, e)
        raise
    os.close(fd)
    os.replace(tmp, path)


def _discard(fd: int, tmp: Path, error: BaseException) -> None:
    """Close and remove a temporary file after `error`; a failure to remove it is noted on `error`."""
    os.close(fd)
    try:
        tmp.unlink(missing_ok=True)
    except OSError as e:
        error.add_note(f"{tmp} could not be removed: {e}")


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


WEIGHT_DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.float64)  # what a checkpoint may store


def check_tensors(model: torch.nn.Module, tensors: dict[str, Tensor], source: str,
                  optional: tuple[str, ...] = ()) -> None:
    """ValueError naming the first key whose presence, shape or dtype differs from the model's, or
    that holds NaN or infinite values (a damaged checkpoint would answer nothing but noise).

    Keys in `optional` (a tied output layer, stored under the embedding's name) may be absent.
    """
    expected = model.state_dict()
    for key, value in expected.items():
        if key not in tensors:
            if key in optional:
                continue
            raise ValueError(f"{source}: missing tensor {key} (expected shape {tuple(value.shape)})")
        _check_tensor(source, key, tensors[key], value)
    extra = sorted(set(tensors) - set(expected))
    if extra:
        raise ValueError(f"{source}: unexpected tensor {extra[0]} (and {len(extra) - 1} more)")


def _check_tensor(source: str, key: str, got: Tensor, want: Tensor) -> None:
    if tuple(got.shape) != tuple(want.shape):
        raise ValueError(f"{source}: tensor {key} has shape {tuple(got.shape)} but its config needs "
                         f"{tuple(want.shape)}")
    allowed = WEIGHT_DTYPES if want.is_floating_point() else (want.dtype,)
    if got.dtype not in allowed:
        names = ", ".join(str(d).removeprefix("torch.") for d in allowed)
        raise ValueError(f"{source}: tensor {key} is stored as {str(got.dtype).removeprefix('torch.')}, not one "
                         f"of {names}; quantized or converted weights cannot be loaded, save the model in one of these")
    if got.is_floating_point() and not bool(torch.isfinite(got).all()):
        raise ValueError(f"{source}: tensor {key} holds NaN or infinite values; the checkpoint is damaged, "
                         f"save it again from a healthy model")
