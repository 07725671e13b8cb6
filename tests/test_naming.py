"""Naming one sound with the language model and what the branch tagged: when an answer is named again, the
search against its slow reference, the added classes' names, and how the evaluation scores them."""
import random
from pathlib import Path

import pytest
import torch

from model.data.audioset import default_map
from model.data.questions import REFUSAL
from model.evaluation.answering import Item
from model.evaluation.scoring import corpus_class_names, correct
from model.answer_forms import question_form
from model.generate import Answer, ItemBias, answer_logits, choice_scores, generate, generate_batch
from model.naming import (ITEM_WEIGHT, NAME_WEIGHT, added_name, asked_categories, best_fused, candidates, choose_name,
                          feed_bias, heard, named_scores, renamed, slots, vocabulary, wants_relabelling, wants_renaming)
from model.prompt import DESCRIBE_PROMPT, LIVE_PROMPT, answer_ids, distinct_items, prompt_ids
from model.tags import THRESHOLD, Tags, speaks_of
from model.yamnet import NUM_CLASSES

from test_answer_forms import tiny_sam
from test_tags import audio, model, row, tags_with  # noqa: F401  (fixtures)


def scores_with(values: dict[int, float], level: float = 0.001) -> torch.Tensor:
    s = torch.full((NUM_CLASSES,), level)
    for r, v in values.items():
        s[r] = v
    return s


# ---------------------------------------------------------------- which answers are named again

@pytest.mark.parametrize("question,answer,named", [
    ("what's that noise?", "dog", "dog"), ("what was that", "Barking.", "dog"), ("which animal is it?", "cat", "cat"),
    ("what's that noise?", "I hear a dog barking.", None), ("what's that noise?", "dog, rain", "dog"),
    ("what's flying over?", "rain in the background; plane at 1.2-3.0 s", "rain"), ("what was that?", "dog, dog", "dog"),
    ("what was that?", "nothing, only rain in the background", None),  # nothing happened: an answer of its own
    ("Which sounds can you hear?", "dog, rain", None),
    ("what's that noise at 4.2 s?", "dog", None), ("What sound do you hear at about 7 seconds?", "dog", None),
    ("Tag this audio.", "dog", None), ("Which sounds can you hear?", "dog", None), ("What do you hear first?", "dog", None),
    ("What happened in the last ten seconds?", "dog", None), ("which is louder, the dog or the rain", "dog", None),
    ("What did you just hear?", "dog", "dog"), ("what just went past", "train, car", "train"),
    ("what sort of bird is that", "crow, seagull", "crow"),
    ("what did you hear in the last five minutes, just one thing", "dog", "dog"),  # a window, not an order
    (LIVE_PROMPT, "dog", None), (DESCRIBE_PROMPT, "dog", None)])
def test_an_answer_to_a_question_about_one_sound_is_named_again_as_one_sound(question, answer, named):
    assert wants_renaming(question, answer) == named


def test_a_category_the_question_asks_for_limits_the_candidates():
    v = vocabulary()
    assert asked_categories("Which animal is making noise?") == {"animal"}
    assert asked_categories("what's that noise?") == set()
    animals = candidates("Which animal is making noise?", "dog")
    assert animals and all(v.classes[c] == "animal" for c in animals)
    assert "rain" in candidates("which animal is it?", "rain")  # the answer's own class stays a candidate
    assert len(candidates("what's that?", "dog")) == len(v.classes)
    # a question about one sound that names it asks for a sound of its kind, and only that
    assert asked_categories("what's that sawing noise?") == {v.classes["sawing"]}
    tools = candidates("what's that sawing noise?", "speech")
    assert "sawing" in tools and "speech" not in tools and all(v.classes[c] == v.classes["sawing"] for c in tools)
    assert asked_categories("did the dog bark?") == set()  # not a question about one sound's name
    # a kind of a category's sound, said in other words than "kind of"
    assert asked_categories("what sort of bird is that") == asked_categories("what kind of bird is that") == {"animal"}
    assert asked_categories("what type of vehicle was it?") == {"vehicle"}
    assert asked_categories("what happened?") == set()  # "what" and a verb that says no sound
    # a kind of instrument, within the instruments: a flute the model said is no string instrument
    strings = candidates("what's that string instrument", "flute")
    assert "cello" in strings and "violin" in strings and "flute" not in strings and "piano" not in strings
    assert set(candidates("which brass instrument was it", "dog")) == {"trumpet", "horn", "dog"}
    assert "flute" in candidates("what instrument is that", "flute")  # no kind said: every instrument


