"""Shapes of answer a question does not ask for: a bare time to a question that is not about when,
nothing at all to any question, anything but a time to one that asks when, anything but a span of quiet to one
that asks how long it has been quiet. model/answer_forms.py says which a question rules out;
model/generate.py decodes again an answer of that shape and holds back text that could still take it."""
from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Shape:
    """Answers matching `whole` (whole text, stripped) are unwanted; text matching `start` could still become one."""

    whole: re.Pattern
    start: re.Pattern

    def matches(self, text: str) -> bool:
        return self.whole.fullmatch(text) is not None

    def may_become(self, text: str) -> bool:
        return self.start.fullmatch(text) is not None


_SECONDS = r"(?:s|sec|secs|seconds?|minutes?|mins?)"
NOTHING = Shape(re.compile(r"[.!]?"), re.compile(r""))  # an empty answer
# "at 0.3 s", "around 12 seconds", "about 60 seconds ago", "4.5 s", or nothing
TIME_OR_NOTHING = Shape(
    re.compile(rf"(?:(?:at|around) (?:about )?\d+(?:\.\d+)?\s*{_SECONDS}|"
               rf"(?:about )?\d+(?:\.\d+)?\s*{_SECONDS}(?: ago)?)?[.!]?", re.IGNORECASE),
    re.compile(r"(?:at|around|about|\d)(?:\s[\s\S]*|[\d.][\s\S]*)?|a|ar|aro|arou|aroun|ab|abo|abou|", re.IGNORECASE))

# A time or span as the training data's answers give one: "at 3.2 s", "about 40 seconds ago", "about 2 minutes"
_A_TIME = rf"\d+(?:\.\d+)?\s*(?:{_SECONDS}|hours?|h)\b"


def _without(said: str) -> Shape:
    """Answers that never say `said` (a pattern); text becomes one of them exactly while it has not said it yet."""
    none_yet = re.compile(rf"(?![\s\S]*(?:{said}))[\s\S]*", re.IGNORECASE)
    return Shape(none_yet, none_yet)


# Any answer that gives no time ("harpsichord" to "when did it start?"); once a time is said, it cannot become one
NOT_A_TIME = _without(_A_TIME)
# Any answer to "how long has it been quiet?" that gives no span and does not say it isn't quiet or has been all along
NOT_A_QUIET_SPAN = _without(rf"{_A_TIME}|isn't quiet|is not quiet|not quiet|whole time|all along")
