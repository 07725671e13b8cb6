"""A second hearing branch: YAMNet's embedding of the last 0.96 s, added to every column's LM token.

Our encoder learnt to hear from a few thousand clips; YAMNet (model/yamnet.py) learnt from
AudioSet. The branch gives the LM both, SALMONN-style, and keeps one token per 160 ms column:

    token(column c) = connector(encoder patches of c) + proj(YAMNet embedding of the 96 frames
                      of 10 ms that end where c ends)

The branch's frames are YAMNet's own log-mel, framed like the encoder's fbank (frame i covers
samples [160 i - 240, 160 i + 160)), so a column's 96 frames are its own 16 and the 80 before
it. A stream keeps those 80 frames in its state (`context`); before a stream begins they are
silence. The projection's last layer starts at zero, so adding a branch to a trained model
leaves its answers as they were until training teaches it to use the branch.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .audio import FRAMES_PER_TOKEN, LEFT_PAD
from .config import BRANCHES
from .encoder import Mlp
from .yamnet import EMBEDDING, MEL_BANDS, PATCH_FRAMES, SILENCE, YAMNet, YAMNetFrontend

CONTEXT_FRAMES = PATCH_FRAMES - FRAMES_PER_TOKEN  # 80 frames before a column that its patch also covers
PATCHES_PER_CALL = 4096  # YAMNet runs on at most this many patches at once (bounds training memory)


class YAMNetBranch(nn.Module):
    """frames of the audio a column ends -> one (b, columns, d_model) addition to the LM tokens."""

    def __init__(self, d_model: int, hidden: int):
        super().__init__()
        self.frontend = YAMNetFrontend()
        self.yamnet = YAMNet()
        self.norm = nn.LayerNorm(EMBEDDING)
        self.proj = Mlp(EMBEDDING, hidden, d_model)
        nn.init.zeros_(self.proj.fc2.weight)
        nn.init.zeros_(self.proj.fc2.bias)

    def channels_last(self) -> None:
        """YAMNet's convolutions in channels-last layout: oneDNN's depthwise convolutions run about twice as fast."""
        self.yamnet.to(memory_format=torch.channels_last)

    def frames(self, floored: Tensor, before: Tensor) -> Tensor:
        """YAMNet's log-mel of (b, n) audio with its LEFT_PAD samples `before`: (b, n // 160, 64), in float32."""
        return self.frontend(torch.cat([before.reshape(-1, LEFT_PAD).to(floored), floored], dim=-1))

    @staticmethod
    def zero_context(batch_size: int, device: torch.device | str) -> Tensor:
        """The 80 frames before a stream begins: silence."""
        return torch.full((batch_size, CONTEXT_FRAMES, MEL_BANDS), SILENCE, device=device)

    def embeddings(self, frames: Tensor, context: Tensor) -> Tensor:
        """(b, columns, 1024): YAMNet's embedding of each column's 96 frames (its 16 and the 80 before)."""
        x = torch.cat([context.to(frames), frames], dim=1)
        patches = x.unfold(1, PATCH_FRAMES, FRAMES_PER_TOKEN).transpose(-1, -2)  # (b, columns, 96, 64)
        flat = patches.flatten(0, 1).to(self.yamnet.stem.weight.dtype)  # frames are float32; the weights may not be
        out = [self.yamnet.embed(part) for part in flat.split(PATCHES_PER_CALL)]
        return torch.cat(out).unflatten(0, patches.shape[:2])

    def forward(self, frames: Tensor, context: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """The tokens' addition for whole columns of `frames` after `context`, the context that follows, and
        YAMNet's embeddings (b, columns, 1024) the addition was made from."""
        if frames.shape[1] % FRAMES_PER_TOKEN:
            raise ValueError(f"the branch hears whole 160 ms columns: {frames.shape[1]} frames is not a multiple "
                             f"of {FRAMES_PER_TOKEN}")
        emb = self.embeddings(frames, context)
        tokens = self.proj(self.norm(emb.to(self.norm.weight.dtype)))
        return tokens, torch.cat([context.to(frames), frames], dim=1)[:, -CONTEXT_FRAMES:], emb


def branch_context_shape(kind: str) -> tuple[int, ...]:
    """The shape a stream state's branch frames have, per stream, for a model with branch `kind`."""
    return (CONTEXT_FRAMES, MEL_BANDS) if kind else (0,)


def build_branch(kind: str, d_model: int) -> YAMNetBranch | None:
    if kind not in BRANCHES:
        raise ValueError(f"branch {kind!r} is not one of {BRANCHES}")
    return YAMNetBranch(d_model, d_model) if kind == "yamnet" else None
