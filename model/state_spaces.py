"""Load and write Mamba-2 checkpoints in the state-spaces layout.

A directory holds `config.json` (d_model, n_layer, vocab_size, ssm_cfg, ...) and the weights as
`model.safetensors` or, for the published checkpoints, a pickled `pytorch_model.bin`. Pickles
can run code when unpickled, so they are read only when the caller says so, and then only
through `torch.load(weights_only=True)`.
"""
from __future__ import annotations

import json
import pickle
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor

from .config import MambaConfig, state_spaces_config, state_spaces_dict
from .files import check_tensors
from .lm import MambaLM


def read_config(directory: Path) -> MambaConfig:
    """The MambaConfig of a checkpoint directory, from its config.json."""
    path = directory / "config.json"
    if not path.is_file():
        raise ValueError(f"{directory}: no config.json; a state-spaces checkpoint directory needs one")
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from e
    try:
        return state_spaces_config(raw)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{path}: {e}") from e


def read_weights(directory: Path, allow_pickle: bool = False) -> dict[str, Tensor]:
    """The tensors of a checkpoint directory: safetensors, or a pickle only when allowed."""
    st, pt = directory / "model.safetensors", directory / "pytorch_model.bin"
    if st.is_file():
        return load_file(str(st))
    if pt.is_file():
        if not allow_pickle:
            raise ValueError(f"{pt} is a pickle file, which can run code when loaded; pass allow_pickle=True "
                             "(--allow-pickle) if you trust it, or convert it to model.safetensors")
        try:
            return torch.load(pt, map_location="cpu", weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, EOFError, OSError) as e:
            raise ValueError(f"{pt}: could not be read as plain weights ({e})") from e
    raise ValueError(f"{directory}: neither model.safetensors nor pytorch_model.bin is there")


def load_mamba(directory: str | Path, allow_pickle: bool = False, device: str | torch.device = "cpu",
               dtype: torch.dtype | None = None, backend: str = "auto") -> MambaLM:
    """A MambaLM from a state-spaces checkpoint directory; sizes come from its config.json."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ValueError(f"{directory}: not a directory")
    cfg = read_config(directory)
    tensors = read_weights(directory, allow_pickle)
    with torch.device("meta"):
        model = MambaLM(cfg, backend)
    check_tensors(model, tensors, str(directory), ("lm_head.weight",) if cfg.tie_embeddings else ())
    if "lm_head.weight" not in tensors:
        tensors = {**tensors, "lm_head.weight": tensors["backbone.embedding.weight"]}
    model.load_state_dict(tensors, assign=True)
    if cfg.tie_embeddings:
        model.lm_head.weight = model.backbone.embedding.weight
    return model.to(device=device, dtype=dtype) if dtype else model.to(device)


def save_mamba(model: MambaLM, directory: str | Path) -> None:
    """Write `config.json` and `model.safetensors` in the state-spaces layout."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(state_spaces_dict(model.cfg), indent=2))
    tensors = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    if model.cfg.tie_embeddings:
        tensors.pop("lm_head.weight")  # safetensors refuses shared storage; the tie restores it
    save_file(tensors, str(directory / "model.safetensors"), metadata={"format": "pt"})
