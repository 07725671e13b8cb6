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
"""
from __future__ import annotations

import re

from .answer_forms import class_mentions
from .data.questions import fmt_span
from .tags import rows_named

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
