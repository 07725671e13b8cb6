"""When a long stream heard a sound: the time in a "when did the siren go off?" answer, read from the tags.

In a stream longer than LONG_SCENE_S the training data answers "when" about a sound heard once as
"about 40 seconds ago" (model/data/questions.py). The language model's state holds no clock it can
read minutes back: it says one time for every such question. The tags keep, for each AudioSet row,
the column where its best-scored run began (model/tags.py), in constant size, so an answer the
model gave as a time is given again from them: the start of the sound the question names, counted
back from the end of what the stream has heard, said as the training data says it. Where the tags
did not hear the sound over their presence threshold, or the question names none or several, the
model's answer stands; in a recording of up to LONG_SCENE_S ("at 2.6 s") the model places a sound
better than the tags do (docs/RESULTS.md), so its answer stands there too.

How long a sound has been going on ("how long has the music been playing?", "how long has that
been going on?") the training data never asks, and the language model answers it as the quiet
question it resembles. The tags keep where each row's sound going on began, dips under their
threshold of up to GAP_S let through (Tags.since): the answer is the span from there to now
("about 25 seconds"), of the sound the question names (its YAMNet rows and the presence head's) or,
where it points at one ("that", "it"), of any of our classes; "I don't hear it right now" where none
of them is going on.
"""
from __future__ import annotations

import re

from .answer_forms import _HOW_LONG_QUIET, class_mentions
from .data.questions import fmt_span
from .tags import own_rows, rows_named
from .yamnet import NUM_CLASSES

NOT_ON = "I don't hear it right now"  # how long a sound has been going on, when it is not
# "how long has the dog been barking?", "how long's that been going on": the subject before "been" or "going"
_HOW_LONG_ON = re.compile(r"\bhow long(?:'s|\s+(?:has|have|is|are))\s+(?P<what>[\w' -]+?)\s+(?:been|going)\b",
                          re.IGNORECASE)
_POINTING = re.compile(r"^(?:it|that|this)(?: (?:sound|noise))?$|^the (?:sound|noise)$", re.IGNORECASE)
_TIME = re.compile(r"^\s*(?:about\s+\S+(?:\s+\S+)?\s+ago|at\s+\d+(?:\.\d+)?\s*s)\s*\.?\s*$", re.IGNORECASE)


def timed(question: str, answer: str, tags) -> str:
    """`answer` to `question`, with its time read from `tags` (model.tags.Tags of one stream, or None) where the
    module docstring says; otherwise `answer` as it is."""
    if tags is None or not tags.stream or not _TIME.match(answer):
        return answer
    if len(class_mentions(question)) > 1:  # "how long after the dog did the cat meow?"
        return answer
    ago = tags.heard_ago(rows_named(question))
    return answer if ago is None else f"about {fmt_span(ago)} ago"


def lasted(question: str, tags) -> str | None:
    """How long the sound `question` asks about has been going on, from `tags` (model.tags.Tags of one stream, or
    None), as the module docstring says; None for any other question, or one about a sound the tags have no row
    for."""
    m = _HOW_LONG_ON.search(question)
    if tags is None or tags.columns == 0 or m is None or _HOW_LONG_QUIET.search(question):
        return None
    named = class_mentions(question)
    if len(named) > 1:  # "how long has the dog been barking at the cat?"
        return None
    if named:  # YAMNet's rows for it, and the presence head's (model/presence.py), which hears our own classes
        rows = rows_named(question) + own_rows(question, tags.own)
    elif _POINTING.match(m.group("what").strip()):
        from .naming import vocabulary

        own = tuple(range(NUM_CLASSES, NUM_CLASSES + len(tags.own)))
        rows = tuple(dict.fromkeys(r for rs in vocabulary().rows.values() for r in rs)) + own
    else:
        return None
    if not rows:
        return None
    span = tags.going_on_for(rows)
    return NOT_ON if span is None else f"about {fmt_span(span)}"
