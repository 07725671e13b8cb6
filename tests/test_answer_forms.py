"""Answers in the form the question asks for: which questions list their answers (and what the answers
are), which forms a question's grammar asks for, the batched scoring of whole answers against its
token-by-token reference, answering with the likeliest allowed answer, and decoding that keeps out
the answers an open question may not have."""
import random
from pathlib import Path

import pytest
import torch

from model.answer_forms import (BARE, COUNTS, FIRST_ASKED, JUST_ASKED, KIND_ASKED, LAST_ASKED, QUIET_ASKED, TAGS_ASKED,
                                TRUE_FALSE, TYPES, YES_NO, asked_form, class_mentions, question_form, stated_answers)
from model.data.questions import REFUSAL
from model.data.tasks import ABSENT_STEMS
from model.data.wording import (HELD_OUT_STYLES, LABEL_STYLES, OPTION_HEADERS, load_phrases, option_answer,
                                option_block)
from model.generate import answer_logits, choice_scores, choose, generate, generate_batch
from model.metrics import normalize
from model.prompt import answer_ids, prompt_ids

OPTIONS = ["a dog barking", "rain", "a church bell", "someone speaking"]
AFTER = ["", "Answer with the letter.", "- answer with the option", "? just the letter please", "\nOnly one."]


@pytest.mark.parametrize("style", sorted(set(LABEL_STYLES) | set(HELD_OUT_STYLES)))
def test_options_in_every_style_the_generator_writes_give_the_answers_it_would_train_on(style):
    rng = random.Random(style)
    for n in (2, 3, 4):
        for after in AFTER:
            block, labels = option_block(OPTIONS[:n], style, rng, OPTION_HEADERS)
            question = f"Which of these can you hear? {block} {after}"
            want = tuple(option_answer(labels, OPTIONS[:n], i) for i in range(n))
            assert stated_answers(question) == (want if any(labels) else None)
            assert asked_form(question).answers == want  # without labels: the options' text


@pytest.mark.parametrize("question, answers", [
    ("Can you hear a piano? Answer yes or no.", YES_NO),
    ("is it raining (y/n)", YES_NO),
    ("yes/no: did someone knock", YES_NO),
    ("True or false: a dog barks.", TRUE_FALSE),
    ("t/f someone talks at some point", TRUE_FALSE),
    ("T or F: a horn honks", TRUE_FALSE),
    ("a bell rings. true/false?", TRUE_FALSE),
    ("which did NOT show up: (a) siren, (b) rain, or (c) a bell?", ("(a) siren", "(b) rain", "(c) a bell")),
    ("is there a dog?", None),
    ("what was that", None),
    ("did you hear Mr. A. Smith speak?", None),  # one 'label' is not a list of options
    ("was it a dog, a cat or a cow?", None),  # no labels: not listed answers (asked_form names the classes)
    ("Pick one: (A) yes or no (B) a dog", ("(A) yes or no", "(B) a dog")),  # options win over their text
])
def test_only_answers_written_out_count(question, answers):
    assert stated_answers(question) == answers


def tiny_sam():
    from model.config import SAMConfig
    from model.sam import SAM
    from model.tokenizer import Tokenizer

    tok = Tokenizer.train(["yes", "no", "true", "false", "(A) a dog (B) rain", "A. B. C. D.", "a dog barks"] * 30,
                          vocab_size=300)
    torch.manual_seed(0)
    return SAM(SAMConfig.from_name("sam-tiny"), tok).eval()


def after_prompt(model, lm_state, question):
    """The state with the question's prompt pushed (the given state unchanged), and its last logits."""
    logits, state = model.lm(torch.tensor([prompt_ids(model.tokenizer, question)]), state=lm_state.fork())
    return state, logits[:, -1]


@torch.inference_mode()
def score_one_by_one(model, state, logits, ids):
    """The reference: log P of each token of `ids`, stepping one token at a time."""
    tok, total = model.tokenizer, 0.0
    for token in ids:
        total += float(torch.log_softmax(answer_logits(model.lm, tok, logits.clone()).float(), -1)[0, token])
        logits, state = model.lm.step(torch.tensor([token]), state=state)
    return total


def test_batched_choice_scores_equal_the_token_by_token_reference():
    model = tiny_sam()
    tok = model.tokenizer
    choices = [answer_ids(tok, a) for a in ("(A) a dog", "(B) rain", "yes", "no", "a dog barks")]
    assert len({len(c) for c in choices}) > 1  # the rows have different lengths: padding is exercised
    heard = model.hear(torch.randn(16000) * 0.1).lm
    state, logits = after_prompt(model, heard, "which? (A) a dog (B) rain")
    fast = choice_scores(model.lm, tok, state, logits, choices)
    slow = torch.tensor([score_one_by_one(model, state.fork(), logits, c) for c in choices])
    torch.testing.assert_close(fast, slow, atol=1e-4, rtol=1e-4)
    assert choose(model.lm, tok, state, logits, choices) == choices[int(slow.argmax())][:-1]


def test_a_question_that_lists_its_answers_gets_the_likeliest_of_them():
    model = tiny_sam()
    tok = model.tokenizer
    heard = model.hear(torch.randn(16000) * 0.1)
    for question in ("Is there a dog? Answer yes or no.", "True or false: it rains.", "Which? (A) a dog (B) rain"):
        answers = stated_answers(question)
        state, logits = after_prompt(model, heard.lm, question)
        scores = [score_one_by_one(model, state.fork(), logits, c) for c in [answer_ids(tok, a) for a in answers]]
        assert model.ask(heard, question).text == answers[max(range(len(answers)), key=scores.__getitem__)]
        free = model.ask(heard, question, max_new_tokens=6, forms=False).text
        assert free == generate(model.lm, tok, heard.lm.fork(), prompt_ids(tok, question), 6).text