@pytest.mark.parametrize("question, verb", [("what's that ringing?", "ringing"), ("what was that ringing noise", "ringing"),
                                            ("whats playing", "playing"), ("what's that chirping", "chirping"),
                                            ("what rang?", "ringing"), ("so what just rang", "ringing")])
def test_a_verb_said_of_several_sounds_limits_the_candidates_to_their_kinds(question, verb):
    from model.data.wording import cached_phrases

    v = vocabulary()
    said = {c for c, p in cached_phrases().items() if any(a.verbing.split()[0] == verb for a in p.actions)}
    assert len(said) > 1  # the table says it of several classes: no one class is named
    names = candidates(question, "dog" if "dog" not in said else "rain")
    assert said <= set(names)
    assert {v.classes[c] for c in names} == {v.classes[c] for c in said}


@pytest.mark.parametrize("question", ["what's that called?", "what's that buzzing?", "what's that going on about?",
                                      "is something ringing?"])
def test_a_verb_that_does_not_say_how_it_sounds_or_a_question_for_no_name_limits_nothing(question):
    assert len(candidates(question, "dog")) == len(vocabulary().classes)


def test_a_question_about_what_was_just_heard_reads_the_last_ten_seconds_even_in_a_short_scene():
    from model.naming import named_scores
    from model.tags import RECENT_COLUMNS

    s = torch.zeros(1, RECENT_COLUMNS + 20, NUM_CLASSES)
    s[0, 0, 7] = 0.9  # heard at the start, more than ten seconds ago
    tags = Tags.empty(1).push(s)
    assert float(named_scores("what did you just hear?", tags)[7]) == 0.0
    assert float(named_scores("what's that noise?", tags)[7]) == pytest.approx(0.9)  # a short scene: all of it


@pytest.mark.parametrize("question, recent", [("what was the last thing you heard?", True),
                                              ("what was the most recent sound", True), ("what was that?", True),
                                              ("what did you hear?", False), ("was there a dog?", False)])
def test_in_a_stream_the_last_sound_heard_is_read_in_the_last_ten_seconds(question, recent):
    from model.tags import LONG_SCENE_S, RECENT_COLUMNS, TOKENS_PER_SECOND

    s = torch.zeros(1, int(LONG_SCENE_S * TOKENS_PER_SECOND) + RECENT_COLUMNS + 20, NUM_CLASSES)
    s[0, 0, 7] = 0.9  # heard at the start of a stream, long before its last ten seconds
    tags = Tags.empty(1).push(s)
    assert tags.stream
    assert float(named_scores(question, tags)[7]) == (0.0 if recent else pytest.approx(0.9))


# ---------------------------------------------------------------- the choice

def test_the_tags_turn_a_close_choice_and_the_weight_says_how_far():
    dog, cat = max(vocabulary().rows["dog"]), max(vocabulary().rows["cat"])
    lm = {"dog": -1.0, "cat": -1.5, "rain": -6.0}
    heard = scores_with({cat: 0.95, dog: 0.02})
    assert choose_name(lm, heard, weight=0.0) == "dog"
    assert choose_name(lm, heard, weight=0.25) == "cat"  # +0.25 x log-odds of 0.95 against 0.28 beats 0.5 nats
    assert choose_name({"dog": -1.0, "cat": -9.0}, heard, weight=0.25) == "dog"  # not against a sure LM


