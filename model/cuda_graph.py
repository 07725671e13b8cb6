"""Single-token decoding replayed from a CUDA graph.

One decode step of a 24- or 64-layer model launches hundreds of small kernels; on a GPU the
CPU cannot issue them as fast as the GPU runs them. Capturing the step once on static buffers
(token in, state in place, logits out) and replaying the graph removes that overhead. The
eager `MambaLM.step` is the reference the graphed step is tested against.
"""
from __future__ import annotations

import torch
from torch import Tensor

from .lm import MambaLM
from .state import MambaState


class GraphedStep:
    """lm.step for a fixed batch size, captured in a CUDA graph over static state buffers."""

    def __init__(self, lm: MambaLM, batch_size: int = 1, warmup: int = 3):
        p = lm.backbone.embedding.weight
        if p.device.type != "cuda":
            raise ValueError("GraphedStep needs the model on a CUDA device")
        self.lm = lm
        self.state = lm.zero_state(batch_size)  # static buffers, updated in place by each replay
        self.ids = torch.zeros(batch_size, dtype=torch.long, device=p.device)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side), torch.inference_mode():
            for _ in range(warmup):  # lets lazy initialisation (Triton autotuning, cuBLAS) happen outside capture
                self._step()
        torch.cuda.current_stream().wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph), torch.inference_mode():
            self.logits = self._step()
        self.state.conv.zero_()
        self.state.ssm.zero_()

    def _step(self) -> Tensor:
        logits, new = self.lm.step(self.ids, state=self.state)
        self.state.conv.copy_(new.conv)
        self.state.ssm.copy_(new.ssm)
        return logits

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
