"""Watches without the engine: phrases and commands, the hysteresis, the presets, the batched yes/no
score against its one-by-one reference, and the benchmark's matching of alerts to events."""
import random

import numpy as np
import pytest
import torch

from live.engine import MAX_QUESTION_CHARS
from live.watch_bench import above_empty, alerts, match, separation
from live.watch_streams import Sound, mix_watch_stream
from live.watches import (MAX_PHRASE_CHARS, MAX_WATCHES, PRESETS, Watch, WatchConfig, WatchList, clean_phrase,
                          parse_command, unique_phrases)

CONFIG = WatchConfig(on=0.7, off=0.4, min_gap=10.0)


def fire(confidences, config=CONFIG, hop=1.28):
    """Stream times at which one watch fires over a run of hop confidences."""
    w = Watch("x", "Do you hear x?")
    return [round((i + 1) * hop, 2) for i, c in enumerate(confidences) if w.update(c, (i + 1) * hop, config)]


def test_one_event_gives_one_alert_and_the_next_event_another():
    # a dip that stays above `off` is the same event; falling to `off` re-arms after min_gap
    assert fire([0.1, 0.8, 0.9, 0.5, 0.8, 0.9, 0.1] + [0.1] * 8 + [0.8, 0.9]) == [2.56, 20.48]


def test_a_rise_within_the_minimum_gap_is_the_same_event():
    # fell to `off` and rose again 3.8 s later: no second alert, and that rise holds it until it falls again
    assert fire([0.8, 0.1, 0.1, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.1, 0.8]) == [1.28, 16.64]
    assert fire([0.8, 0.1, 0.1, 0.8], WatchConfig(on=0.7, off=0.4, min_gap=0.0)) == [1.28, 5.12]


def test_thresholds_are_checked():
    with pytest.raises(ValueError, match="off <= on"):
        WatchConfig(on=0.5, off=0.6)
    with pytest.raises(ValueError, match="0 <= off"):
        WatchConfig(on=1.5)
    with pytest.raises(ValueError, match=">= 0 s"):
        WatchConfig(min_gap=-1)


def test_phrases_are_cleaned_and_bad_ones_refused_with_a_message():
    assert clean_phrase("  the   dog barking?! ") == "the dog barking"
    with pytest.raises(ValueError, match="empty"):
        clean_phrase(" ?? ")
    assert MAX_PHRASE_CHARS == MAX_QUESTION_CHARS
    clean_phrase("x" * MAX_PHRASE_CHARS)
    with pytest.raises(ValueError, match="2,001 characters"):
        clean_phrase("x" * (MAX_PHRASE_CHARS + 1))


def test_commands_and_the_natural_way_of_asking():
    assert parse_command("/watch a dog barking") == ("watch", "a dog barking")
    assert parse_command("/UNWATCH  a dog  barking ") == ("unwatch", "a dog barking")
    assert parse_command("tell me when the kettle whistles") is None  # only the app reads plain words
    assert parse_command("Tell me when the kettle whistles.", natural=True) == ("watch", "the kettle whistles")
    assert parse_command("let me know if someone is at the door", natural=True) == ("watch", "someone is at the door")
    assert parse_command("when did the dog bark?", natural=True) is None
    with pytest.raises(ValueError, match="empty"):
        parse_command("/watch")
    with pytest.raises(ValueError, match="unknown command /wach"):
        parse_command("/wach a dog")


def test_the_list_refuses_repeats_unknown_phrases_and_more_than_the_cap():
    watches = WatchList(CONFIG)
    assert watches.add("A dog barking").question == "Did you just hear A dog barking?"
    with pytest.raises(ValueError, match="already watching"):
        watches.add("a  dog barking")
    with pytest.raises(ValueError, match="not watching for 'a cat'.*'A dog barking'"):
        watches.remove("a cat")
    for i in range(MAX_WATCHES - 1):
        watches.add(f"sound {i}")
    with pytest.raises(ValueError, match=f"{MAX_WATCHES} watches already"):
        watches.add("one more")
    assert watches.remove("a dog barking").phrase == "A dog barking" and len(watches.phrases) == MAX_WATCHES - 1
    with pytest.raises(ValueError, match="more than the 16"):
        unique_phrases([f"s{i}" for i in range(MAX_WATCHES + 1)])
    assert unique_phrases(["a Dog", "a dog ", "cat"]) == ["a Dog", "cat"]


def test_a_watch_removed_while_scored_does_not_fire():
    watches = WatchList(CONFIG)
    a, b = watches.add("a"), watches.add("b")
    taken = list(watches.watches)
    watches.remove("a")
    assert watches.update(taken, [0.9, 0.9], 1.28) == [b] and not a.active