def test_an_added_class_is_named_only_when_it_is_yamnets_top_sound_and_over_the_threshold():
    sneeze, speech = row("Sneeze"), row("Speech")
    dropped = next(r.index for r in default_map() if r.action == "drop")
    assert added_name(scores_with({sneeze: 0.6})) == "sneeze"
    assert added_name(scores_with({sneeze: THRESHOLD * 0.9})) is None
    assert added_name(scores_with({sneeze: 0.6, speech: 0.7})) is None  # one of ours is louder
    assert added_name(scores_with({sneeze: 0.6, dropped: 0.99})) == "sneeze"  # a dropped row names nothing
    assert choose_name({"dog": -0.1}, scores_with({sneeze: 0.6})) == "sneeze"
    assert choose_name({"dog": -0.1}, scores_with({sneeze: 0.6}), added=False) == "dog"


@pytest.mark.parametrize("seed", range(30))
def test_the_bounded_search_finds_what_scoring_every_class_finds(seed):
    """Slow reference: choose_name with every class's log-probability."""
    rng = random.Random(seed)
    names = list(vocabulary().classes)[: rng.randint(1, 60)]
    logp = {c: -rng.expovariate(0.3) for c in names}
    first = [logp[c] + rng.expovariate(1.0) * rng.random() for c in names]  # the first token's is never lower
    if seed % 3 == 0:
        logp[names[-1]] = logp[names[0]]  # a tie: the earlier name wins in both
        first[-1] = max(first[-1], logp[names[-1]])
    scores = torch.rand(NUM_CLASSES, generator=torch.Generator().manual_seed(seed))
    own = {c: rng.expovariate(0.5) for c in names if rng.random() < 0.2}  # a presence head's support, for some
    own_weight = rng.choice((0.0, 0.5, 1.0))
    asked: list[str] = []

    def exact(some):
        asked.extend(some)
        return [logp[c] for c in some]

    got = best_fused(names, first, exact, scores, chunk=rng.randint(1, 9), own=own, own_weight=own_weight)
    assert got == choose_name(logp, scores, added=False, own=own, own_weight=own_weight)
    assert len(set(asked)) == len(asked)  # each class scored once at most


def test_renaming_with_the_model_agrees_with_scoring_every_candidate(model, audio):  # noqa: F811
    tok = model.tokenizer
    state = model.hear(audio)
    dog, cat = max(vocabulary().rows["dog"]), max(vocabulary().rows["cat"])
    for q, heard in (("what's that noise?", {cat: 0.99}), ("which animal is it?", {dog: 0.99}),
                     ("what was that", {})):
        tags = tags_with(heard)
        prompt = prompt_ids(tok, q)
        with torch.inference_mode():
            logits, pushed = model.lm(torch.tensor([prompt]), state=state.lm.fork())
            names = candidates(q, "rain")
            logp = choice_scores(model.lm, tok, pushed, logits[:, -1], [answer_ids(tok, c) for c in names]).tolist()
        want = choose_name(dict(zip(names, logp)), named_scores(q, tags), added=not asked_categories(q))
        got = renamed(model.lm, tok, state.lm, prompt, q, "rain", tags)
        assert got == want
    q, listed = "what's that noise?", "dog, rain at 1.0-2.0 s"  # several sounds to a question about one
    prompt = prompt_ids(tok, q)
    with torch.inference_mode():
        logits, pushed = model.lm(torch.tensor([prompt]), state=state.lm.fork())
        names = candidates(q, "dog")
        logp = choice_scores(model.lm, tok, pushed, logits[:, -1], [answer_ids(tok, c) for c in names]).tolist()
    want = choose_name(dict(zip(names, logp)), named_scores(q, tags), added=True)
    assert renamed(model.lm, tok, state.lm, prompt, q, listed, tags) == want != listed
    assert renamed(model.lm, tok, state.lm, prompt, "what was that", "I hear rain.", tags) == "I hear rain."
    assert renamed(model.lm, tok, state.lm, prompt, "what was that", "rain", Tags.empty(1)) == "rain"


