"""Decoding and streaming hops replayed from CUDA graphs, optionally with the layer work compiled.

One decode step of a 24- or 64-layer model launches hundreds of small kernels; the CPU cannot
issue them as fast as the GPU runs them. Capturing the step once on static buffers (token in,
state updated in place, logits out) and replaying the graph removes the launch overhead.
With `compiled=True`, the PyTorch step of one block (norm, in_proj, conv, SSM update, gated
norm, out_proj) is compiled once by torch.compile, which fuses its element-wise work into a few
kernels, and that one compiled function serves every layer (their weights are its arguments).
With `compiled="whole"`, the entire step (embedding, every block, final norm, LM head) is one
compiled function, so inductor also fuses across layer boundaries (one layer's residual add
with the next one's RMSNorm). The eager `MambaLM.step` is the reference all three are tested against.

A streaming hop (HOP_TOKENS audio embeddings appended to the live state) is launch-bound the
same way: 8 and 512 tokens cost the same eager. `GraphedAppend` captures the append of a fixed
number of embeddings; the eager `MambaLM.hidden(inputs_embeds=..., state=...)` is its reference.
"""
from __future__ import annotations

import copy
import functools
import itertools
from typing import Callable

import torch
from torch import Tensor, nn
from torch.func import functional_call

from .lm import Block, MambaLM
from .state import MambaState

HOP_TOKENS = 8  # LM tokens per streaming hop: live.engine's 1.28 s at 6.25 tokens/s


class _BlockStep(nn.Module):
    """residual -> residual + mixer(norm(residual)), writing the layer's state in place.

    single_token: residual (b, d_model) through mixer.step; else (b, L, d_model) through the scan.
    """

    def __init__(self, block: Block, single_token: bool = True):
        super().__init__()
        self.block = block
        self.single_token = single_token

    def forward(self, residual: Tensor, conv: Tensor, ssm: Tensor) -> Tensor:
        residual, new_conv, new_ssm = self.block(residual, conv, ssm, single_token=self.single_token)
        conv.copy_(new_conv)
        ssm.copy_(new_ssm)
        return residual


def compiled_block_step(lm: MambaLM, single_token: bool = True,
                        mode: str | None = None) -> tuple[Callable, list[dict[str, Tensor]]]:
    """One compiled block update (PyTorch path; a step, or an append) and each layer's weights to call it with."""
    template = _BlockStep(copy.deepcopy(lm.backbone.layers[0]), single_token)
    template.block.mixer.backend = "torch"  # element-wise work that the compiler can fuse
    weights = [{f"block.{k}": v for k, v in layer.named_parameters()} for layer in lm.backbone.layers]
    fn = torch.compile(lambda w, r, c, s: functional_call(template, w, (r, c, s)), dynamic=False, mode=mode)
    return fn, weights


class _WholeStep(nn.Module):
    """ids (b,) -> logits (b, padded_vocab) through every block, writing each layer's state in place."""

    def __init__(self, lm: MambaLM):
        super().__init__()
        self.lm = lm

    def forward(self, ids: Tensor, convs: list[Tensor], ssms: list[Tensor]) -> Tensor:
        lm = self.lm
        residual = lm.embed(ids).float()  # (b, d_model), fp32 like MambaLM's residual stream
        for layer, conv, ssm in zip(lm.backbone.layers, convs, ssms, strict=True):
            residual, new_conv, new_ssm = layer(residual, conv, ssm, single_token=True)
            conv.copy_(new_conv)
            ssm.copy_(new_ssm)
        return lm.lm_head(lm.backbone.norm_f(residual))


