"""The Mamba-2 mixer, with mamba_ssm's parameter names and shapes.

in_proj produces [z, x, B, C, dt]; a causal depthwise conv and SiLU run over xBC; the SSD
recurrence (model.ssd) mixes along time; a gated RMSNorm and out_proj finish. Two calls, both
taking the layer's state and returning the new one:
  forward(u, conv_state, ssm_state)  a sequence of any length from a given (or zero) state:
                                     training, prefill and chunk-append are this one call
  step(u, conv_state, ssm_state)     one token, for decoding
conv_state holds the last d_conv inputs of the conv, as mamba_ssm keeps it; ssm_state is fp32.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import kernels
from .config import MambaConfig
from .ssd import ssd_chunked, ssd_step

# Chunk length of the PyTorch scan on CPU. Inside a chunk the work per head grows with its length
# (a T x T decay matrix), across chunks with their number. On this project's CPU, 64 is the
# fastest (or within a few percent of it) for the mamba2-small and 130m shapes at 512 and 2048
# tokens, 1.5-2x faster than the public configs' 256, which is tuned for the Triton kernels.
# The result does not depend on it.
CPU_CHUNK = 64


class GatedRMSNorm(nn.Module):
    """RMSNorm of x * silu(z), per group of channels (mamba_ssm's RMSNormGated, norm after gate)."""

    def __init__(self, d: int, group_size: int, eps: float = 1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.group_size = group_size
        self.eps = eps

    def forward(self, x: Tensor, z: Tensor) -> Tensor:
        dtype = x.dtype
        x = x.float() * F.silu(z.float())
        if self.group_size == x.shape[-1]:
            return F.rms_norm(x, (self.group_size,), self.weight.float(), self.eps).to(dtype)
        g = F.rms_norm(x.unflatten(-1, (-1, self.group_size)), (self.group_size,), eps=self.eps)
        return (g.flatten(-2) * self.weight.float()).to(dtype)


class Mamba2Mixer(nn.Module):
    """One Mamba-2 mixer layer (no bias in the projections, bias in the conv)."""

    def __init__(self, cfg: MambaConfig, backend: str = "auto"):
        super().__init__()
        self.cfg = cfg
        self.backend = backend
        self.in_proj = nn.Linear(cfg.d_model, cfg.d_in_proj, bias=False)
        self.conv1d = nn.Conv1d(cfg.conv_dim, cfg.conv_dim, cfg.d_conv, groups=cfg.conv_dim, bias=True)
        self.dt_bias = nn.Parameter(torch.empty(cfg.nheads))
        self.A_log = nn.Parameter(torch.empty(cfg.nheads))
        self.D = nn.Parameter(torch.empty(cfg.nheads))
        self.norm = GatedRMSNorm(cfg.d_inner, cfg.d_inner // cfg.ngroups, cfg.norm_eps)
        self.out_proj = nn.Linear(cfg.d_inner, cfg.d_model, bias=False)
        self.reset_ssm_parameters()

    @torch.no_grad()
    def reset_ssm_parameters(self, dt_min: float = 1e-3, dt_max: float = 0.1, dt_floor: float = 1e-4) -> None:
        """mamba_ssm's initialisation: dt log-uniform in [dt_min, dt_max], A in [1, 16], D = 1."""
        dt = torch.exp(torch.rand(self.cfg.nheads) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
        dt = dt.clamp(min=dt_floor)
        self.dt_bias.copy_(dt + torch.log(-torch.expm1(-dt)))  # inverse softplus
        self.A_log.copy_(torch.log(torch.empty(self.cfg.nheads).uniform_(1, 16)))
        self.D.fill_(1.0)

    def _split(self, zxbcdt: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        c = self.cfg
        return torch.split(zxbcdt, [c.d_inner, c.conv_dim, c.nheads], dim=-1)

    def _split_xbc(self, xBC: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        c = self.cfg
        gn = c.ngroups * c.d_state
        x, B, C = torch.split(xBC, [c.d_inner, gn, gn], dim=-1)
        return (x.unflatten(-1, (c.nheads, c.headdim)), B.unflatten(-1, (c.ngroups, c.d_state)),
                C.unflatten(-1, (c.ngroups, c.d_state)))

    def _conv(self, xBC: Tensor, conv_state: Tensor | None) -> tuple[Tensor, Tensor]:
        """Causal depthwise conv over (b, L, conv_dim) continuing from the last d_conv inputs."""
        b, L, _ = xBC.shape
        k = self.cfg.d_conv
        xt = xBC.transpose(1, 2)  # (b, conv_dim, L)
        if conv_state is None:
            history = xt.new_zeros(b, xt.shape[1], k)
        else:
            history = conv_state.to(xt.dtype)
        full = torch.cat([history, xt], dim=-1)  # (b, conv_dim, k + L)
        out = F.conv1d(full[..., 1:], self.conv1d.weight, self.conv1d.bias, groups=self.cfg.conv_dim)
        return F.silu(out).transpose(1, 2), full[..., -k:]

    def forward(self, u: Tensor, conv_state: Tensor | None = None,
                ssm_state: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """u (b, L, d_model) -> (y (b, L, d_model), conv_state (b, conv_dim, d_conv), ssm_state (b, H, P, N))."""
        c = self.cfg
        z, xBC, dt = self._split(self.in_proj(u))
        xBC, conv_state = self._conv(xBC, conv_state)
        x, B, C = self._split_xbc(xBC)
        A = -torch.exp(self.A_log.float())
        k = kernels.usable(u.device, self.backend)
        if k is not None:
            y, ssm_state = k.chunk_scan(x, dt, A, B, C, c.chunk_size, D=self.D, dt_bias=self.dt_bias,
                                        initial_states=ssm_state, dt_softplus=True, return_final_states=True)
            y = y.float()
        else:
            dt = F.softplus(dt.float() + self.dt_bias.float())
            chunk = min(c.chunk_size, CPU_CHUNK) if u.device.type == "cpu" else c.chunk_size
            y, ssm_state = ssd_chunked(x, dt, A, B, C, chunk, ssm_state)
            y = torch.addcmul(y, x.float(), self.D.float()[:, None])
        y = self.norm(y.flatten(-2).to(u.dtype), z)
        return self.out_proj(y), conv_state, ssm_state

    def step(self, u: Tensor, conv_state: Tensor, ssm_state: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """One token: u (b, d_model) -> (y (b, d_model), new conv_state, new ssm_state)."""
        c = self.cfg
        z, xBC, dt = self._split(self.in_proj(u))
        k = kernels.usable(u.device, self.backend)
        weight = self.conv1d.weight[:, 0, :]  # (conv_dim, d_conv)
        if k is not None and k.conv_update is not None:
            conv_state = conv_state.clone()
            xBC = k.conv_update(xBC, conv_state, weight, self.conv1d.bias, "silu")
        else:
            conv_state = torch.cat([conv_state[..., 1:], xBC.unsqueeze(-1).to(conv_state.dtype)], dim=-1)
            xBC = F.silu((conv_state * weight).sum(-1) + self.conv1d.bias).to(u.dtype)
        x, B, C = self._split_xbc(xBC)
        A = -torch.exp(self.A_log.float())
        if k is not None:
            ssm_state = ssm_state.clone()
            P, N = c.headdim, c.d_state
            y = k.state_update(
                ssm_state, x, dt[..., None].expand(-1, -1, P), A[:, None, None].expand(-1, P, N), B, C,
                D=self.D[:, None].expand(-1, P), dt_bias=self.dt_bias[:, None].expand(-1, P), dt_softplus=True,
            ).float()
        else:
            dt = F.softplus(dt.float() + self.dt_bias.float())
            y, ssm_state = ssd_step(ssm_state, x, dt, A, B, C)
            y = torch.addcmul(y, x.float(), self.D.float()[:, None])
        y = self.norm(y.flatten(-2).to(u.dtype), z)
        return self.out_proj(y), conv_state, ssm_state
