"""Naming one sound with two witnesses: the language model's answer and what the YAMNet branch tagged.

An open question that asks what a sound is ("what's that noise?", "which animal is it?") is decoded
freely. Where the answer is one of our class names, it is chosen again among the classes (those of
the category the question asks for, if it names one): each scores its log-probability as the answer
to the question plus NAME_WEIGHT times the tags' log-odds for it (model/tags.py), so the language
model keeps the sounds YAMNet has no row for and YAMNet's two million AudioSet clips weigh in on the
rest. Where YAMNet's top row that names a sound is a class the table adds (model/data/audioset.tsv:
"a sneeze", "keys jangling") and it scores that row over the tags' THRESHOLD, the answer is its plain
name: a word the language model never learnt to say. A presence head's support for a class
(`named_own`) can weigh in beside the tags at NAME_OWN_WEIGHT; cross-validated, that weight is 0.

A question about what was just heard reads the last ten seconds' tags, any other the tags
answer_forms.asked_scores reads. A class that names a family ("music", "speech") gains from the tags no
more than its best member does (`heard`). An answer that is a sentence or a refusal, a question about
one moment ("... at 4.2 s") or about one sound among others by its order or loudness ("what came
first?"), and a model without a branch keep the decoded answer. A question about one sound answered
with several, as a list or a description ("what's flying over?" -> "rain, plane at 3.1-6.0 s"), is an
answer of another kind's form: it becomes one name, chosen the same way ("nothing, only rain in the
background", which says nothing new happened, stays).

A list of sounds in the answer format of model/data/tasks.py ("dog, rain" to "which sounds can you
hear?", "nothing, only rain in the background" to "what happened in the last ten seconds?") has each
name chosen again the same way, in order, each after the list's text before it, with the tags the
question reads; a list names a class once. (The live feed keeps its decoded lists: SAM.describe.)
A description that gives each event its seconds keeps its names: measured on recordings of sources the
model never heard, the tags chose no better there than the language model (docs/RESULTS.md). The
candidates are our classes: a plain name the table adds does not fit the format.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import torch
from torch import Tensor

from .metrics import ClassNames, normalize
from .yamnet import NUM_CLASSES

NAME_WEIGHT = 0.5  # of the tags' log-odds against the LM's log-probabilities: as answer_forms.HEARD_WEIGHT, chosen
# by two-fold cross-validation on recordings of sources the model never heard (docs/RESULTS.md)
NAME_OWN_WEIGHT = 0.0  # of the presence head's support for a class (model/presence.py): chosen as NAME_WEIGHT was, it
# gained one of 173 open questions on validation scenes at 0.25-0.5 and lost on unheard sources (docs/RESULTS.md)
ITEM_WEIGHT = 1.0  # of the tags' log-odds on the first token of an item decoded freely (feed_bias), for and
# against a class: chosen as NAME_WEIGHT was, on the descriptions of recordings of sources the model never heard

# Questions whose answer is several sounds ("which sounds", "tag this", "what happened in the last ten seconds"):
# a bare name answering one of these is the first item of a list, not the one sound heard.
_SEVERAL = re.compile(r"\b(?:sounds|noises|classes|tags?|list|labels?|everything|all|happen(?:ed|ing)?|going on|"
                      r"describe|description|caption)\b",
                      re.IGNORECASE)
# Questions about one sound among others by its order or loudness ("what do you hear first?"): the tags of the
# whole scene cannot tell which.
_ONE_AMONG = re.compile(r"\b(?:first|last|before|after|earlier|later|next|then|louder|quieter|softer|loudest|"
                        r"quietest|longer|shorter)\b", re.IGNORECASE)
# Questions that point at one sound ("what's that?", "what made that noise?", "what's flying over?", "which animal
# is it?", "identify the sound"): a list or a description is no answer to these.
_ONE_SOUND = re.compile(r"\b(?:what|which|whats)(?:'s| is| was)?\s+(?:that|this|it)\b|"
                        r"\bwhat\s+(?:made|makes|is making|was making|'s making)\b|\bwhat(?:'s|s| is| was)\s+\w+ing\b|"
                        r"\b(?:which|what)\s+(?:(?:kind|sort|type|species) of\s+)?"
                        r"(?:animal|instrument|vehicle|creature|bird|machine|tool)\b(?!s)|"
                        r"\bidentify\s+the\s+(?:main\s+)?(?:sound|noise)\b(?!s)|\bwhat\s+(?:just\s+)?went (?:by|past)\b|"
                        r"\bwhat(?:'s|s| is| was)\s+the\s+(?:\w+\s+)?(?:thing|sound|noise)\b"
                        r"(?!s|\s+(?:scene|events?|like|of)\b)",
                        re.IGNORECASE)
# Verbs of phrases.tsv's actions left out of a question's sound verbs (`_sound_verbs`): those that say what is done,
# not how it sounds ("a bus|pull away", "someone|use a saw"); "called" ("what's that called?"); and those whose
# classes miss sounds people mean by them ("buzzing": a buzzer, a hum; "flying": a bird; "running": water; "roaring":
# an engine; "screeching": tyres; "squeaking": a door; "jingling": keys; "crashing", "falling", "breaking").
_NOT_A_SOUND = {"going", "went", "coming", "came", "using", "used", "taking", "took", "hitting", "hit", "saying",
                "said", "making", "made", "passing", "passed", "pulling", "pulled", "drawing", "drew", "cutting",
                "cut", "throwing", "threw", "shaking", "shook", "swinging", "swung", "kicking", "kicked", "called",
                "buzzing", "buzzed", "flying", "flew", "running", "ran", "roaring", "roared", "screeching",
                "screeched", "squeaking", "squeaked", "jingling", "jingled", "crashing", "crashed", "falling", "fell",
                "breaking", "broke"}
_LAST = re.compile(r"\b(?:last|latest|final|most recent)\b", re.IGNORECASE)  # of several sounds in order, the last
_WINDOW = re.compile(r"\b(?:the\s+)?(?:last|past)\s+(?:\w+\s+)?(?:seconds?|minutes?|hours?)\b", re.IGNORECASE)
_JUST_NOW = re.compile(r"\b(?:just|a moment ago|a second ago|right now)\b", re.IGNORECASE)  # the last ten seconds
_AT_MOMENT = re.compile(r"\b(?:at|around|near)\s+(?:about\s+|roughly\s+)?\d+(?:\.\d+)?\s*(?:s|sec|secs|seconds?)\b",
                        re.IGNORECASE)
# The answer format's pieces (model/data/tasks.py): an event with its seconds (a description), the background.
_EVENT = re.compile(r"(?P<name>.+?) at \d+(?:\.\d+)?-\d+(?:\.\d+)? s")
_BACKGROUND = re.compile(r"(?:only )?(?P<name>.+?) in the background")
# Words that ask for one category of classes (model/data/classes.tsv), as the open questions of the training
# data and people ask them ("which animal", "what instrument", "what kind of voice").
_CATEGORY_WORDS = {
    "animal": r"animals?|creatures?|beasts?",
    "vehicle": r"vehicles?",
    "instrument": r"instruments?",
    "music": r"(?:kind|style|sort|type|genre) of music|music(?:al)? (?:style|genre)",
    "speech": r"voices?",
    "nature": r"natur(?:e|al)",
    "weapon": r"weapons?",
    "tools": r"tools?",
}


# Kinds of instrument a question may ask for within the instruments ("what's that string instrument?" was "flute")
_INSTRUMENT_KINDS = (
    (r"\bstring(?:ed)? instruments?\b", {"acoustic guitar", "electric guitar", "bass guitar", "violin", "cello",
                                         "strings", "harp"}),
    (r"\b(?:wind|woodwind) instruments?\b|\bwoodwinds?\b", {"flute", "clarinet", "saxophone", "bassoon"}),
    (r"\bbrass(?: instruments?)?\b", {"trumpet", "horn"}),
    (r"\bpercussion(?: instruments?)?\b", {"bass drum", "snare drum", "hi-hat", "cymbal", "tom-tom", "cowbell",
                                           "tambourine", "bongo", "cajon", "djembe", "shaker", "wood block", "tabla",
                                           "marimba", "gong"}),
    (r"\bkeyboard instruments?\b", {"piano", "organ", "harpsichord", "synthesizer", "accordion"}),
)
# "What" and a verb in the past ("what rang?", "what just beeped?"): a question about the one sound the verb says
_WHAT_VERBED = re.compile(r"^\W*(?:(?:so|and|hey|ok|okay|um|hmm)\W+)*what\s+(?:just\s+)?(\w+ed|rang|sang)\b",
                          re.IGNORECASE)


@dataclass(frozen=True)
class Vocabulary:
    """What an open answer can name: our classes with their categories and YAMNet rows, and the added classes'
    rows with their plain names."""

    classes: dict[str, str]  # our class -> its category
    accepts: dict[str, str]  # a normalised name or synonym -> the one class it names
    rows: dict[str, tuple[int, ...]]  # our class -> its same/into YAMNet rows
    added: dict[int, str]  # YAMNet row of a class the table adds -> its plain name
    naming: Tensor  # (521,) bool: the rows that name a sound (same, into, new)
    members: dict[str, tuple[str, ...]]  # a class that names a family ("music") -> its members ("cello")


@functools.lru_cache(maxsize=1)
def vocabulary() -> Vocabulary:
    """The shipped class table and AudioSet map, read once."""
    from .data.audioset import default_map
    from .data.labels import load_classes
    from .data.questions import UMBRELLAS
    from .yamnet import NUM_CLASSES

    classes = load_classes()
    phrases = ClassNames.from_table({name: info.synonyms for name, info in classes.items()}).phrases
    accepts = {phrase: name for phrase, name in phrases if name is not None}  # as the metrics read a class name
    rows: dict[str, list[int]] = {}
    added, naming = {}, torch.zeros(NUM_CLASSES, dtype=torch.bool)
    for row in default_map():
        if row.action in ("same", "into") and row.ours in classes:
            rows.setdefault(row.ours, []).append(row.index)
        elif row.action == "new":
            added[row.index] = row.name
        naming[row.index] = row.action != "drop"
    members = {u: tuple(c for c, info in classes.items() if c != u and inside(info))
               for u, inside in UMBRELLAS.items() if u in classes}
    return Vocabulary({n: i.category for n, i in classes.items()}, accepts,
                      {c: tuple(r) for c, r in rows.items()}, added, naming, members)


def answered_class(answer: str) -> str | None:
    """The class an answer is, when it is a bare class name or synonym ("dog", "Barking."); else None."""
    return vocabulary().accepts.get(normalize(answer))


def asked_categories(question: str) -> set[str]:
    """The categories an open question asks for ("which animal is that?" -> {animal}), or a question about one sound
    that names one class, its category ("what's that sawing noise?" -> {tools}); empty when it names none."""
    from .answer_forms import class_mentions

    asked = _categories_said(question)
    if not asked and (m := _WHAT_VERBED.match(question)):  # "what rang?": the kinds of what rings
        asked = {vocabulary().classes[c] for c in _sound_verbs_said(m.group(1)) if c in vocabulary().classes}
    if asked or not _ONE_SOUND.search(question):
        return asked
    classes = vocabulary().classes
    named = class_mentions(question)
    if len(named) == 1 and named[0] in classes:
        return {classes[named[0]]}
    if named:
        return set()
    return {classes[c] for c in _sound_verbs_said(question) if c in classes}


@functools.lru_cache(maxsize=1)
def _sound_verbs() -> tuple[re.Pattern, dict[str, tuple[str, ...]]]:
    """The verbs that say how several classes sound ("ringing", "rang": alarm, bell, doorbell, telephone), from
    phrases.tsv's actions (a class's own words, "barking", are class_mentions'), as one pattern and each verb's
    classes; verbs that say nothing of a sound ("going", "using", "hitting") left out."""
    from .data.wording import cached_phrases

    said: dict[str, set[str]] = {}
    for name, p in cached_phrases().items():
        for action in p.actions:
            for form in (action.verbing, action.verbed):
                head = form.split()[0].lower()
                if head not in _NOT_A_SOUND:
                    said.setdefault(head, set()).add(name)
    several = {w: tuple(sorted(c)) for w, c in said.items() if len(c) > 1}
    pattern = re.compile(r"\b(?:" + "|".join(sorted(map(re.escape, several), key=len, reverse=True)) + r")\b",
                         re.IGNORECASE)
    return pattern, several


def _sound_verbs_said(question: str) -> tuple[str, ...]:
    """The classes that the sound verbs of a question say ("what's that ringing?" -> alarm, bell, ...)."""
    pattern, classes = _sound_verbs()
    return tuple(c for m in pattern.finditer(question) for c in classes[m.group().lower()])


def candidates(question: str, answer_class: str) -> list[str]:
    """The classes an open answer is chosen again among: the asked categories' (with the answer's own class where
    the question asks for a category in words: "which animal is it?" may be answered "rain"; not where it names a
    sound: "what's that sawing noise?" is a tool), else all of them."""
    v = vocabulary()
    asked = asked_categories(question)
    if not asked:
        return list(v.classes)
    in_words = bool(_categories_said(question))
    kinds = [members for said, members in _INSTRUMENT_KINDS if re.search(said, question, re.IGNORECASE)]
    within = set().union(*kinds) if kinds and asked == {"instrument"} else None  # "that string instrument"
    return [c for c, cat in v.classes.items() if cat in asked and (within is None or c in within)
            or in_words and c == answer_class and (within is None or cat not in asked)]  # a flute is no string


def _categories_said(question: str) -> set[str]:
    """The categories a question asks for in words ("which animal", "what instrument")."""
    return {c for c, said in _CATEGORY_WORDS.items() if re.search(rf"\b(?:{said})\b", question, re.IGNORECASE)}


def added_name(scores: Tensor) -> str | None:
    """The plain name of an added class that is YAMNet's top naming row in (521,) `scores` and over THRESHOLD;
    None when there is none."""
    from .tags import THRESHOLD

    v = vocabulary()
    top = int(torch.where(v.naming, scores, -1.0).argmax())
    return v.added[top] if top in v.added and float(scores[top]) >= THRESHOLD else None


def heard(name: str, scores: Tensor) -> float:
    """The tags' evidence for a class as the name of what was heard. A class that names a family ("music",
    "speech", "bird") has no more than its best member (at most 0, none for it, for a member YAMNet has no
    row for, as "male speech": tags.class_evidence): YAMNet's family rows ("Music") score high whenever any
    member plays, so they say nothing for "music" against "cello"; the tags choose between sounds that exclude
    each other and leave the family's name or its member's to the language model."""
    from .tags import class_evidence

    v = vocabulary()
    own = class_evidence(scores, name)
    if v.members.get(name):
        return min(own, max(class_evidence(scores, m) for m in v.members[name]))
    return own


def fused(name: str, logp: float, scores: Tensor, weight: float = NAME_WEIGHT, own: dict[str, float] | None = None,
          own_weight: float = NAME_OWN_WEIGHT) -> float:
    """A class's score as the answer: its log-probability plus `weight` x the tags' evidence for it (`heard`) plus
    `own_weight` x the presence head's support for it (`own`, from `named_own`)."""
    return logp + weight * heard(name, scores) + (own_weight * own.get(name, 0.0) if own else 0.0)


