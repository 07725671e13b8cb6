"""Keeps the feed readable: a description is new only when it says something new.

Descriptions of a steady scene vary in small ways ("a dog barks" / "a dog is barking", "speech
and music" / "music and speech"); showing each would make the feed flicker. A description's
content words are compared with the last shown line's (Dice overlap of the two word sets); when
they mostly agree it counts as the same line, which then covers a longer span.
"""
from __future__ import annotations

import re

SAME_WHEN = 0.8  # word-set overlap at or above which two descriptions say the same
_FILLER = {"a", "an", "the", "is", "are", "some", "there", "being", "can", "be", "heard"}
_STEMS = (("ing", ""), ("es", ""), ("s", ""))


def words(text: str) -> list[str]:
    """Lower-case content words, with crude stemming, so wording changes do not count as news."""
    out = []
    for w in re.findall(r"[a-z0-9']+", text.lower()):
        if w in _FILLER:
            continue
        for suffix, repl in _STEMS:
            if len(w) > len(suffix) + 2 and w.endswith(suffix):
                w = w[: -len(suffix)] + repl
                break
        out.append(w)
    return out


def similarity(a: str, b: str) -> float:
    """0..1: how much two descriptions say the same thing."""
    wa, wb = set(words(a)), set(words(b))
    if not wa and not wb:
        return 1.0 if a.strip().lower() == b.strip().lower() else 0.0
    return 2 * len(wa & wb) / (len(wa) + len(wb))


class Feed:
    """Decides which descriptions are news; remembers when the current line began."""

    def __init__(self, same_when: float = SAME_WHEN):
        self.same_when = same_when
        self.last_text: str | None = None
        self.since = 0.0  # stream time the current line began

    def judge(self, text: str, stream_time: float) -> tuple[bool, float]:
        """(is_new, since): whether to show `text` as a new line, and when its line began."""
        if self.last_text is not None and similarity(text, self.last_text) >= self.same_when:
            return False, self.since
        self.last_text, self.since = text, stream_time
        return True, stream_time