def test_sam_ask_names_an_added_sound_the_tags_heard(model, audio, monkeypatch):  # noqa: F811
    state = model.hear(audio)
    state.tags = tags_with({row("Sneeze"): 0.9})
    monkeypatch.setattr("model.sam.generate", lambda *a, **k: Answer("dog", 1, 0.0, 0.0, 0.0))  # decoded: a class
    assert model.ask(state, "what was that?").text == "sneeze"
    assert model.ask(state, "what was that?", forms=False).text == "dog"


# ---------------------------------------------------------------- families, and answers that list sounds

def test_a_family_gains_from_the_tags_no_more_than_its_best_member():
    from model.naming import heard
    from model.tags import evidence

    v = vocabulary()
    music, cello = max(v.rows["music"]), max(v.rows["cello"])
    playing = scores_with({music: 0.99, cello: 0.6})
    assert heard("music", playing) == pytest.approx(evidence(playing, v.rows["cello"]))  # not the Music row's
    assert heard("music", playing) < evidence(playing, v.rows["music"])
    assert heard("cello", playing) == pytest.approx(evidence(playing, v.rows["cello"]))  # a member: its own
    quiet = scores_with({})
    assert heard("music", quiet) == pytest.approx(evidence(quiet, v.rows["music"]))  # evidence against stays
    speech = scores_with({max(v.rows["speech"]): 0.99})
    assert heard("speech", speech) == 0.0  # "male speech" has no YAMNet row: the tags cannot choose between them
    assert choose_name({"male speech": -1.0, "speech": -1.5, "dog": -1.2}, speech, added=False) == "male speech"
    assert heard("male speech", speech) == 0.0


def test_a_class_without_rows_loses_where_its_family_is_not_heard():
    from model.naming import heard
    from model.tags import ceilings, evidence

    v = vocabulary()
    frog = scores_with({max(v.rows["frog"]): 0.999})
    assert heard("hawk", frog) < 0
    assert heard("hawk", frog) == pytest.approx(evidence(frog, ceilings()["hawk"]))
    # the language model liked "hawk" better by more than the frog's evidence alone makes up
    lm = {"hawk": -0.5, "frog": -0.5 - 1.2 * NAME_WEIGHT * heard("frog", frog)}
    assert choose_name(lm, frog, added=False) == "frog"
    bird = scores_with({max(v.rows["bird"]): 0.95})
    assert heard("hawk", bird) == 0.0 and choose_name({"hawk": -0.5, "crow": -0.9}, bird, added=False) == "hawk"


def test_a_list_answers_names_are_found_in_order():
    listed = "dog, Barking, rain"
    assert [(listed[s.start:s.end], s.name) for s in slots(listed)] == [("dog", "dog"), ("Barking", "dog"),
                                                                         ("rain", "rain")]
    feed = "nothing, only rain in the background"
    assert [(feed[s.start:s.end], s.name) for s in slots(feed)] == [("rain", "rain")]
    assert slots("I hear a dog barking.") == [] and slots("quiet, nothing happens") == []
    assert slots("rain in the background; dog at 1.2-2.0 s, car horn at 4.0-4.5 s") == []  # a description


@pytest.mark.parametrize("question,answer,first", [
    ("what was the loudest thing so far?", "camera shutter, dog, hiss", "camera shutter"),
    ("whats the loudest thing you heard so far", "dog, rain", "dog"),
    ("what was the last noise you heard?", "rain in the background; dog at 1.0-2.0 s, cat at 3.0-4.0 s", "cat"),
    ("what was the first sound?", "rain in the background; dog at 1.0-2.0 s", "dog"),  # the background is no event
    ("what was the loudest thing in the last minute?", "dog, cat", "dog"),  # a window, not the last sound
    ("what was the loudest thing?", "dog", None), ("what's that noise at 4.2 s?", "dog, rain", None),
    ("which sounds came first?", "dog, rain", None), ("what was that?", "dog, rain", None)])  # renamed instead
