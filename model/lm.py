"""The Mamba-2 language model, laid out as the state-spaces checkpoints are.

State-dict keys: backbone.embedding, backbone.layers.{i}.norm, backbone.layers.{i}.mixer.*,
backbone.norm_f, lm_head (tied to the embedding). Pre-norm residual blocks; the residual
stream is carried in float32 as in mamba_ssm with residual_in_fp32.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import MambaConfig
from .mamba2 import Mamba2Mixer
from .state import MambaState


class RMSNorm(nn.Module):
    """RMSNorm computed in float32, returned in the weight's dtype."""

    def __init__(self, d: int, eps: float = 1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        return F.rms_norm(x.float(), (x.shape[-1],), self.weight.float(), self.eps).to(self.weight.dtype)


class Block(nn.Module):
    """residual += mixer(norm(residual))."""

    def __init__(self, cfg: MambaConfig, backend: str):
        super().__init__()
        self.norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.mixer = Mamba2Mixer(cfg, backend)

    def forward(self, residual: Tensor, conv_state: Tensor, ssm_state: Tensor,
                single_token: bool = False) -> tuple[Tensor, Tensor, Tensor]:
        """residual (fp32) and this layer's states -> the new residual and states."""
        mix = self.mixer.step if single_token else self.mixer
        out, conv, ssm = mix(self.norm(residual), conv_state, ssm_state)
        return residual + out.float(), conv, ssm


class Backbone(nn.Module):
    def __init__(self, cfg: MambaConfig, backend: str):
        super().__init__()
        self.embedding = nn.Embedding(cfg.padded_vocab_size, cfg.d_model)
        self.layers = nn.ModuleList(Block(cfg, backend) for _ in range(cfg.n_layer))
        self.norm_f = RMSNorm(cfg.d_model, cfg.norm_eps)


class MambaLM(nn.Module):
    """Mamba-2 LM. Every call takes a MambaState (or None for a fresh one) and returns the new one."""

    def __init__(self, cfg: MambaConfig, backend: str = "auto"):
        super().__init__()
        self.cfg = cfg
        self.backbone = Backbone(cfg, backend)
        self.lm_head = nn.Linear(cfg.d_model, cfg.padded_vocab_size, bias=False)
        if cfg.tie_embeddings:
            self.lm_head.weight = self.backbone.embedding.weight
        self.init_weights()

    def set_backend(self, backend: str) -> None:
        """Choose 'auto' (kernels on CUDA when importable), 'torch' or 'kernels'."""
        for layer in self.backbone.layers:
            layer.mixer.backend = backend

    @torch.no_grad()
    def init_weights(self) -> None:
        """mamba_ssm's scheme: N(0, 0.02) embeddings, out_proj scaled by 1/sqrt(n_layer)."""
        nn.init.normal_(self.backbone.embedding.weight, std=0.02)
        for layer in self.backbone.layers:
            nn.init.kaiming_uniform_(layer.mixer.out_proj.weight, a=math.sqrt(5))
            layer.mixer.out_proj.weight /= math.sqrt(self.cfg.n_layer)

    def zero_state(self, batch_size: int = 1, device: torch.device | str | None = None) -> MambaState:
        """A fresh state on the model's device and dtype."""
        p = self.backbone.embedding.weight
        return MambaState.zeros(self.cfg, batch_size, device or p.device, p.dtype)

    def embed(self, input_ids: Tensor) -> Tensor:
        return self.backbone.embedding(input_ids)

    def _inputs(self, input_ids: Tensor | None, inputs_embeds: Tensor | None) -> Tensor:
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("pass exactly one of input_ids and inputs_embeds")
        if inputs_embeds is None:
            return self.embed(input_ids)
        if inputs_embeds.shape[-1] != self.cfg.d_model:
            raise ValueError(f"inputs_embeds has width {inputs_embeds.shape[-1]}, the model needs d_model = "
                             f"{self.cfg.d_model}")
        return inputs_embeds.to(self.backbone.embedding.weight.dtype)

    def _state(self, state: MambaState | None, batch_size: int, device: torch.device) -> MambaState:
        if state is None:
            return self.zero_state(batch_size, device)
        state.check(self.cfg, batch_size)
        return state

    def _through_layers(self, h: Tensor, state: MambaState, single_token: bool) -> tuple[Tensor, MambaState]:
        """The residual stream (fp32) after every block, and the state each layer returns."""
        residual = h.float()
        convs, ssms = [], []
        for i, layer in enumerate(self.backbone.layers):
            residual, conv, ssm = layer(residual, state.conv[i], state.ssm[i], single_token)
            convs.append(conv.to(state.conv.dtype))
            ssms.append(ssm)
        seen = state.seen + (1 if single_token else h.shape[1])
        return residual, MambaState(torch.stack(convs), torch.stack(ssms), seen)

    def hidden(self, input_ids: Tensor | None = None, inputs_embeds: Tensor | None = None,
               state: MambaState | None = None) -> tuple[Tensor, MambaState]:
        """A sequence from `state` (zero if None): final-norm hidden states (b, L, d_model) and the new state.

        The same call serves training (state None), prefill, and chunk-append onto a live state.
        """
        h = self._inputs(input_ids, inputs_embeds)
        if h.dim() != 3:
            raise ValueError(f"expected (batch, length, ...) input, got shape {tuple(h.shape)}")
        state = self._state(state, h.shape[0], h.device)
        residual, new = self._through_layers(h, state, single_token=False)
        return self.backbone.norm_f(residual), new

    def forward(self, input_ids: Tensor | None = None, inputs_embeds: Tensor | None = None,
                state: MambaState | None = None) -> tuple[Tensor, MambaState]:
        """Logits (b, L, padded_vocab) over a sequence, and the new state."""
        h, state = self.hidden(input_ids, inputs_embeds, state)
        return self.lm_head(h), state

    def step(self, input_ids: Tensor | None = None, inputs_embeds: Tensor | None = None,
             state: MambaState | None = None) -> tuple[Tensor, MambaState]:
        """One token per row: ids (b,) or embeds (b, d_model) -> logits (b, padded_vocab), new state."""
        h = self._inputs(input_ids, inputs_embeds)
        if h.dim() != 2:
            raise ValueError(f"step takes one token per row: (batch,) ids or (batch, d_model) embeds, got "
                             f"{tuple(h.shape)}")
        state = self._state(state, h.shape[0], h.device)
        residual, new = self._through_layers(h, state, single_token=True)
        return self.lm_head(self.backbone.norm_f(residual)), new

    def mask_padding(self, logits: Tensor) -> Tensor:
        """Logits of the padding ids (>= vocab_size) set to -inf so they are never chosen."""
        if logits.shape[-1] == self.cfg.vocab_size:
            return logits
        return F.pad(logits[..., : self.cfg.vocab_size], (0, logits.shape[-1] - self.cfg.vocab_size),
                     value=float("-inf"))

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