def choose_name(lm_scores: dict[str, float], scores: Tensor, weight: float = NAME_WEIGHT,
                added: bool = True, own: dict[str, float] | None = None, own_weight: float = NAME_OWN_WEIGHT) -> str:
    """The name an open answer becomes, from every candidate's log-probability (`lm_scores`: class -> log P as
    the answer), (521,) tag `scores` and the presence head's support (`own`): an added class's (`added_name`),
    when `added`, else the candidate with the best `fused` score. The slow reference of `renamed`'s search."""
    if added and (name := added_name(scores)) is not None:
        return name
    return max(lm_scores, key=lambda c: fused(c, lm_scores[c], scores, weight, own, own_weight))


def best_fused(names: list[str], first: list[float], exact, scores: Tensor, weight: float = NAME_WEIGHT,
               chunk: int = 8, own: dict[str, float] | None = None, own_weight: float = NAME_OWN_WEIGHT) -> str:
    """`choose_name`'s best `fused` class without every class's log-probability: a class's first token's
    log-probability (`first`) bounds its whole answer's, so classes are scored (`exact(names) -> log P`) in
    order of that bound, `chunk` at a time, until no bound beats the best score found. Ties: the earlier name."""
    bound = [fused(c, f, scores, weight, own, own_weight) for c, f in zip(names, first)]
    order = sorted(range(len(names)), key=lambda i: (-bound[i], i))
    best, best_score = None, float("-inf")
    for k in range(0, len(order), chunk):
        if best is not None and best_score >= bound[order[k]]:
            break
        batch = sorted(order[k:k + chunk])
        for i, logp in zip(batch, exact([names[i] for i in batch])):
            value = fused(names[i], logp, scores, weight, own, own_weight)
            if value > best_score or value == best_score and i < names.index(best):
                best, best_score = names[i], value
    return best


