"""SAM checkpoints: a directory with config.json, model.safetensors (sharded above a size), tokenizer.json.

config.json is the whole SAMConfig, enough to rebuild the model; the weights are validated
against it on load (the first mismatching tensor is named). Pickle files are never loaded here.
"""
from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Iterator

import torch
from torch import Tensor

from .config import SAMConfig
from .files import atomic_replace, check_tensors, read_safetensors, write_safetensors
from .sam import SAM
from .tokenizer import Tokenizer

SHARD_BYTES = 2 * 1024**3  # above this the weights are split into shards with an index
INDEX = "model.safetensors.index.json"
TIED = ("lm.lm_head.weight",)
ASSETS = Path(__file__).resolve().parent.parent / "assets"
DEFAULT_NAME = "sam-small"


def default_checkpoint() -> Path | None:
    """The trained default model shipped in assets/, or None when it is not installed."""
    path = ASSETS / DEFAULT_NAME
    return path if (path / "config.json").is_file() else None


def _shards(tensors: dict[str, Tensor], shard_bytes: int) -> list[dict[str, Tensor]]:
    shards: list[dict[str, Tensor]] = [{}]
    size = 0
    for key, t in tensors.items():
        if shards[-1] and size + t.nbytes > shard_bytes:
            shards.append({})
            size = 0
        shards[-1][key] = t
        size += t.nbytes
    return shards


def save_sam(model: SAM, directory: str | Path, card: str | None = None, dtype: torch.dtype | None = None,
             shard_bytes: int = SHARD_BYTES, tensors: dict[str, Tensor] | None = None) -> Path:
    """Write a checkpoint directory; `dtype` casts floating weights (e.g. bfloat16 to ship small).

    `tensors` replaces model.state_dict() (e.g. the full weights gathered from an FSDP-sharded model).
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if model.tokenizer is None:
        raise ValueError("the model has no tokenizer to save with it")
    weights = model.state_dict() if tensors is None else tensors
    tensors = {k: v.detach().to("cpu") for k, v in weights.items() if k not in TIED}
    if dtype is not None:
        tensors = {k: v.to(dtype) if v.is_floating_point() else v for k, v in tensors.items()}
    shards = _shards(tensors, shard_bytes)
    for stale in [*directory.glob("model*.safetensors"), directory / INDEX]:
        stale.unlink(missing_ok=True)
    if len(shards) == 1:
        write_safetensors(directory / "model.safetensors", shards[0], {"format": "pt"})
    else:
        weight_map = {}
        for i, shard in enumerate(shards, 1):
            name = f"model-{i:05d}-of-{len(shards):05d}.safetensors"
            write_safetensors(directory / name, shard, {"format": "pt"})
            weight_map.update(dict.fromkeys(shard, name))
        index = {"metadata": {"total_size": sum(t.nbytes for t in tensors.values())}, "weight_map": weight_map}
        _write_text(directory / INDEX, json.dumps(index, indent=1))
    model.tokenizer.save(directory / "tokenizer.json")
    _write_text(directory / "config.json", json.dumps(model.cfg.to_dict(), indent=2))
    if card is not None:
        _write_text(directory / "README.md", card)
    return directory


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    atomic_replace(tmp, path)


def read_config(directory: str | Path) -> SAMConfig:
    """The SAMConfig of a checkpoint directory."""
    directory = Path(directory)
    path = directory / "config.json"
    if not path.is_file():
        pickled = (directory / "pytorch_model.bin").exists()
        hint = " (a state-spaces LM? load it with model.state_spaces.load_mamba)" if pickled else ""
        raise ValueError(f"{directory}: not a SAM checkpoint, config.json is missing{hint}")
    try:
        return SAMConfig.from_dict(json.loads(path.read_text()))
    except (json.JSONDecodeError, ValueError) as e:
        raise ValueError(f"{path}: {e}") from e


def _confined(directory: Path, name: str, index: Path) -> Path:
    """The shard an index names, refused unless it lies inside the checkpoint folder (links followed)."""
    path = directory / name
    inside = not Path(name).is_absolute() and ".." not in Path(name).parts
    if not inside or not path.resolve().is_relative_to(directory.resolve()):
        raise ValueError(f"{index}: shard {name!r} lies outside the checkpoint folder; an index may only name "
                         f"files inside {directory}")
    return path


def _shard_paths(directory: Path, index: Path) -> list[Path]:
    """The shard files of a sharded checkpoint, each confined to its folder; ValueError for a malformed index."""
    try:
        weight_map = json.loads(index.read_text())["weight_map"]
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{index}: not a safetensors index ({type(e).__name__}: {e}); it needs a weight_map "
                         f"object of tensor name -> shard file name") from e
    if not isinstance(weight_map, dict) or not all(isinstance(v, str) and v for v in weight_map.values()):
        raise ValueError(f"{index}: weight_map must map each tensor name to a shard file name")
    return [_confined(directory, name, index) for name in sorted(set(weight_map.values()))]


def _read_weights(directory: Path) -> dict[str, Tensor]:
    single, index = directory / "model.safetensors", directory / INDEX
    if single.is_file():
        return read_safetensors(single)[0]
    if index.is_file():
        tensors: dict[str, Tensor] = {}
        for path in _shard_paths(directory, index):
            tensors.update(read_safetensors(path)[0])
        return tensors
    pickles = sorted(p.name for p in directory.glob("*.bin")) + sorted(p.name for p in directory.glob("*.pt"))
    extra = f"; found {pickles[0]}, a pickle, which is never loaded implicitly" if pickles else ""
    raise ValueError(f"{directory}: no model.safetensors or {INDEX}{extra}")


def check_device(device: str | torch.device) -> torch.device:
    """`device` as a torch.device this machine has; ValueError saying what to use otherwise."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise ValueError(f"unknown device {str(device)!r}; use cpu, cuda or cuda:N") from e
    if dev.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ValueError(f"device {str(device)!r}: no CUDA GPU is available here; use cpu")
        if dev.index is not None and dev.index >= count:
            raise ValueError(f"device {str(device)!r}: this machine has {count} CUDA GPU(s), "
                             f"cuda:0 to cuda:{count - 1}")
    elif dev.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {str(device)!r}: Apple's MPS is not available here; use cpu")
    elif dev.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"device {str(device)!r}: SAM runs on cpu, cuda or mps")
    return dev