def test_batched_answers_choose_as_single_answers_do_and_the_others_decode_as_before():
    model = tiny_sam()
    tok = model.tokenizer
    questions = ["Is there a dog? Answer yes or no.", "what was that", "Which? A. a dog B. rain C. a bell",
                 "t/f: a bell rings", "what else"]
    states = [model.hear(torch.randn(12000 + 4000 * i) * 0.1).lm for i in range(len(questions))]
    forms = [question_form(tok, q) for q in questions]
    prompts = [prompt_ids(tok, f.asked or q) for f, q in zip(forms, questions)]
    choices, said = [f.choices for f in forms], [f.said for f in forms]
    assert [c is None for c in choices] == [False, True, False, False, True]
    assert said[2] == ["A. a dog", "B. rain", "C. a bell"]  # scored as "A) dog", ..., said as the question says them
    batched = generate_batch(model.lm, tok, [s.fork() for s in states], prompts, 8, choices, said=said)
    single = [generate(model.lm, tok, s.fork(), p, 8, choices=c, said=w).text
              for s, p, c, w in zip(states, prompts, choices, said)]
    assert batched == single
    free = generate_batch(model.lm, tok, [states[1].fork(), states[4].fork()], [prompts[1], prompts[4]], 8)
    assert [batched[1], batched[4]] == free
    for answer, q in zip(batched, questions):
        assert stated_answers(q) is None or answer in stated_answers(q)


@pytest.mark.parametrize("question, asked", [
    ("between the dog and the rain, which was first?", "Which came first, the dog or the rain?"),
    ("dog first or rain first?", "Which came first, the dog or the rain?"),
    ("which one was quieter: rain or wind", "Which is quieter, the rain or the wind?"),
    ("which of the two came later, the dog or the rain?", "Which came first, the dog or the rain?"),  # and the other said
    ("which was louder and came first, the dog or the rain", ""),  # two things at once
    ("which noise kicked things off?", FIRST_ASKED), ("what's the very last thing you heard?", LAST_ASKED),
    ("what did you hear in the last ten seconds?", ""),  # a span, not the last sound
    ("how long since anything made a peep", QUIET_ASKED), ("when did it go quiet?", QUIET_ASKED),
    ("since the last sound, how much time has passed?", QUIET_ASKED), ("silence for how long?", QUIET_ASKED),
    ("how long has it been since the dog barked?", ""),  # names its sound: its own words
    ("what was that?", ""),
    ("is there a dog?", "Do you hear a dog?"), ("any chance there's a dog somewhere in this?", "Do you hear a dog?"),
    ("did you hear a car horn at any point?", "Did you hear a car horn?"),  # the past: all it has heard
    ("True or false: you can hear rain.", "Do you hear rain?"),  # scored yes or no, said true or false
    ("did the dog bark twice?", ""), ("isn't that a dog?", ""), ("is anyone there?", ""),  # more, or other, than one
    ("are there dogs or cats around?", ""),  # sound being there
    ("Which? (1) a dog (2) rain (3) silence", "Which of these sounds can you hear? A) dog B) rain C) silence"),
    ("which of these is not there: a dog, rain, a bell", f"{ABSENT_STEMS[0]} A) dog B) rain C) bell"),
    ("which one? (a) a dog (b) a puppy", ""),  # two options naming one class: no training wording tells them apart
    ("Which? A) a dog B) rain C) a bell D) wind E) a car", ""),  # more options than training ever listed
    ("a dog barking or not?", "Do you hear a dog?"), ("woof woof... was that a dog", "Do you hear a dog?"),
    ("so windy today. is that wind?", "Do you hear wind?"),  # a remark before the question
    ("hissy static on the line, is that what you hear too?", "Do you hear static?"),  # "what" that asks nothing
    ("the bell rang three times - correct or not?", ""),  # how often: not whether it is there
    ("tell me in a single word what that was", "tell me in one word what that was"),
    ("what started it all off?", FIRST_ASKED), ("a few keywords for this audio please", TAGS_ASKED),
    ("is it rain? wind? thunder? waves?", "Which of these sounds can you hear? A) rain B) wind C) thunder D) waves"),
    ("ok which one was it: rain? wind? thunder?", "Which of these sounds can you hear? A) rain B) wind C) thunder"),
    ("labels?", TAGS_ASKED), ("how long is the silent stretch so far", QUIET_ASKED),
    ("time since last noise?", QUIET_ASKED),
    ("sounds during the last forty seconds?", ""),  # a span of time, not the last sound
    ("what went on over the last minute", "")])
def test_a_kind_the_rules_read_is_asked_in_its_training_wording(question, asked):
    assert asked_form(question).ask == asked


@pytest.mark.parametrize("question, asked", [
    ("voice or tune or neither?", KIND_ASKED), ("is somebody chatting, or is that a song", KIND_ASKED),
    ("what kind of audio have we got here", KIND_ASKED), ("how would you classify this clip?", KIND_ASKED),
    ("in general, what is the recording?", KIND_ASKED),
    ("was the first sound speech or music?", ""), ("at 4 s: speech, music or something else?", ""),  # one moment
    ("is the background a voice or music or other noise", "")])
def test_what_kind_of_sound_is_read_in_the_training_words_unless_it_asks_about_one_moment(question, asked):
    form = asked_form(question)
    assert form.kind == "type" and form.answers == TYPES and form.ask == asked


class _Heard:
    """What question_form reads of the tags: whether the recording is a long stream."""

    def __init__(self, stream: bool):
        self.stream, self.columns = stream, 1000 if stream else 50


@pytest.mark.parametrize("question, one_sound", [
    ("what in the world was that", True), ("whats making that racket", True), ("what's the source of this noise", True),
    ("can you name that noise for me", True), ("what did you just hear", True), ("please recognise this sound", True),
    ("which creature was that?", False), ("what instrument are we hearing", False),  # a kind the training words lose
    ("what is the dog doing", False),  # names a sound: asks about it, not what it is
    ("name every sound you hear", False), ("what did you hear in the last 30 seconds", False),  # more than one
    ("what was the first sound", False), ("when was that?", False), ("how loud is that", False),
    ("what's that smell", False)])