def test_a_question_for_one_sound_by_its_order_or_loudness_gets_one_of_the_sounds_said(question, answer, first):
    from model.naming import first_named

    assert first_named(question, answer) == first


@pytest.mark.parametrize("question,answer,several", [
    ("Which sounds can you hear?", "dog, rain", 2), ("Which sounds can you hear?", "dog", 1), (DESCRIBE_PROMPT, "dog", 1),
    (LIVE_PROMPT, "nothing, only rain in the background", 1), ("what was that?", "nothing, only rain in the background", 1),
    ("what's that noise?", "dog", 0), ("what's that noise?", "dog, rain", 0),  # one sound: wants_renaming's
    (DESCRIBE_PROMPT, "rain in the background; dog at 1.2-2.0 s", 0), ("What do you hear first?", "dog, rain", 0),
    ("what do you hear at 4.2 s?", "dog, rain", 0), ("what's that?", "I hear a dog.", 0)])
def test_list_answers_have_their_names_chosen_again(question, answer, several):
    assert len(wants_relabelling(question, answer)) == several
    if several:
        assert wants_renaming(question, answer) is None  # never both


def test_relabelling_with_the_model_agrees_with_scoring_every_candidate_after_the_text_before_it(model, audio):  # noqa: F811
    """Slow reference: each name in order, every class not named before it scored after the list's text
    before it and followed by the token after it, chosen with the question's tags."""
    tok = model.tokenizer
    state = model.hear(audio)
    dog, cat = max(vocabulary().rows["dog"]), max(vocabulary().rows["cat"])
    tags = tags_with({cat: 0.99, dog: 0.6})
    for q, answer in (("Which sounds can you hear?", "rain, dog, wind"), (LIVE_PROMPT, "nothing, only rain in the background")):
        prompt = prompt_ids(tok, q)
        want = answer
        for k in range(len(slots(answer))):
            slot = slots(want)[k]
            names = [c for c in vocabulary().classes if c not in {s.name for s in slots(want)[:k]}]
            before = want[:slot.start].strip()
            follow = tok.encode(want[slot.end:])[:1] if want[slot.end:] else [tok.eot_id]
            with torch.inference_mode():
                said = tok.encode(" " + before) if before else []
                logits, pushed = model.lm(torch.tensor([prompt + said]), state=state.lm.fork())
                logp = choice_scores(model.lm, tok, pushed, logits[:, -1],
                                     [[*tok.encode(" " + c), *follow] for c in names]).tolist()
            name = choose_name(dict(zip(names, logp)), named_scores(q, tags), added=False)
            want = want[:slot.start] + name + want[slot.end:]
        got = renamed(model.lm, tok, state.lm, prompt, q, answer, tags)
        assert got == want
        listed = [s.name for s in slots(got)]
        assert len(set(listed)) == len(listed)  # a list names a class once
    described = "rain in the background; dog at 1.0-2.0 s"
    assert renamed(model.lm, tok, state.lm, prompt_ids(tok, DESCRIBE_PROMPT), DESCRIBE_PROMPT, described, tags) == described


def test_the_live_feed_keeps_its_decoded_names_where_a_typed_question_has_them_chosen_again(model, audio, monkeypatch):  # noqa: F811
    state = model.hear(audio)
    state.tags = tags_with({max(vocabulary().rows["cat"]): 0.99})
    monkeypatch.setattr("model.sam.generate", lambda *a, **k: Answer("dog, rain", 1, 0.0, 0.0, 0.0))
    asked = model.ask(state, LIVE_PROMPT).text
    assert asked != "dog, rain" and asked == renamed(model.lm, model.tokenizer, state.lm,
                                                     prompt_ids(model.tokenizer, LIVE_PROMPT), LIVE_PROMPT, "dog, rain",
                                                     state.tags)
    assert model.describe(state, recent=True).text == "dog, rain"  # no naming again: within the loop's budget
    assert model.ask(state, LIVE_PROMPT, named=False).text == "dog, rain"


