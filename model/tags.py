"""What the YAMNet branch tagged: its AudioSet scores of every column heard, kept in constant size, and
the evidence they give for or against a sound a question names.

A model with a branch (model/branch.py) runs YAMNet on the last 0.96 s at every 160 ms column to
make its LM token. YAMNet's own classifier turns that embedding into 521 AudioSet scores for the
cost of one small linear layer, and those scores were learnt from two million AudioSet clips,
where our encoder and connector learnt from a few thousand. A stream keeps them in tensors of
fixed size: the scores of its last RECENT_COLUMNS columns (the "just now" window of live
questions, model/data/mixer.RECENT_S), each class's highest score since the stream began, and the
column where that score's run over THRESHOLD began (when a long stream heard it, model/timing.py).

A text names AudioSet rows through our classes (model/data/phrases.tsv, via
answer_forms.class_mentions, and model/data/audioset.tsv's same/into rows) and through the plain
names and synonyms of the classes the table adds ("a baby crying", "a sneeze"). The evidence for a
named sound is the log-odds of its best row's score over THRESHOLD, the score at which the YAMNet
baseline (model/evaluation/yamnet_baseline.py) calls a class present, chosen there on training
scenes. Answers add it, weighted, to the language model's log-probabilities (answer_forms), and
watches to their yes/no log-odds (model/watch.py).

A model with a presence head (model/presence.py) tags its own classes too: their probabilities are rows after
AudioSet's 521 (`Tags.own` names them, in order), kept in the same tensors. `own_evidence` reads them for the
classes a text names, against OWN_THRESHOLD, and only for a sound (`own_support`).
"""
from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass

import torch
from torch import Tensor

from .data.mixer import LONG_SCENE_S, RECENT_S
from .audio import TOKENS_PER_SECOND
from .yamnet import NUM_CLASSES

PATCH_S = 0.96  # the audio YAMNet scores for one column, ending at the column's end (model/branch.py)
RECENT_COLUMNS = math.ceil(RECENT_S * TOKENS_PER_SECOND)  # 63 columns: the last ten seconds
THRESHOLD = 0.28  # a class is present at this max-pooled score (the baseline's calibration on training scenes)
GAP_S = 3.0  # s under THRESHOLD that a sound going on may dip for (faint rain, a dog between barks) and go on
GAP_COLUMNS = round(GAP_S * TOKENS_PER_SECOND)  # 19 columns of 160 ms
EVIDENCE_CAP = 8.0  # log-odds: one score near 0 or 1 never outweighs everything else
OWN_THRESHOLD = 0.4  # a class of our own is present at this probability of the presence head, max-pooled over what
# a question reads: chosen on scenes of the validation split (python -m model.evaluation.presence; docs/RESULTS.md,
# "The presence head")


UNKNOWN = -1.0  # a column not known: never over THRESHOLD, or heard by a state saved without the columns


