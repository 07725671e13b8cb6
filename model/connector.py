"""Connectors: encoder patch features (b, columns, 8, dim) -> LM input tokens (b, n, d_model).

The paper's main variant concatenates the 8 frequency patches of each 160 ms column and maps
them through a 2-layer MLP: one compact token per column. The two long layouts of its ablation
map every patch to a token (8 per column), ordered time-major or, within each encoder block,
frequency-major. Each layout is its own small class; `build_connector` picks one by config.
"""
from __future__ import annotations

from torch import Tensor, nn

from .audio import FREQ_PATCHES
from .config import ConnectorConfig
from .encoder import Mlp


class ColumnConnector(nn.Module):
    """One token per column: concat(8 x dim) -> MLP -> d_model."""

    tokens_per_column = 1

    def __init__(self, enc_dim: int, hidden: int, d_model: int, block_columns: int):
        super().__init__()
        self.mlp = Mlp(FREQ_PATCHES * enc_dim, hidden, d_model)

    def forward(self, patches: Tensor) -> Tensor:
        return self.mlp(patches.flatten(2))  # (b, columns, d_model)


class TimeMajorConnector(nn.Module):
    """Every patch a token, column after column: (t0 f0..f7, t1 f0..f7, ...)."""

    tokens_per_column = FREQ_PATCHES

    def __init__(self, enc_dim: int, hidden: int, d_model: int, block_columns: int):
        super().__init__()
        self.mlp = Mlp(enc_dim, hidden, d_model)

    def forward(self, patches: Tensor) -> Tensor:
        return self.mlp(patches.flatten(1, 2))  # (b, columns * 8, d_model)


class FreqMajorConnector(nn.Module):
    """Every patch a token, frequency row after row within each encoder block (so it streams)."""

    tokens_per_column = FREQ_PATCHES

    def __init__(self, enc_dim: int, hidden: int, d_model: int, block_columns: int):
        super().__init__()
        self.block_columns = block_columns
        self.mlp = Mlp(enc_dim, hidden, d_model)

    def forward(self, patches: Tensor) -> Tensor:
        b, cols, f, d = patches.shape
        blocks = patches.unflatten(1, (cols // self.block_columns, self.block_columns))  # (b, nB, bc, 8, d)
        return self.mlp(blocks.transpose(2, 3).reshape(b, cols * f, d))


CONNECTORS = {"column": ColumnConnector, "time_major": TimeMajorConnector, "freq_major": FreqMajorConnector}


def build_connector(cfg: ConnectorConfig, enc_dim: int, d_model: int, block_columns: int) -> nn.Module:
    return CONNECTORS[cfg.layout](enc_dim, cfg.hidden or d_model, d_model, block_columns)