def cpu_dtype() -> torch.dtype:
    """The dtype SAM runs in on this CPU: bfloat16 where the CPU has bf16 arithmetic (AVX512_BF16 or AMX),
    else float32, which CPUs without it would only emulate.

    On this project's AVX512_BF16 CPU, bf16 holds the default model's weights in half the memory (44 MiB
    less), hears a hop about 15% faster and decodes as fast; on 300 validation questions it gives the same
    answer to 96% of them and the same accuracy (docs/BENCHMARKS.md, section 6).
    """
    native = torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    return torch.bfloat16 if native else torch.float32


def load_sam(directory: str | Path, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32,
             backend: str = "auto") -> SAM:
    """Rebuild a SAM from its checkpoint directory alone, holding one copy of its weights."""
    directory = Path(directory)
    device = check_device(device)
    if not directory.is_dir():
        raise ValueError(f"{directory}: no such checkpoint directory")
    cfg = read_config(directory)
    tokenizer = Tokenizer.load(directory / "tokenizer.json")
    tensors = _read_weights(directory)  # views of the files' mapped pages: nothing is read into memory yet
    model = _allocate(cfg, tokenizer, backend, device, dtype)
    check_tensors(model, tensors, str(directory), TIED if cfg.lm.tie_embeddings else ())
    _fill(model, tensors)
    return model.eval()


def _allocate(cfg: SAMConfig, tokenizer: Tokenizer, backend: str, device: torch.device, dtype: torch.dtype) -> SAM:
    """The model's parameters where, as and in the layout they will be used, to be filled by `_fill`.

    Built for real, not on the meta device: PyTorch's meta kernels for the constructors' random init
    (randn, mul, normal_) are Python decompositions whose first use imports sympy, torch._dynamo and
    Triton, which then stay resident (about 110 MB, and 1.4 s). The init here costs about 0.2 s, and its
    memory is the weights' own: they are made in `dtype` directly, not in float32 first.
    """
    with torch.device(device), _default_dtype(dtype):
        model = SAM(cfg, tokenizer, backend)
    model = model.to(dtype)  # anything a constructor made in an explicit dtype
    if model.branch is not None:
        model.branch.channels_last()  # before filling, so the weights are copied once, into this layout
    return model


@contextlib.contextmanager
def _default_dtype(dtype: torch.dtype) -> Iterator[None]:
    """Floating tensors made inside are `dtype`. The default is process-wide: load before starting threads."""
    before = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(before)


@torch.no_grad()
def _fill(model: SAM, tensors: dict[str, Tensor]) -> None:
    """Copy each checkpoint tensor into its parameter, converting its dtype on the way (one tensor at a time)."""
    targets = model.state_dict(keep_vars=True)
    for key, target in targets.items():
        if key in tensors:  # a tied output layer is the embedding's parameter, filled under its name
            target.copy_(tensors[key])
