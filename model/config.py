"""Configuration dataclasses for the Mamba-2 language model, with named presets.

Field names follow mamba_ssm (`d_model`, `n_layer`, `d_state`, `headdim`, `expand`, `d_conv`,
`ngroups`, `chunk_size`) so a state-spaces `config.json` maps onto them directly.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

# Bounds a config must keep, checked before any module is built: a damaged or hostile config.json
# (n_layer 10^9) would otherwise build modules until memory runs out, even on the meta device.
MAX_LAYERS = 1024  # 16 times the deepest published Mamba-2 (2.7b, 64 layers)
MAX_WIDTH = 1 << 16  # channels, heads, state size: 25 times the widest published Mamba-2 (2.7b, d_model 2560)
MAX_VOCAB = 1 << 20  # token ids: four times the largest common vocabularies (256k)
MAX_SMALL = 64  # expand, d_conv and mlp_ratio: published models use 2 to 4


def _whole(owner: str, name: str, value: Any, low: int, high: int) -> None:
    """ValueError unless `value` is an int (not a bool) within [low, high]."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{owner}.{name} must be a whole number, got {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{owner}.{name} = {value} is outside {low}..{high}: a damaged config.json? "
                         f"(the bounds are far beyond any published model)")


def _positive(owner: str, name: str, value: Any, high: float) -> None:
    """ValueError unless `value` is a finite number in (0, high]."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{owner}.{name} must be a finite number, got {value!r}")
    if not 0 < value <= high:
        raise ValueError(f"{owner}.{name} = {value} must be above 0 and at most {high:g}")


@dataclass(frozen=True)
class MambaConfig:
    """A Mamba-2 language model: sizes of the mixer, the stack and the vocabulary."""

    d_model: int = 768
    n_layer: int = 24
    vocab_size: int = 50277
    pad_vocab_size_multiple: int = 16
    d_state: int = 128
    d_conv: int = 4
    expand: int = 2
    headdim: int = 64
    ngroups: int = 1
    chunk_size: int = 256
    norm_eps: float = 1e-5
    tie_embeddings: bool = True

    def __post_init__(self) -> None:
        for name, low, high in (("d_model", 1, MAX_WIDTH), ("n_layer", 1, MAX_LAYERS), ("vocab_size", 1, MAX_VOCAB),
                                ("pad_vocab_size_multiple", 1, MAX_WIDTH), ("d_state", 1, MAX_WIDTH),
                                ("d_conv", 2, MAX_SMALL), ("expand", 1, MAX_SMALL), ("headdim", 1, MAX_WIDTH),
                                ("ngroups", 1, MAX_WIDTH), ("chunk_size", 1, MAX_WIDTH)):
            _whole("MambaConfig", name, getattr(self, name), low, high)
        _positive("MambaConfig", "norm_eps", self.norm_eps, 1.0)
        if not isinstance(self.tie_embeddings, bool):
            raise ValueError(f"MambaConfig.tie_embeddings must be true or false, got {self.tie_embeddings!r}")
        if self.d_inner % self.headdim:
            raise ValueError(f"expand * d_model = {self.d_inner} is not a multiple of headdim {self.headdim}")
        if self.nheads % self.ngroups:
            raise ValueError(f"nheads {self.nheads} is not a multiple of ngroups {self.ngroups}")

    @property
    def d_inner(self) -> int:
        return self.expand * self.d_model

    @property
    def nheads(self) -> int:
        return self.d_inner // self.headdim

    @property
    def conv_dim(self) -> int:
        """Channels of the causal conv: x, B and C together (xBC)."""
        return self.d_inner + 2 * self.ngroups * self.d_state

    @property
    def d_in_proj(self) -> int:
        """in_proj output: [z, x, B, C, dt]."""
        return 2 * self.d_inner + 2 * self.ngroups * self.d_state + self.nheads

    @property
    def padded_vocab_size(self) -> int:
        m = self.pad_vocab_size_multiple
        return (self.vocab_size + m - 1) // m * m

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "MambaConfig":
        if not isinstance(d, dict):
            raise ValueError(f"a MambaConfig must be a JSON object of its fields, got {type(d).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown MambaConfig fields: {sorted(unknown)}")
        return cls(**d)

    @classmethod
    def from_name(cls, name: str) -> "MambaConfig":
        if name not in MAMBA_PRESETS:
            raise ValueError(f"unknown Mamba-2 preset {name!r}; choose one of {sorted(MAMBA_PRESETS)}")
        return MAMBA_PRESETS[name]


# The public state-spaces Mamba-2 checkpoints (GPT-NeoX vocabulary), and two of our own:
# `mamba2-small`, the LM of the on-device default model, and `mamba2-tiny` for tests.
MAMBA_PRESETS: dict[str, MambaConfig] = {
    "mamba2-130m": MambaConfig(d_model=768, n_layer=24),
    "mamba2-370m": MambaConfig(d_model=1024, n_layer=48),
    "mamba2-780m": MambaConfig(d_model=1536, n_layer=48),
    "mamba2-1.3b": MambaConfig(d_model=2048, n_layer=48),
    "mamba2-2.7b": MambaConfig(d_model=2560, n_layer=64),
    "mamba2-small": MambaConfig(d_model=384, n_layer=12, vocab_size=4096, d_state=64, headdim=32, chunk_size=64),
    "mamba2-tiny": MambaConfig(d_model=32, n_layer=2, vocab_size=300, d_state=16, headdim=16, chunk_size=8),
}


def state_spaces_config(raw: dict[str, Any]) -> MambaConfig:
    """Map a state-spaces `config.json` onto MambaConfig; refuse what we cannot build."""
    ssm = dict(raw.get("ssm_cfg") or {})
    layer = ssm.pop("layer", "Mamba2")
    if layer != "Mamba2":
        raise ValueError(f"ssm_cfg.layer is {layer!r}; only Mamba2 checkpoints are supported")
    if raw.get("d_intermediate", 0):
        raise ValueError("d_intermediate > 0 (MLP blocks between mixers) is not supported")
    if raw.get("attn_layer_idx"):
        raise ValueError("hybrid checkpoints with attention layers are not supported")
    if not raw.get("rms_norm", True):
        raise ValueError("only rms_norm checkpoints are supported")
    if "d_model" not in raw or "n_layer" not in raw or "vocab_size" not in raw:
        raise ValueError("config.json lacks one of d_model, n_layer, vocab_size")
    known = {"d_state", "d_conv", "expand", "headdim", "ngroups", "chunk_size"}
    ignored = set(ssm) - known
    if ignored:
        raise ValueError(f"ssm_cfg fields not supported: {sorted(ignored)}")
    return MambaConfig(
        d_model=raw["d_model"], n_layer=raw["n_layer"], vocab_size=raw["vocab_size"],
        pad_vocab_size_multiple=raw.get("pad_vocab_size_multiple", 8),
        tie_embeddings=raw.get("tie_embeddings", True), **{k: ssm[k] for k in known & set(ssm)},
    )


def state_spaces_dict(cfg: MambaConfig) -> dict[str, Any]:
    """The state-spaces `config.json` for a config (inverse of state_spaces_config)."""
    return {
        "d_model": cfg.d_model, "d_intermediate": 0, "n_layer": cfg.n_layer, "vocab_size": cfg.vocab_size,
        "ssm_cfg": {"layer": "Mamba2", "d_state": cfg.d_state, "d_conv": cfg.d_conv, "expand": cfg.expand,
                    "headdim": cfg.headdim, "ngroups": cfg.ngroups, "chunk_size": cfg.chunk_size},
        "attn_layer_idx": [], "attn_cfg": {}, "rms_norm": True, "residual_in_fp32": True,
        "fused_add_norm": True, "pad_vocab_size_multiple": cfg.pad_vocab_size_multiple,
        "tie_embeddings": cfg.tie_embeddings,
    }



@dataclass(frozen=True)
class EncoderConfig:
    """The block-causal ViT audio encoder over 16x16 fbank patches (EAT's layout)."""

    dim: int = 768
    depth: int = 12
    heads: int = 12
    mlp_ratio: float = 4.0
    block_columns: int = 8  # 160 ms columns per attention block: 8 = 1.28 s, the streaming hop
    context_blocks: int = 7  # earlier blocks each block attends to (the cached left context)
    norm_eps: float = 1e-6
    rope_theta: float = 10_000.0

    def __post_init__(self) -> None:
        for name, low, high in (("dim", 1, MAX_WIDTH), ("depth", 1, MAX_LAYERS), ("heads", 1, MAX_WIDTH),
                                ("block_columns", 1, MAX_LAYERS), ("context_blocks", 0, MAX_LAYERS)):
            _whole("EncoderConfig", name, getattr(self, name), low, high)
        _positive("EncoderConfig", "mlp_ratio", self.mlp_ratio, MAX_SMALL)
        _positive("EncoderConfig", "norm_eps", self.norm_eps, 1.0)
        _positive("EncoderConfig", "rope_theta", self.rope_theta, 1e12)
        if self.dim % self.heads or (self.dim // self.heads) % 2:
            raise ValueError(f"encoder dim {self.dim} must split into {self.heads} heads of even width")


# How encoder patches become LM tokens (the paper's ablation): one token per 160 ms column
# (the 8 frequency patches concatenated), or every patch as a token, time- or frequency-major.
CONNECTOR_LAYOUTS = ("column", "time_major", "freq_major")
# A second hearing branch beside the encoder (model/branch.py): none, or YAMNet's embedding.
BRANCHES = ("", "yamnet")
# What a presence head reads of each column: the LM input token (encoder and branch parts together), YAMNet's
# embedding of the column's 0.96 s alone, or both side by side.
PRESENCE_READS = ("tokens", "embedding", "both")


@dataclass(frozen=True)
class ConnectorConfig:
    layout: str = "column"
    hidden: int = 0  # MLP hidden width; 0 means the LM's d_model

    def __post_init__(self) -> None:
        if not isinstance(self.layout, str) or self.layout not in CONNECTOR_LAYOUTS:
            raise ValueError(f"connector layout {self.layout!r} is not one of {CONNECTOR_LAYOUTS}")
        _whole("ConnectorConfig", "hidden", self.hidden, 0, MAX_WIDTH)


@dataclass(frozen=True)
class SAMConfig:
    """The whole SAM model; a checkpoint's config.json is this, serialised."""

    name: str
    encoder: EncoderConfig
    connector: ConnectorConfig
    lm: MambaConfig
    branch: str = ""  # one of BRANCHES
    presence: tuple[str, ...] = ()  # the classes the presence head hears (model/presence.py); () without one
    presence_reads: str = "tokens"  # what the presence head reads of each column: one of PRESENCE_READS

    def __post_init__(self) -> None:
        if not isinstance(self.name, str):
            raise ValueError(f"SAMConfig.name must be a string, got {self.name!r}")
        if not isinstance(self.branch, str) or self.branch not in BRANCHES:
            raise ValueError(f"SAMConfig.branch {self.branch!r} is not one of {BRANCHES}")
        if not isinstance(self.presence, tuple) or not all(isinstance(c, str) and c for c in self.presence) \
                or len(set(self.presence)) != len(self.presence):
            raise ValueError("SAMConfig.presence must be a list of distinct class names")
        if self.presence_reads not in PRESENCE_READS:
            raise ValueError(f"SAMConfig.presence_reads {self.presence_reads!r} is not one of {PRESENCE_READS}")

    def to_dict(self) -> dict[str, Any]:
        """As config.json holds it; a model without a branch or a presence head has no such key, as before they
        existed."""
        d = dataclasses.asdict(self)
        if not self.branch:
            del d["branch"]
        if self.presence:
            d["presence"] = list(self.presence)
        else:
            del d["presence"]
        if self.presence_reads == "tokens":
            del d["presence_reads"]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "SAMConfig":
        parts = ("encoder", "connector", "lm")
        if not isinstance(d, dict) or not all(isinstance(d.get(k), dict) for k in parts):
            raise ValueError("not a SAM config: it must be a JSON object with a name and encoder, connector and "
                             "lm objects")
        try:
            return cls(name=d["name"], encoder=EncoderConfig(**d["encoder"]),
                       connector=ConnectorConfig(**d["connector"]), lm=MambaConfig.from_dict(d["lm"]),
                       branch=d.get("branch", ""), presence=tuple(d.get("presence", ())),
                       presence_reads=d.get("presence_reads", "tokens"))
        except (KeyError, TypeError) as e:
            raise ValueError(f"not a SAM config: {e}") from e

    @classmethod
    def from_name(cls, name: str) -> "SAMConfig":
        if name not in SAM_PRESETS:
            raise ValueError(f"unknown SAM preset {name!r}; choose one of {sorted(SAM_PRESETS)}")
        return SAM_PRESETS[name]

    def replace(self, **changes: Any) -> "SAMConfig":
        return dataclasses.replace(self, **changes)


EAT_BASE = EncoderConfig(dim=768, depth=12, heads=12)
# GPT-NeoX vocabulary plus SAM's two prompt tokens; both fit in the 16-padding of 50277.
NEOX_VOCAB = 50277 + 2


def _public(size: str) -> MambaConfig:
    return dataclasses.replace(MAMBA_PRESETS[f"mamba2-{size}"], vocab_size=NEOX_VOCAB)


SAM_PRESETS: dict[str, SAMConfig] = {
    "sam-tiny": SAMConfig("sam-tiny", EncoderConfig(dim=32, depth=1, heads=2, context_blocks=2),
                          ConnectorConfig(), MAMBA_PRESETS["mamba2-tiny"]),
    "sam-small": SAMConfig("sam-small", EncoderConfig(dim=256, depth=6, heads=4, context_blocks=3),
                           ConnectorConfig(), MAMBA_PRESETS["mamba2-small"]),
    "sam-130m": SAMConfig("sam-130m", EAT_BASE, ConnectorConfig(), _public("130m")),
    "sam-780m": SAMConfig("sam-780m", EAT_BASE, ConnectorConfig(), _public("780m")),
    "sam-2.7b": SAMConfig("sam-2.7b", EAT_BASE, ConnectorConfig(), _public("2.7b")),
}
