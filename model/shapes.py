"""Shapes of answer a question does not ask for: a bare time to a question that is not about when,
nothing at all to any question. model/answer_forms.py says which a question rules out;
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
