"""What happened over minutes, from what the live feed said at each moment.

"What happened in the last five minutes?", "what did I miss while I was away?": over more than the few tens of
seconds its training streams last, the language model's state names one to six sounds where twenty sounded
(docs/RESULTS.md). The live app has something better at hand: every 2 s it described the last ten seconds, and
those descriptions are the model's own hearing of each moment while it was fresh. A question that asks what
happened over a span of at least MIN_SPAN_S is answered from them: the sounds they named within the span, each
once, in the order they were first named, a sound named only once left out when MIN_MENTIONS asks for more.

Counts over a session are the same kind of question: "how many times did the dog bark?" after twenty minutes asks
about more than the state keeps, and the model says 1 or 2 where the dog never barked. A count of a sound that a
question names, over the session so far or a span of at least MIN_SPAN_S, is the number of runs of descriptions
that named it (a gap of more than RECENT_S between two starts a new one); "how many different sounds?" is the
number of sounds a recap would name.

Whether it is quiet, or anything sounded, is a third: "is it quiet in here?", "has it been silent the whole
time?", "did anything make a sound while I was out?". The feed says it plainly ("quiet" under the energy gate,
"nothing, only rain in the background" with no sound over a background), where the language model says "no" to
nearly every question of whether it is quiet (docs/RESULTS.md).

`span_asked`, `count_asked` and `silence_asked` read whether a question asks these, and over how long; `Timeline`
keeps the descriptions of the last KEPT_S (bounded, like the state: a session of a day keeps the same hour) and
answers.
"""
from __future__ import annotations

import bisect
import math
import re
from collections import Counter, deque
from dataclasses import dataclass, replace

from .data.tasks import nothing_recent
from .tags import RECENT_S

MIN_SPAN_S = 2 * RECENT_S  # shorter spans are the state's own recent past, as training asked it
KEPT_S = 3600.0  # descriptions older than this are let go: "what happened today?" reads the last hour
MIN_MENTIONS = 2  # descriptions that must name a sound before a recap does (chosen in docs/RESULTS.md)
WHOLE = math.inf  # the span of "while I was away", "so far": everything kept

_UNITS = {"s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1, "min": 60, "mins": 60, "minute": 60,
          "minutes": 60, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600}
_AMOUNTS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
            "nine": 9, "ten": 10, "fifteen": 15, "twenty": 20, "thirty": 30, "forty": 40, "forty-five": 45,
            "fifty": 50, "sixty": 60, "ninety": 90, "few": 3, "couple of": 2, "couple": 2, "several": 5}
_AMOUNT = r"\d+(?:\.\d+)?|" + "|".join(sorted((re.escape(a) for a in _AMOUNTS), key=len, reverse=True))
_UNIT = r"s|secs?|seconds?|mins?|minutes?|hrs?|hours?"
# "in the last 5 minutes", "over the past minute", "during the previous half hour", "the last couple of minutes"
_WINDOW = re.compile(rf"\b(?:last|past|previous|prior)\s+(?:(?P<amount>{_AMOUNT})\s+)?(?P<unit>{_UNIT})\b"
                     rf"|\b(?:last|past|previous|prior)\s+(?P<half>half(?:\s+an?)?|quarter(?:\s+of\s+an?)?)\s+"
                     rf"(?P<part_of>hour|minute)\b",
                     re.IGNORECASE)
# "while I was away", "what did I miss", "so far": the whole of what the feed kept
_AWAY = re.compile(r"\bwhile (?:i|we) (?:was|were|'?ve been|have been) (?:away|gone|out|busy|asleep|sleeping|"
                   r"on the phone|in the shower|outside)\b|\bsince (?:i|we) (?:left|went out|got back|came back|"
                   r"started|turned you on)\b|\bwhat'?d? (?:did |have )?(?:i|we) miss(?:ed)?\b|\bcatch (?:me|us) up\b|"
                   r"\bfill (?:me|us) in\b|\bbring (?:me|us) up to speed\b|\brecap\b|\bso far\b|"
                   r"\bthe whole (?:time|session)\b|\bsince (?:the )?start\b|"
                   r"\bsince (?:we|you) (?:start(?:ed)?|began)\b|\bin total\b|\ball along\b|"
                   r"\b(?:this|the) (?:entire |whole )?session\b|"
                   r"\beverything (?:you|u)(?:'ve| have)? (?:heard|picked up|caught|noticed)\b", re.IGNORECASE)