def test_what_one_sound_is_asks_in_a_long_stream_what_was_just_heard(question, one_sound):
    """A stream's training questions about one sound ask what was just heard; a recording keeps the words asked."""
    from model.tokenizer import Tokenizer
    tok = Tokenizer.load(Path(__file__).resolve().parents[1] / "assets/sam-small/tokenizer.json")
    in_stream = question_form(tok, question, _Heard(True)).asked
    assert (in_stream == JUST_ASKED) == one_sound
    assert question_form(tok, question, _Heard(False)).asked != JUST_ASKED
    assert question_form(tok, question).asked != JUST_ASKED  # no tags: nothing says it is a stream


def test_which_came_later_is_asked_which_came_first_and_the_other_sound_said():
    form = asked_form("which came last, the dog or the rain?")
    assert form.scored == ("dog", "rain") and form.answers == ("rain", "dog")
    model = tiny_sam()
    heard = model.hear(torch.randn(20000) * 0.1)
    first = model.ask(heard, "Which came first, the dog or the rain?").text
    assert model.ask(heard, "which came last, the dog or the rain?").text == {"dog": "rain", "rain": "dog"}[first]


def test_the_language_model_reads_the_training_wording_and_the_answer_keeps_the_question_asked():
    """A question asked in other words is answered as its training wording is, by sam-ask and the batched
    evaluation alike; the answers allowed are still those of the question asked."""
    from model.evaluation.answering import Item, answer_items
    model = tiny_sam()
    audio = torch.randn(24000) * 0.1
    heard = model.hear(audio)
    pairs = [("between the dog and the rain, which was first?", "Which came first, the dog or the rain?"),
             ("how long since anything made a peep", QUIET_ASKED)]
    for question, asked in pairs:
        mine, trained = model.ask(heard, question).text, model.ask(heard, asked).text
        assert mine == trained
        assert question_form(model.tokenizer, question).asked == asked
    batched = answer_items(model, [Item("clip", q, "", "order") for q, _ in pairs], lambda _: audio, 8, 48)
    assert batched == [model.ask(heard, q).text for q, _ in pairs]
    assert batched[0] in ("dog", "rain")
    # a statement: scored as the training data's yes/no question, said true or false
    statement = model.ask(heard, "True or false: you can hear rain.").text
    assert statement == {"yes": "true", "no": "false"}[model.ask(heard, "Do you hear rain?").text]
    # options: scored as the training data writes them, said with the question's own labels and words
    mine = model.ask(heard, "which of these can you hear? (1) a dog barking (2) some rain").text
    trained = model.ask(heard, "Which of these sounds can you hear? A) dog B) rain").text
    assert mine == {"A) dog": "(1) a dog barking", "B) rain": "(2) some rain"}[trained]


