"""StreamState: everything a SAM session carries from one chunk of audio to the next.

The LM's Mamba-2 state, the encoder's cached keys and values of its last blocks, the samples
that do not yet fill a block, the fbank history before them and, for a model with a second
hearing branch (model/branch.py), that branch's last frames and what YAMNet tagged
(model/tags.py). Its size is bounded by the config, never by how long the session has listened.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from .audio import SAMPLE_RATE
from .config import SAMConfig
from .branch import branch_context_shape
from .encoder import EncoderCache
from .files import read_safetensors
from .tags import RECENT_COLUMNS, Tags
from .yamnet import NUM_CLASSES
from .state import MambaState, check_finite, int_field, save_state_file

FORMAT = "sam-stream-state"
TENSORS = ("lm.conv", "lm.ssm", "encoder.keys", "encoder.values", "pending", "history")


@dataclass
class StreamState:
    lm: MambaState
    encoder: EncoderCache
    pending: Tensor  # (b, m) samples at 16 kHz waiting for a whole encoder block
    history: Tensor  # (b, LEFT_PAD) samples just before `pending`: the fbank's left context
    samples_seen: int = 0  # 16 kHz samples heard, buffered ones included
    branch: Tensor | None = None  # (b, 80, 64) the branch's frames before `pending`; None or (b, 0): no branch
    tags: Tags | None = None  # the branch's YAMNet scores (model/tags.py); None without a branch

    def __post_init__(self) -> None:
        if self.branch is None:
            self.branch = self.history.new_zeros(self.history.shape[0], 0)

    @property
    def seconds(self) -> float:
        """Seconds of audio heard."""
        return self.samples_seen / SAMPLE_RATE

    @property
    def nbytes(self) -> int:
        return (self.lm.nbytes + self.encoder.keys.nbytes + self.encoder.values.nbytes
                + self.pending.nbytes + self.history.nbytes + self.branch.nbytes
                + (self.tags.nbytes if self.tags is not None else 0))

    def fork(self) -> "StreamState":
        """An independent copy."""
        return StreamState(self.lm.fork(), self.encoder.fork(), self.pending.clone(), self.history.clone(),
                           self.samples_seen, self.branch.clone(), self.tags.fork() if self.tags is not None else None)

    def save(self, path: str | Path, config: SAMConfig | None = None) -> None:
        """One safetensors file, written atomically; the model config goes in its metadata.

        ValueError, and the file at `path` left as it was, when the state holds NaN or Inf.
        """
        tensors = {**self.lm.tensors("lm."), "encoder.keys": self.encoder.keys, "encoder.values": self.encoder.values,
                   "pending": self.pending, "history": self.history}
        if self.branch.numel():
            tensors["branch"] = self.branch
        meta = {"format": FORMAT, "samples_seen": str(self.samples_seen), "lm_seen": str(self.lm.seen)}
        if self.tags is not None:
            tensors.update(self.tags.tensors())
            meta["tags_columns"] = str(self.tags.columns)
            if self.tags.own:
                meta["tags_own"] = json.dumps(list(self.tags.own))
        if config is not None:
            meta["config"] = json.dumps(config.to_dict())
        save_state_file(path, tensors, meta)

    @classmethod
    def load(cls, path: str | Path, model_config: SAMConfig | None = None,
             device: torch.device | str = "cpu") -> "StreamState":
        """Read a saved state; ValueError naming the file if it is not one, is damaged or belongs to another model."""
        tensors, meta = read_safetensors(path, device)
        if meta.get("format") != FORMAT:
            raise ValueError(f"{path}: not a SAM stream state (format {meta.get('format')!r})")
        missing = [k for k in TENSORS if k not in tensors] + ([] if "samples_seen" in meta else ["samples_seen"])
        if missing:
            raise ValueError(f"{path}: damaged SAM stream state: no {', '.join(missing)}; "
                             "move the file away to start from the recorded audio instead")
        if tensors["pending"].dim() != 2 or tensors["history"].dim() != 2:
            raise ValueError(f"{path}: damaged SAM stream state: pending {tuple(tensors['pending'].shape)} and "
                             f"history {tuple(tensors['history'].shape)} must be (batch, samples)")
        if model_config is not None and "config" in meta:
            check_same_config(path, meta["config"], model_config)
        check_finite(path, tensors)
        state = cls(MambaState.from_tensors(tensors, int_field(path, meta, "lm_seen"), "lm."),
                    EncoderCache(tensors["encoder.keys"], tensors["encoder.values"]),
                    tensors["pending"], tensors["history"], int_field(path, meta, "samples_seen"),
                    tensors.get("branch"), _tags(path, tensors, meta))
        if model_config is not None:
            try:
                state.lm.check(model_config.lm)
            except ValueError as e:
                raise ValueError(f"{path}: {e}") from e
            want = (state.history.shape[0], *branch_context_shape(model_config.branch))
            if model_config.branch and tuple(state.branch.shape) != want:
                raise ValueError(f"{path}: damaged SAM stream state: its branch frames are {tuple(state.branch.shape)}, "
                                 f"not {want}; move the file away to start from the recorded audio instead")
        return state


def _tags(path: str | Path, tensors: dict[str, Tensor], meta: dict[str, str]) -> Tags | None:
    """The saved tags; None for a state saved without them (its answers go without the tags until it hears more).
    A state saved before the tags kept their columns knows no times for what it heard then (Tags.heard_ago)."""
    if "tags.recent" not in tensors or "tags.ever" not in tensors:
        return None
    recent, ever = tensors["tags.recent"], tensors["tags.ever"]
    onset, run = tensors.get("tags.onset"), tensors.get("tags.run")
    since, latest = tensors.get("tags.since"), tensors.get("tags.latest")  # saved since sounds' spans were kept
    try:
        own = tuple(json.loads(meta.get("tags_own", "[]")))
    except ValueError:
        own = None
    b = ever.shape[0]
    width = NUM_CLASSES + len(own or ())
    shapes = [tuple(t.shape) for t in (ever, onset, run, since, latest) if t is not None]
    if own is None or tuple(recent.shape) != (b, RECENT_COLUMNS, width) or any(s != (b, width) for s in shapes):
        raise ValueError(f"{path}: damaged SAM stream state: its tags are {tuple(recent.shape)} and "
                         f"{', '.join(map(str, shapes))}, not {(b, RECENT_COLUMNS, width)} and "
                         f"{(b, width)}; move the file away to start from the recorded audio instead")
    return Tags(recent, ever, int_field(path, meta, "tags_columns"), onset, run, since, latest, own=own)


def check_same_config(path: str | Path, saved_json: str, model_config: SAMConfig) -> None:
    """ValueError naming the file when the state was saved by a model of another config."""
    try:
        saved = json.loads(saved_json)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: damaged SAM stream state: its config is not JSON ({e})") from e
    if saved != model_config.to_dict():
        name = saved.get("name") if isinstance(saved, dict) else None
        raise ValueError(f"{path}: the state was saved by model {name!r} with another "
                         f"config than the loaded model {model_config.name!r}; resume with that model")