# asks what sounded: a list of what happened, not when, how often, how long or which one was loudest (whether, and
# which of some options, are the answer-form rules' to read: model/answer_forms.py)
_WHAT_HAPPENED = re.compile(r"\bw(?:h)?at(?:'s| has| have)?\s+(?:been\s+)?(?:happen(?:ed|ing)|went on|gone on|"
                            r"going on|was going on|"
                            r"(?:did |have )?(?:i|we|you|u|the mic|it) (?:hear|heard|miss|missed|catch|caught|detect|"
                            r"detected|notice|noticed|pick(?:ed)? up)|(?:was|could be|can be) heard|"
                            r"(?:sounds?|noises?)\b)|\bwhat(?:'d|d)\s+(?:i|we|you|u) (?:miss|hear)\b|"
                            r"\bwhich (?:sounds|noises)\b|\blist\b|\bsummar|\brecap\b|"
                            r"\brundown\b|\boverview\b|\bcatch (?:me|us) up\b|\bfill (?:me|us) in\b|\bup to speed\b|"
                            r"\btell (?:me|us) (?:what|everything)\b|\breport\b|\bany (?:sounds?|noises?)\b|"
                            r"\banything\b|\bhear anything\b|\bsum (?:it )?up\b|\bgo over\b|\bwhat all\b",
                            re.IGNORECASE)
_NOT_A_LIST = re.compile(r"\b(?:when|how (?:long|many|often|loud)|how much|times|loudest|quietest|softest|first|"
                         r"last (?:sound|noise|thing|one)|most recent|just now|right now|at the moment|still|"
                         r"what(?:'s| is) (?:going on|happening))", re.IGNORECASE)
# a count of this moment ("how many dogs are barking right now?") is the state's to answer
_NOW = re.compile(r"\b(?:right now|at the moment|currently|now|at once|at the same time|simultaneously)\b",
                  re.IGNORECASE)
# how many different sounds: the number a recap names
_DIFFERENT = re.compile(r"\bhow many (?:different|distinct|separate|kinds of|types of|sorts of)\s+"
                        r"(?:kinds of |types of |sorts of )?(?:sounds?|noises?|things)\b", re.IGNORECASE)


# Whether it is quiet or anything sounds, asked without naming a sound or a group of them (the training stems'
# yes/no questions of targets "quiet" and "sound", model/data/stems.txt and stems_people.txt)
_QUIET = re.compile(r"\b(?:quiet|silent|silence|calm|peaceful|hush(?:ed)?)\b|"
                    r"\bnothing (?:has |have )?(?:made|make|makes|making) (?:a |any )?(?:sound|noise|peep)\b|"
                    r"\bnothing but silence\b|\bno (?:sounds?|noises?)\b|\bnothing at all\b", re.IGNORECASE)
_SOUNDED = re.compile(r"\b(?:anything|something|any (?:sounds?|noises?|activity)|noisy|noise|sounds?)\b",
                      re.IGNORECASE)
# over the whole session ("was it quiet the whole time?", "did anything make a sound while I was out?"), unless the
# words say now or lately ("has it been quiet for long?", "is it silent right now?")
_WHOLE_TIME = re.compile(r"\b(?:did|was|were|has|have|had|ever|so far|all along|throughout|the whole|the entire|"
                         r"at any point|at all times|stayed|recording|clip|audio)\b", re.IGNORECASE)
_LATELY = re.compile(r"\b(?:now|right now|at the moment|currently|for long|for a while|lately|recently|"
                     r"in here|out there|gone|go|went)\b", re.IGNORECASE)
# someone or something in particular: speech, people, music, traffic (the groups' own questions, and the model's)
# and "a plane or anything" asks about a plane, or what is like one
_PARTICULAR = re.compile(r"\b(?:any|some|no|every)(?:one|body)\b|\b(?:say|says|said|saying|speak\w*|spoke|talk\w*|"
                         r"musical|driv\w*|drove|coming|fl(?:y|ew|ies|ying))\b|\bor (?:anything|something)\b",
                         re.IGNORECASE)


