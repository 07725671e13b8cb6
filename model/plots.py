"""matplotlib for the PNGs the tools draw (the `plots` extra), on its file-only backend."""
from __future__ import annotations

from types import ModuleType


def pyplot() -> ModuleType | None:
    """matplotlib.pyplot drawing to files (the Agg backend, no display); None without matplotlib."""
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