def whole_step(lm: MambaLM, compiled: bool = True, mode: str | None = None) -> tuple[Callable, dict[str, Tensor]]:
    """The whole decode step on the PyTorch path as one function, and lm's weights to call it with.

    fn(weights, ids (b,), convs, ssms) -> logits (b, padded_vocab), where convs and ssms hold one
    state tensor per layer (conv (b, conv_dim, d_conv), ssm (b, nheads, headdim, d_state)), each
    written in place. Pass the layers' views of the stacked state (state.conv.unbind(0)), not the
    stacked tensors: a write into a slice of an input is functionalized into a scatter over the
    whole stack, which inductor copies back after the last layer (one more pass over every
    layer's state); non-overlapping views are inputs of their own, each overwritten whole, which
    inductor stores from the kernel that computes the new state.
    compiled: one torch.compile'd graph (fullgraph, static shapes), or False for the same
    function eager (its reference test on the CPU).
    """
    with torch.device("meta"):  # the structure only: lm's weights come in as arguments
        template = _WholeStep(MambaLM(lm.cfg, backend="torch"))  # element-wise work the compiler can fuse
    weights = {f"lm.{k}": v for k, v in itertools.chain(lm.named_parameters(), lm.named_buffers())}

    def fn(w: dict[str, Tensor], ids: Tensor, convs: list[Tensor], ssms: list[Tensor]) -> Tensor:
        return functional_call(template, w, (ids, convs, ssms))

    if compiled:
        fn = torch.compile(fn, fullgraph=True, dynamic=False, mode=mode)
    return fn, weights


def _decode_step(lm: MambaLM, state: MambaState, ids: Tensor, compiled: bool | str,
                 mode: str | None) -> Callable[[], Tensor]:
    """() -> logits (b, padded_vocab) of the tokens in `ids`, advancing `state` in place: what GraphedStep captures."""
    if compiled == "whole":
        fn, weights = whole_step(lm, mode=mode)
        convs, ssms = list(state.conv.unbind(0)), list(state.ssm.unbind(0))
        return lambda: fn(weights, ids, convs, ssms)
    if compiled:
        layer_step, layer_weights = compiled_block_step(lm, mode=mode)

        def per_layer() -> Tensor:
            residual = lm.embed(ids).float()
            for i, w in enumerate(layer_weights):
                residual = layer_step(w, residual, state.conv[i], state.ssm[i])
            return lm.lm_head(lm.backbone.norm_f(residual))
        return per_layer

    def eager() -> Tensor:
        logits, new = lm.step(ids, state=state)
        state.conv.copy_(new.conv)
        state.ssm.copy_(new.ssm)
        return logits
    return eager


class GraphedStep:
    """lm.step for a fixed batch size, captured in a CUDA graph over static state buffers.

    compiled: False replays the eager step on the model's backend; True one compiled PyTorch block
    per layer (compiled_block_step); "whole" the entire step compiled as one graph (whole_step).
    mode: torch.compile's mode for the compiled ones (e.g. "max-autotune-no-cudagraphs"; not a
    cudagraphs mode: the graph here is our own).
    """

    def __init__(self, lm: MambaLM, batch_size: int = 1, compiled: bool | str = False, warmup: int = 3,
                 mode: str | None = None):
        if not (isinstance(compiled, bool) or compiled == "whole"):
            raise ValueError(f"compiled must be False, True or 'whole', got {compiled!r}")
        if mode in ("reduce-overhead", "max-autotune"):  # their CUDA graphs cannot be captured inside ours
            raise ValueError(f"mode {mode!r} makes CUDA graphs of its own; GraphedStep captures one: use "
                             "'max-autotune-no-cudagraphs' or None")
        p = lm.backbone.embedding.weight
        if p.device.type != "cuda":
            raise ValueError("GraphedStep needs the model on a CUDA device")
        self.lm = lm
        self.state = lm.zero_state(batch_size)  # static buffers, updated in place by each replay
        self.ids = torch.zeros(batch_size, dtype=torch.long, device=p.device)
        self._step = _decode_step(lm, self.state, self.ids, compiled, mode)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side), torch.inference_mode():
            for _ in range(warmup):  # lazy initialisation (compilation, autotuning, cuBLAS) outside capture
                self._step()
        torch.cuda.current_stream().wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph), torch.inference_mode():
            self.logits = self._step()
        self.state.conv.zero_()
        self.state.ssm.zero_()

    def load(self, state: MambaState) -> None:
        """Copy a state into the static buffers (e.g. after prefill on a fork)."""
        state.check(self.lm.cfg, self.state.batch_size)
        self.state.conv.copy_(state.conv)
        self.state.ssm.copy_(state.ssm)
        self.state.seen = state.seen

    def __call__(self, ids: Tensor) -> Tensor:
        """One token per row (b,) -> logits (b, padded_vocab); advances the static state."""
        self.ids.copy_(ids)
        self.graph.replay()
        self.state.seen += 1
        return self.logits


