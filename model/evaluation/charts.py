"""Charts of several reports of the same valset: accuracy per kind of question, with 95% intervals."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..metrics import wilson_interval
from ..plots import pyplot
from .stats import pooled


def chart_rows(reports: dict[str, dict[str, Any]]) -> dict[str, dict[str, tuple[float, float, float]]]:
    """Per kind of question, each report's accuracy and 95% interval, from its per-item results.

    The kinds are those every report has, but the re-hearings inside zeros; the last row pools
    every item once, as `compare` does.
    """
    sets = {name: r.get("valset", r).get("correct") for name, r in reports.items()}
    missing = [name for name, c in sets.items() if not c]
    if missing:
        raise ValueError(f"{', '.join(missing)}: no per-item results (written before sam-eval kept them): "
                         "evaluate that checkpoint again")
    kinds = [k for k in next(iter(sets.values())) if "_margins" not in k and all(k in c for c in sets.values())]
    rows: dict[str, dict[str, tuple[float, float, float]]] = {}
    for kind in [*kinds, "all items"]:
        rows[kind] = {}
        for name, c in sets.items():
            bits = "".join(c[k] for k in kinds if pooled(k)) if kind == "all items" else c[kind]
            rows[kind][name] = (bits.count("1") / len(bits), *wilson_interval(bits.count("1"), len(bits)))
    return rows


def chart(reports: dict[str, dict[str, Any]], png: Path) -> dict[str, dict[str, tuple[float, float, float]]]:
    """Grouped bars of `chart_rows` (one group per kind, one bar per report, 95% intervals), as a PNG."""
    rows = chart_rows(reports)
    plt = pyplot()
    if plt is None:
        raise ValueError("drawing a chart needs matplotlib: pip install 'sam-live[plots]'")
    names = list(reports)
    width = 0.8 / len(names)
    fig, ax = plt.subplots(figsize=(min(16.0, max(8.0, 0.45 * len(rows) * (1 + len(names) / 5))), 4.8))
    for i, name in enumerate(names):
        xs = [j + (i - (len(names) - 1) / 2) * width for j in range(len(rows))]
        acc = [rows[k][name][0] for k in rows]
        err = [[a - rows[k][name][1] for a, k in zip(acc, rows)], [rows[k][name][2] - a for a, k in zip(acc, rows)]]
        ax.bar(xs, acc, width, yerr=err, capsize=2, label=name)
    ax.set_xticks(range(len(rows)), [k.removesuffix("_accuracy").replace("_", " ") for k in rows],
                  rotation=35, ha="right")
    ax.set_ylabel("accuracy (95% interval)")
    ax.set_ylim(0, 1)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize="small", ncol=min(len(names), 6), loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return rows
