"""YAMNet as the corpus's teacher: AudioSet labels for every clip, kept apart from the rule labels.

`sam-data tag` hears each clip of a corpus with YAMNet, averages its patch scores over the clip and
writes `teacher.jsonl` beside the catalog: per clip, YAMNet's best AudioSet classes with their
scores, and the classes they name in our vocabulary (model/data/audioset.tsv: one of our classes,
or a new class's plain name; AudioSet classes the table drops are passed over), best first. The
rule labels of catalog.jsonl stay as they are. `teacher.report.json` says how often the teacher
agrees with the rule label, per category, which new classes it hears and on which clips, so that a
sample can be checked by ear.
"""
from __future__ import annotations

import json
import random
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

import torch
from torch import Tensor
from tqdm import tqdm

from ..files import write_bytes_atomic
from ..yamnet import YAMNet, hear
from .audioset import AudioSetRow
from .catalog import ClipRecord
from .labels import ClassInfo
from .questions import UMBRELLAS

TEACHER_JSONL = "teacher.jsonl"
REPORT_JSON = "teacher.report.json"
TOP = 5  # AudioSet classes kept per clip
CLIPS_PER_BATCH = 32
EXAMPLES = 3  # clips listed per new class and per disagreement, to check by ear


@dataclass(frozen=True)
class TeacherLabel:
    """What YAMNet hears in one clip."""

    id: str
    top: tuple[tuple[str, float], ...]  # AudioSet display names and clip-mean scores, best first
    targets: tuple[tuple[str, str, float], ...]  # (class, same/into/new, score) of the best kept ones, each once

    @property
    def target(self) -> str | None:
        """The class the teacher hears best (ours, or a new class's plain name); None when all were dropped."""
        return self.targets[0][0] if self.targets else None

    @property
    def score(self) -> float:
        return self.targets[0][2] if self.targets else 0.0

    def heard(self, min_score: float) -> list[tuple[str, str, float]]:
        """The targets at least `min_score`."""
        return [t for t in self.targets if t[2] >= min_score]


def label_clip(clip_id: str, scores: Tensor, rows: list[AudioSetRow], top: int = TOP) -> TeacherLabel:
    """The teacher label of a clip from its (521,) clip-mean scores: several AudioSet classes merged into
    one of ours give it the best of their scores."""
    order = torch.argsort(scores, descending=True).tolist()
    shown = tuple((rows[i].display_name, round(float(scores[i]), 4)) for i in order[:top])
    targets: dict[str, tuple[str, str, float]] = {}
    for i in order:
        row = rows[i]
        if row.action != "drop" and row.target not in targets:
            targets[row.target] = (row.target, row.action, round(float(scores[i]), 4))
            if len(targets) == top:
                break
    return TeacherLabel(clip_id, shown, tuple(targets.values()))


def tag_clips(model: YAMNet, clips: Iterable[tuple[str, Tensor]], rows: list[AudioSetRow], total: int | None = None,
              batch: int = CLIPS_PER_BATCH) -> Iterator[TeacherLabel]:
    """A teacher label for each (clip id, 16 kHz waveform) in order, heard `batch` clips at a time."""
    pending: list[tuple[str, Tensor]] = []
    with tqdm(total=total, desc="teacher", unit="clip") as bar:
        for item in clips:
            pending.append(item)
            if len(pending) == batch:
                yield from _label_batch(model, pending, rows)
                bar.update(len(pending))
                pending = []
        if pending:
            yield from _label_batch(model, pending, rows)
            bar.update(len(pending))


def _label_batch(model: YAMNet, clips: list[tuple[str, Tensor]], rows: list[AudioSetRow]) -> list[TeacherLabel]:
    heard = hear(model, clips)
    return [label_clip(key, heard[key].pool("mean"), rows) for key, _ in clips]


def write_labels(labels: Iterable[TeacherLabel], path: Path) -> int:
    """teacher.jsonl, written whole or not at all; the number of lines."""
    lines = [json.dumps(asdict(t), ensure_ascii=False) for t in labels]
    write_bytes_atomic(path, ("\n".join(lines) + "\n").encode() if lines else b"")
    return len(lines)


def write_report(report: dict[str, Any], path: Path) -> None:
    """teacher.report.json, written whole or not at all."""
    write_bytes_atomic(path, (json.dumps(report, indent=1, ensure_ascii=False) + "\n").encode())


