"""Answers in the form the question states.

When a question lists its possible answers ("Answer yes or no", "True or false:", options labelled
"(A) ... (B) ..." or "1. ... 2. ..."), the answer is the one of them the model finds likeliest: each
is scored by its log-probability after the question, its end token included, as the evaluation's
cloze scores multiple choice. A labelled option is answered as the training data answers it, its
label as written and its text ("(B) a dog"). A question that lists no answers is answered freely.

Only forms written out count: "yes or no", "yes/no", "y/n", "true or false", "true/false", "t/f",
and a run of at least two consecutive option labels of one style. Whether an unmarked question
wants yes or no is left to the model. The scoring is `model.generate.choice_scores`.
"""
from __future__ import annotations

import re

from .prompt import answer_ids
from .tokenizer import Tokenizer

YES_NO = ("yes", "no")  # as the training data answers (model/data/questions.py)
TRUE_FALSE = ("true", "false")

_YES_NO = re.compile(r"\byes\s*(?:or|/)\s*no\b|\bno\s*(?:or|/)\s*yes\b|\by\s*/\s*n\b", re.IGNORECASE)
_TRUE_FALSE = re.compile(r"\btrue\s*(?:or|/)\s*false\b|\bfalse\s*(?:or|/)\s*true\b|\bt\s*/\s*f\b", re.IGNORECASE)
# An option label at the start of the text or after white space, followed by white space:
# (A) A) A. A: a) a. (1) 1) 1. 1:
_LABEL = re.compile(r"(?:^|(?<=\s))(\()?([A-Ha-h]|[1-9])([.):])(?=\s)")
_SEQUENCES = ("ABCDEFGH", "abcdefgh", "123456789")


def stated_answers(question: str) -> tuple[str, ...] | None:
    """The answers a question lists, or None when it lists none.

    Labelled options give "label text" for each ("(A) a dog", "(B) rain"); otherwise "true or false"
    gives ("true", "false") and "yes or no" gives ("yes", "no").
    """
    options = labelled_options(question)
    if options:
        return tuple(f"{label} {text}" for label, text in options)
    if _TRUE_FALSE.search(question):
        return TRUE_FALSE
    if _YES_NO.search(question):
        return YES_NO
    return None


def labelled_options(question: str) -> list[tuple[str, str]]:
    """The longest run of consecutive option labels of one style ("A." "B." "C."), at least two, each
    with its option's text: [(label as written, text)]; [] when there is none or an option is empty."""
    found = []
    for m in _LABEL.finditer(question):
        opened, mark, close = m.group(1) or "", m.group(2), m.group(3)
        if opened and close != ")":  # "(A." is not a label
            continue
        found.append((opened, mark, close, m))
    best: list[re.Match] = []
    for i, (opened, mark, close, m) in enumerate(found):
        seq = next((s for s in _SEQUENCES if mark == s[0]), None)
        if seq is None:
            continue  # a run starts at A, a or 1
        run = [m]
        for o2, m2, c2, m_next in found[i + 1:]:
            if len(run) < len(seq) and (o2, m2, c2) == (opened, seq[len(run)], close):
                run.append(m_next)
        if len(run) >= 2 and len(run) > len(best):
            best = run
    ends = [m.start() for m in best[1:]] + [len(question)]
    options = [(m.group(0).strip(), _option_text(question[m.end():end], last=k == len(best) - 1))
               for k, (m, end) in enumerate(zip(best, ends))]
    return options if all(text for _, text in options) else []


# What ends the last option's text: a new line, a question mark, a sentence's end, a dash between
# spaces, or the instruction that follows the options ("... D. rain answer with the letter").
_LAST_END = re.compile(r"\n|\?|\.\s|\s[-\u2013\u2014]\s|\s(?=(?:answer|choose|pick|select|reply|respond|"
                       r"just|only|please|which|give|tell|say|write|type)\b)", re.IGNORECASE)


def _option_text(text: str, last: bool) -> str:
    """An option's text as the answer repeats it: one line, without the list's commas and 'or'."""
    if last:
        text = _LAST_END.split(text, maxsplit=1)[0]
    text = " ".join(text.split()).strip(" ,;/")
    text = re.sub(r"(?:,|\s)\s*or$", "", text).strip(" ,;/")
    return text.rstrip(".:!")


def question_choices(tok: Tokenizer, question: str) -> list[list[int]] | None:
    """The token sequences (end token included, as `prompt.answer_ids` writes an answer) of the answers
    `question` lists, or None."""
    answers = stated_answers(question)
    return [answer_ids(tok, a) for a in answers] if answers else None
