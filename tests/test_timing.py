"""A time in a long stream's "when" answer, read from the tags."""
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