def read_labels(path: Path) -> dict[str, TeacherLabel]:
    """teacher.jsonl -> {clip id: label}; ValueError naming the line when one is not a label."""
    out = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            out[d["id"]] = TeacherLabel(d["id"], tuple((str(a), float(b)) for a, b in d["top"]),
                                        tuple((str(c), str(a), float(s)) for c, a, s in d["targets"]))
        except (ValueError, KeyError, TypeError) as e:
            raise ValueError(f"{path}:{n}: not a teacher label ({e}); run `sam-data tag` again") from e
    return out


def agreement(records: list[ClipRecord], labels: dict[str, TeacherLabel], classes: dict[str, ClassInfo],
              min_score: float, seed: int = 0) -> dict[str, Any]:
    """How the teacher's labels stand against the rule labels, over clips whose best teacher class is at
    least `min_score`, a clip-mean YAMNet score (`sam-data tag --min-score`; the others are `unsure`):

    - same: the teacher's best class is the rule label;
    - consistent: it is the rule label, the rule label is among its classes at least `min_score`, or
      it names a family holding the rule label ("music" for a cello, "speech" for male speech);
    - new: clips with a new class (one our table lacks) at least `min_score`, per class, with examples;
    - confusions: the most frequent (rule label, teacher class) pairs that are not consistent, with examples.
    """
    rng = random.Random(seed)
    sure, same, consistent, unsure = 0, 0, 0, 0
    new: dict[str, list[str]] = defaultdict(list)
    by_category: dict[str, list[tuple[bool, bool]]] = defaultdict(list)
    confusions: dict[tuple[str, str], list[str]] = defaultdict(list)
    for r in records:
        t = labels.get(r.id)
        if t is None or t.target is None or t.score < min_score:
            unsure += 1
            continue
        heard = t.heard(min_score)
        for name, action, _ in heard:
            if action == "new":
                new[name].append(r.id)
        sure += 1
        is_same = t.target == r.label
        family = t.target in UMBRELLAS and r.label in classes and UMBRELLAS[t.target](classes[r.label])
        fits = is_same or family or r.label in {name for name, _, _ in heard}
        same += is_same
        consistent += fits
        by_category[r.category].append((is_same, fits))
        if not fits:
            confusions[(r.label, t.target)].append(r.id)
    top_confusions = sorted(confusions.items(), key=lambda kv: -len(kv[1]))[:30]
    share = lambda k, n: round(k / n, 4) if n else None  # noqa: E731
    return {
        "clips": len(records), "min_score": min_score, "unsure": unsure, "sure": sure,
        "same": share(same, sure), "consistent": share(consistent, sure),
        "by_category": {c: {"n": len(v), "same": share(sum(a for a, _ in v), len(v)),
                            "consistent": share(sum(b for _, b in v), len(v))} for c, v in sorted(by_category.items())},
        "clips_with_new_classes": len({i for ids in new.values() for i in ids}),
        "new_classes": {name: {"clips": len(ids), "examples": rng.sample(ids, min(EXAMPLES, len(ids)))}
                        for name, ids in sorted(new.items(), key=lambda kv: -len(kv[1]))},
        "confusions": [{"rule": a, "teacher": b, "clips": len(ids), "examples": rng.sample(ids, min(EXAMPLES, len(ids)))}
                       for (a, b), ids in top_confusions],
    }


def summary(report: dict[str, Any]) -> str:
    """A few lines for the terminal."""
    lines = [f"{report['clips']} clips; the teacher's best class is at least {report['min_score']} in "
             f"{report['sure']}: the rule label {report['same']}, consistent with it {report['consistent']}; "
             f"{report['unsure']} below; {report['clips_with_new_classes']} clips hold one of "
             f"{len(report['new_classes'])} new classes"]
    for c, v in report["by_category"].items():
        lines.append(f"  {c:<14} {v['n']:>5} clips  same {v['same']:.2f}  consistent {v['consistent']:.2f}")
    heard = list(report["new_classes"].items())[:12]  # most clips first
    if heard:
        lines.append("  new classes heard most: " + ", ".join(f"{k} ({v['clips']})" for k, v in heard))
    return "\n".join(lines)
