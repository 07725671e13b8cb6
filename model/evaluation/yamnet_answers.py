"""How YAMNet answers evaluation items: it hears a recording as patches, its AudioSet scores are merged
onto our classes (model/data/audioset.tsv), and each kind of question gets a text answer from them.

Pure functions of the score tensors apart from `hear`, so the mapping can be tested with made-up scores.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Callable, Iterable

import torch
from torch import Tensor

from ..audio import SAMPLE_RATE
from ..data.audioset import AudioSetRow
from ..data.labels import ClassInfo
from ..data.mixer import RECENT_S
from ..data.questions import UMBRELLAS
from ..data.tasks import JUST_HEARD, NOTHING_RECENT, OPEN_QUESTIONS, QUIET, SILENCE
from ..metrics import ClassNames, seconds_of
from ..yamnet import Heard, hear
from .answering import Item, is_absent_stem, mcq_parts

NEGATED = re.compile(r"\b(not|isn't|absent|missing|odd one)\b", re.IGNORECASE)  # "which did NOT happen?"
AT = re.compile(r"\bat (\d+(?:\.\d+)?) s\b")  # "what animal is that at 7.3 s?"
AT_END = re.compile(r" at \d+(?:\.\d+)? s\?$")
CATEGORY_STEMS = {t.format(at=""): category for category, stems in OPEN_QUESTIONS.items() for t in stems}


# ---------------------------------------------------------------- scores onto our classes

@dataclass(frozen=True)
class Tagger:
    """YAMNet's outputs merged onto our classes, and the pooling and threshold that turn them into answers."""

    classes: dict[str, ClassInfo]
    rows: tuple[AudioSetRow, ...]
    pooling: str = "max"
    threshold: float = 0.5

    @property
    def names(self) -> list[str]:
        return list(self.classes)

    @functools.cached_property
    def index(self) -> Tensor:
        """(521,) our class of each YAMNet output (same/into), -1 for new and dropped ones."""
        ids = {c: i for i, c in enumerate(self.classes)}
        return torch.tensor([ids[r.ours] if r.ours in ids else -1 for r in self.rows])

    def mapped(self, scores: Tensor) -> Tensor:
        """(..., 521) YAMNet scores -> (..., C) ours: each the highest of its same/into classes (0 with none)."""
        keep = self.index >= 0
        out = scores.new_zeros(*scores.shape[:-1], len(self.classes))
        return out.scatter_reduce(-1, self.index[keep].expand(*scores.shape[:-1], -1), scores[..., keep], "amax")

    @functools.cached_property
    def families(self) -> list[tuple[int, Tensor]]:
        """(umbrella, its members) as class indices, from model/data/questions.py: 'music' over every music class,
        'bird' over hawk and owl, 'engine' over the vehicles..."""
        ids = {c: i for i, c in enumerate(self.classes)}
        return [(ids[u], torch.tensor([i for c, i in ids.items() if c != u and belongs(self.classes[c])]))
                for u, belongs in UMBRELLAS.items() if u in ids]

    def over(self, mapped: Tensor, threshold: float | None = None) -> Tensor:
        """(..., C) mapped scores -> bool: over the threshold, less an umbrella ('music') when one of its members
        ('violin') is over it too, since our labels name the most specific class."""
        raw = mapped >= (self.threshold if threshold is None else threshold)
        over = raw.clone()
        for u, members in self.families:
            over[..., u] &= ~raw[..., members].any(-1)
        return over

    def top(self, scores: Tensor, among: set[str] | None = None) -> str:
        """Our class with the highest mapped score (AudioSet's ranking, new and dropped classes skipped), or an
        umbrella's best member over the threshold; `among` limits the classes (an open question's category)."""
        m = self.mapped(scores)
        if among is not None:
            m = torch.where(torch.tensor([c in among for c in self.classes]), m, -1.0)
        best, raw = int(m.argmax()), m >= self.threshold
        for u, members in self.families:
            if u == best and raw[members].any():
                best = int(members[m[members].argmax()])
        return self.names[best]

    def raw_top(self, scores: Tensor) -> str:
        """AudioSet's top-1 that names a sound, new classes allowed (their plain names)."""
        return next(self.rows[i].target for i in scores.argsort(descending=True).tolist() if self.rows[i].target)

    def present(self, scores: Tensor) -> list[str]:
        """Our classes over the threshold (umbrellas giving way to their members), highest score first."""
        m = self.mapped(scores)
        over = self.over(m)
        return [self.names[i] for i in m.argsort(descending=True).tolist() if over[i]]

    def pick(self, options: list[str], scores: Tensor, names: ClassNames, absent: bool = False) -> int:
        """The option whose class scores highest (lowest for 'which is absent?'); 'silence' scores the threshold,
        so it wins when no option's class passes it."""
        m = dict(zip(self.names, self.mapped(scores).tolist()))

        def value(option: str) -> float:
            if option.strip().lower() == SILENCE:
                return self.threshold
            named = names.named(option)
            return max((m[c] for c in named if c in m), default=0.0)

        values = [value(o) for o in options]
        return (min if absent else max)(range(len(options)), key=values.__getitem__)


