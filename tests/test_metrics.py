"""Evaluation metrics on hand-made examples with known answers."""
import pytest

from model.metrics import (ClassNames, cider_d, event_classes, mcq_choice, micro_prf, normalize, says_quiet, true_false,
                           wilson_interval)

NAMES = ClassNames.from_table({"dog": ["dog barking", "bark", "barking"], "door": ["door slam", "knock"],
                               "speech": ["talking", "someone speaking", "voice"], "car": ["engine", "vehicle"]})


@pytest.mark.parametrize("answer,expected", [
    ("B", "B"), ("b) a dog barking", "B"), ("(C) door", "C"), ("A.", "A"),
    ("a dog barking", "B"), ("it is the door", "C"), ("none of these", None), ("E", None),
])
def test_mcq_choice(answer, expected):
    assert mcq_choice(answer, ["a car", "a dog barking", "the door", "talking"]) == expected


@pytest.mark.parametrize("answer,expected", [("Yes.", True), ("no, it is not", False), ("True", True),
                                             ("false", False), ("maybe", None), ("I'd say yes", True)])
def test_true_false(answer, expected):
    assert true_false(answer) == expected


def test_class_mentions_use_synonyms_and_whole_words():
    assert NAMES.named("A dog barking, then someone speaking near a door slam.") == {"dog", "speech", "door"}
    assert NAMES.named("dogs? no: doghouse, carpet") == set()  # no partial words
    assert NAMES.named("an engine idles") == {"car"}
    assert says_quiet("It is quiet.", NAMES) and not says_quiet("quiet, then a dog barks", NAMES)
    assert normalize("  Hello,   World! ") == "hello world"


def test_shared_synonyms_are_decided_by_rule_not_by_set_order():
    table = {"speech": ["talking"], "male speech": ["speech", "man talking"], "trumpet": ["horn", "brass"],
             "car horn": ["horn", "honk"], "horn": ["french horn"], "cello": ["strings"], "violin": ["strings"]}
    names = ClassNames.from_table(table)
    assert names == ClassNames.from_table(dict(reversed(table.items())))  # the same whatever the order
    assert names.named("speech") == {"speech"}  # a class's own name wins over another class's synonym
    assert names.named("a horn") == {"horn"}
    assert names.named("strings, then a honk") == {"car horn"}  # "strings" could be either: it names neither
    assert names.named("a man talking") == {"male speech"}


def test_micro_precision_recall():
    prf = micro_prf([{"dog", "car"}, set(), {"speech"}], [{"dog"}, {"door"}, {"speech"}])
    assert prf.precision == pytest.approx(2 / 3) and prf.recall == pytest.approx(2 / 3)
    assert prf.f1 == pytest.approx(2 / 3)
    assert micro_prf([set()], [set()]).f1 == 0.0


def test_cider_d_ranks_a_matching_caption_higher():
    refs = [["a dog barks twice", "a dog is barking"], ["rain falls on a roof", "heavy rain"],
            ["a car passes by", "a vehicle drives past"]]
    good = cider_d(["a dog barks", "rain falls", "a car passes"], refs)
    if isinstance(good, str):
        pytest.fail(good)
    bad = cider_d(["rain falls", "a car passes", "a dog barks"], refs)
    assert good > bad


def test_wilson_interval_matches_the_textbook_values():
    lo, hi = wilson_interval(5, 10)  # Wilson (1927); e.g. Newcombe (1998), table I: 0.2366-0.7634
    assert lo == pytest.approx(0.2366, abs=1e-4) and hi == pytest.approx(0.7634, abs=1e-4)
    lo, hi = wilson_interval(0, 10)  # no successes: still an interval, not the point 0
    assert lo == 0.0 and hi == pytest.approx(0.2775, abs=1e-4)
    assert wilson_interval(10, 10)[0] == pytest.approx(1 - 0.2775, abs=1e-4)
    narrow, wide = wilson_interval(380, 1000), wilson_interval(20, 53)
    assert narrow[1] - narrow[0] < wide[1] - wide[0]  # more items, a tighter interval
    with pytest.raises(ValueError, match="0 <= k <= n"):
        wilson_interval(3, 0)


def test_event_classes_leave_out_the_background_clause():
    names = ClassNames.from_table({"rain": [], "dog": ["barking"], "car horn": [], "waves": []})
    assert event_classes("rain in the background; dog at 1.0-2.0 s, car horn at 3.0-3.5 s", names) == {"dog", "car horn"}
    assert event_classes("only waves in the background, otherwise quiet", names) == set()
    assert event_classes("Nothing, only rain in the background", names) == set()
    assert event_classes("barking, car horn", names) == {"dog", "car horn"}  # the feed's answer has no clause
    assert event_classes("rain", names) == {"rain"}
