"""What happened over minutes, recapped from the live feed's descriptions: which questions ask it and over how
long (read against the training wording that asks it), and what the descriptions of a span say."""
import math
import random
import re

import pytest

from model.data.questions import RECENT_WINDOWS_S, window_phrase
from model.data.tasks import NOTHING_RECENT, nothing_recent
from model.recap import KEPT_S, MIN_SPAN_S, WHOLE, Timeline, count_asked, named_items, silence_asked, span_asked
from model.tags import RECENT_S


def stems(path):
    """(kind, family, stem) of a stems file, as model/data/wording.py reads its sections and families."""
    kind = family = None
    for line in open(path):
        line = line.strip()
        if line.startswith("== "):
            kind = line[3:].strip()
        elif line.startswith("-- "):
            family = line[3:].strip()
        elif line and not line.startswith("#"):
            yield kind, family, line


TRAINED = [(k, f, s) for path in ("model/data/stems.txt", "model/data/stems_people.txt")
           for k, f, s in stems(path) if "held-out" not in f]


def filled(stem: str, seconds: float, rng: random.Random) -> str:
    return re.sub(r"\{[a-z_0-9]+\}", "dog", stem.replace("{window}", window_phrase(seconds, rng)))


@pytest.mark.parametrize("seconds", [w for w in RECENT_WINDOWS_S if w >= MIN_SPAN_S])
def test_every_way_the_generator_says_a_window_is_read_as_its_seconds(seconds):
    rng = random.Random(seconds)
    for _ in range(40):  # the generator's leads and number forms, drawn
        question = f"what happened {window_phrase(seconds, rng)}"
        assert span_asked(question) == seconds, question


def test_the_training_wordings_recaps_are_read_and_no_other_kind_is():
    rng = random.Random(0)
    window = [(f, s) for k, f, s in TRAINED if k == "recent" and "{window}" in s]
    away = [(f, s) for k, f, s in TRAINED if k == "recent" and ("away" in f or "-all-" in f)]
    read = [span_asked(filled(s, 60, rng)) == 60 for _, s in window]
    assert len(window) > 50 and sum(read) / len(read) >= 0.95
    assert sum(span_asked(s) == WHOLE for _, s in away) / len(away) >= 0.95
    others = [filled(s, 60, rng) for k, f, s in TRAINED if k != "recent"]
    assert len(others) > 2000 and [q for q in others if span_asked(q) is not None] == []


@pytest.mark.parametrize("question", [
    "did the dog bark in the last five minutes?", "how many times did the door slam in the past 10 minutes",
    "when did the music start in the last minute", "what was the loudest sound in the last minute?",
    "what did you just hear", "what happened in the last ten seconds?", "what's going on right now?",
    "has it been noisy all along?", "how many sounds did you hear in total?"])
def test_questions_that_ask_something_else_of_a_span_are_left_to_the_model(question):
    assert span_asked(question) is None


@pytest.mark.parametrize("question,seconds", [
    ("sum up the last two minutes", 120), ("what happened in the last half hour?", 1800),
    ("anything happen in the past quarter of an hour", 900), ("what happened in the last half minute", 30),
    ("list the sounds from the last 90 seconds", 90),
    ("what did I miss while I was away?", WHOLE), ("catch me up", WHOLE), ("what have you heard so far", WHOLE),
    ("tell me everything you've heard", WHOLE), ("what did you hear in total", WHOLE),
    ("summarize this session", WHOLE)])
def test_spans_said_in_other_ways(question, seconds):
    assert span_asked(question) == seconds


def test_a_description_names_its_sounds_and_its_background_apart():
    said = named_items("Dog, rain in the background")
    assert said.names == ("Dog",) and said.background == "rain"
    assert named_items("nothing, only wind in the background").names == ()
    assert named_items("nothing, only wind in the background").background == "wind"
    assert named_items("quiet").names == named_items(NOTHING_RECENT).names == ()
    assert named_items("bell, Bell, horn").names == ("bell", "horn")


def test_a_recap_names_what_the_spans_descriptions_said_once_in_the_order_first_said():
    t = Timeline(min_mentions=1)
    feed = [(2, "quiet"), (4, "dog"), (6, "dog, bell"), (50, "rain in the background"), (52, "horn, dog"),
            (54, "quiet"), (100, "car horn")]
    for at, text in feed:
        t.add(at, text)
    assert t.recap(100, WHOLE) == "dog, bell, horn, car horn"
    # descriptions made within the span, less the first five seconds (each hears the ten before it)
    for now, span in ((100, 60), (60, 30), (100, 45), (56, 50)):
        start = now - span + 5
        want = []
        for at, text in feed:
            if start <= at <= now:
                want += [n for n in named_items(text).names if n not in want]
        assert t.recap(now, span) == (", ".join(want) or nothing_recent("rain" if start <= 50 <= now else None))


def test_a_sound_said_fewer_times_than_asked_is_left_out():
    t = Timeline(min_mentions=2)
    for at, text in [(2, "dog"), (4, "dog, bell"), (6, "cat"), (8, "cat, dog")]:
        t.add(at, text)
    assert t.recap(10, WHOLE) == "dog, cat"
    assert Timeline(min_mentions=3).recap(10, WHOLE) == NOTHING_RECENT  # nothing added: nothing said


