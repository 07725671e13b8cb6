"""Single-token decoding replayed from a CUDA graph, optionally with the layer step compiled.

One decode step of a 24- or 64-layer model launches hundreds of small kernels; the CPU cannot
issue them as fast as the GPU runs them. Capturing the step once on static buffers (token in,
state updated in place, logits out) and replaying the graph removes the launch overhead.
With `compiled=True`, the PyTorch step of one block (norm, in_proj, conv, SSM update, gated
norm, out_proj) is compiled once by torch.compile, which fuses its element-wise work into a few
kernels, and that one compiled function serves every layer (their weights are its arguments).
The eager `MambaLM.step` is the reference both are tested against.
"""
from __future__ import annotations

import copy
from typing import Callable

import torch
from torch import Tensor, nn
from torch.func import functional_call

from .lm import Block, MambaLM
from .state import MambaState


class _BlockStep(nn.Module):
    """residual -> residual + mixer.step(norm(residual)), writing the layer's state in place."""

    def __init__(self, block: Block):
        super().__init__()
        self.block = block

    def forward(self, residual: Tensor, conv: Tensor, ssm: Tensor) -> Tensor:
        residual, new_conv, new_ssm = self.block(residual, conv, ssm, single_token=True)
        conv.copy_(new_conv)
        ssm.copy_(new_ssm)
        return residual


def compiled_block_step(lm: MambaLM) -> tuple[Callable, list[dict[str, Tensor]]]:
    """One compiled block step (PyTorch path) and each layer's weights to call it with."""
    template = _BlockStep(copy.deepcopy(lm.backbone.layers[0]))
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