def test_the_feed_bias_weighs_the_tags_evidence_for_and_against_each_sound_on_its_first_token():
    from model.tokenizer import Tokenizer

    tok = Tokenizer.load(Path(__file__).resolve().parents[1] / "assets/sam-small/tokenizer.json")  # the shipped one
    tags = tags_with({max(vocabulary().rows["cat"]): 0.99})
    scores = named_scores(LIVE_PROMPT, tags)
    bias = feed_bias(tok, LIVE_PROMPT, tags)
    v = vocabulary()
    words = {c.split()[0] for c in v.classes}
    first = {c: tok.encode(" " + c)[0] for c in v.classes}
    first = {c: t for c, t in first.items() if tok.decode([t]).strip() in words}  # whole words only
    assert bias.namers == frozenset(first.values()) and {"dog", "fire", "fireworks"} <= set(first)
    assert "owl" not in first and "applause" not in first and len(first) > len(v.classes) / 2
    # the pieces that begin answers naming nothing are no names' beginnings (" " of " owl", " a" of " applause")
    for nameless in (REFUSAL, "about 3 minutes ago", "at 2.0 s", "nothing", "yes"):
        assert tok.encode(" " + nameless)[0] not in bias.namers
    spoken = [c for c in first if speaks_of(c) or any(speaks_of(m) for m in v.members.get(c, ()))]
    assert not speaks_of("sword") and "sword" in first and "sword" not in spoken and "forest" in spoken
    evidence = {c: heard(c, scores) for c in spoken}
    assert evidence["cat"] > 0 > evidence["dog"]  # heard; heard absent
    assert set(bias.add) == {first[c] for c in spoken}  # a class the tags say nothing of gets nothing
    for t, add in bias.add.items():  # the most any class that begins with the token gets, gained or lost
        assert add == pytest.approx(max(ITEM_WEIGHT * e for c, e in evidence.items() if first[c] == t))
    assert bias.add[first["cat"]] > 0 > bias.add[first["dog"]]
    quiet = feed_bias(tok, LIVE_PROMPT, tags_with({}))  # nothing heard: nothing gains, whatever has a row loses
    assert max(quiet.add.values()) <= 0 and quiet.add[first["dog"]] < 0
    assert feed_bias(tok, LIVE_PROMPT, Tags.empty(1)) is None and feed_bias(tok, LIVE_PROMPT, None) is None