def test_the_timeline_keeps_only_the_last_hour_and_says_when_it_has_nothing_for_a_span():
    t = Timeline()
    assert not t.covers(10, WHOLE)
    for k in range(4000):  # more than KEPT_S at one description every 2 s
        t.add(2.0 * k, "dog" if k < 10 else "quiet")
    assert len(t) <= KEPT_S / 2 + 1
    assert t.recap(8000, WHOLE) == NOTHING_RECENT  # the dog of the first 20 s is gone
    assert t.covers(7998, 60) and not t.covers(9000, 60)
    t.add(1.0, "late")  # out of order: dropped
    assert t.recap(8000, WHOLE) == NOTHING_RECENT
    assert math.isinf(WHOLE)


def test_the_training_wordings_counts_of_a_sound_are_read_as_counts_of_it_over_the_session():
    counts = [s for k, f, s in TRAINED if k == "count" and "total" not in f]
    read = [count_asked(re.sub(r"\{[a-z_0-9]+\}", "dog", s.replace("{n}", "3"))) for s in counts]
    assert len(counts) > 50 and sum(r == (("dog",), WHOLE) for r in read) / len(read) >= 0.95


@pytest.mark.parametrize("question,asked", [
    ("how many times did the dog bark?", (("dog",), WHOLE)),
    ("how many gunshots were there in the last ten minutes", (("gunshot",), 600)),
    ("how many different sounds have you heard?", ((), WHOLE)), ("how many dogs are barking right now?", None),
    ("how many times did the door slam in the last 10 seconds", None), ("what happened in the last minute?", None),
    ("true or false: the dog barked 3 times", None), ("is there a dog?", None)])
def test_counts_the_feed_can_tell(question, asked):
    assert count_asked(question) == asked


def test_a_count_is_the_runs_of_descriptions_naming_the_sound_and_different_sounds_those_a_recap_names():
    t = Timeline(min_mentions=2)
    feed = [(2, "dog"), (4, "dog, bell"), (6, "quiet"), (8, "dog"), (30, "dog"), (32, "Dog"), (34, "bell"),
            (60, "cat"), (62, "quiet")]
    for at, text in feed:
        t.add(at, text)
    assert t.count(62, WHOLE, ("dog",)) == 2  # 2-8 s is one run (gaps of at most ten seconds), 30-32 s another
    assert t.count(62, WHOLE, ("dog", "cat")) == 3
    assert t.count(62, WHOLE, ("horse",)) == 0
    assert t.count(62, 40, ("dog",)) == 1  # the span from 27 s on
    assert t.count(62, WHOLE, ()) == len(t.recap(62, WHOLE).split(", ")) == 2  # dog and bell, twice each


# ---------------------------------------------------------------- whether it is quiet, or anything sounded

def test_the_training_wordings_quiet_and_sound_questions_are_read_and_no_group_or_sound_of_its_own():
    from model.answer_forms import asked_form

    rng = random.Random(0)
    asked, read = 0, 0
    for kind, family, stem in TRAINED:
        question = filled(stem, 60, rng)
        target = re.search(r"target=(\w+)", family)
        got = silence_asked(question)
        if kind == "yesno" and target and target.group(1) in ("quiet", "sound"):
            form = asked_form(question)
            if form is not None and form.kind == "yesno":  # the rules read whether
                asked += 1
                read += got == (target.group(1) == "quiet", RECENT_S if family.endswith(" now") else WHOLE)
        elif got is not None:  # another kind's question read: only a yes/no the rules read as one, of no group
            assert asked_form(question).kind == "yesno" and not target and "{x" not in stem, question
    assert asked > 50 and read / asked >= 0.9


@pytest.mark.parametrize("question,asked", [
    ("is it quiet in here?", (True, RECENT_S)), ("is it completely silent right now?", (True, RECENT_S)),
    ("has it been quiet for long?", (True, RECENT_S)), ("has it been silent the whole time?", (True, WHOLE)),
    ("did anything make a sound while I was out?", (False, WHOLE)), ("is it noisy?", (False, RECENT_S)),
    ("did you hear anything in the last five minutes?", (False, 300.0)), ("did you pick up anyting", (False, WHOLE)),
    ("is there a dog?", None), ("did someone speak?", None), ("how long has it been quiet?", None),
    ("which is quieter, the dog or the rain?", None), ("is the music still on?", None), ("what did you hear?", None),
    ("did anyone say something?", None), ("is anything coming?", None), ("did a plane or anything fly over?", None)])
def test_whether_it_is_quiet_said_in_peoples_words(question, asked):
    assert silence_asked(question) == asked


def test_the_feed_is_silent_where_its_descriptions_name_no_sound_and_a_background_counts_only_when_asked():
    feed = Timeline()
    assert feed.silent(5.0, RECENT_S) is None and feed.silent(5.0, WHOLE) is None  # nothing said yet
    for at, text in [(2.0, "quiet"), (4.0, "dog"), (6.0, "nothing, only rain in the background"),
                     (8.0, "nothing, only rain in the background")]:
        feed.add(at, text)
    assert feed.silent(9.0, RECENT_S) is True  # the last description: rain behind, no sound
    assert feed.silent(9.0, RECENT_S, background=True) is False  # the rain sounds
    assert feed.silent(9.0, WHOLE) is False  # the dog, earlier
    assert feed.silent(8.0 + RECENT_S, RECENT_S) is None  # the last description is too old to tell of now
    quiet = Timeline()
    for at in (2.0, 4.0, 6.0):
        quiet.add(at, "quiet")
    assert quiet.silent(7.0, WHOLE, background=True) is True and quiet.silent(7.0, RECENT_S) is True
