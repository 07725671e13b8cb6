"""The recurrent state of a Mamba-2 language model as one explicit object.

A MambaState is created by the model, passed into every call and returned new; forking is a
copy. Its size depends on the config and batch size only, never on how many tokens it has seen.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import save as safetensors_bytes
from torch import Tensor

from .config import MambaConfig
from .files import read_safetensors, write_bytes_atomic


def nonfinite(tensors: dict[str, Tensor]) -> list[str]:
    """Names of the floating-point tensors that hold NaN or Inf."""
    return [k for k, v in tensors.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]


def save_state_file(path: str | Path, tensors: dict[str, Tensor], metadata: dict[str, str]) -> None:
    """Write a state as one safetensors file, atomically and never through a link; OSError propagates.

    ValueError when a tensor holds NaN or Inf: resumed, such a state would never answer again, so
    it is refused and the file already at `path` (the last finite state) is left as it was.
    """
    bad = nonfinite(tensors)
    if bad:
        raise ValueError(f"{path}: not saved: the state holds NaN or Inf (in {', '.join(bad)}); "
                         "the state saved there before, if any, is kept")
    write_bytes_atomic(path, safetensors_bytes({k: v.detach().contiguous() for k, v in tensors.items()}, metadata))


def check_finite(path: str | Path, tensors: dict[str, Tensor]) -> None:
    """ValueError naming the file when a loaded state holds NaN or Inf."""
    bad = nonfinite(tensors)
    if bad:
        raise ValueError(f"{path}: the saved state holds NaN or Inf (in {', '.join(bad)}) and would answer "
                         "nothing; move the file away to start from the recorded audio instead")


@dataclass
class MambaState:
    """Per-layer conv and SSM states, stacked along a leading layer axis."""

    conv: Tensor  # (n_layer, b, conv_dim, d_conv), model dtype: the last d_conv conv inputs
    ssm: Tensor  # (n_layer, b, nheads, headdim, d_state), float32
    seen: int = 0  # tokens pushed so far (bookkeeping, not used by the math)

    @classmethod
    def zeros(cls, cfg: MambaConfig, batch_size: int = 1, device: torch.device | str = "cpu",
              dtype: torch.dtype = torch.float32) -> "MambaState":
        """A fresh state: what the model holds before its first token."""
        conv = torch.zeros(cfg.n_layer, batch_size, cfg.conv_dim, cfg.d_conv, device=device, dtype=dtype)
        ssm = torch.zeros(cfg.n_layer, batch_size, cfg.nheads, cfg.headdim, cfg.d_state, device=device,
                          dtype=torch.float32)
        return cls(conv, ssm)

    @property
    def batch_size(self) -> int:
        return self.conv.shape[1]

    @property
    def nbytes(self) -> int:
        return self.conv.nbytes + self.ssm.nbytes

    def fork(self) -> "MambaState":
        """An independent copy: advancing it leaves this state untouched."""
        return MambaState(self.conv.clone(), self.ssm.clone(), self.seen)

    def to(self, device: torch.device | str) -> "MambaState":
        return MambaState(self.conv.to(device), self.ssm.to(device), self.seen)

    def repeat(self, n: int) -> "MambaState":
        """A batch-1 state as n identical rows (copied: the GPU kernels want contiguous states)."""
        if self.batch_size != 1:
            raise ValueError(f"only a batch-1 state is repeated, got a batch of {self.batch_size}")
        return MambaState(self.conv.expand(-1, n, -1, -1).contiguous(),
                          self.ssm.expand(-1, n, -1, -1, -1).contiguous(), self.seen)

    def select(self, index: Tensor | list[int]) -> "MambaState":
        """The states of some batch rows (e.g. to drop finished sequences)."""
        return MambaState(self.conv[:, index], self.ssm[:, index], self.seen)

    def check(self, cfg: MambaConfig, batch_size: int | None = None) -> None:
        """Raise ValueError if this state was made for another config or batch size."""
        want_conv = (cfg.n_layer, cfg.conv_dim, cfg.d_conv)
        want_ssm = (cfg.n_layer, cfg.nheads, cfg.headdim, cfg.d_state)
        got_conv = (self.conv.shape[0], *self.conv.shape[2:])
        got_ssm = (self.ssm.shape[0], *self.ssm.shape[2:])
        if got_conv != want_conv or got_ssm != want_ssm:
            raise ValueError(
                f"state belongs to another model config: conv {tuple(self.conv.shape)} and ssm "
                f"{tuple(self.ssm.shape)}, this model needs (n_layer, b, conv_dim, d_conv) = "
                f"({cfg.n_layer}, b, {cfg.conv_dim}, {cfg.d_conv}) and (n_layer, b, nheads, headdim, d_state) = "
                f"({cfg.n_layer}, b, {cfg.nheads}, {cfg.headdim}, {cfg.d_state})")
        if batch_size is not None and self.batch_size != batch_size:
            raise ValueError(f"state has batch size {self.batch_size} but the input has {batch_size}")

    def tensors(self, prefix: str = "") -> dict[str, Tensor]:
        return {f"{prefix}conv": self.conv.contiguous(), f"{prefix}ssm": self.ssm.contiguous()}

    @classmethod
    def from_tensors(cls, tensors: dict[str, Tensor], seen: int = 0, prefix: str = "") -> "MambaState":
        return cls(tensors[f"{prefix}conv"], tensors[f"{prefix}ssm"], seen)

    def save(self, path: str | Path, metadata: dict[str, str] | None = None) -> None:
        """Write the state to a safetensors file, atomically; ValueError for a state with NaN or Inf."""
        save_state_file(path, self.tensors(), {"format": "sam-mamba-state", "seen": str(self.seen), **(metadata or {})})

    @classmethod
    def load(cls, path: str | Path, device: torch.device | str = "cpu") -> "MambaState":
        """Read a state written by `save`; ValueError naming the file when it is not one or is not finite."""
        tensors, meta = read_safetensors(path, device)
        if meta.get("format") != "sam-mamba-state" or not {"conv", "ssm"} <= set(tensors):
            raise ValueError(f"{path}: not a SAM state file (metadata {json.dumps(meta)[:200]})")
        check_finite(path, tensors)
        return cls.from_tensors(tensors, int_field(path, meta, "seen"))


def int_field(path: str | Path, meta: dict[str, str], key: str) -> int:
    """A count in a state file's metadata (0 when absent); ValueError naming the file when it is not one."""
    value = meta.get(key, "0")
    if not (value.isascii() and value.isdigit() and len(value) <= 18):
        raise ValueError(f"{path}: damaged state: metadata {key}={value[:40]!r} is not a count of samples or tokens")
    return int(value)