def silence_asked(question: str) -> tuple[bool, float] | None:
    """(True when `question` asks whether it is or was quiet, False when whether anything sounded; the seconds it
    asks about: RECENT_S for now, WHOLE for the session so far, or the span its words name), for a yes/no question
    that names no sound and no group of them; None for any other question."""
    from .answer_forms import GROUP_WORDS, asked_form, class_mentions
    from .spelling import respelled

    text = _plain(respelled(question))
    quiet = bool(_QUIET.search(text))
    if not quiet and not _SOUNDED.search(text):
        return None
    form = asked_form(text)
    particular = class_mentions(text) or GROUP_WORDS.search(text) or _PARTICULAR.search(text)
    if form is None or form.kind != "yesno" or particular:
        return None
    seconds = _span_said(text)
    if seconds is None:
        seconds = WHOLE if _WHOLE_TIME.search(text) and not _LATELY.search(text) else RECENT_S
    return quiet, seconds


def _plain(question: str) -> str:
    """A question as the rules read it: one space between words, a typographic apostrophe a plain one."""
    return " ".join(question.replace("\u2019", "'").split())


def _span_said(text: str) -> float | None:
    """The span a question's words name in seconds, WHOLE for all of it ('while I was away'), or None."""
    seconds = _window_seconds(text)
    return (WHOLE if _AWAY.search(text) else None) if seconds is None else seconds


def _window_seconds(text: str) -> float | None:
    """The span a question's words name ('in the last five minutes': 300), or None when they name none."""
    window = _WINDOW.search(text)
    if window is None:
        return None
    if window.group("half"):
        whole = 3600.0 if window.group("part_of").lower() == "hour" else 60.0
        return whole * (0.5 if window.group("half").lower().startswith("half") else 0.25)
    amount = (window.group("amount") or "1").lower()
    seconds = float(amount) if amount[0].isdigit() else float(_AMOUNTS[amount])
    return seconds * _UNITS[window.group("unit").lower()]


def count_asked(question: str) -> tuple[tuple[str, ...], float] | None:
    """(the sounds a count asks about, lower case; () for 'how many different sounds'), and over how many seconds
    (WHOLE: the session so far), for a count of what the feed can tell; None for any other question, a count of
    this moment ('how many dogs are barking right now?') or of a span shorter than MIN_SPAN_S."""
    from .answer_forms import asked_form, class_mentions

    text = _plain(question)
    form = asked_form(text)
    if form is None or form.kind != "count" or _NOW.search(text):
        return None
    seconds = _window_seconds(text)
    if seconds is not None and seconds < MIN_SPAN_S:
        return None
    span = WHOLE if seconds is None else seconds
    if _DIFFERENT.search(text):
        return (), span
    named = tuple(c.lower() for c in class_mentions(text))
    return (named, span) if named else None


def span_asked(question: str) -> float | None:
    """Seconds of the recent past `question` asks what happened in (WHOLE for all of it: 'while I was away'),
    or None when it asks something else or a span shorter than MIN_SPAN_S."""
    from .answer_forms import asked_form

    text = _plain(question)
    if not _WHAT_HAPPENED.search(text) or _NOT_A_LIST.search(text):
        return None
    form = asked_form(text)
    if form is not None and form.kind != "open":  # the rules read another form: whether, how many, which of ...
        return None
    seconds = _span_said(text)
    return seconds if seconds is not None and seconds >= MIN_SPAN_S else None


@dataclass(frozen=True)
class Said:
    """One description of the feed: when (stream seconds), the sounds it named (none: quiet) and the background
    it named apart ("nothing, only rain in the background"; "" for none)."""

    at: float
    names: tuple[str, ...]
    background: str = ""