def test_an_item_bias_weighs_in_only_where_an_item_begins_by_naming_a_sound():
    model = tiny_sam()
    tok, lm = model.tokenizer, model.lm
    heard_state = model.hear(torch.randn(16000) * 0.1)
    prompt = prompt_ids(tok, LIVE_PROMPT)
    plain = generate(lm, tok, heard_state.lm.fork(), prompt, 8)
    with torch.inference_mode():
        logits, _ = lm(torch.tensor([prompt]), state=heard_state.lm.fork())
    begins = int(answer_logits(lm, tok, logits[:, -1].clone()).argmax())  # the token the answer begins with
    # a bias where no name begins changes nothing
    assert generate(lm, tok, heard_state.lm.fork(), prompt, 8,
                    item_bias=ItemBias({begins: -50.0}, frozenset())).text == plain.text
    # where the likeliest first token begins a name, the bias decides the item's first token
    other = next(t for t in range(100, 10000) if t != begins and tok.decode([t]).strip().isalpha())  # a word
    pushed = generate(lm, tok, heard_state.lm.fork(), prompt, 8, item_bias=ItemBias({other: 1e4}, frozenset({begins})))
    assert pushed.text.startswith(tok.decode([other]).strip()) and pushed.text != plain.text
    scores = torch.tensor([[0.0, 3.0, 1.0]])
    assert torch.equal(ItemBias({2: 5.0}, frozenset({1})).applied(scores), torch.tensor([[0.0, 3.0, 6.0]]))
    assert torch.equal(ItemBias({2: 5.0}, frozenset({0})).applied(scores), scores)  # the likeliest begins no name
    # relative to the likeliest name: it keeps its logit, the others move by what they get beyond it
    both = frozenset({1, 2})
    assert torch.equal(ItemBias({1: -2.0, 2: 1.0}, both).applied(scores), torch.tensor([[0.0, 3.0, 4.0]]))
    assert torch.equal(ItemBias({1: -2.0}, both).applied(scores), scores)  # a name the tags say nothing of stays
    assert torch.equal(ItemBias({2: -2.0}, both).applied(scores), torch.tensor([[0.0, 3.0, -1.0]]))
    # every name heard absent: the item still names one (the tags never decide whether it does)
    close = torch.tensor([[2.5, 3.0, 1.0]])
    assert int(ItemBias({1: -10.0, 2: -5.0}, both).applied(close).argmax()) == 2  # the one heard less absent
    assert int(ItemBias({1: -10.0, 2: -12.0}, both).applied(close).argmax()) == 1


def test_the_feed_decodes_with_the_bias_of_what_the_tags_hear(model, audio):  # noqa: F811
    state = model.hear(audio)
    tok = model.tokenizer
    state.tags = tags_with({max(vocabulary().rows["cat"]): 0.99})
    bias = feed_bias(tok, LIVE_PROMPT, state.tags)
    form = question_form(tok, LIVE_PROMPT, state.tags)
    want = generate(model.lm, tok, state.lm.fork(), prompt_ids(tok, LIVE_PROMPT), 48, banned=form.banned, once=True,
                    unwanted=form.unwanted, item_bias=bias)
    assert model.describe(state, recent=True).text == distinct_items(want.text)
    state.tags = Tags.empty(1)  # before the tags hear anything the feed is the model's own decoding
    assert model.describe(state, recent=True).text == distinct_items(model.ask(state, LIVE_PROMPT, named=False).text)


def test_every_answer_decoded_freely_weighs_what_the_tags_hear_and_the_batch_decodes_as_one_does(model, audio):  # noqa: F811
    state = model.hear(audio)
    tok = model.tokenizer
    state.tags = tags_with({max(vocabulary().rows["cat"]): 0.99, max(vocabulary().rows["rain"]): 0.9})
    questions = [DESCRIBE_PROMPT, "which sounds can you hear?", "what happened just now?"]
    forms = [question_form(tok, q, state.tags) for q in questions]
    prompts = [prompt_ids(tok, f.asked or q) for q, f in zip(questions, forms)]
    biases = [feed_bias(tok, q, state.tags) for q in questions]
    assert all(b is not None and b.add for b in biases)
    one = [generate(model.lm, tok, state.lm.fork(), p, 24, banned=f.banned, once=True, unwanted=f.unwanted,
                    item_bias=b).text for p, f, b in zip(prompts, forms, biases)]
    assert model.ask(state, DESCRIBE_PROMPT, max_new_tokens=24, named=False).text == one[0]
    plain = generate(model.lm, tok, state.lm.fork(), prompts[0], 24, banned=forms[0].banned, once=True,
                     unwanted=forms[0].unwanted).text
    assert model.ask(state, DESCRIBE_PROMPT, max_new_tokens=24, named=False, witnessed=False).text == plain
    batched = generate_batch(model.lm, tok, [state.lm.fork() for _ in questions], prompts, 24,
                             banned=[f.banned for f in forms], once=True, unwanted=[f.unwanted for f in forms],
                             item_bias=biases)
    assert batched == one
    # a bias that decides every item's first token shows the batch applies each row's own, at each item's start
    words = [t for t in range(100, tok.vocab_size) if tok.decode([t]).strip().isalpha()]
    tokens = [words[0], next(t for t in words if tok.decode([t]).strip()[0] != tok.decode([words[0]]).strip()[0])]
    first = [ItemBias({t: 1e4}, frozenset(range(tok.vocab_size))) for t in tokens]
    rows = generate_batch(model.lm, tok, [state.lm.fork(), state.lm.fork()], [prompts[0]] * 2, 24, item_bias=first)
    alone = [generate(model.lm, tok, state.lm.fork(), prompts[0], 24, item_bias=b).text for b in first]
    assert rows == alone and all(r.startswith(tok.decode([t]).strip()) for r, t in zip(rows, tokens))


