"""How sure the numbers are: 95% intervals of proportions, and two reports compared item by item."""
from __future__ import annotations

import math
from typing import Any

from ..metrics import wilson_interval


COUNTS = {"mcq_order_agreement": "mcq_pairs", "silence_false_alarm_rate": "silence_scenes",
          "silence_false_alarm_rate_gated": "silence_scenes", "silence_false_alarm_rate_feed": "silence_feed_scenes",
          "silence_false_alarm_rate_feed_ungated": "silence_feed_scenes", "silence_false_class_rate": "silence_scenes",
          "silence_false_class_rate_feed": "silence_feed_scenes",
          "description_false_sound_rate": "description_scenes",
          "description_false_sound_rate_margins": "description_scenes_margins"}  # proportion -> its number of items


def _count_of(key: str, res: dict[str, Any]) -> int | None:
    """How many items the proportion `key` of a report is taken over, when the report says."""
    if key in COUNTS:
        return res.get(COUNTS[key])
    if key.startswith("streaming_") and key.endswith("min_accuracy"):
        return res.get("streaming_n")
    if key.endswith("_accuracy"):
        return res.get(key.removesuffix("_accuracy") + "_n")
    return None


def intervals(res: dict[str, Any]) -> dict[str, list[float]]:
    """A 95% Wilson interval, as `<key>_ci95`, for every proportion whose item count the report holds.

    It says which differences between two reports could be noise: with 53 items, an accuracy of
    0.38 is known only to within about 0.13 either way.
    """
    out = {}
    for k, v in res.items():
        n = _count_of(k, res)
        if isinstance(v, float) and isinstance(n, int) and n > 0:
            out[f"{k}_ci95"] = [round(x, 4) for x in wilson_interval(round(v * n), n)]
    return out


def mcnemar_p(only_a: int, only_b: int) -> float:
    """Two-sided exact McNemar p-value: could the items only A got right and those only B got right
    differ this much by chance, were the two equally good? (A binomial test of the split at 1/2.)"""
    n, k = only_a + only_b, min(only_a, only_b)
    if n == 0:
        return 1.0
    return min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2**n)


def bits(right: list[bool]) -> str:
    """Per-item results in item order as a "1"/"0" string: what a report keeps and `compare` pairs up."""
    return "".join("1" if r else "0" for r in right)


def compare(old: dict[str, Any], new: dict[str, Any]) -> str:
    """Two reports of the same valset, item by item: each accuracy's change and how sure it is.

    Pairing the items makes this far sharper than two separate intervals: only the items that
    one checkpoint gets right and the other wrong bear on the difference.
    """
    a, b = (r.get("valset") or r.get("wordset") or r for r in (old, new))
    for name, r in (("first", a), ("second", b)):
        if "correct" not in r:
            raise ValueError(f"the {name} report has no per-item results (it was written before sam-eval kept "
                             "them): evaluate that checkpoint again")
    lines = ["| metric | first | second | change | only first right | only second right | p (McNemar) |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    pooled_x = pooled_y = ""
    for key in a["correct"]:
        x, y = a["correct"][key], b["correct"].get(key)
        if y is None:
            continue
        if len(x) != len(y):
            raise ValueError(f"{key}: {len(x)} items against {len(y)}: the reports are not of the same valset")
        lines.append(_paired_row(key, x, y))
        if pooled(key):
            pooled_x, pooled_y = pooled_x + x, pooled_y + y
    if pooled_x:
        lines.append(_paired_row(POOLED_ROW, pooled_x, pooled_y))
    return "\n".join(lines) + "\n"


POOLED_ROW = "all items, each once"


def pooled(key: str) -> bool:
    """Whether `key`'s items enter the pooled row: not the description items heard again inside
    zeros (margins), nor the multiple-choice items scored again by likelihood (cloze)."""
    return not key.endswith(("_margins_accuracy", "_cloze_accuracy"))


def _paired_row(name: str, x: str, y: str) -> str:
    """One table row of `compare` from two per-item bit strings of equal length."""
    only_a = sum(p == "1" and q == "0" for p, q in zip(x, y))
    only_b = sum(p == "0" and q == "1" for p, q in zip(x, y))
    acc_a, acc_b = x.count("1") / len(x), y.count("1") / len(y)
    return (f"| {name} | {acc_a:.3f} | {acc_b:.3f} | {acc_b - acc_a:+.3f} | {only_a} | {only_b} | "
            f"{mcnemar_p(only_a, only_b):.3g} |")