def wants_renaming(question: str, answer: str) -> str | None:
    """The class an answer to `question` names, when it is the one sound heard that the tags may choose again
    (module docstring); for a question about one sound answered with several (a list or a description: "what's
    that in the distance?" -> "rocket, hawk"), the first of them, the answer to become one name; else None."""
    if _keeps_names(question) or _SEVERAL.search(question):
        return None
    said = answered_class(answer)
    if said is not None or not _ONE_SOUND.search(question):
        return said
    named, events = _items_named(answer)
    return named[0] if named and (len(named) > 1 or events) else None


def first_named(question: str, answer: str) -> str | None:
    """The first sound of a list or description answering a question about one sound that keeps its decoded names
    (one sound by its order or loudness: "what was the loudest thing?"): the first sound said, the last where the
    question asks for the last; None for any other answer."""
    if not (_keeps_names(question) and _ONE_SOUND.search(question)) or _AT_MOMENT.search(question):
        return None  # at one moment, the first sound said may well be another moment's
    named, events = _items_named(answer, events_only=True)
    if not named or len(named) < 2 and not events:
        return None
    return named[-1] if _LAST.search(_WINDOW.sub(" ", question)) else named[0]


def named_answer(answer: str, said: str, name: str) -> str:
    """The answer once its one sound is named `name` (`said`: what `wants_renaming` read in it): the answer as
    decoded where it already says that one sound, else the name."""
    return answer if name == said and answered_class(answer) == said else name


