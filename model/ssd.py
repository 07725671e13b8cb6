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
    """(..., G, N) -> (..., H, N): each group's projection serves its heads (a view when G = 1)."""
    *lead, G, N = B.shape
    return B.unsqueeze(-2).expand(*lead, G, heads_per_group, N).reshape(*lead, G * heads_per_group, N)


def ssd_step(state: Tensor, x: Tensor, dt: Tensor, A: Tensor, B: Tensor, C: Tensor) -> tuple[Tensor, Tensor]:
    """Advance the SSM by one token.

    state (b, H, P, N) fp32; x (b, H, P); dt (b, H) after softplus; A (H,); B, C (b, G, N).
    Returns y (b, H, P) fp32 and the new state (b, H, P, N) fp32.
    """
    r = _heads_per_group(x, B)
    x, dt, B, C = x.float(), dt.float(), B.float(), C.float()
    Bh, Ch = _expand_groups(B, r), _expand_groups(C, r)  # (b, H, N)
    decay = torch.exp(dt * A.float())  # (b, H)
    # One new tensor, updated in place: the state is the largest tensor of a decoding step, and
    # each pass over it costs more than the arithmetic.
    new = (dt[..., None] * x)[..., None] * Bh[:, :, None, :]
    new.addcmul_(state, decay[..., None, None])
    y = torch.einsum("bhpn,bhn->bhp", new, Ch)
    return y, new


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


# float32 exp underflows below about -87.3. PyTorch's vectorised CPU exp leaves its fast path for
# such inputs (and for -inf) and runs 10-50x slower, and decays that small are common (a head
# with dt * A = -2 reaches -87 within 44 tokens), so decay exponents are clamped here first:
# exp(-87) = 1.6e-38 is within the smallest normal float32 of the exact value.
EXP_FLOOR = -87.0


def _decay(log_decay: Tensor) -> Tensor:
    """exp of log-decays (<= 0), clamped at EXP_FLOOR."""
    return torch.exp(log_decay.clamp(min=EXP_FLOOR))


def segsum(a: Tensor) -> Tensor:
    """Stable segment sums: out[..., i, j] = a[..., j+1] + ... + a[..., i] for i >= j, -inf above.

    Differences of one cumulative sum lose float32 precision when the cumulative decay is large,
    so the sums are taken and differenced in float64 and rounded to a's dtype once: exp(out)
    stays exact in float32.
    """
    T = a.shape[-1]
    keep = torch.tril(torch.ones(T, T, dtype=torch.bool, device=a.device))
    return _segsum_open(a).masked_fill_(~keep, float("-inf"))


def _segsum_open(a: Tensor) -> Tensor:
    """segsum without the mask: above the diagonal out[..., i, j] = -(a[..., i+1] + ... + a[..., j])."""
    cum = torch.cumsum(a.double(), dim=-1)
    return (cum[..., :, None] - cum[..., None, :]).to(a.dtype)


def _chunks(t: Tensor, T: int, pad: int) -> Tensor:
    """(b, L, ...) -> (b, c, T, ...) in float32, zero-padded at the end to whole chunks of T."""
    t = t.float()
    if pad:
        t = F.pad(t, (0, 0) * (t.dim() - 2) + (0, pad))
    return t.unflatten(1, (-1, T))


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
    c = (L + pad) // T
    # Head-major chunks (b, G, r, c, T, ...): every contraction below is one batched matmul over
    # (T, P) and (T, N) blocks, and B, C broadcast over the r heads of their group.
    # dt = 0 on padding: decay exp(0) = 1 and no input, so the final state is exact.
    dt = _chunks(dt, T, pad).view(b, c, T, G, r)
    xdt = (_chunks(x, T, pad).view(b, c, T, G, r, P) * dt[..., None]).permute(0, 3, 4, 1, 2, 5).contiguous()
    B = _chunks(B, T, pad).permute(0, 3, 1, 2, 4).unsqueeze(2)  # (b, G, 1, c, T, N)
    C = _chunks(C, T, pad).permute(0, 3, 1, 2, 4).unsqueeze(2)  # (b, G, 1, c, T, N)
    a = (dt * A.float().view(G, r)).permute(0, 3, 4, 1, 2).contiguous()  # (b, G, r, c, T): log-decay per token
    a_cum = torch.cumsum(a, dim=-1)

    # Inside each chunk: y_l = sum_{s<=l} (C_l . B_s) exp(a_{s+1..l}) dt_s x_s. The causal mask
    # goes on C.B (per group, r times smaller than the decays), and clamping the decays' exponents
    # at 0 as well keeps the masked entries finite: exp(0) * 0.
    causal = torch.tril(torch.ones(T, T, dtype=torch.bool, device=x.device))
    CB = (C @ B.transpose(-1, -2)).masked_fill_(~causal, 0.0)  # (b, G, 1, c, T, T)
    y = (torch.exp(_segsum_open(a).clamp_(EXP_FLOOR, 0.0)) * CB) @ xdt  # (b, G, r, c, T, P)

    # The state each chunk adds by its end, then the recurrence across chunks.
    decay_to_end = _decay(a_cum[..., -1:] - a_cum)  # (b, G, r, c, T)
    states = (xdt * decay_to_end[..., None]).transpose(-1, -2) @ B  # (b, G, r, c, P, N)
    if initial_state is None:
        s0 = states.new_zeros(b, G, r, 1, P, N)
    else:
        s0 = initial_state.float().reshape(b, G, r, 1, P, N)
    if c == 1:  # a single chunk (a streaming hop): the state entering it is the initial state
        entering = s0
        final = _decay(a_cum[..., -1])[..., None] * s0[:, :, :, 0] + states[:, :, :, 0]
    else:
        states = torch.cat([s0, states], dim=3)  # (b, G, r, c+1, P, N)
        chunk_decay = torch.exp(segsum(F.pad(a_cum[..., -1], (1, 0))))  # (b, G, r, c+1, c+1)
        states = (chunk_decay @ states.flatten(-2)).unflatten(-1, (P, N))
        entering, final = states[:, :, :, :-1], states[:, :, :, -1]

    # Contribution of the state entering each chunk (none from a zero start in one chunk).
    if initial_state is not None or c > 1:
        y = y.addcmul_(C @ entering.transpose(-1, -2), _decay(a_cum)[..., None])
    y = y.permute(0, 3, 4, 1, 2, 5).reshape(b, c * T, H, P)[:, :L]
    return y, final.reshape(b, H, P, N)