@dataclass
class Tags:
    """YAMNet's scores of a stream: its last RECENT_COLUMNS columns and each class's highest so far, with the
    column where that highest score's run over THRESHOLD began."""

    recent: Tensor  # (b, RECENT_COLUMNS, 521) float32, oldest first; zeros before the stream began
    ever: Tensor  # (b, 521) float32: the highest score of each class since the stream began
    columns: int = 0  # columns tagged so far
    onset: Tensor | None = None  # (b, 521) float32: the column where the run over THRESHOLD that first reached
    # `ever` began; UNKNOWN where `ever` is under THRESHOLD
    run: Tensor | None = None  # (b, 521) float32: the column where the run over THRESHOLD going on began; UNKNOWN
    since: Tensor | None = None  # (b, 521) float32: the column where the sound going on began, dips under THRESHOLD
    # of up to GAP_COLUMNS let through (rain, a dog between barks); UNKNOWN where never over it
    latest: Tensor | None = None  # (b, 521) float32: the last column over THRESHOLD; UNKNOWN where never
    own: tuple[str, ...] = ()  # the classes of the presence head's rows, after AudioSet's (each tensor's last
    # dimension is then 521 + len(own))

    def __post_init__(self) -> None:
        if self.onset is None:
            self.onset = torch.full_like(self.ever, UNKNOWN)
        if self.run is None:
            self.run = torch.full_like(self.ever, UNKNOWN)
        if self.since is None:
            self.since = torch.full_like(self.ever, UNKNOWN)
        if self.latest is None:
            self.latest = torch.full_like(self.ever, UNKNOWN)

    @classmethod
    def empty(cls, batch_size: int, device: torch.device | str = "cpu", own: tuple[str, ...] = ()) -> "Tags":
        width = NUM_CLASSES + len(own)
        return cls(torch.zeros(batch_size, RECENT_COLUMNS, width, device=device),
                   torch.zeros(batch_size, width, device=device), own=own)

    def with_own(self, own: tuple[str, ...]) -> "Tags":
        """These tags with the presence head's rows for `own` (self when they have them): a state that heard
        without them (saved by a model without a head) knows nothing of them yet, and they start at zero."""
        if own == self.own:
            return self
        b = self.ever.shape[0]
        fresh = Tags.empty(b, self.ever.device, own)
        n = NUM_CLASSES
        fresh.recent[..., :n], fresh.ever[:, :n] = self.recent[..., :n], self.ever[:, :n]
        fresh.onset[:, :n], fresh.run[:, :n] = self.onset[:, :n], self.run[:, :n]
        fresh.since[:, :n], fresh.latest[:, :n] = self.since[:, :n], self.latest[:, :n]
        fresh.columns = self.columns
        return fresh

    def push(self, scores: Tensor) -> "Tags":
        """The tags after (b, n, 521) more columns' scores; self is unchanged."""
        scores = scores.float()
        if scores.shape[1] == 0:
            return self.fork()
        recent = torch.cat([self.recent, scores], dim=1)[:, -RECENT_COLUMNS:]
        ever, onset, run, since, latest = self.ever, self.onset, self.run, self.since, self.latest
        for i in range(scores.shape[1]):  # a live hop brings 8 columns; a recording heard whole, all of them
            s = scores[:, i]
            at = float(self.columns + i)
            over = s >= THRESHOLD
            run = torch.where(over, torch.where(run < 0, at, run), UNKNOWN)
            onset = torch.where(over & (s > ever), run, onset)
            ever = torch.maximum(ever, s)
            resumed = (latest < 0) | (latest < at - GAP_COLUMNS)  # over again after a longer silence: a new sound
            since = torch.where(over & resumed, at, since)
            latest = torch.where(over, at, latest)
        return Tags(recent, ever, self.columns + scores.shape[1], onset, run, since, latest, own=self.own)

    @property
    def stream(self) -> bool:
        """Whether more than LONG_SCENE_S has been tagged: a stream, as the training data tells one from a recording."""
        return self.columns > LONG_SCENE_S * TOKENS_PER_SECOND

    def heard_ago(self, rows: tuple[int, ...]) -> float | None:
        """Seconds from the start of the best-tagged of `rows` (the run over THRESHOLD of its highest score) to the
        end of what the stream has heard (batch 1, `_seconds_since`); None when none was over THRESHOLD or its
        column is unknown."""
        if not rows:
            return None
        best = max(rows, key=lambda r: float(self.ever[0, r]))
        start = float(self.onset[0, best])
        if float(self.ever[0, best]) < THRESHOLD or start < 0:
            return None
        return self._seconds_since(start)

    def going_on_for(self, rows: tuple[int, ...]) -> float | None:
        """Seconds the sound of `rows` has been going on (batch 1): from where the longest going on of them began
        (`since`, the start taken as in `heard_ago`) to the end of what the stream has heard; None when none of
        them was over THRESHOLD in the last GAP_COLUMNS columns."""
        now = self.columns - 1
        on = [r for r in rows if float(self.latest[0, r]) >= 0 and now - float(self.latest[0, r]) <= GAP_COLUMNS]
        if not on:
            return None
        return self._seconds_since(min(float(self.since[0, r]) for r in on))

    def _seconds_since(self, start: float) -> float:
        """Seconds from a sound whose run over THRESHOLD began at column `start` to the end of what the stream has
        heard: a column's score is YAMNet's of the PATCH_S before its end, so the sound is taken to start half a
        patch before the end of that column."""
        return self.columns / TOKENS_PER_SECOND - max(0.0, (start + 1) / TOKENS_PER_SECOND - PATCH_S / 2)

    def last(self, columns: int) -> Tensor:
        """(b, 521 + len(own)): the highest score of each row over the last `columns` columns (at most
        RECENT_COLUMNS)."""
        if not 1 <= columns <= RECENT_COLUMNS:
            raise ValueError(f"the tags keep the last {RECENT_COLUMNS} columns; asked for {columns}")
        return self.recent[:, -min(columns, max(self.columns, 1)):].amax(1)

    def fork(self) -> "Tags":
        return Tags(self.recent.clone(), self.ever.clone(), self.columns, self.onset.clone(), self.run.clone(),
                    self.since.clone(), self.latest.clone(), own=self.own)

    @property
    def nbytes(self) -> int:
        return sum(t.nbytes for t in self.tensors().values())

    def tensors(self) -> dict[str, Tensor]:
        return {"tags.recent": self.recent, "tags.ever": self.ever, "tags.onset": self.onset, "tags.run": self.run,
                "tags.since": self.since, "tags.latest": self.latest}