def block_appends(lm: MambaLM, compiled: bool = False) -> list[Callable[[Tensor, Tensor, Tensor], Tensor]]:
    """Per layer: (residual (b, L, d_model) fp32, conv, ssm) -> the new residual, writing conv and ssm in place.

    Eager on the model's backend, or (compiled) one torch.compile'd PyTorch block for every layer.
    """
    if compiled:
        fn, weights = compiled_block_step(lm, single_token=False)
        return [functools.partial(fn, w) for w in weights]
    return [_BlockStep(layer, single_token=False) for layer in lm.backbone.layers]


class GraphedAppend:
    """The append of `length` embeddings per row onto the state, captured in a CUDA graph over static buffers.

    The reference is lm.hidden(inputs_embeds=..., state=...), which model.listen calls every hop.
    The eager layers run on the model's backend (mamba_ssm's scan on 'auto'/'kernels', model.ssd
    on 'torch'); with length <= chunk_size the hop is one chunk of either scan. compiled=True runs
    the PyTorch path of each block, compiled once by torch.compile (see compiled_block_step).
    """

    def __init__(self, lm: MambaLM, batch_size: int = 1, length: int = HOP_TOKENS, compiled: bool = False,
                 warmup: int = 3):
        p = lm.backbone.embedding.weight
        if p.device.type != "cuda":
            raise ValueError("GraphedAppend needs the model on a CUDA device")
        if batch_size < 1 or length < 1:
            raise ValueError(f"GraphedAppend needs batch_size and length of at least 1, got {batch_size} and {length}")
        self.lm = lm
        self.length = length
        self.state = lm.zero_state(batch_size)  # static buffers, updated in place by each replay
        self.embeds = torch.zeros(batch_size, length, lm.cfg.d_model, dtype=p.dtype, device=p.device)
        self.layers = block_appends(lm, compiled)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side), torch.inference_mode():
            for _ in range(warmup):  # lazy initialisation (compilation, Triton autotuning, cuBLAS) outside capture
                self._append()
        torch.cuda.current_stream().wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph), torch.inference_mode():
            self.hidden = self._append()  # (b, length, d_model), rewritten by each replay
        with torch.inference_mode():
            self.state.conv.zero_()
            self.state.ssm.zero_()

    def _append(self) -> Tensor:
        # Each layer writes its own slice of the static state after reading it: no stacked copy of
        # the whole state per hop, as the eager path makes.
        residual = self.embeds.float()  # (b, L, d_model), fp32 like MambaLM's residual stream
        for i, layer in enumerate(self.layers):
            residual = layer(residual, self.state.conv[i], self.state.ssm[i])
        return self.lm.backbone.norm_f(residual)

    def load(self, state: MambaState) -> None:
        """Copy a state into the static buffers (e.g. the live state before graphed hops)."""
        state.check(self.lm.cfg, self.state.batch_size)
        # Under inference_mode: the buffers may be inference tensors (made inside it) or not.
        with torch.inference_mode():
            self.state.conv.copy_(state.conv)
            self.state.ssm.copy_(state.ssm)
        self.state.seen = state.seen

    def __call__(self, embeds: Tensor) -> Tensor:
        """One hop of embeddings (b, length, d_model) -> final-norm hidden states (b, length, d_model).

        Advances the static state, as lm.hidden would return it. The output is a static buffer,
        overwritten by the next call: clone it to keep it.
        """
        if tuple(embeds.shape) != tuple(self.embeds.shape):
            raise ValueError(f"this graph appends embeddings of shape {tuple(self.embeds.shape)} "
                             f"(batch, length, d_model), got {tuple(embeds.shape)}")
        with torch.inference_mode():
            self.embeds.copy_(embeds)  # cast to the model's dtype, as MambaLM._inputs does
        self.graph.replay()
        self.state.seen += self.length
        return self.hidden
