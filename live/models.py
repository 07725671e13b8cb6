"""Finding and loading the model that sam-live runs, with a clear word when there is none."""
from __future__ import annotations

from pathlib import Path

from .protocol import SamModel

NO_MODEL = """No trained SAM model is installed (the default checkpoint assets/sam-small is missing).

Train the default model with `make train` (README, section "Training"), or give a checkpoint
directory with `sam-live --checkpoint DIR`."""


class ModelUnavailable(RuntimeError):
    """There is no model to run; the message says how to get one."""


def find_checkpoint(checkpoint: str | Path | None) -> Path:
    """The checkpoint directory to load: the one given, else the installed default."""
    if checkpoint is not None:
        path = Path(checkpoint).expanduser()
        if not path.is_dir():
            raise ValueError(f"{path}: no such checkpoint directory")
        return path
    try:
        from model.checkpoint import default_checkpoint
    except ImportError as e:
        raise ModelUnavailable(NO_MODEL) from e
    path = default_checkpoint()
    if path is None:
        raise ModelUnavailable(NO_MODEL)
    return Path(path)


def load_model(checkpoint: Path, dtype: str = "auto") -> SamModel:
    """Load a SAM checkpoint directory on the CPU, ready to listen, in `dtype`: "float32", "bfloat16", or
    "auto" for the CPU's own choice (model.checkpoint.cpu_dtype: bfloat16 where it has bf16 arithmetic)."""
    try:
        import torch

        from model.checkpoint import cpu_dtype, load_sam
    except ImportError as e:
        raise ModelUnavailable(f"this installation has no model loader (model.checkpoint): {e}") from e
    model = load_sam(checkpoint, device="cpu", dtype=cpu_dtype() if dtype == "auto" else getattr(torch, dtype))
    model.eval()
    return model