# -- forms read from the question's grammar ------------------------------------------------------
@pytest.mark.parametrize("question, kind, answers", [
    ("is there a dog?", "yesno", YES_NO),
    ("hey, did somebody just knock", "yesno", YES_NO),
    ("Can you hear a piano", "yesno", YES_NO),
    ("anyone there?", "yesno", YES_NO),
    ("you hearing any birds right now", "yesno", YES_NO),
    ("could you tell me whether it rained", "yesno", YES_NO),
    ("are there dogs or cats around?", "yesno", YES_NO),  # is there X or Y: asks if either is
    ("do you also hear a drill, or is it just me?", "yesno", YES_NO),
    ("how many times did the dog bark?", "count", COUNTS),
    ("count the knocks on the door", "count", COUNTS),
    ("is that someone talking, music, or some other sound?", "type", TYPES),
    ("voice or music?", "type", TYPES),
    ("which one was louder, the dog or the rain?", "named", ("dog", "rain")),
    ("was that a cow or a goat", "named", ("cow", "goat")),
    ("which is the quieter of the dog and the rain?", "named", ("dog", "rain")),  # the training data's words
    ("which came first out of the rain and the dog", "named", ("rain", "dog")),
    ("how many of the dogs and cats barked?", "count", COUNTS),  # a count still
    ("Choose from: rain, wind or thunder", "listed", ("rain", "wind", "thunder")),
    ("which of these do you hear - a cow / a goat / a sheep", "listed", ("a cow", "a goat", "a sheep")),
    ("which one is it?\n- hammer\n- saw\n- drill\nanswer with one", "listed", ("hammer", "saw", "drill")),
    ("what was that?", "open", ()),
    ("can you describe what you hear", "open", ()),
    ("tell me what happened in the last minute", "open", ()),
    ("what did she say?", "refusal", (REFUSAL,)),
    ("hey, who's at the door", "refusal", (REFUSAL,)),
    ("will it rain tomorrow?", "refusal", (REFUSAL,)),
    ("why is the baby crying?", "refusal", (REFUSAL,)),
    ("what colour is that car", "refusal", (REFUSAL,)),
    ("what did you hear?", "open", ()),
    ("and what was his name?", "refusal", (REFUSAL,)),
    ("what language is she speaking?", "refusal", (REFUSAL,)),
    ("so what are they arguing about", "refusal", (REFUSAL,)),
    ("who's calling?", "refusal", (REFUSAL,)),
    ("where are we right now?", "refusal", (REFUSAL,)),
    ("where is the sound coming from?", "open", ()),  # what the sound tells, never refused
    ("is anyone there?", "yesno", YES_NO),
    ("how long has it been quiet?", "open", ()),
    ("how many seconds has it been quiet?", "open", ()),  # a span, not a count
    ("is it raining or snowing?", "listed", ("raining", "snowing")),  # alternatives no class names: as said
    ("did it thunder once or twice", "listed", ("once", "twice")),  # whether, ending in two words: one of them
    ("did the door open or close?", "listed", ("open", "close")),
    ("did someone scream or was it a bird", "named", ("scream", "bird")),  # "or was it": a choice, not whether
    ("was that a plane, a kite or a bird", "listed", ("a plane", "a kite", "a bird")),
    ("is the sound loud or soft?", "open", ()),  # alternatives of something else: never "yes"
    ("Which one: [A] rain [B] thunder [C] wind", "listed", ("[A] rain", "[B] thunder", "[C] wind")),
    ("Which of these can you hear? rain; thunder; wind; birds", "listed", ("rain", "thunder", "wind", "birds")),
    ("which of these is NOT in the clip: rain, thunder, wind, hail", "listed", ("rain", "thunder", "wind", "hail")),
    ("which is it: speech, music, or another sound", "type", TYPES),  # kinds, not options as written
    ("did you hear the bell or the dog first?", "named", ("bell", "dog")),  # which, not whether either
    ("is someone speaking or is it music", "type", TYPES),  # "or is it": a choice, not whether either is there
    ("is it a voice or an instrument?", "type", TYPES),
    ("who is talking, a man or a woman?", "named", ("male speech", "female speech")),  # the narrower sounds
    ("what was the guy yelling", "refusal", (REFUSAL,)),
    ("can you transcribe that", "refusal", (REFUSAL,)),
    ("is that my mom?", "refusal", (REFUSAL,)),
    ("how big is the dog", "refusal", (REFUSAL,)),
    ("where did the dog go?", "refusal", (REFUSAL,)),
    ("does it smell like smoke?", "refusal", (REFUSAL,)),
    ("any idea who just came in", "refusal", (REFUSAL,)),
    ("will the baby wake up?", "refusal", (REFUSAL,)),
    ("what's the cat's name", "refusal", (REFUSAL,)),
    ("was the dog before or after the rain?", "listed", ("before", "after")),
    ("between the horn and the siren, which was first?", "named", ("horn", "siren")),  # "and", then which
    ("i heard a bell and a dog, which came first?", "named", ("bell", "dog")),
    ("is that a person or just a noise?", "type", TYPES),  # a person: speech
    ("is that music playing or random sounds?", "type", TYPES),
    ("is the person male or female?", "named", ("male speech", "female speech")),
    ("is the baby hungry?", "refusal", (REFUSAL,)),  # how someone is, beyond the sound
    ("is the door locked", "refusal", (REFUSAL,)),
    ("what's she cooking?", "refusal", (REFUSAL,)),
    ("how many people live here?", "refusal", (REFUSAL,)),
    ("whats the tv show called", "refusal", (REFUSAL,)),
    ("what's that called?", "open", ()),  # the sound's name: the sound tells it
    ("is the dog hungry or is it just barking?", "refusal", (REFUSAL,)),
    ("what was the gist of the conversation", "refusal", (REFUSAL,)),  # what was said, in other words
    ("identify the speaker", "refusal", (REFUSAL,)),
    ("name that tune", "refusal", (REFUSAL,)),
    ("is the car red?", "refusal", (REFUSAL,)),
    ("how come the baby is crying", "refusal", (REFUSAL,)),
    ("what's the dog barking at?", "refusal", (REFUSAL,)),
    ("was there a dog barking at any point?", "yesno", YES_NO),  # "barking at", but not at what
    ("what made that noise?", "open", ()),  # the sound's source: the sound tells it
    ("is that white noise", "yesno", YES_NO),
    ("should i go outside?", "refusal", (REFUSAL,)),  # advice, opinion, one's own affairs
    ("did my flight land?", "refusal", (REFUSAL,)),
    ("did i leave the iron on?", "refusal", (REFUSAL,)),
    ("is the tv on?", "yesno", YES_NO),  # a sound can tell
    ("dog barking?", "yesno", YES_NO),  # a short question naming a sound, without its verb
    ("hear any birds?", "yesno", YES_NO),
    ("thunder at all?", "yesno", YES_NO),
    ("loud in here?", "yesno", YES_NO),  # a short question without its verb, about the sound itself
    ("all quiet?", "yesno", YES_NO),
    ("noise outside?", "yesno", YES_NO),
    ("something moving out there?", "yesno", YES_NO),
    ("sounds?", "open", ()),  # the sounds alone ask which
    ("time since last sound?", "open", ()),  # a time, never yes or no
    ("catalogue the noises", "open", ()),  # a request for the sounds in a verb the training data never used
    ("jot down the sounds", "open", ()),
    ("the sounds, please", "open", ()),
    ("spell out the sounds you hear", "open", ()),  # spelled out, not spelled
    ("spell out what she said", "refusal", (REFUSAL,)),
    ("fill me in", "open", ()),
    ("what's the age of the speaker", "refusal", (REFUSAL,)),  # an age, in other words than "how old"
    ("is the singer young?", "refusal", (REFUSAL,)),
    ("was there an old man speaking?", "yesno", YES_NO),  # whether someone was heard, not how old
    ("is the music any good", "refusal", (REFUSAL,)),  # an opinion
    ("rate the music out of ten", "refusal", (REFUSAL,)),
    ("the dog barked - true?", "listed", TRUE_FALSE), ("T/F: there was rain", "listed", TRUE_FALSE),
    ("fact: a car went by. right or wrong?", "listed", TRUE_FALSE), ("tf: the kettle boiled", "listed", TRUE_FALSE),
    ("is it true that a bell rang", "listed", TRUE_FALSE),
    ("the rain was louder than the dog, right?", "yesno", YES_NO), ("that was a horn, wasn't it?", "yesno", YES_NO),
    ("music on or not", "yesno", YES_NO),
    ("when the alarm?", "open", ()), ("timestamp of the dog barking?", "open", ()),  # a time, not whether
    ("one of these wasn't there, which? rain, a dog, a bell, wind", "listed", ("rain", "a dog", "a bell", "wind")),
    ("was that song any good?", "refusal", (REFUSAL,)), ("is the singing good", "refusal", (REFUSAL,)),
    ("what does that word mean in english?", "refusal", (REFUSAL,)),
    ("what time does the bus leave?", "refusal", (REFUSAL,)), ("is my sister coming home soon", "refusal", (REFUSAL,)),
    ("which neighbour is drilling", "refusal", (REFUSAL,)), ("what's that weather noise?", "open", ()),
    ("jet? helicopter? bird? pick one", "listed", ("jet", "helicopter", "bird")),
    ("dog barking? is it raining? any thunder?", "yesno", YES_NO),  # three questions, not three options
])
def test_the_grammar_of_a_question_gives_its_form(question, kind, answers):
    form = asked_form(question)
    assert form is not None and form.kind == kind
    assert form.answers == answers
    assert set(form.banned) - {REFUSAL} == set(BARE if kind == "open" else ())