def test_presets_name_the_models_classes():
    from model.data.labels import load_classes

    classes = load_classes()
    for preset in PRESETS["safety"]:
        assert preset.classes and all(c in classes for c in preset.classes), preset
    assert len(PRESETS["safety"]) <= MAX_WATCHES


# --- the batched score holds to its reference -------------------------------------------------------

def test_batched_yes_confidence_equals_one_question_at_a_time():
    from model.config import SAMConfig
    from model.sam import SAM
    from model.tokenizer import Tokenizer
    from model.watch import confidence, yes_confidence, yes_confidence_one_by_one

    tok = Tokenizer.train(["do you hear a dog barking? yes", "is there rain? no", "a door slams"] * 30,
                          vocab_size=290)
    model = SAM(SAMConfig.from_name("sam-tiny"), tok).eval()
    state = model.listen(torch.randn(2 * 20480) * 0.1, model.new_state())
    questions = ["Do you hear a dog barking?", "Do you hear rain?", "Do you hear a door slamming shut twice?"]
    batched = yes_confidence(model.lm, tok, state.lm, questions)
    reference = yes_confidence_one_by_one(model.lm, tok, state.lm, questions)
    assert batched.shape == (3,) and torch.allclose(batched, reference, atol=1e-5)
    assert not torch.allclose(batched, batched[:1].expand(3), atol=1e-4)  # the questions are told apart
    assert confidence(model, state, questions) == pytest.approx(batched.tolist())
    before = state.lm.ssm.clone()
    yes_confidence(model.lm, tok, state.lm, questions)
    assert torch.equal(state.lm.ssm, before)  # the listening state is never written


# --- the benchmark's arithmetic ---------------------------------------------------------------------

def test_alerts_are_matched_to_events_with_their_delay_and_the_rest_are_false():
    times = np.arange(1, 41) * 1.0
    conf = np.full(40, 0.1)
    conf[11:14] = 0.9  # 12-14 s: the event at 10.5 s, alerted at 12 s
    conf[30] = 0.9  # 31 s: no event there
    events = [Sound(10.5, 13.0, "dog", True), Sound(20.0, 22.0, "dog", True)]
    fired = alerts(times, conf, CONFIG)
    assert [t for t, _ in fired] == [12.0, 31.0]
    delays, false = match(fired, events)
    assert delays == [pytest.approx(1.5), None] and false == 1
    assert separation(times, conf, events) > 0.5


def test_only_events_that_rise_above_the_empty_streams_peak_count_as_within_reach():
    times = np.arange(1, 41) * 1.0
    conf = np.full(40, 0.1)
    conf[11] = 0.7  # the first event peaks at 0.7, the second at 0.4
    conf[21] = 0.4
    events = [Sound(10.5, 13.0, "dog", True), Sound(20.0, 22.0, "dog", True)]
    assert above_empty(times, conf, events, np.array([0.2, 0.5, 0.3])) == 1
    assert above_empty(times, conf, events, np.array([0.2, 0.3])) == 2
    assert above_empty(times, conf, events, np.array([0.7])) == 0  # level with the peak is not above it


def test_a_watch_stream_places_targets_apart_and_keeps_excluded_classes_out():
    from model.data.mixer import ClipBank, ClipRef

    labels = ["dog", "siren", "music", "speech", "rain", "cat"]
    clips = [ClipRef(f"{label}{i}", label, "x", "sound", 2.0) for label in labels for i in range(2)]
    tone = np.sin(np.arange(32000) / 5).astype(np.float32) * 0.3
    bank = ClipBank(clips, lambda clip_id: tone)
    stream = mix_watch_stream(bank, 4.0, random.Random(0), ["dog", "siren"], exclude={"dog", "siren", "cat"})
    assert stream.audio.size == 4 * 60 * 16000 and np.isfinite(stream.audio).all()
    targets = [s for s in stream.sounds if s.target]
    assert len(targets) >= 5 and {s.label for s in targets} == {"dog", "siren"}
    assert all(b.start_s - a.start_s >= 12.0 for a, b in zip(targets, targets[1:]))
    others = [s for s in stream.sounds if not s.target]
    assert others and not {s.label for s in others} & {"dog", "siren", "cat"}
    assert all(o.end_s + 0.99 <= t.start_s or o.start_s >= t.end_s + 0.99 for o in others for t in targets)
    with pytest.raises(ValueError, match="no recordings of owl"):
        mix_watch_stream(bank, 1.0, random.Random(0), ["owl"], exclude=set())