def listed(classes: list[str]) -> str:
    """A tags or description answer: the classes, or quiet when there are none."""
    return ", ".join(classes) or QUIET


# ---------------------------------------------------------------- answering the items

def answer_valset(it: Item, heard: Heard, tagger: Tagger, names: ClassNames) -> str | None:
    """The baseline's answer to a validation item, or None for a kind it cannot answer."""
    pool = tagger.pooling
    at = AT.search(it.question)
    moment = heard.pool(pool, float(at.group(1)), float(at.group(1))) if at else heard.pool(pool)
    if it.kind == "open" and it.variant == "category":
        category = asked_category(it.question)
        return tagger.top(moment, {c for c, info in tagger.classes.items() if info.category == category})
    if it.kind == "open":
        return tagger.raw_top(moment) if it.variant == "raw" else tagger.top(moment)
    if it.kind == "mcq":
        stem, options = mcq_parts(it.question)
        return f"{'ABCD'[tagger.pick(options, heard.pool(pool), names, is_absent_stem(stem))]})"
    if it.kind in ("tags", "description"):
        return listed(tagger.present(heard.pool(pool)))
    if it.kind == "type":
        present = tagger.present(moment)
        return tagger.classes[present[0]].kind if present else SILENCE
    if it.kind == "tf":
        said = _presence(it.question, heard.pool(pool), tagger, names)
        return None if said is None else "yes" if said else "no"
    if it.kind == "recent":
        window = RECENT_S if it.question in JUST_HEARD else seconds_of(it.question) or RECENT_S
        recent = tagger.present(heard.pool(pool, heard.duration_s - window))
        if it.question in JUST_HEARD:
            return recent[0] if recent else NOTHING_RECENT
        return ", ".join(recent) or NOTHING_RECENT
    return None


def asked_category(question: str) -> str | None:
    """The category an open validation question asks for ('What animal is that at 2.5 s?' -> animal), or None."""
    return CATEGORY_STEMS.get(AT_END.sub("?", question))


def _presence(question: str, scores: Tensor, tagger: Tagger, names: ClassNames) -> bool | None:
    """'Is there a dog?': whether it passes; 'Is it quiet?': whether nothing does; None for claims of count or order."""
    q = question.lower()
    if q.startswith("true or false"):
        return None
    if "quiet" in q or "silent" in q:
        return not tagger.present(scores)
    asked = names.named(question)
    return next(iter(asked)) in tagger.present(scores) if len(asked) == 1 else None


GROUPS: dict[str, Callable[[ClassInfo], bool]] = {  # the wording set's yes/no groups, as model/data/questions.py
    "people": lambda c: c.category in ("human", "speech"), "music": lambda c: c.kind == "music",
    "speech": lambda c: c.name in ("speech", "male speech", "female speech", "speech synthesizer", "crowd"),
    "animal": lambda c: c.category == "animal", "vehicle": lambda c: c.category == "vehicle",
    "sound": lambda c: True}


def answer_wordset(row: dict, heard: Heard, tagger: Tagger, names: ClassNames) -> str | None:
    """The baseline's answer to a wording-set item (its form known from the row), or None when it cannot."""
    kind, form, whole = row["kind"], row["form"], heard.pool(tagger.pooling)
    if kind == "mcq":
        absent = "absent" in row["family"] or "odd" in row["family"] or bool(NEGATED.search(row["question"]))
        i = tagger.pick(list(row["options"]), whole, names, absent)
        return row["labels"][i] if row["labels"] else row["options"][i]
    if kind in ("open", "tags", "type", "description"):
        text = answer_valset(Item("", row["question"], row["answer"], kind), heard, tagger, names)
        return f"I hear {text}." if form == "sentence" else text
    if kind == "recent":
        recent = tagger.present(heard.pool(tagger.pooling, heard.duration_s - (row.get("value") or RECENT_S)))
        return (recent[0] if form == "label" else ", ".join(recent)) if recent else NOTHING_RECENT
    if kind == "yesno":
        present, about = tagger.present(whole), row["about"]
        if about == "target:quiet":
            return "no" if present else "yes"
        if about.startswith("target:"):
            return "yes" if any(GROUPS[about.removeprefix("target:")](tagger.classes[c]) for c in present) else "no"
        return "yes" if about in present else "no"
    if kind == "tf" and row["family"].startswith("presence"):
        said = _presence(row["question"], whole, tagger, names)
        return None if said is None else "true" if said else "false"
    return None