def named_items(description: str) -> Said:
    """What a feed description says, at time 0: 'dog, rain in the background' names a dog over a background of
    rain; 'quiet', 'nothing, it has been quiet' name nothing; 'nothing, only rain in the background' a background."""
    text = description.strip()
    if not text or text.lower() == "quiet" or text.startswith("("):
        return Said(0.0, ())
    items: dict[str, str] = {}  # each sound once, as first said
    background = ""
    nothing = text.lower().startswith("nothing")  # "nothing, it has been quiet": whatever follows is no sound
    for item in text.split(","):
        item = item.strip(" .")
        behind = re.fullmatch(r"(?:only\s+)?(.+?)\s+in the background", item, re.IGNORECASE)
        if behind:
            background = background or behind.group(1)
        elif item and not nothing:
            items.setdefault(item.lower(), item)
    return Said(0.0, tuple(items.values()), background)


class Timeline:
    """The feed's descriptions of the last KEPT_S seconds, and what they say of a span."""

    def __init__(self, kept_s: float = KEPT_S, min_mentions: int = MIN_MENTIONS):
        self.kept_s, self.min_mentions = kept_s, min_mentions
        self._said: deque[Said] = deque()

    def add(self, at: float, description: str) -> None:
        """A description made at stream time `at` (they come in order; one out of order is dropped)."""
        if self._said and at < self._said[-1].at:
            return
        self._said.append(replace(named_items(description), at=at))
        while self._said and self._said[0].at < at - self.kept_s:
            self._said.popleft()

    def __len__(self) -> int:
        return len(self._said)

    def covers(self, now: float, span: float) -> bool:
        """Whether descriptions were made over the span (at least one in it): before the first there is nothing
        to say from them."""
        if not self._said:
            return False
        times = [s.at for s in self._said]
        return bisect.bisect_left(times, now - span if math.isfinite(span) else -math.inf) < len(times)

    def _within(self, now: float, span: float) -> list[Said]:
        """The descriptions made within `span` seconds before `now`, less the first RECENT_S / 2 of the span (each
        describes the ten seconds before it: those are left to its earlier neighbours)."""
        start = now - span + RECENT_S / 2 if math.isfinite(span) else -math.inf
        return [said for said in self._said if start <= said.at <= now]

    def _named(self, said: list[Said]) -> list[str]:
        """The sounds `said` named at least min_mentions times, each once as first said, in the order first named."""
        counts: dict[str, int] = {}  # by the name in lower case: "Dog" and "dog" are one sound
        first: dict[str, str] = {}
        for s in said:
            for name in s.names:
                counts[name.lower()] = counts.get(name.lower(), 0) + 1
                first.setdefault(name.lower(), name)
        return [first[n] for n, c in counts.items() if c >= self.min_mentions]

    def recap(self, now: float, span: float) -> str:
        """The sounds named in descriptions made within `span` seconds before `now`, each once in the order first
        named; when none was, 'nothing', with the background the descriptions said most."""
        said = self._within(now, span)
        names = self._named(said)
        if names:
            return ", ".join(names)
        backgrounds = Counter(s.background for s in said if s.background)
        return nothing_recent(backgrounds.most_common(1)[0][0] if backgrounds else None)

    def silent(self, now: float, span: float, background: bool = False) -> bool | None:
        """Whether the descriptions of the span named no sound (with `background`, no background either: nothing
        sounded at all); None when there are none. Over the last RECENT_S, the last description's, made at most
        RECENT_S / 2 before `now`."""
        if span <= RECENT_S:
            last = self._said[-1] if self._said else None
            said = [last] if last is not None and 0 <= now - last.at <= RECENT_S / 2 else []
        else:
            said = self._within(now, span)
        if not said:
            return None
        return not any(s.names or (background and s.background) for s in said)

    def count(self, now: float, span: float, sounds: tuple[str, ...]) -> int:
        """How many times any of `sounds` (lower case) sounded within the span, as runs of descriptions naming it (a
        gap of more than RECENT_S starts a new run); with no sounds, how many different sounds a recap names."""
        said = self._within(now, span)
        if not sounds:
            return len(self._named(said))
        runs, last = 0, -math.inf
        for s in said:
            if any(name.lower() in sounds for name in s.names):
                runs += s.at - last > RECENT_S
                last = s.at
        return runs