# ---------------------------------------------------------------- scoring

def test_an_added_name_is_scored_as_its_class_and_ours_keep_their_phrases():
    names = corpus_class_names()
    assert correct(Item("s", "what was that?", "keys jangling", "open"), "keys", names)
    assert not correct(Item("s", "what was that?", "keys jangling", "open"), "dog", names)
    assert not correct(Item("s", "what was that?", "dog", "open"), "sneeze", names)
    assert names.named("dog barking") == {"dog"}


# ---------------------------------------------------------------- the added classes' evaluation set

def test_the_shipped_list_names_added_classes_of_allowed_packages_and_files_the_corpus_drops():
    from model.data.added_set import read_added_eval
    from model.data.labels import DROP, label_for, load_rules

    recs = read_added_eval()
    added = {r.name for r in default_map() if r.action == "new"}
    assert len(recs) >= 30 and {r.name for r in recs} <= added
    rules = load_rules()
    for r in recs:  # never a recording the corpus keeps: no trained model heard it
        rule = label_for(r.package, r.path, rules)
        assert rule is None or rule.label == DROP, r


@pytest.mark.parametrize("line,problem", [
    ("nonesuch-data\ta.wav\tsneeze", "not a corpus source"), ("triplea\ta.wav\tdog", "not the plain name"),
    ("triplea\ta.wav", "2 columns")])
def test_a_bad_row_of_the_list_is_refused_by_its_line(tmp_path, line, problem):
    from model.data.added_set import read_added_eval

    path = tmp_path / "added.tsv"
    path.write_text("# comment\n" + line + "\n")
    with pytest.raises(ValueError, match=f"added.tsv:2: .*{problem}"):
        read_added_eval(path)


def test_each_recording_is_asked_what_it_is_and_about_its_sound_and_another():
    from model.data.added_set import AddedRecording, asked_about, items_for

    assert asked_about("burp") == "a burp"
    assert asked_about("keys jangling") == "keys jangling" and asked_about("artillery") == "artillery"
    rec = AddedRecording("triplea", "x.mp3", "slap")
    for seed in range(20):
        items = items_for(rec, "scenes/00000.wav", ["slap", "sonar", "burp"], random.Random(seed))
        assert [i["answer"] for i in items] == ["slap", "yes", "no"]
        assert "slap" in items[1]["question"] and "slap" not in items[2]["question"]


def test_the_evaluation_answers_the_feeds_items_as_sam_lives_feed_decodes_them(model, audio, monkeypatch):  # noqa: F811
    from model.evaluation.answering import FEED, answer_items

    heard_once = model.hear(audio)
    heard_once.tags = tags_with({max(vocabulary().rows["cat"]): 0.99, max(vocabulary().rows["rain"]): 0.9})
    monkeypatch.setattr(model, "hear", lambda *a, **k: heard_once)
    got = answer_items(model, [Item("scene", LIVE_PROMPT, "", FEED)], lambda _: audio, 4, 48)
    assert [distinct_items(t) for t in got] == [model.describe(heard_once, recent=True).text]
    assert feed_bias(model.tokenizer, LIVE_PROMPT, heard_once.tags).add  # the tags' weight is in it
