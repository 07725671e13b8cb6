"""A time in a long stream's "when" answer, read from the tags."""
import pytest
import torch

from model.audio import TOKENS_PER_SECOND
from model.tags import Tags
from model.timing import timed
from model.yamnet import NUM_CLASSES
from test_tags import row


def stream(seconds: float, sounds: dict[str, tuple[float, float]]) -> Tags:
    """Tags of a stream of `seconds` where each AudioSet row of `sounds` scored 0.9 from its start to its end (s)."""
    columns = round(seconds * TOKENS_PER_SECOND)
    s = torch.full((1, columns, NUM_CLASSES), 0.001)
    for display, (a, b) in sounds.items():
        s[0, round(a * TOKENS_PER_SECOND):round(b * TOKENS_PER_SECOND), row(display)] = 0.9
    return Tags.empty(1).push(s)


def test_a_time_in_a_long_stream_is_read_from_when_the_tags_heard_the_sound():
    tags = stream(600, {"Bark": (100, 103), "Siren": (420, 440)})  # ten minutes
    # the dog from 100 s, 500 s before the end; the siren 180 s before it
    assert timed("when did the dog bark?", "about 70 seconds ago", tags) == "about 8 minutes ago"
    assert timed("When does the siren occur in the clip?", "about 70 seconds ago", tags) == "about 3 minutes ago"
    assert timed("when did the siren go off", "at 3.2 s", tags) == "about 3 minutes ago"  # a stream's form


def test_the_models_answer_stands_where_the_tags_cannot_say():
    tags = stream(600, {"Bark": (100, 103)})
    assert timed("when did the cat meow?", "about 70 seconds ago", tags) == "about 70 seconds ago"  # not heard
    assert timed("when was that?", "about 70 seconds ago", tags) == "about 70 seconds ago"  # names no sound
    assert timed("was the dog before the cat, and when", "about 70 seconds ago", tags) == "about 70 seconds ago"
    assert timed("what barked?", "dog", tags) == "dog"  # not a time
    assert timed("when did the dog bark?", "about 70 seconds ago", None) == "about 70 seconds ago"


def test_a_short_recording_keeps_the_models_time():
    tags = stream(20, {"Bark": (2, 3)})
    assert timed("when did the dog bark?", "at 2.6 s", tags) == "at 2.6 s"


# ---------------------------------------------------------------- how long a sound has been going on

def stream_of(seconds: float, runs: dict[str, list[tuple[float, float]]]) -> Tags:
    """`stream`, with each row's sound in several runs."""
    columns = round(seconds * TOKENS_PER_SECOND)
    s = torch.full((1, columns, NUM_CLASSES), 0.001)
    for display, spans in runs.items():
        for a, b in spans:
            s[0, round(a * TOKENS_PER_SECOND):round(b * TOKENS_PER_SECOND), row(display)] = 0.9
    return Tags.empty(1).push(s)


def test_a_sound_going_on_is_timed_from_its_start_through_short_dips():
    from model.tags import GAP_S, PATCH_S

    rain = [(10, 14), (14 + GAP_S - 1, 20), (20 + GAP_S - 1, 40)]  # faint rain: dips shorter than GAP_S
    tags = stream_of(40, {"Rain": rain})
    r = row("Rain")
    assert tags.going_on_for((r,)) == pytest.approx(40 - (10 + 1 / TOKENS_PER_SECOND - PATCH_S / 2), abs=0.2)
    again = stream_of(60, {"Rain": [(10, 20), (20 + GAP_S + 2, 60)]})  # a longer silence: a new sound
    assert again.going_on_for((r,)) == pytest.approx(60 - (20 + GAP_S + 2 + 1 / TOKENS_PER_SECOND - PATCH_S / 2), abs=0.2)
    ended = stream_of(60, {"Rain": [(10, 60 - GAP_S - 1)]})
    assert ended.going_on_for((r,)) is None
    # pushed all at once or a hop at a time, the tags agree
    s = torch.full((1, 200, NUM_CLASSES), 0.001)
    s[0, 20:60, r] = s[0, 70:200, r] = 0.9
    whole, hops = Tags.empty(1).push(s), Tags.empty(1)
    for i in range(0, 200, 8):
        hops = hops.push(s[:, i:i + 8])
    assert torch.equal(whole.since, hops.since) and torch.equal(whole.latest, hops.latest)


def test_how_long_a_sound_has_been_going_on_is_read_from_the_tags():
    from model.timing import NOT_ON, lasted

    tags = stream_of(120, {"Rain": [(40, 120)], "Bark": [(10, 12)]})
    assert lasted("how long has it been raining?", tags) == "about 80 seconds"
    assert lasted("how long's that been going on", tags) == "about 80 seconds"  # points at what goes on
    assert lasted("how long has the dog been barking?", tags) == NOT_ON  # it stopped long ago
    assert lasted("how long has it been quiet?", tags) is None  # the quiet question's own answer
    assert lasted("how long ago did the dog bark?", tags) is None  # when, not how long
    assert lasted("how long has my kettle been on?", tags) is None  # a sound the tags have no row for
    assert lasted("how long has it been raining?", None) is None
