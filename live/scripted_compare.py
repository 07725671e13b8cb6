"""Two runs of the scripted live sessions, answer by answer: the same streams and questions answered by the code
or model before and after a change.

    python -m live.scripted --compare eval/before eval/after

Each folder is one session's (`python -m live.scripted --out`, holding rows.jsonl) or holds several, each in a
subfolder of the same name in both (a seed or a question set each). An answer is paired with the one given at the
same stream time to the same question; the figures are pooled over every pair of sessions: answers right, those
only one side got right and the exact McNemar p of that split, answers in the wrong form, the sounds the "what
happened" lists name (precision and recall pooled over all lists), counts right, and "yes" to absent and to
present sounds.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

ROWS = "rows.jsonl"  # one answered question a line, as `live.scripted.score` judged it


@dataclass(frozen=True)
class Side:
    """The paired answers of one side, in pair order."""

    rows: list[dict]

    def right(self, kind: str | None = None) -> int:
        return sum(r["right"] for r in self.rows if kind in (None, r["kind"]))

    def of(self, kind: str) -> int:
        return sum(r["kind"] == kind for r in self.rows)

    def wrong_forms(self) -> int:
        return sum(not r["form_ok"] for r in self.rows)

    def lists(self, names) -> tuple[float, float]:
        """Pooled precision and recall of the sounds the "what happened" answers name."""
        from model.metrics import micro_prf

        lists = [r for r in self.rows if r["kind"] == "recent"]
        prf = micro_prf([names.named(r["answer"]) for r in lists], [names.named(r["expected"]) for r in lists])
        return prf.precision, prf.recall

    def yes_to(self, expected: str) -> tuple[int, int]:
        """Answers "yes" to the yes/no questions whose answer is `expected`, and how many those are."""
        from model.metrics import yes_no

        asked = [r for r in self.rows if r["expected"] == expected]
        return sum(yes_no(r["answer"]) is True for r in asked), len(asked)


def sessions(folder: Path) -> dict[str, Path]:
    """The sessions a folder holds: itself ("") or its subfolders with rows, by name."""
    if (folder / ROWS).is_file():
        return {"": folder / ROWS}
    found = {d.name: d / ROWS for d in sorted(folder.iterdir()) if (d / ROWS).is_file()} if folder.is_dir() else {}
    if not found:
        raise ValueError(f"{folder}: no {ROWS} in it or its subfolders; give the --out folder of "
                         "`python -m live.scripted`, or a folder of them (a session scored before rows were kept "
                         "has none: run it again)")
    return found


def read_rows(path: Path) -> dict[tuple[float, str], dict]:
    """A session's answered questions keyed by when and what was asked."""
    rows = {}
    for i, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip():
            try:
                r = json.loads(line)
                rows[(float(r["at"]), r["question"])] = r
            except (ValueError, KeyError, TypeError) as e:
                raise ValueError(f"{path}, line {i}: not a scored answer ({e}); write the file again with "
                                 "`python -m live.scripted`") from e
    return rows


def paired(before: Path, after: Path) -> tuple[Side, Side, list[str], int]:
    """The answers both sides gave, pooled over the sessions the two folders share; the sessions' names, and how
    many answers had no partner (asked on one side only)."""
    a, b = sessions(before), sessions(after)
    if set(a) != set(b):
        only = sorted(set(a) ^ set(b))
        raise ValueError(f"{before} and {after} hold different sessions ({', '.join(only)} on one side only); "
                         "compare folders of the same sessions")
    left, right, unpaired = [], [], 0
    for name in sorted(a):
        x, y = read_rows(a[name]), read_rows(b[name])
        keys = [k for k in x if k in y]
        unpaired += len(x) + len(y) - 2 * len(keys)
        left += [x[k] for k in keys]
        right += [y[k] for k in keys]
    return Side(left), Side(right), sorted(a), unpaired


def compare(before: Path, after: Path) -> str:
    """The two runs side by side as markdown (module docstring)."""
    from model.evaluation.scoring import corpus_class_names
    from model.evaluation.stats import mcnemar_p

    x, y, names_of, unpaired = paired(before, after)
    gained = sum(not p["right"] and q["right"] for p, q in zip(x.rows, y.rows))
    lost = sum(p["right"] and not q["right"] for p, q in zip(x.rows, y.rows))
    names = corpus_class_names()
    (xp, xr), (yp, yr) = x.lists(names), y.lists(names)

    def share(side: Side, expected: str) -> str:
        yes, n = side.yes_to(expected)
        return f"{yes / n:.2f} ({n})" if n else "-"

    n = len(x.rows)
    lines = [f"# {before} against {after}: {n} answers paired in {len(names_of)} session(s)"
             + (f", {unpaired} asked on one side only" if unpaired else ""), "",
             "| | before | after |", "|---|---:|---:|",
             f"| answers right | {x.right()} ({x.right() / max(1, n):.3f}) | "
             f"{y.right()} ({y.right() / max(1, n):.3f}) |",
             f"| answers in the wrong form | {x.wrong_forms()} | {y.wrong_forms()} |",
             f"| 'what happened' lists ({x.of('recent')}): precision / recall | {xp:.3f} / {xr:.3f} | "
             f"{yp:.3f} / {yr:.3f} |",
             f"| counts right ({x.of('count')}) | {x.right('count')} | {y.right('count')} |",
             f"| 'yes' to absent sounds | {share(x, 'no')} | {share(y, 'no')} |",
             f"| 'yes' to present sounds | {share(x, 'yes')} | {share(y, 'yes')} |",
             "", f"gained {gained}, lost {lost} (McNemar p {mcnemar_p(gained, lost):.3g}); "
                 f"text changed in {sum(p['answer'] != q['answer'] for p, q in zip(x.rows, y.rows))} answers"]
    return "\n".join(lines) + "\n"