@pytest.mark.parametrize("question", ["what's that noise?", "what's the loudest sound", "which noises are in there",
                                      "what's the soundscape like", "can you describe what you hear",
                                      "list the sounds in this clip",
                                      "tag this audio", "give me a rundown of the sounds", "what sounds are in here, "
                                      "just the names", "Describe the recording.", "ok just give me the gist",
                                      "what bird is that", "which instrument is playing", "what did i miss?",
                                      "fill me in on the last hour", "what happened while i was out",
                                      "bring me up to speed", "do you know which bird that is"])
def test_a_question_for_the_sounds_themselves_is_never_refused(question):
    form = asked_form(question)
    assert form.kind == "open" and REFUSAL in form.banned and set(BARE) <= set(form.banned)


@pytest.mark.parametrize("question", ["give me a summary", "hey, summarize please", "sum it up", "a quick recap please",
                                      "can you give me a rundown?", "describe"])
def test_a_request_to_describe_that_names_nothing_else_asks_for_the_sounds_in_the_training_wording(question):
    from model.prompt import DESCRIBE_PROMPT

    form = asked_form(question)
    assert form.kind == "open" and REFUSAL in form.banned and form.ask == DESCRIBE_PROMPT
    assert asked_form("summarize what she said").kind == "refusal"  # what the sound cannot tell is still refused
    assert asked_form("give me a summary of the news").ask == ""  # it names something else


@pytest.mark.parametrize("question,answers", [("police or ambulance?", ("police", "ambulance")),
                                              ("so, a plane or a drone", ("a plane", "a drone")),
                                              ("is it police or ambulance?", ("police", "ambulance"))])
def test_alternatives_alone_are_answered_with_one_of_them_as_written(question, answers):
    form = asked_form(question)
    assert form.kind == "listed" and form.answers == answers


@pytest.mark.parametrize("question,scored", [("is that a plane or a helicopter?", ("plane", "helicopter")),
                                             ("my kite or the drone?", ("kite", "drone")),
                                             ("police or ambulance?", ()),  # nothing to leave out
                                             ("is it a dog or the dog", ())])  # the two would be the same
def test_alternatives_are_scored_without_the_article_the_answers_never_have(question, scored):
    form = asked_form(question)
    assert form.kind == "listed" and form.scored == scored


def test_alternatives_said_with_articles_are_chosen_as_their_bare_words_and_answered_as_said():
    model = tiny_sam()
    heard = model.hear(torch.randn(20000) * 0.1)
    question = "is it a kite or a drone?"
    state, logits = after_prompt(model, heard.lm, question)
    scores = [score_one_by_one(model, state.fork(), logits, answer_ids(model.tokenizer, a)) for a in ("kite", "drone")]
    assert model.ask(heard, question).text == ("a kite", "a drone")[max(range(2), key=scores.__getitem__)]


@pytest.mark.parametrize("question", ["is everything ok?", "are you ok?", "is everything alright in there?"])
def test_whether_things_are_all_right_cannot_be_heard(question):
    assert asked_form(question).kind == "refusal"


@pytest.mark.parametrize("question,kind", [("is the dog big or small?", "refusal"), ("was it a big or a small dog", "refusal"),
                                           ("was the dog young or old?", "refusal"), ("is the sound short or long?", "open"),
                                           ("upstairs or downstairs?", "refusal"), ("is it near or far?", "refusal")])
def test_a_size_an_age_or_a_place_offered_as_alternatives_cannot_be_heard(question, kind):
    assert asked_form(question).kind == kind


@pytest.mark.parametrize("question,kind", [("what was that?", "open"), ("where is the sound coming from?", "open"),
                                           ("what's the name of this song", "refusal"),
                                           ("what did the man say in the recording?", "refusal")])
def test_other_questions_keep_the_refusal_where_they_had_it(question, kind):
    form = asked_form(question)
    assert form.kind == kind and (REFUSAL in form.answers) == (kind == "refusal") and REFUSAL not in form.banned


@pytest.mark.parametrize("question", ["dog", "hmm", "thanks!", "the rain stopped.", "tru or false: a horn"])
def test_words_that_are_not_a_question_leave_the_answer_free(question):
    assert asked_form(question) is None


def test_class_mentions_read_everyday_names_longest_first():
    assert class_mentions("the barking dog or someone talking") == ("dog", class_mentions("someone talking")[0])
    assert class_mentions("a church bell, then rain, then a church bell") == ("bell", "rain")  # each once
    assert class_mentions("nothing here names a sound") == ()
    phrases = load_phrases()
    for name, p in phrases.items():  # every class is named by its own plainest phrase
        assert class_mentions(f"was that {p.nouns[0]}?" if p.nouns else name) == (name,), name


def test_a_noun_phrase_names_its_class_over_a_verb_other_subjects_share():
    """phrases.tsv: "talking" is a noun phrase of speech and a verb of "a computer talking" (the speech
    synthesizer); "clapping" of a hand clap and of "an audience clapping"; "buzzing" only a verb of several."""
    assert class_mentions("is there talking going on") == ("speech",)
    assert class_mentions("any clapping?") == ("hand clap",)
    assert class_mentions("is a computer talking?") == ("speech synthesizer",)  # its subject says which
    assert class_mentions("is the audience clapping") == ("applause",)
    assert class_mentions("is something buzzing?") == ()


def _reachable(form, answer):
    if form is None:
        return True
    if form.answers:
        return normalize(answer) in {normalize(a) for a in form.answers}
    return answer not in form.banned


