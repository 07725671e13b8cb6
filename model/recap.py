"""What happened over minutes, from what the live feed said at each moment.

"What happened in the last five minutes?", "what did I miss while I was away?": over more than the few tens of
seconds its training streams last, the language model's state names one to six sounds where twenty sounded
(docs/RESULTS.md). The live app has something better at hand: every 2 s it described the last ten seconds, and
those descriptions are the model's own hearing of each moment while it was fresh. A question that asks what
happened over a span of at least MIN_SPAN_S is answered from them: the sounds they named within the span, each
once, in the order they were first named, a sound named only once left out when MIN_MENTIONS asks for more.

`span_asked` reads whether a question asks that, and over how long; `Timeline` keeps the descriptions of the last
KEPT_S (bounded, like the state: a session of a day keeps the same hour) and answers.
"""
from __future__ import annotations

import bisect
import math
import re
from collections import deque
from collections import Counter
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
                   r"\bsince (?:we|you) (?:start(?:ed)?|began)\b", re.IGNORECASE)
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


def span_asked(question: str) -> float | None:
    """Seconds of the recent past `question` asks what happened in (WHOLE for all of it: 'while I was away'),
    or None when it asks something else or a span shorter than MIN_SPAN_S."""
    from .answer_forms import asked_form

    text = " ".join(question.replace("\u2019", "'").split())
    if not _WHAT_HAPPENED.search(text) or _NOT_A_LIST.search(text):
        return None
    form = asked_form(text)
    if form is not None and form.kind != "open":  # the rules read another form: whether, how many, which of ...
        return None
    window = _WINDOW.search(text)
    if window is None:
        return WHOLE if _AWAY.search(text) else None
    if window.group("half"):
        whole = 3600.0 if window.group("part_of").lower() == "hour" else 60.0
        seconds = whole * (0.5 if window.group("half").lower().startswith("half") else 0.25)
    else:
        amount = (window.group("amount") or "1").lower()
        seconds = float(amount) if amount[0].isdigit() else float(_AMOUNTS[amount])
        seconds *= _UNITS[window.group("unit").lower()]
    return seconds if seconds >= MIN_SPAN_S else None


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
        self._start: float | None = None  # stream time of the first description kept since the start

    def add(self, at: float, description: str) -> None:
        """A description made at stream time `at` (they come in order; one out of order is dropped)."""
        if self._said and at < self._said[-1].at:
            return
        if self._start is None:
            self._start = at
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

    def recap(self, now: float, span: float) -> str:
        """The sounds named in descriptions made within `span` seconds before `now` (each describes the ten
        seconds before it, so the first RECENT_S / 2 of the span are left to its earlier neighbours), each once
        in the order first named; when none was, 'nothing', with the background the descriptions said most."""
        start = now - span + RECENT_S / 2 if math.isfinite(span) else -math.inf
        counts: dict[str, int] = {}  # by the name in lower case: "Dog" and "dog" are one sound
        first: dict[str, str] = {}
        backgrounds: Counter[str] = Counter()
        for said in self._said:
            if start <= said.at <= now:
                for name in said.names:
                    counts[name.lower()] = counts.get(name.lower(), 0) + 1
                    first.setdefault(name.lower(), name)
                if said.background:
                    backgrounds[said.background] += 1
        names = [first[n] for n, c in counts.items() if c >= self.min_mentions]
        if names:
            return ", ".join(names)
        return nothing_recent(backgrounds.most_common(1)[0][0] if backgrounds else None)
