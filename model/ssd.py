"""The SSD (state-space duality) recurrence of Mamba-2 in plain PyTorch.

Notation follows the Mamba-2 paper: per head h a scalar decay A_h < 0, a step size dt,
an input x of width headdim (P), and input/output projections B, C of width d_state (N)
shared by the heads of one group. The recurrence per token t is

    h_t = exp(dt_t * A) * h_{t-1} + dt_t * x_t B_t^T        # (P, N) per head
    y_t = h_t C_t

Three ways to compute it, which the tests hold together:
  ssd_naive   token by token over a whole sequence (the slow reference),
  ssd_step    one token (decoding),
  ssd_chunked the chunked scan: quadratic attention-like form inside chunks of
              `chunk_size` tokens, the recurrence between chunks (training, prefill
              and chunk-append, all from an optional initial state).
All math runs in float32: the state is float32 by design and exp(segment sums) needs it.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def _heads_per_group(x: Tensor, B: Tensor) -> int:
    n_heads, n_groups = x.shape[-2], B.shape[-2]
    assert n_heads % n_groups == 0, (n_heads, n_groups)
    return n_heads // n_groups


def _expand_groups(B: Tensor, heads_per_group: int) -> Tensor:
    """(..., G, N) -> (..., H, N): each group's projection serves its heads."""
    return B.repeat_interleave(heads_per_group, dim=-2)


def ssd_step(state: Tensor, x: Tensor, dt: Tensor, A: Tensor, B: Tensor, C: Tensor) -> tuple[Tensor, Tensor]:
    """Advance the SSM by one token.

    state (b, H, P, N) fp32; x (b, H, P); dt (b, H) after softplus; A (H,); B, C (b, G, N).
    Returns y (b, H, P) fp32 and the new state (b, H, P, N) fp32.
    """
    r = _heads_per_group(x, B)
    x, dt, B, C = x.float(), dt.float(), B.float(), C.float()
    Bh, Ch = _expand_groups(B, r), _expand_groups(C, r)  # (b, H, N)
    decay = torch.exp(dt * A.float())  # (b, H)
    state = state * decay[..., None, None] + (dt[..., None] * x)[..., None] * Bh[:, :, None, :]
    y = torch.einsum("bhpn,bhn->bhp", state, Ch)
    return y, state


def ssd_naive(x: Tensor, dt: Tensor, A: Tensor, B: Tensor, C: Tensor,
              initial_state: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Token-by-token reference. x (b, L, H, P); dt (b, L, H); B, C (b, L, G, N)."""
    b, L, H, P = x.shape
    state = initial_state.float() if initial_state is not None else x.new_zeros(b, H, P, B.shape[-1], dtype=torch.float32)
    ys = []
    for t in range(L):
        y, state = ssd_step(state, x[:, t], dt[:, t], A, B[:, t], C[:, t])
        ys.append(y)
    return torch.stack(ys, dim=1), state


def segsum(a: Tensor) -> Tensor:
    """Stable segment sums: out[..., i, j] = a[..., j+1] + ... + a[..., i] for i >= j, -inf above.

    Summing masked copies instead of differencing one long cumsum keeps exp(out) exact
    in float32 even when the cumulative decay is large.
    """
    T = a.shape[-1]
    a = a[..., None].expand(*a.shape, T)  # (..., T, T): column j holds a
    strict = torch.tril(torch.ones(T, T, dtype=torch.bool, device=a.device), diagonal=-1)
    a = a.masked_fill(~strict, 0)
    out = torch.cumsum(a, dim=-2)
    keep = torch.tril(torch.ones(T, T, dtype=torch.bool, device=a.device), diagonal=0)
    return out.masked_fill(~keep, float("-inf"))


def ssd_chunked(x: Tensor, dt: Tensor, A: Tensor, B: Tensor, C: Tensor, chunk_size: int,
                initial_state: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Chunked SSD scan over a sequence of any length, from an optional initial state.

    x (b, L, H, P); dt (b, L, H) after softplus; A (H,); B, C (b, L, G, N);
    initial_state (b, H, P, N). Returns y (b, L, H, P) fp32 and the final state (b, H, P, N) fp32.
    """
    b, L, H, P = x.shape
    G, N = B.shape[-2:]
    r = _heads_per_group(x, B)
    T = min(chunk_size, L)  # one short chunk when the whole sequence fits
    pad = (-L) % T
    # dt = 0 on padding: decay exp(0) = 1 and no input, so the final state is exact.
    x, dt, B, C = (F.pad(t.float(), (0, 0) * (t.dim() - 2) + (0, pad)) for t in (x, dt, B, C))
    c = (L + pad) // T
    x = x.view(b, c, T, G, r, P)
    dt = dt.view(b, c, T, G, r)
    B = B.view(b, c, T, G, N)
    C = C.view(b, c, T, G, N)
    xdt = x * dt[..., None]  # (b, c, T, G, r, P)
    a = (dt * A.float().view(G, r)).permute(0, 1, 3, 4, 2)  # (b, c, G, r, T): log-decay per token
    a_cum = torch.cumsum(a, dim=-1)

    # Inside each chunk: y_l = sum_{s<=l} (C_l . B_s) exp(a_{s+1..l}) dt_s x_s
    decay_ls = torch.exp(segsum(a))  # (b, c, G, r, T, T)
    CB = torch.einsum("bclgn,bcsgn->bcgls", C, B)  # (b, c, G, T, T)
    y = torch.einsum("bcgls,bcgrls,bcsgrp->bclgrp", CB, decay_ls, xdt)

    # The state each chunk adds by its end, then the recurrence across chunks.
    decay_to_end = torch.exp(a_cum[..., -1:] - a_cum)  # (b, c, G, r, T)
    chunk_states = torch.einsum("bcsgn,bcgrs,bcsgrp->bcgrpn", B, decay_to_end, xdt)
    if initial_state is None:
        s0 = chunk_states.new_zeros(b, 1, G, r, P, N)
    else:
        s0 = initial_state.float().reshape(b, 1, G, r, P, N)
    chunk_states = torch.cat([s0, chunk_states], dim=1)  # (b, c+1, G, r, P, N)
    a_chunk = a_cum[..., -1].permute(0, 2, 3, 1)  # (b, G, r, c): log-decay over each chunk
    chunk_decay = torch.exp(segsum(F.pad(a_chunk, (1, 0))))  # (b, G, r, c+1, c+1)
    states = torch.einsum("bgrzc,bcgrpn->bzgrpn", chunk_decay, chunk_states)
    entering, final = states[:, :-1], states[:, -1]

    # Contribution of the state entering each chunk.
    y = y + torch.einsum("bclgn,bcgrpn,bcgrl->bclgrp", C, entering, torch.exp(a_cum))
    y = y.reshape(b, c * T, H, P)[:, :L]
    return y, final.reshape(b, H, P, N)