def test_the_training_generators_own_answers_are_allowed_by_the_form_read_from_its_question():
    """Over trained and held-out wording, the form read from a generated question allows the answer the
    generator gives it (typing slips aside), and kinds with one form are read as that form."""
    from test_wording import ALL_HELD, ALL_TRAINED

    pairs = [qa for _, qa in ALL_TRAINED + ALL_HELD]
    blocked = [(qa.question, qa.answer) for qa in pairs if not _reachable(asked_form(qa.question), qa.answer)]
    assert len(blocked) <= 0.01 * len(pairs), blocked[:10]
    want = {"yesno": {"yesno", "listed"}, "count": {"count"}, "type": {"type"}, "mcq": {"listed"}, "tf": {"listed"}}
    for kind, forms in want.items():
        of_kind = [qa for qa in pairs if qa.kind == kind]
        read = [qa for qa in of_kind if _kind(qa.question) in forms]
        assert len(read) >= 0.95 * len(of_kind), (kind, len(read), len(of_kind))
    trained_unknowable = [qa for _, qa in ALL_TRAINED if qa.kind == "unknowable"]
    assert sum(_kind(qa.question) == "refusal" for qa in trained_unknowable) >= 0.9 * len(trained_unknowable)
    refused = [qa.question for qa in pairs if qa.kind != "unknowable" and _kind(qa.question) == "refusal"]
    assert refused == []  # what the sound can tell is never refused


def _kind(question):
    form = asked_form(question)
    return form.kind if form else None


def test_an_open_question_is_never_answered_by_a_banned_answer_and_streams_only_what_it_keeps():
    """The decoding rules out a banned answer's first token and decodes again; tokens that could still
    become a banned answer are not streamed."""
    from model.checkpoint import load_sam

    model = load_sam(Path(__file__).parents[1] / "assets" / "sam-small")  # a model whose answers end
    tok = model.tokenizer
    heard = model.hear(torch.randn(16000) * 0.1).lm
    prompt = prompt_ids(tok, "what was that")
    free = generate(model.lm, tok, heard.fork(), prompt, 12).text
    banned = [answer_ids(tok, free)]  # the answer the model would give, banned
    assert banned[0][-1] == tok.eot_id and len(banned[0]) <= 12
    streamed: list[str] = []
    kept = generate(model.lm, tok, heard.fork(), prompt, 12, on_token=streamed.append, banned=banned)
    assert kept.text != free
    assert "".join(streamed).strip() == kept.text
    first = answer_ids(tok, free)[0]
    logits, _ = model.lm(torch.tensor([prompt]), state=heard.fork())
    masked = answer_logits(model.lm, tok, logits[:, -1].clone())
    masked[:, first] = float("-inf")
    assert answer_ids(tok, kept.text)[0] == int(masked.argmax())  # the next likeliest start
    batched = generate_batch(model.lm, tok, [heard.fork(), heard.fork()], [prompt, prompt], 12, banned=[banned, []])
    assert batched == [kept.text, free]


@pytest.mark.parametrize("question,shape", [
    ("what was that?", "time"), ("describe the scene", "time"), ("which sounds did you hear", "time"),
    ("when did the dog bark?", "no time"), ("give me the time of the drum beat", "no time"),
    ("at what second does the man begin", "no time"), ("where in the clip is the bell?", "no time"),
    ("how long ago did it rain?", "no time"), ("find when the door opened.", "no time"),
    ("locate the explosion in time", "no time"), ("what happened since the bell rang?", "time"),
    ("what did you hear when i was out?", "time"), ("how long has it been quiet?", "no span"),
    ("been quiet how long?", "no span"), ("how long since anything happened", "no span"),
    ("what's the duration of the current silence?", "no span"),
    ("what happens, and when?", "time"), ("describe the sounds with timestamps", "time"),  # the sounds, with times
    ("narrate the recording with timestamps", "time"), ("report every sound event with its onset", "time"),
    ("can you tell me when the dog barked", "no time"), ("the dog barked - when?", "no time"),
    ("at roughly what time did someone knock", "no time"), ("since when has it been quiet", "no span"),
    ("time elapsed since the last sound", "no span"), ("how long without a peep", "no span"),
    ("how long did the rain last?", "nothing"), ("how long has the place been hushed", "no span"),
    ("been silent for how many seconds", "no span"), ("how much quiet time has there been", "no span")])
def test_an_open_question_rules_out_a_bare_time_unless_it_asks_when(question, shape):
    """A question about when rules out any answer without a time, one about how long it has been quiet any answer
    without a span (or that it isn't quiet, or has been all along); any other question about times rules out only
    nothing, and the rest a bare time as well."""
    from model.shapes import NOT_A_QUIET_SPAN, NOT_A_TIME, NOTHING, TIME_OR_NOTHING

    want = {"time": TIME_OR_NOTHING, "nothing": NOTHING, "no time": NOT_A_TIME, "no span": NOT_A_QUIET_SPAN}[shape]
    form = asked_form(question)
    assert form.unwanted is want
    if shape in ("no time", "no span"):  # a time is something the sound can tell
        assert REFUSAL in form.banned


@pytest.mark.parametrize("text,no_time,no_span", [
    ("at 0.3 s", False, False), ("about 60 seconds ago", False, False), ("about 2 minutes", False, False),
    ("", True, True), ("harpsichord", True, True), ("dog at 3.2 s", False, False), ("at 3.", True, True),
    ("it isn't quiet right now", True, False), ("it has been quiet the whole time", True, False),
    ("about twenty", True, True)])
def test_an_answer_without_a_time_or_span_is_the_shape_a_when_or_quiet_question_rules_out(text, no_time, no_span):
    from model.shapes import NOT_A_QUIET_SPAN, NOT_A_TIME

    assert NOT_A_TIME.matches(text) is no_time and NOT_A_QUIET_SPAN.matches(text) is no_span
    # text is held back from streaming exactly while it could still end without a time
    assert NOT_A_TIME.may_become(text) is no_time