def _items_named(answer: str, events_only: bool = False) -> tuple[list[str], bool]:
    """The classes the items of a list or description answer name, in order, and whether any item is an event
    with its seconds; with `events_only`, a description's events alone (its background left out)."""
    named, events = [], False
    for piece in re.split(r"[,;]", answer):
        body = piece.strip()
        m = _EVENT.fullmatch(body) or _BACKGROUND.fullmatch(body)
        events |= bool(m and m.re is _EVENT)
        said = answered_class(m.group("name") if m else body)
        if said is not None:
            named.append((said, not m or m.re is _EVENT))
    return [c for c, item in named if item or not (events_only and events)], events


def _keeps_names(question: str) -> bool:
    """Whether a question's answer keeps its decoded names: it asks about one moment ("at 4.2 s"), or for one
    sound by its order or loudness ("what came first?"; "in the last ten seconds" is a window, not an order),
    which the tags of the whole scene cannot tell."""
    return bool(_AT_MOMENT.search(question) or _ONE_AMONG.search(_WINDOW.sub(" ", question)))


@dataclass(frozen=True)
class Slot:
    """A class name inside a list answer in the answer format (model/data/tasks.py)."""

    start: int  # its characters in the answer: answer[start:end]
    end: int
    name: str  # the class it says


def slots(answer: str) -> list[Slot]:
    """The class names a list answer says, in order (its items, the background); none for a description that
    gives events their seconds, and none from a piece that names no class ("nothing", "otherwise quiet")."""
    out = []
    for piece in re.finditer(r"[^,;]+", answer):
        body = piece.group().strip()
        if _EVENT.fullmatch(body):
            return []
        at = piece.start() + len(piece.group()) - len(piece.group().lstrip())
        m = _BACKGROUND.fullmatch(body)
        name, offset = (m.group("name"), m.start("name")) if m else (body, 0)
        said = answered_class(name)
        if said is not None:
            out.append(Slot(at + offset, at + offset + len(name), said))
    return out


