"""Evaluation metrics as pure functions over text: answer parsing, class mentions, caption scores."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Iterable, Sequence

LETTERS = "ABCD"
YES = {"yes", "true", "correct", "right"}
NO = {"no", "false", "incorrect", "wrong"}
QUIET_WORDS = ("quiet", "silence", "silent", "nothing", "no sound")


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def normalize(text: str) -> str:
    """Lower case, punctuation removed, single spaces: the form phrases are matched in."""
    return " ".join(_words(text))


def mcq_choice(answer: str, options: Sequence[str]) -> str | None:
    """The option letter an answer picks: a leading letter ("B", "B)", "(b)", "C."), else an option's text.

    A bare letter followed by a space is not a choice: "a dog" is an article, not option A.
    """
    m = re.match(r"\s*(?:\(([A-Da-d])\)|([A-Da-d])\)|([A-D])(?:[.:]|\s*$))", answer)
    letter = next((g for g in m.groups() if g), None) if m else None
    if letter and letter.upper() in LETTERS[: len(options)]:
        return letter.upper()
    said = normalize(answer)
    hits = [LETTERS[i] for i, o in enumerate(options) if normalize(o) and normalize(o) in said]
    return hits[0] if len(hits) == 1 else None


def true_false(answer: str) -> bool | None:
    """True for yes/true, False for no/false (the first such word), None when neither is said."""
    for w in _words(answer):
        if w in YES:
            return True
        if w in NO:
            return False
    return None


NUMBERS = {"no": 0, "none": 0, "zero": 0, "once": 1, "one": 1, "twice": 2, "two": 2, "three": 3, "thrice": 3,
           "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10}
REFUSALS = ("can't tell", "cannot tell", "can not tell", "can't know", "cannot know", "no way to tell",
            "not possible to tell", "can't say", "cannot say")
LABEL = re.compile(r"^\s*[(\[]?([A-Da-d]|[1-4])(?:[)\].:]|\s*$|(?=\s*[)\].:]))[)\].:]?")


def choice_index(answer: str, options: Sequence[str]) -> int | None:
    """The option an answer picks, by its label (A, (b), 3., [C], D:) or by the option's text; None when
    it picks none or several. A bare "a" before a word is an article, not option A."""
    m = LABEL.match(answer)
    if m:
        c = m.group(1)
        i = int(c) - 1 if c.isdigit() else "abcd".index(c.lower())
        if i < len(options):
            return i
    said = f" {normalize(answer)} "
    hits = [i for i, o in enumerate(options) if normalize(o) and f" {normalize(o)} " in said]
    return hits[0] if len(hits) == 1 else None


def yes_no(answer: str) -> bool | None:
    """True for 'yes', False for 'no', when the answer starts with one of them; None otherwise."""
    words = _words(answer)
    return {"yes": True, "no": False}.get(words[0]) if words else None


def count_of(answer: str) -> int | None:
    """The number an answer gives: its first digits, or a number word ('twice', 'three'); None without one."""
    for w in _words(answer):
        if w.isdigit():
            return int(w)
        if w in NUMBERS:
            return NUMBERS[w]
    return None


def seconds_of(answer: str) -> float | None:
    """A span an answer gives in seconds: '3.2 s', 'about 40 seconds', '2 minutes', 'a minute'; None without one."""
    m = re.search(r"(\d+(?:\.\d+)?|an?|one|two|three|four|five|six|seven|eight|nine|ten)\s*"
                  r"(s\b|sec|seconds?|min|minutes?|h\b|hours?)", answer.lower())
    if not m:
        return None
    n = float(m.group(1)) if m.group(1)[0].isdigit() else float(NUMBERS.get(m.group(1), 1))
    unit = m.group(2)
    return n * (3600 if unit.startswith("h") else 60 if unit.startswith("min") else 1)


def is_refusal(answer: str) -> bool:
    """Whether the answer declines: 'I can't tell that from the sound.'"""
    a = answer.lower().replace("’", "'")
    return any(r in a for r in REFUSALS)


@dataclass(frozen=True)
class ClassNames:
    """Each class's name and synonyms, matched as whole phrases, longest phrase first.

    A phrase that is one class's own name names that class, even where it is another's synonym
    ("speech" is also a synonym of "male speech"). A synonym shared by several classes and no
    class's name ("percussion", "horn" for trumpet and car horn) names none of them: it does not
    say which one was heard.
    """

    phrases: tuple[tuple[str, str | None], ...]  # (normalised phrase, class or None when ambiguous), longest first

    @classmethod
    def from_table(cls, synonyms: dict[str, Iterable[str]]) -> "ClassNames":
        owners: dict[str, set[str]] = {}
        for c, syns in synonyms.items():
            for p in (c, *syns):
                if normalize(p):
                    owners.setdefault(normalize(p), set()).add(c)
        by_name = {normalize(c): c for c in synonyms}
        pairs = {(p, by_name.get(p) or (next(iter(cs)) if len(cs) == 1 else None)) for p, cs in owners.items()}
        return cls(tuple(sorted(pairs, key=lambda pc: (-len(pc[0]), pc[0]))))

    def named(self, text: str) -> set[str]:
        """The classes a text names; a phrase's words are consumed so 'dog barking' counts once."""
        padded = f" {normalize(text)} "
        found = set()
        for phrase, cls in self.phrases:
            needle = f" {phrase} "
            if needle in padded:
                if cls is not None:
                    found.add(cls)
                padded = padded.replace(needle, " | ")
        return found


BACKGROUND_CLAUSE = re.compile(r"(?:only\s+)?[a-z][\w' -]*?\s+in the background")  # "only rain in the background"


def event_classes(text: str, names: ClassNames) -> set[str]:
    """The classes an answer names as events: all it names, once its "<x> in the background" clause is taken out."""
    return names.named(BACKGROUND_CLAUSE.sub(" | ", text.lower()))


def says_quiet(text: str, names: ClassNames) -> bool:
    """A description reports quiet: it says so and names no sound class."""
    t = normalize(text)
    return any(w in t for w in QUIET_WORDS) and not names.named(text)


def wilson_interval(k: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of the proportion k/n (95% at z = 1.96).

    Unlike p +- z*sqrt(p(1-p)/n) it stays inside [0, 1] and is not zero-width at 0 or n
    successes, which matters for the small item counts of single question kinds.
    """
    if n <= 0 or not 0 <= k <= n:
        raise ValueError(f"a proportion needs 0 <= k <= n and n > 0, got k={k}, n={n}")
    p, z2 = k / n, z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass
class PRF:
    precision: float
    recall: float
    f1: float


def micro_prf(predicted: Sequence[set[str]], gold: Sequence[set[str]]) -> PRF:
    """Micro-averaged precision, recall and F1 of predicted class sets against gold sets."""
    tp = sum(len(p & g) for p, g in zip(predicted, gold, strict=True))
    n_pred = sum(map(len, predicted))
    n_gold = sum(map(len, gold))
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return PRF(precision, recall, f1)


def cider_d(candidates: Sequence[str], references: Sequence[Sequence[str]]) -> float | str:
    """CIDEr-D through pycocoevalcap when installed (the `eval` extra); otherwise the reason it is not."""
    try:
        from pycocoevalcap.cider.cider import Cider
    except ImportError:
        return "not computed: pycocoevalcap is not installed (pip install 'sam-live[eval]')"
    gts = {i: [normalize(r) for r in refs] for i, refs in enumerate(references)}
    res = {i: [normalize(c)] for i, c in enumerate(candidates)}
    score, _ = Cider().compute_score(gts, res)
    return float(score)