# ---------------------------------------------------------------- what a text names

def _key(text: str) -> str:
    """Lower-case words, each without a plural or third-person -s ("the baby cries" -> "the baby cry")."""
    return " ".join(_stem(w) for w in re.findall(r"[a-z0-9']+", text.lower()))


def _stem(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("ches", "shes", "sses", "xes", "zes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


_ARTICLE = re.compile(r"^(?:a|an|the|some|someone|somebody|something|it)\s+")


@functools.lru_cache(maxsize=1)
def _vocabulary() -> tuple[dict[str, tuple[int, ...]], dict[str, tuple[int, ...]], int]:
    """(our class -> its same/into rows; a phrase (`_key`, with and without its article) -> the rows it names:
    the plain names and synonyms of the classes the table adds, and our classes said as verbs with their
    subjects ("someone spoke", "did it rain", "a dog barked", phrases.tsv's actions); the most words such a
    phrase has). A phrase that two classes share names neither."""
    from .data.audioset import default_map
    from .data.wording import cached_phrases

    ours: dict[str, list[int]] = {}
    owners: dict[str, set[tuple[int, ...]]] = {}

    def claim(phrase: str, rows: tuple[int, ...], bare: bool = True) -> None:
        key = _key(phrase)
        for k in {key, _ARTICLE.sub("", key) if bare else key}:
            if k:
                owners.setdefault(k, set()).add(rows)

    rows = default_map()
    for row in rows:
        if row.action in ("same", "into"):
            ours.setdefault(row.ours, []).append(row.index)
        elif row.action == "new":
            for phrase in (row.name, *row.synonyms):
                claim(phrase, (row.index,))
    for name, said in cached_phrases().items():
        if name in ours:
            for a in said.actions:  # "a dog barked" or "dog barked"; "someone spoke", never a bare "spoke" or "sound"
                generic = _key(a.subj) in ("someone", "somebody", "something", "it")
                for form in (a.verb, a.verbed, a.verbing):
                    claim(f"{a.subj} {form}", tuple(ours[name]), bare=not generic)
    table = {k: next(iter(v)) for k, v in owners.items() if len(v) == 1}
    return {c: tuple(r) for c, r in ours.items()}, table, max(len(k.split()) for k in table)


# A group of sounds a question asks about without naming one ("is anyone there?", "any animals around?",
# "did a vehicle go by?"), as the training data's group questions ask it (model/data/questions.py, TARGETS):
# its words; the block of AudioSet's ontology that holds its sounds, by its first and last rows' names in
# YAMNet's order; and the block's presence threshold. The highest of sixty rows is over THRESHOLD far more
# often than one row is (the people's block, in 42% of training scenes without people), so each group's
# threshold is the one with the best F1 of its presence on training scenes (python -m model.evaluation.groups).
GROUPS = {
    "people": (r"\b(?:any|some|no|every)(?:one|body)\b|\bpeople\b|\bpersons?\b", ("Speech", "Children playing"),
               0.70),
    "animal": (r"\banimals?\b|\bcreatures?\b|\bwildlife\b", ("Animal", "Whale vocalization"), 0.50),
    "vehicle": (r"\bvehicles?\b|\b(?:drive|drives|driving|drove)\s+(?:by|past)\b", ("Vehicle", "Skateboard"), 0.55),
}


@functools.lru_cache(maxsize=1)
def group_blocks() -> dict[str, tuple[int, ...]]:
    """group -> the YAMNet rows of its block of the ontology; ValueError when the table lacks a bound's name."""
    from .data.audioset import default_map

    index = {r.display_name: r.index for r in default_map()}
    blocks = {}
    for group, (_, (first, last), _) in GROUPS.items():
        if first not in index or last not in index or index[first] > index[last]:
            raise ValueError(f"tags.GROUPS[{group!r}]: {first!r} .. {last!r} is not a block of audioset.tsv's rows")
        blocks[group] = tuple(range(index[first], index[last] + 1))
    return blocks


@functools.lru_cache(maxsize=4096)  # a watch asks the same question every hop
def asked_groups(text: str) -> tuple[str, ...]:
    """The groups of sounds (GROUPS) a text asks about by their words, in GROUPS' order."""
    return tuple(g for g, (words, _, _) in GROUPS.items() if re.search(words, text, re.IGNORECASE))


@functools.lru_cache(maxsize=4096)  # a watch asks the same question every hop
def rows_named(text: str) -> tuple[int, ...]:
    """The YAMNet rows the sounds a text names stand for: our classes' same/into rows (phrases.tsv's names,
    through answer_forms.class_mentions, and its verbs) and the new classes' rows, by their plain names and
    synonyms; () when it names none that YAMNet has."""
    from .answer_forms import class_mentions

    ours, said, longest = _vocabulary()
    rows = [r for c in class_mentions(text) for r in ours.get(c, ())]
    words = _key(text).split()
    i = 0
    while i < len(words):
        for n in range(min(longest, len(words) - i), 0, -1):
            hit = said.get(" ".join(words[i:i + n]))
            if hit is not None:
                rows += hit
                i += n
                break
        else:
            i += 1
    return tuple(dict.fromkeys(rows))


# Our classes YAMNet has no row for are bounded by the rows of what they are a kind of (`ceilings`): a hawk by
# AudioSet's bird rows, male speech by Speech, a camel by Animal. A parent's row cannot say which member sounds,
# so it speaks only against one: a hawk is unlikely where YAMNet hears no bird at all.
_CATEGORY_PARENTS = {"animal": ("Animal",)}  # a category's own row in AudioSet, for its classes in no family


@functools.lru_cache(maxsize=1)
def ceilings() -> dict[str, tuple[int, ...]]:
    """Our class without same/into rows -> the rows of its families (model/data/questions.UMBRELLAS: "hawk" ->
    "bird"'s, "tom-tom" -> "drum beat"'s and "music"'s) or, in no family with rows, of its category's row
    (_CATEGORY_PARENTS: "camel" -> Animal); classes with neither are left out."""
    from .data.audioset import default_map
    from .data.labels import load_classes
    from .data.questions import UMBRELLAS

    ours, _, _ = _vocabulary()
    index = {r.display_name: r.index for r in default_map()}
    classes = load_classes()
    out = {}
    for name, info in classes.items():
        if ours.get(name):
            continue
        rows = [r for u, inside in UMBRELLAS.items() if u != name and inside(info) for r in ours.get(u, ())]
        if not rows:
            rows = [index[d] for d in _CATEGORY_PARENTS.get(info.category, ())]
        if rows:
            out[name] = tuple(dict.fromkeys(rows))
    return out


@functools.lru_cache(maxsize=4096)
def ceiling_named(text: str) -> tuple[int, ...]:
    """The parent rows (`ceilings`) of the sounds a text names that YAMNet has no row for; () for none."""
    from .answer_forms import class_mentions

    bounds = ceilings()
    return tuple(dict.fromkeys(r for c in class_mentions(text) for r in bounds.get(c, ())))


def bounded(scores: Tensor, rows: tuple[int, ...]) -> float:
    """The evidence parent `rows` give a member sound they cannot tell from its kin: `evidence`, never above 0."""
    return min(0.0, evidence(scores, rows)) if rows else 0.0


def class_evidence(scores: Tensor, name: str) -> float:
    """The log-odds for one of our classes: its same/into rows' `evidence`, or for a class YAMNet has no row for,
    its parents' (`bounded`); 0 with neither."""
    rows = _vocabulary()[0].get(name, ())
    return evidence(scores, rows) if rows else bounded(scores, ceilings().get(name, ()))


def speaks_of(name: str) -> bool:
    """Whether the tags hold evidence for or against one of our classes: rows of its own or its parents'
    (`class_evidence` is 0 for a class with neither, as it is for one on the threshold)."""
    return bool(_vocabulary()[0].get(name) or ceilings().get(name))


def named_evidence(scores: Tensor, text: str) -> float | None:
    """Log-odds for the sounds a text names: their rows' `evidence`, or for sounds YAMNet has no row for, their
    parents' (`bounded`); None when it names neither."""
    rows = rows_named(text)
    if rows:
        return evidence(scores, rows)
    parents = ceiling_named(text)
    return bounded(scores, parents) if parents else None


def log_odds(p: float) -> float:
    """log(p / (1 - p)), p kept within [1e-6, 1 - 1e-6] so that a score of 0 or 1 stays finite."""
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


def evidence(scores: Tensor, rows: tuple[int, ...], threshold: float = THRESHOLD) -> float:
    """Log-odds for the sound of `rows` being there, from (521,) scores: its best row's score against `threshold`,
    within +-EVIDENCE_CAP; 0 with no rows."""
    if not rows:
        return 0.0
    logit = log_odds(float(scores[list(rows)].max())) - log_odds(threshold)
    return max(-EVIDENCE_CAP, min(EVIDENCE_CAP, logit))


def own_rows(text: str, own: tuple[str, ...]) -> tuple[int, ...]:
    """The presence head's rows (in tags whose own classes are `own`) of the sounds a text names (answer_forms.
    class_mentions), or where it names none, of every class of the groups it asks about ("is anyone there?")."""
    from .answer_forms import class_mentions

    if not own:
        return ()
    at = {c: NUM_CLASSES + i for i, c in enumerate(own)}
    named = [at[c] for c in class_mentions(text) if c in at]
    if named or class_mentions(text):
        return tuple(named)
    members = _group_members(own)
    return tuple(dict.fromkeys(at[c] for g in asked_groups(text) for c in members.get(g, ())))


@functools.lru_cache(maxsize=8)
def _group_members(own: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """Each group of GROUPS as our classes (model/data/classes.tsv categories), among `own`."""
    from .data.labels import load_classes

    classes = load_classes()
    member = {"people": ("human", "speech"), "animal": ("animal",), "vehicle": ("vehicle",)}
    return {g: tuple(c for c in own if c in classes and classes[c].category in member[g] and c != "speech synthesizer")
            for g in GROUPS}


def own_support(scores: Tensor, rows: tuple[int, ...]) -> float:
    """Log-odds for the sound of the presence head's `rows` being there: its best row against OWN_THRESHOLD, never
    below 0. The head learnt the sounds of the training sources; of a sound from elsewhere its low probability
    says little (it pushed "is a jet going by?" to "no" while one did), so it speaks only for a sound."""
    return max(0.0, evidence(scores, rows, OWN_THRESHOLD)) if rows else 0.0


def own_evidence(scores: Tensor, text: str, own: tuple[str, ...]) -> float | None:
    """`own_support` for what a text names (`own_rows`), in scores of tags whose own classes are `own`; None when it
    names none of `own` (nor a group of them)."""
    rows = own_rows(text, own)
    return own_support(scores, rows) if rows else None


def asked_evidence(scores: Tensor, text: str) -> float | None:
    """Log-odds, from (521,) scores, for what a text asks about being there: the sounds it names (`named_evidence`),
    or where it names none, the groups it asks about ("is anyone there?"), each its block against its own
    threshold (the likeliest group where it asks about several); None when it asks about neither."""
    named = named_evidence(scores, text)
    if named is not None:
        return named
    blocks = group_blocks()
    groups = asked_groups(text)
    return max((evidence(scores, blocks[g], GROUPS[g][2]) for g in groups), default=None)
