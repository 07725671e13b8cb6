"""Decoding and streaming hops replayed from CUDA graphs, optionally with the layer work compiled.

One decode step of a 24- or 64-layer model launches hundreds of small kernels; the CPU cannot
issue them as fast as the GPU runs them. Capturing the step once on static buffers (token in,
state updated in place, logits out) and replaying the graph removes the launch overhead.
With `compiled=True`, the PyTorch step of one block (norm, in_proj, conv, SSM update, gated
norm, out_proj) is compiled once by torch.compile, which fuses its element-wise work into a few
kernels, and that one compiled function serves every layer (their weights are its arguments).
The eager `MambaLM.step` is the reference both are tested against.

A streaming hop (HOP_TOKENS audio embeddings appended to the live state) is launch-bound the
same way: 8 and 512 tokens cost the same eager. `GraphedAppend` captures the append of a fixed
number of embeddings; the eager `MambaLM.hidden(inputs_embeds=..., state=...)` is its reference.
"""
from __future__ import annotations

import copy
import functools
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


def compiled_block_step(lm: MambaLM, single_token: bool = True) -> tuple[Callable, list[dict[str, Tensor]]]:
    """One compiled block update (PyTorch path; a step, or an append) and each layer's weights to call it with."""
    template = _BlockStep(copy.deepcopy(lm.backbone.layers[0]), single_token)
    template.block.mixer.backend = "torch"  # element-wise work that the compiler can fuse
    weights = [{f"block.{k}": v for k, v in layer.named_parameters()} for layer in lm.backbone.layers]
    fn = torch.compile(lambda w, r, c, s: functional_call(template, w, (r, c, s)), dynamic=False)
    return fn, weights


class GraphedStep:
    """lm.step for a fixed batch size, captured in a CUDA graph over static state buffers."""

    def __init__(self, lm: MambaLM, batch_size: int = 1, compiled: bool = False, warmup: int = 3):
        p = lm.backbone.embedding.weight
        if p.device.type != "cuda":
            raise ValueError("GraphedStep needs the model on a CUDA device")
        self.lm = lm
        self.state = lm.zero_state(batch_size)  # static buffers, updated in place by each replay
        self.ids = torch.zeros(batch_size, dtype=torch.long, device=p.device)
        self.layer_step, self.weights = compiled_block_step(lm) if compiled else (None, [])
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

    def _step(self) -> Tensor:
        if self.layer_step is None:
            logits, new = self.lm.step(self.ids, state=self.state)
            self.state.conv.copy_(new.conv)
            self.state.ssm.copy_(new.ssm)
            return logits
        residual = self.lm.embed(self.ids).float()
        for i, w in enumerate(self.weights):
            residual = self.layer_step(w, residual, self.state.conv[i], self.state.ssm[i])
        return self.lm.lm_head(self.lm.backbone.norm_f(residual))

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