@pytest.mark.parametrize("text,whole,start", [
    ("at 0.3 s", True, True), ("about 60 seconds ago", True, True), ("4.5 s", True, True), ("", True, True),
    ("around 12 seconds.", True, True), ("dog", False, False), ("a dog barking", False, False),
    ("at the door", False, True), ("rain at 0.3-1.1 s", False, False)])
def test_a_bare_time_is_the_shape_and_text_that_could_become_one_is_held(text, whole, start):
    from model.shapes import NOTHING, TIME_OR_NOTHING

    assert TIME_OR_NOTHING.matches(text) is whole and TIME_OR_NOTHING.may_become(text) is start
    assert NOTHING.matches(text) is (text == "")
    if whole:  # every beginning of an unwanted answer is held back, so none of it is streamed
        assert all(TIME_OR_NOTHING.may_become(text[:i].strip()) for i in range(len(text) + 1))


def test_an_unwanted_shape_is_decoded_again_a_bounded_number_of_times_and_never_streamed():
    """Slow reference: greedy decoding with the earlier attempts' first tokens ruled out by hand."""
    import re

    from model.checkpoint import load_sam
    from model.generate import MAX_REDECODES
    from model.shapes import Shape

    model = load_sam(Path(__file__).parents[1] / "assets" / "sam-small")
    tok = model.tokenizer
    heard = model.hear(torch.randn(16000) * 0.1).lm
    prompt = prompt_ids(tok, "what was that")
    free = generate(model.lm, tok, heard.fork(), prompt, 12).text
    prefixes = "|".join(re.escape(free[:i].strip()) for i in range(len(free) + 1))
    not_free = Shape(re.compile(re.escape(free)), re.compile(prefixes))  # the model's own answer is unwanted
    streamed: list[str] = []
    again = generate(model.lm, tok, heard.fork(), prompt, 12, on_token=streamed.append, unwanted=not_free)
    assert again.text != free and "".join(streamed).strip() == again.text
    logits, _ = model.lm(torch.tensor([prompt]), state=heard.fork())
    masked = answer_logits(model.lm, tok, logits[:, -1].clone())
    masked[:, answer_ids(tok, free)[0]] = float("-inf")
    assert answer_ids(tok, again.text)[0] == int(masked.argmax())
    every = Shape(re.compile(r"[\s\S]*"), re.compile(r"[\s\S]*"))  # nothing is wanted: it gives up
    streamed.clear()
    last = generate(model.lm, tok, heard.fork(), prompt, 12, on_token=streamed.append, unwanted=every)
    starts = {answer_ids(tok, t)[0] for t in [free, again.text]}
    assert "".join(streamed).strip() == last.text  # what the attempts held back, once, at the end
    assert len(starts) == 2 and MAX_REDECODES >= 1
    batched = generate_batch(model.lm, tok, [heard.fork(), heard.fork()], [prompt, prompt], 12,
                             unwanted=[not_free, None])
    assert batched == [again.text, free]


# -- list answers that name each sound once -------------------------------------------------------
@pytest.mark.parametrize("items, kept", [
    (["hiss", "bass guitar", "hiss", "hiss"], 2),
    (["dog", "rain", "dog"], 2),
    (["dog", "rain", "car horn"], 3),
    (["dog"], 1),
    ([], 0),
])
def test_a_list_answer_is_cut_before_its_first_repeated_item(items, kept):
    from model.generate import said_once

    comma = 0
    words = {w: i + 1 for i, w in enumerate(dict.fromkeys(items))}
    ids = []
    for k, item in enumerate(items):
        ids += ([comma] if k else []) + [words[item], 100 + len(item)]  # two tokens an item
    cut = said_once(ids, comma)
    assert cut == ids[: max(3 * kept - 1, 0)]
    assert said_once(ids, None) == ids  # a vocabulary without a comma: nothing to cut


def _read(form) -> str:
    """A Form as the kind of answer it allows: yesno, tf, count, type, refusal, time, span, open or listed."""
    from model.shapes import NOT_A_QUIET_SPAN, NOT_A_TIME
    if form.kind == "listed":
        return "yesno" if form.answers == YES_NO else "tf" if form.answers == TRUE_FALSE else "listed"
    if form.kind == "open":
        return "time" if form.unwanted is NOT_A_TIME else "span" if form.unwanted is NOT_A_QUIET_SPAN else "open"
    return form.kind


@pytest.mark.parametrize("question, kind", [
    # whether it is so, asked indirectly, by a tag or a remark, or as a sound and where it may be heard
    ("tell me if there was rain at any point", "yesno"), ("i wonder whether that's a dog", "yesno"),
    ("kindly let me know if someone is talking right now", "yesno"),
    ("not sure if that's a cuckoo i'm hearing", "yesno"),
    ("check if there's music on now? answer y or n", "yesno"), ("any owls? is it a yes or a no", "yesno"),
    ("nothing making noise right now, right", "yesno"), ("was that thunder, or did i imagine it", "yesno"),
    ("is that a siren or am i imagining things", "yesno"), ("a cricket anywhere in the clip", "yesno"),
    ("a fire burning rn thanks", "yesno"), ("any animals rn", "yesno"), ("any sign of a person nearby", "yesno"),
    # a statement to judge in other words than "true or false"
    ("fact check: a dog barked in the recording", "tf"),
    ("hmm, verify this statement: it rained before the bell", "tf"),
    ("a phone rang - true.", "tf"), ("the dog barked twice. fact or fiction", "tf"),
    ("someone knocked at some point - is that true please", "tf"), ("is this right: the bell rang once", "tf"),
    ("evaluate: after the door slammed, the baby cried. is it true?", "tf"),
    # when, how many, what kind, which sound
    ("do you know what time the cow mooed", "time"), ("find the moment someone laughed", "time"),
    ("the door slam - when was that", "time"), ("roughly when did the door slam", "time"),
    ("the siren: what time?", "time"), ("what time is it", "refusal"),
    ("would you mind counting all the sounds in the recording", "count"), ("total dog barks in the clip?", "count"),
    ("hi, how often does someone snap their fingers in this clip", "count"),
    ("broadly, what kind of audio is this", "type"), ("is anything being said, or is it music", "type"),
    ("is it vocal or musical?", "type"), ("which one's making less noise, the dog or the rain", "named"),
    ("i can hardly hear one of them - the dog or the rain, which is the quiet one", "named"),
    ("would you mind identifying the animal", "open"),
    ("what's the story in this recording", "open"), ("describe it for me, spell it out in a sentence", "open"),
    # what the sound cannot tell, in more of life
    ("what did my mom say on the voicemail", "refusal"), ("what's the radio saying", "refusal"),
    ("what does the siren mean", "refusal"), ("where are my keys", "refusal"), ("did i lock the front door", "refusal"),
    ("what's the make and model of the car that just drove past", "refusal"), ("what's on my calendar", "refusal"),
    ("how long until the rain stops", "refusal"), ("is the storm going to get worse", "refusal"),
    ("does my boss sound annoyed", "refusal"), ("how many fingers am i holding up", "refusal"),
])
def test_more_ways_of_asking_each_form_are_read(question, kind):
    assert _read(asked_form(question)) == kind


