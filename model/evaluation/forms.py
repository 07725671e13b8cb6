"""Judging an answer by the form its question asks for: is it right, and is it in the right form?

The forms are those of model.data.questions: yes/no, true/false, an option of a multiple choice,
a count, a class name, speech/music/sound, a list or description of classes, a sentence, a time
('at 3.2 s', 'about 40 seconds ago'), a span of quiet, a refusal. An answer in another form than
the one asked ('1' to a yes/no question, 'true' to a multiple choice, a refusal to what the sound
can tell) is a form error, whether or not it could be read as right.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..answer_forms import TYPES
from ..data.questions import NOT_QUIET, QUIET_ALL
from ..metrics import (ClassNames, choice_index, count_of, is_refusal, normalize, says_quiet, seconds_of, true_false,
                       yes_no)

AT_TOLERANCE_S = 1.0  # "when" in a recording: the onset within a second
AGO_TOLERANCE = (5.0, 0.25)  # "when" in a stream: within 5 s or a quarter of how long ago, whichever is more
QUIET_TOLERANCE = (3.0, 0.3)  # "how long has it been quiet": within 3 s or 30%


@dataclass(frozen=True)
class Asked:
    """What judging needs of an item: the form asked, the known answer and the facts behind it."""

    kind: str
    form: str
    answer: str
    options: tuple[str, ...] = ()
    value: float | None = None  # seconds: the onset asked about (when), the quiet span (quiet)
    duration_s: float = 0.0  # of the recording asked about


def judge(it: Asked, pred: str, names: ClassNames) -> tuple[bool, bool]:
    """(right, in the asked form) for the answer `pred`."""
    if it.form == "refusal":
        return is_refusal(pred), is_refusal(pred)
    if is_refusal(pred):
        return False, False
    rule = RULES.get(it.form)
    if rule is None:
        raise ValueError(f"no rule to judge answers of form {it.form!r}")
    return rule(it, pred, names)


def _yesno(it, pred, names):
    said = yes_no(pred)
    return said is not None and said == (it.answer == "yes"), said is not None


def _tf(it, pred, names):
    first = normalize(pred).split(" ", 1)[0] if normalize(pred) else ""
    said = true_false(pred)
    return said is not None and said == (it.answer == "true"), first in ("true", "false")


def _mcq(it, pred, names):
    picked = choice_index(pred, it.options)
    return picked is not None and picked == choice_index(it.answer, it.options), picked is not None


def _count(it, pred, names):
    n = count_of(pred)
    return n is not None and n == int(it.answer), n is not None and yes_no(pred) is None


def _label(it, pred, names):
    named = names.named(pred)
    ok = bool(named) and yes_no(pred) is None and true_false(pred) is None and count_of(pred) is None
    return named == {it.answer}, ok


def _type(it, pred, names):
    said = normalize(pred)
    return said == it.answer, said in TYPES


def _listed(it, pred, names):
    """A description, tags or 'what happened': the classes named, or quiet when nothing happened."""
    want = names.named(it.answer)
    named = names.named(pred)
    quiet = says_quiet(pred, names) or normalize(pred).startswith("nothing")
    ok = (bool(named) or quiet) and yes_no(pred) is None and true_false(pred) is None
    right = (not named and quiet) if not want else named == want
    return right, ok


def _sentence(it, pred, names):
    right, _ = _listed(it, pred, names)
    return right, len(normalize(pred).split()) >= 2 and yes_no(pred) is None


def _when(it, pred, names):
    """'at 3.2 s' or 'about 40 seconds ago' (either is right if it points at the onset)."""
    span = seconds_of(pred)
    if span is None or it.value is None:
        return False, span is not None
    onset = it.duration_s - span if "ago" in pred.lower() else span
    if it.form == "at":
        tol = AT_TOLERANCE_S
    else:
        tol = max(AGO_TOLERANCE[0], AGO_TOLERANCE[1] * (it.duration_s - it.value))
    return abs(onset - it.value) <= tol, True


def _quiet(it, pred, names):
    p = pred.lower().replace("’", "'")
    not_quiet = "isn't quiet" in p or "not quiet" in p or normalize(NOT_QUIET) in normalize(pred)
    whole = "whole time" in p or "all along" in p or normalize(QUIET_ALL) in normalize(pred)
    span = seconds_of(pred)
    ok = not_quiet or whole or span is not None
    if it.answer == NOT_QUIET:
        return not_quiet, ok
    if it.answer == QUIET_ALL:
        return whole or (span is not None and abs(span - it.duration_s) <= max(QUIET_TOLERANCE[0], QUIET_TOLERANCE[1]
                                                                               * it.duration_s)), ok
    tol = max(QUIET_TOLERANCE[0], QUIET_TOLERANCE[1] * (it.value or 0.0))
    return span is not None and abs(span - (it.value or 0.0)) <= tol, ok


def _before_after(it, pred, names):
    first = normalize(pred).split(" ", 1)[0] if normalize(pred) else ""
    return first == it.answer, first in ("before", "after")


RULES = {"yesno": _yesno, "tf": _tf, "mcq": _mcq, "count": _count, "label": _label, "one_word": _label, "type": _type,
         "list": _listed,
         "description": _listed, "sentence": _sentence, "at": _when, "ago": _when, "duration": _quiet,
         "before_after": _before_after}