def wants_relabelling(question: str, answer: str) -> list[Slot]:
    """The names of a list answer to be chosen again (module docstring); empty for any other answer."""
    if _keeps_names(question) or wants_renaming(question, answer) is not None:
        return []  # an answer to a question about one sound: wants_renaming's
    found = slots(answer)
    return found if len(found) > 1 or _SEVERAL.search(question) or _BACKGROUND.search(answer) else []


def _read(question: str, tags) -> Tensor:
    """(521 + len(tags.own),) the tags a question that asks for one sound reads (module docstring), on the CPU."""
    from .answer_forms import asked_scores
    from .tags import RECENT_COLUMNS

    if _JUST_NOW.search(question):  # "what did you just hear?": the last ten seconds, in a short scene too
        return tags.last(RECENT_COLUMNS)[0].float().cpu()
    return asked_scores(question, tags).float().cpu()


def named_scores(question: str, tags) -> Tensor:
    """(521,) YAMNet's rows of the tags a question that asks for one sound reads (`_read`)."""
    return _read(question, tags)[:NUM_CLASSES]


def named_own(question: str, tags) -> dict[str, float]:
    """The presence head's support (tags.own_support: log-odds over OWN_THRESHOLD, only ever for a sound) for each
    of its classes in what `named_scores` reads; the classes it gives none left out (all, without a head)."""
    from .tags import own_support

    if not tags.own:
        return {}
    read = _read(question, tags)
    support = {c: own_support(read, (NUM_CLASSES + i,)) for i, c in enumerate(tags.own)}
    return {c: v for c, v in support.items() if v > 0}


