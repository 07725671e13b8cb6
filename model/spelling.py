"""Slips of typing, put right before a question's form and sounds are read: "whne did the alarm go off?" is read as
"when did the alarm go off?".

The words known are those the training data's questions are made of (the stems of the families training draws
from, their answer-form instructions, fillers and the words their slots are filled with, every class's everyday
names) and the words the form reader itself looks for (model/answer_forms.py). A word of three letters or more
that is none of them is put right when one slip makes it a known word of four letters or more: two neighbouring
letters swapped, one dropped, one added, or a neighbouring key's letter hit instead, as people mistype and as the
training data's typing does (model/data/wording.py, `typo`). Where several known words are one slip away, the one
the training questions use most is taken, and none where two are used equally often. A word that is known is never
changed, nor is anything but letters; a word with an ending after an apostrophe ("dog's") is put right
in its stem alone. The language model still reads the question as typed: it was trained on
typing like it; only the rules that read the question's form, and the sounds it names, read the words put right.
"""
from __future__ import annotations

import functools
import random
import re
import string
from collections import Counter

from .data.wording import KEY_NEIGHBOURS

_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")
MIN_TYPED = 3  # a slip in a word of four letters can leave three
MIN_KNOWN = 4  # `typo` slips only in words of four letters or more


@functools.lru_cache(maxsize=1)
def known_words() -> Counter:
    """How often each known word (lower case) appears in the text training questions are made of; the words the
    form reader looks for count once."""
    from . import answer_forms
    from .data.audioset import default_map
    from .data.labels import load_classes
    from .data.questions import CAT_NOUNS, NOT_QUIET, QUIET_ALL, RECENT_WINDOWS_S, REFUSAL, number_word, window_phrase
    from .data.wording import CONTRACTIONS, FILLERS, OPTION_HEADERS, SUFFIXES, load_phrases, load_stems

    words: Counter = Counter()

    def add(text: str) -> None:
        words.update(w.lower() for w in _WORD.findall(text))

    for families in load_stems().values():
        for family in families:
            if not family.held_out:
                for stem in family.stems:
                    add(re.sub(r"\{\w+\}", " ", stem))
    for phrases in load_phrases().values():
        for noun in phrases.nouns:
            add(noun)
        for action in phrases.actions:
            add(" ".join((action.subj, action.verb, action.verbing, action.verbed)))
    for info in load_classes().values():
        add(" ".join((info.name, *info.synonyms)))
    for row in default_map():
        add(" ".join((row.name or "", *row.synonyms)))
    add(" ".join(FILLERS + SUFFIXES + OPTION_HEADERS + tuple(w for pair in CONTRACTIONS for w in pair)))
    add(" ".join(n for nouns in CAT_NOUNS.values() for n in nouns))  # {cat}: "what animal is that?"
    add(" ".join(window_phrase(s, random.Random(i)) for i in range(12) for s in RECENT_WINDOWS_S))  # {window}
    add(" ".join(number_word(n) for n in range(0, 101)))  # {n}
    add(" ".join((REFUSAL, NOT_QUIET, QUIET_ALL)))
    for pattern in _patterns(answer_forms):
        plain = re.sub(r"\\[A-Za-z]", " ", pattern)  # "\bpassword\b" holds "password", not "bpassword"
        spelt = {w for token in re.findall(r"[a-z?]+", plain) for w in _spellings(token.strip("?"))}
        words.update({w: 1 for w in spelt if len(w) >= 3 and w not in words})
    return words


def _spellings(token: str) -> set[str]:
    """The words a pattern's letters spell, each letter before a "?" kept and left out: "neighbou?rs?" spells
    neighbour, neighbours, neighbor and neighbors."""
    at = token.find("?")
    if at < 1:
        return {token} if token else set()
    head, tail = token[: at - 1], _spellings(token[at + 1:]) or {""}
    return {head + letter + rest for letter in (token[at - 1], "") for rest in tail}


@functools.lru_cache(maxsize=1)
def _longest() -> int:
    return max(map(len, known_words()))


def _patterns(module) -> list[str]:
    """The source of every regular expression a module keeps at its top level."""
    return [v.pattern for v in vars(module).values() if isinstance(v, re.Pattern)]


def _one_slip(word: str) -> set[str]:
    """Every string one slip away from `word`, undone: two neighbouring letters swapped back, a dropped letter
    put back, a doubled or stray one taken out, a neighbouring key's letter changed back."""
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    swaps = {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
    drops = {a + b[1:] for a, b in splits if b}
    changes = {a + c + b[1:] for a, b in splits if b for c in KEY_NEIGHBOURS.get(b[0], "")}
    adds = {a + c + b for a, b in splits for c in string.ascii_lowercase}
    return (swaps | drops | changes | adds) - {word}


@functools.lru_cache(maxsize=4096)
def respelled_word(word: str) -> str:
    """`word` (lower case) put right, or as it is."""
    known = known_words()
    if not MIN_TYPED <= len(word) <= _longest() + 1 or word in known:  # one slip changes a length by one at most
        return word
    if word.endswith("s") and word[:-1] in known or word + "s" in known:  # "tunes", "main": a known word's -s form
        return word
    stem, mark, tail = word.partition("'")
    if mark and stem and tail in ("s", "re", "ve", "ll", "d", "m", "t"):  # "dog's", "neighbours've": the stem alone
        return respelled_word(stem) + mark + tail
    near = sorted(((known[w], w) for w in _one_slip(word) if len(w) >= MIN_KNOWN and w in known), reverse=True)
    if not near or len(near) > 1 and near[0][0] == near[1][0]:
        return word
    return near[0][1]


def respelled(text: str) -> str:
    """`text` with each slip of typing put right (module docstring); the rest, case and punctuation included, as
    it is."""
    def fix(m: re.Match) -> str:
        word = m.group(0)
        right = respelled_word(word.lower())
        if right == word.lower():
            return word
        return right.capitalize() if word[:1].isupper() else right

    return _WORD.sub(fix, text)
