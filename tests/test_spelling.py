"""Slips of typing put right before a question's form is read (model/spelling.py)."""
import random
import re

import pytest

from model.answer_forms import asked_form, question_form
from model.data.wording import load_stems, typo
from model.spelling import _one_slip, known_words, respelled
from model.tokenizer import Tokenizer


def _form(question):
    f = asked_form(question)
    return None if f is None else (f.kind, f.answers, f.banned, f.unwanted)


def test_every_slip_the_generator_makes_is_one_slip_away_from_the_word_it_was():
    rng = random.Random(4)
    words = sorted({w for w in known_words() if len(w) >= 4})
    for word in rng.sample(words, 300):
        slipped = typo(word, rng)
        if slipped != word:
            assert word in _one_slip(slipped), (word, slipped)


def test_the_words_training_questions_are_made_of_are_never_changed():
    for families in load_stems().values():
        for family in families:
            if not family.held_out:
                for stem in family.stems:
                    asked = re.sub(r"\{\w+\}", "the dog", stem)
                    assert respelled(asked) == asked


def test_a_slip_in_a_generated_question_is_read_as_the_question_without_it():
    """Over trained wording, one slip of the generator's kind changes the form read from a third of the questions;
    put right, nearly all are read as they were before the slip."""
    from test_wording import ALL_TRAINED

    rng = random.Random(0)
    pairs = [(qa.question, typo(qa.question, rng)) for _, qa in ALL_TRAINED]
    pairs = [(q, t) for q, t in pairs if t != q]
    as_typed = sum(_form(t) == _form(q) for q, t in pairs) / len(pairs)
    put_right = sum(_form(respelled(t)) == _form(q) for q, t in pairs) / len(pairs)
    assert put_right >= 0.95 and put_right > as_typed + 0.2, (as_typed, put_right)


@pytest.mark.parametrize("typed,meant", [
    ("Whne did the alarm go off?", "When did the alarm go off?"),
    ("how mnay times did the dog bark", "how many times did the dog bark"),
    ("is it raning", "is it raining"), ("is tehre a helicoptr?!", "is there a helicopter?!"),
    ("what's going on", "what's going on"), ("my kettle's whistling", "my kettle's whistling"),
    ("can you tell me the wifi password", "can you tell me the wifi password"),  # a word the rules look for
    ("what's the dog's name", "what's the dog's name"), ("the hrose's hooves", "the horse's hooves"),  # possessives
    ("is that my neighbour?", "is that my neighbour?"),  # a word the rules spell "neighbou?rs?"
    ("what's the main sound", "what's the main sound"),  # a known word's -s form, or one without it ("mains"),
    ("any tunes playing?", "any tunes playing?")])  # is no slip
def test_case_and_punctuation_are_kept_and_only_slips_change(typed, meant):
    assert respelled(typed) == meant


def test_a_word_no_slip_could_make_known_is_not_searched(monkeypatch):
    """A word two letters longer than the longest known word is one slip from none: its slips (26 additions per
    letter, for a 2,000-letter word 52,000 strings of its length) are never made."""
    import model.spelling as spelling

    def no_search(word):
        raise AssertionError(f"searched {len(word)} letters")

    monkeypatch.setattr(spelling, "_one_slip", no_search)
    long_word = "x" * (spelling._longest() + 2)
    assert spelling.respelled("is there a " + long_word) == "is there a " + long_word


def test_the_form_of_a_mistyped_question_is_its_form_and_the_prompt_keeps_its_words():
    tok = Tokenizer.load("assets/sam-small/tokenizer.json")
    typed, meant = "how mnay times did the dog bark", "how many times did the dog bark"
    assert asked_form(typed).kind != "count"  # as typed, no rule reads it as a count
    assert question_form(tok, typed) == question_form(tok, meant)