@torch.inference_mode()
def renamed(lm, tok, state, prompt: list[int], question: str, answer: str, tags) -> str:
    """`answer` (decoded after `prompt` from the LM `state`, which is unchanged) with its names chosen again
    with `tags` (model.tags.Tags of the stream asked about, or None), as the module docstring says."""
    if (first := first_named(question, answer)) is not None:
        return first
    if tags is None or tags.columns == 0:
        return answer
    said = wants_renaming(question, answer)
    if said is not None:
        scores = named_scores(question, tags)
        category = asked_categories(question)
        name = added_name(scores) if not category else None
        if name is None:
            own = named_own(question, tags) if NAME_OWN_WEIGHT else None
            name = _chosen(lm, tok, state, prompt, "", "", candidates(question, said), scores, own)
        return named_answer(answer, said, name)
    if not wants_relabelling(question, answer):
        return answer
    scores = named_scores(question, tags)
    for k in range(len(slots(answer))):
        said = slots(answer)  # read again: an earlier name chosen may be longer or shorter
        slot, taken = said[k], {s.name for s in said[:k]}
        names = [c for c in vocabulary().classes if c not in taken]
        name = _chosen(lm, tok, state, prompt, answer[:slot.start], answer[slot.end:], names, scores)
        answer = answer[:slot.start] + name + answer[slot.end:]
    return answer