@pytest.fixture(scope="module")
def demo_heard():
    """The shipped model and its language model's state after hearing the demo recording."""
    import soundfile as sf

    from model.checkpoint import load_sam

    root = Path(__file__).parents[1] / "assets"
    model = load_sam(root / "sam-small")
    audio, _ = sf.read(root / "demo.ogg", dtype="float32")
    return model, model.hear(torch.from_numpy(audio)).lm


def test_the_shipped_model_names_each_sound_of_a_list_once_streamed_and_batched(demo_heard):
    """On the demo recording the shipped model's free list repeats itself; with `once` the answer is the
    same list up to its first repeated item, streamed item by item, and batched decoding agrees."""
    from model.generate import said_once

    model, heard = demo_heard
    tok = model.tokenizer
    prompt = prompt_ids(tok, "what did I miss?")
    free_ids = answer_ids(tok, generate(model.lm, tok, heard.fork(), prompt, 40).text)[:-1]
    assert said_once(free_ids, tok.comma_id) != free_ids  # the free answer repeats an item
    streamed: list[str] = []
    once = generate(model.lm, tok, heard.fork(), prompt, 40, on_token=streamed.append, once=True)
    assert once.text == tok.decode(said_once(free_ids, tok.comma_id)).strip()
    assert "".join(streamed).strip() == once.text
    items = [i.strip() for i in once.text.split(",")]
    assert len(items) == len(set(items)) >= 2
    assert generate_batch(model.lm, tok, [heard.fork()], [prompt], 40, once=True) == [once.text]


def test_an_answer_is_banned_by_what_it_says_however_its_tokens_spell_it(demo_heard):
    from model.generate import _unwanted

    tok = demo_heard[0].tokenizer
    banned = [answer_ids(tok, "14")]
    other = tok.encode("14")  # the same text in other tokens than the banned answer's
    assert [*other, tok.eot_id] != banned[0] and tok.decode(other).strip() == "14"
    assert _unwanted(tok, other, banned, None)
    assert not _unwanted(tok, tok.encode("a dog"), banned, None)


def test_an_item_the_token_limit_cut_off_is_left_out():
    from model.generate import whole_items

    comma, ids = 0, [5, 6, 0, 7, 0, 8, 9]  # "a b, c, d e" with the limit reached inside "d e"
    assert whole_items(ids, comma, ended=False) == [5, 6, 0, 7]
    assert whole_items(ids, comma, ended=True) == ids  # it ended by itself: every item is whole
    assert whole_items([5, 6], comma, ended=False) == [5, 6]  # one item: nothing better to say
    assert whole_items(ids, None, ended=False) == ids


def test_a_list_item_whose_span_is_garbled_or_backwards_is_left_out(demo_heard):
    from model.generate import well_timed

    tok = demo_heard[0].tokenizer
    said = "forest in the background; bird at 0.3-4.1 s, harp at 48.8- y.1 s, engine at 40.8-39.3 s, dog at 9.0-9.4 s"
    ids = answer_ids(tok, said)[:-1]
    assert tok.decode(well_timed(tok, ids, tok.comma_id)).strip() == \
        "forest in the background; bird at 0.3-4.1 s, dog at 9.0-9.4 s"
    for whole in ("dog, rain, bell", "at 3.2 s", "rain at 0.0-10.0 s, dog at 1.5-2.0 s", "about 2 minutes ago"):
        whole_ids = answer_ids(tok, whole)[:-1]
        assert well_timed(tok, whole_ids, tok.comma_id) == whole_ids
    garbled = answer_ids(tok, "harp at 48.8- y.1 s")[:-1]
    assert well_timed(tok, garbled, tok.comma_id) == []
    assert well_timed(tok, ids, None) == ids


def test_the_shipped_model_ends_a_description_cut_by_the_limit_at_its_last_whole_item(demo_heard):
    """Slow reference: the description decoded without a limit, cut at the last comma before the limit;
    streamed and batched decoding agree."""
    from model.generate import said_once

    model, heard = demo_heard
    tok = model.tokenizer
    prompt = prompt_ids(tok, "describe the sound scene")
    free_ids = said_once(answer_ids(tok, generate(model.lm, tok, heard.fork(), prompt, 120).text)[:-1], tok.comma_id)
    commas = [i for i, t in enumerate(free_ids) if t == tok.comma_id]
    assert len(commas) >= 2  # a description of several events
    limit = commas[1] - 1  # inside the second item: not yet ended, one whole item before it
    streamed: list[str] = []
    cut = generate(model.lm, tok, heard.fork(), prompt, limit, on_token=streamed.append, once=True)
    assert cut.text == tok.decode(free_ids[: commas[0]]).strip()
    assert "".join(streamed).strip() == cut.text
    assert generate_batch(model.lm, tok, [heard.fork()], [prompt], limit, once=True) == [cut.text]
    whole = generate(model.lm, tok, heard.fork(), prompt, 120, once=True)
    assert whole.text == tok.decode(free_ids).strip()  # an answer that ends by itself keeps every item