def feed_bias(tok, question: str, tags):
    """How an answer to `question` decoded freely (the live feed's lists, a description, any list) weighs what `tags`
    (model.tags.Tags of one stream) hear, in the scores `named_scores` reads (generate.ItemBias): ITEM_WEIGHT x
    `heard` on the first token of each class, for a class the tags hear and against one they hear absent (a token
    gets the most any class beginning with it gets); a class they say nothing of (`tags.speaks_of`: no row of its
    own or its parents', a kettle) gets nothing, and stays where the language model puts it. None before the tags
    have heard anything. Decoded with the list, it costs no pass of the language model, where naming each item
    again among the classes costs about 50 ms a name (docs/LIVE.md, "Naming a list")."""
    from .generate import ItemBias

    if tags is None or tags.columns == 0:
        return None
    scores = named_scores(question, tags)
    first = _first_words(tok)
    spoken = _spoken()
    add: dict[int, float] = {}
    for c, t in first.items():
        if c in spoken:
            e = ITEM_WEIGHT * heard(c, scores)
            add[t] = max(add.get(t, e), e)
    return ItemBias(add, frozenset(first.values()))


@functools.lru_cache(maxsize=1)
def _spoken() -> frozenset[str]:
    """The classes the tags hold evidence for or against (`tags.speaks_of`), themselves or through a member of the
    family they name: the same for every description, so found once."""
    from .tags import speaks_of

    v = vocabulary()
    return frozenset(c for c in v.classes if speaks_of(c) or any(speaks_of(m) for m in v.members.get(c, ())))


@functools.lru_cache(maxsize=8)  # keyed by the tokenizer itself, which the cache keeps alive
def _first_words(tok) -> dict[str, int]:
    """Each class's first token as an answer says it (after the space an answer begins with), per tokenizer, where
    that token is a whole word that begins a class's name (" dog"; " fire" for "fireworks" too). A class whose first
    token is a piece of a word (" " of " owl", " a" of " applause") is left out: the piece begins answers that name
    nothing (the refusal, "about 3 minutes ago"), which a weight on it would push aside."""
    words = {c.split()[0] for c in vocabulary().classes}
    first = {c: tok.encode(" " + c)[0] for c in vocabulary().classes}
    return {c: t for c, t in first.items() if tok.decode([t]).strip() in words}


def _chosen(lm, tok, state, prompt: list[int], before: str, after: str, names: list[str], scores: Tensor,
            own: dict[str, float] | None = None) -> str:
    """The class among `names` with the best `fused` score (the presence head's support `own` weighed in, for one
    sound named) as the name said between the answer's text `before` and `after` it, each name scored with the
    token that follows it (the end token at the answer's end)."""
    from .generate import answer_logits, choice_scores

    said = tok.encode(" " + before.strip()) if before.strip() else []
    follow = tok.encode(after)[:1] if after else [tok.eot_id]
    ids = {c: [*tok.encode(" " + c), *follow] for c in names}
    device = lm.backbone.embedding.weight.device
    logits, pushed = lm(torch.tensor([prompt + said], device=device), state=state)
    first = torch.log_softmax(answer_logits(lm, tok, logits[:, -1].clone()).float(), -1)[0]

    def exact(some: list[str]) -> list[float]:
        return choice_scores(lm, tok, pushed, logits[:, -1], [ids[c] for c in some]).tolist()

    return best_fused(names, [float(first[ids[c][0]]) for c in names], exact, scores, own=own)
