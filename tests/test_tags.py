"""What the YAMNet branch tagged: the constant-size memory, what a text names, and how the tags weigh in
closed answers and watches."""
import math

import pytest
import torch

from model.answer_forms import HEARD_WEIGHT, asked_form, heard_priors, question_form
from model.audio import SAMPLE_RATE
from model.config import SAMConfig
from model.data.audioset import default_map
from model.files import read_safetensors
from model.generate import choose
from model.prompt import prompt_ids
from model.sam import SAM
from model.state import save_state_file
from model.stream import StreamState
from model.tags import (EVIDENCE_CAP, GROUPS, RECENT_COLUMNS, THRESHOLD, Tags, asked_evidence, asked_groups, ceilings,
                        evidence, group_blocks, rows_named)
from model.tokenizer import Tokenizer
from model.watch import WATCH_COLUMNS, with_tags
from model.yamnet import NUM_CLASSES

TEXT = ["do you hear a dog barking? yes", "is there rain? no", "a door slams", "a) dog b) rain"] * 30


def row(display: str) -> int:
    return next(r.index for r in default_map() if r.display_name == display)


def tags_with(scores: dict[int, float], columns: int = 20, level: float = 0.001) -> Tags:
    """Tags of `columns` columns where each row of `scores` scored its value in the last column, others `level`."""
    s = torch.full((1, columns, NUM_CLASSES), level)
    for r, v in scores.items():
        s[0, -1, r] = v
    return Tags.empty(1).push(s)


# ---------------------------------------------------------------- the memory

def test_pushing_in_pieces_keeps_the_last_columns_and_the_highest_scores():
    g = torch.Generator().manual_seed(0)
    every = torch.rand(2, 150, NUM_CLASSES, generator=g)
    tags = Tags.empty(2)
    for a, b in ((0, 1), (1, 40), (40, 40), (40, 101), (101, 150)):
        before = tags.recent.clone()
        tags = tags.push(every[:, a:b])
        if b > a:
            assert not torch.equal(before, tags.recent)
    assert tags.columns == 150
    torch.testing.assert_close(tags.recent, every[:, -RECENT_COLUMNS:])  # slow reference: slice the whole
    torch.testing.assert_close(tags.ever, every.amax(1))
    torch.testing.assert_close(tags.last(5), every[:, -5:].amax(1))
    assert tags.nbytes == Tags.empty(2).nbytes  # never grows with the stream


def test_a_short_stream_reads_only_the_columns_it_heard():
    tags = Tags.empty(1).push(torch.full((1, 3, NUM_CLASSES), -1.0))  # below the zeros before the stream
    assert float(tags.last(RECENT_COLUMNS).max()) == -1.0
    with pytest.raises(ValueError):
        tags.last(RECENT_COLUMNS + 1)


def test_a_fork_is_independent():
    tags = tags_with({5: 0.9})
    fork = tags.fork()
    fork.recent.zero_()
    assert float(tags.recent.max()) == pytest.approx(0.9)


# ---------------------------------------------------------------- what a text names

@pytest.mark.parametrize("text,display", [
    ("is there a dog?", "Bark"), ("woof", "Bark"), ("tell me when the baby cries", "Baby cry, infant cry"),
    ("did someone sneeze?", "Sneeze"), ("is it raining", "Rain"), ("Did you just hear a cat meowing?", "Meow"),
    ("a doorbell", "Doorbell"), ("someone knocking", "Knock")])
def test_a_text_names_the_audioset_rows_of_its_sound(text, display):
    assert row(display) in rows_named(text)


def test_a_text_that_names_no_sound_names_no_row():
    assert rows_named("what was that?") == ()
    assert rows_named("how long has it been quiet") == ()
    assert rows_named("did the mic catch any sound?") == ()  # a gong "sounds", but "sound" alone names nothing
    assert rows_named("is anything buzzing?") == ()  # a verb only other classes' subjects share: a bee, a mosquito


def test_a_group_asked_about_reads_its_block_of_the_ontology():
    blocks = group_blocks()
    assert asked_groups("is anyone there?") == ("people",) and asked_groups("any animals around") == ("animal",)
    assert asked_groups("did a vehicle go by?") == ("vehicle",) and asked_groups("what was that?") == ()
    assert {row("Speech"), row("Laughter"), row("Walk, footsteps")} <= set(blocks["people"])
    assert {row("Bark"), row("Meow"), row("Animal")} <= set(blocks["animal"]) and row("Speech") not in blocks["animal"]
    assert {row("Car"), row("Vehicle")} <= set(blocks["vehicle"]) and row("Engine") not in blocks["vehicle"]
    assert not set(blocks["people"]) & set(blocks["animal"])


def test_a_group_is_weighed_against_its_own_threshold_and_a_named_sound_against_its_rows():
    laughing = tags_with({row("Laughter"): 0.9}).ever[0]
    threshold = GROUPS["people"][2]
    assert asked_evidence(laughing, "is anyone there?") == pytest.approx(
        math.log(0.9 / 0.1) - math.log(threshold / (1 - threshold)), rel=1e-5)
    assert asked_evidence(laughing, "is someone talking?") < 0  # speech is named: laughter is not speech
    assert asked_evidence(laughing, "what was that?") is None


def test_a_groups_threshold_is_the_one_with_the_best_f1():
    from model.evaluation.groups import best_threshold

    present = [True, True, True, False, False, False, False]
    scores = [0.9, 0.8, 0.35, 0.6, 0.25, 0.1, 0.0]
    # over 0.3: 3 of 3 found with 1 false (F1 6/7); over 0.6: 2 found with 1 false (F1 4/6); over 0.8: 2 (F1 4/5)
    chosen = best_threshold(present, scores, (0.3, 0.6, 0.8))
    assert chosen["threshold"] == 0.3 and chosen["f1"] == pytest.approx(6 / 7, abs=1e-4)
    assert chosen["tpr"] == 1.0 and chosen["fpr"] == 0.25
    assert best_threshold(present, scores, (0.7, 0.8))["threshold"] == 0.7  # a tie: the lower


def test_yes_to_a_group_gains_by_any_of_its_sounds():
    q = "is anyone there?"
    form = asked_form(q)
    yes = form.answers.index("yes")
    assert heard_priors(form, q, tags_with({row("Laughter"): 0.9}))[yes] > 0
    assert heard_priors(form, q, tags_with({row("Bark"): 0.9}))[yes] < 0


def test_evidence_is_the_log_odds_against_the_presence_threshold():
    r = row("Bark")
    at = torch.zeros(NUM_CLASSES)
    at[r] = THRESHOLD
    assert evidence(at, (r,)) == pytest.approx(0.0, abs=1e-6)
    at[r] = 0.9
    assert evidence(at, (r,)) == pytest.approx(math.log(9) - math.log(THRESHOLD / (1 - THRESHOLD)), rel=1e-5)
    at[r] = 0.0
    assert evidence(at, (r,)) == -EVIDENCE_CAP
    assert evidence(at, ()) == 0.0


# ---------------------------------------------------------------- closed answers

def test_yes_gains_when_the_asked_sound_was_tagged_and_loses_when_it_was_not():
    form = asked_form("is there a dog?")
    heard = heard_priors(form, "is there a dog?", tags_with({row("Bark"): 0.95}))
    unheard = heard_priors(form, "is there a dog?", tags_with({}))
    yes = form.answers.index("yes")
    assert heard[yes] > 0 > unheard[yes]
    assert all(p == 0 for i, p in enumerate(heard) if i != yes)
    assert heard[yes] <= HEARD_WEIGHT * EVIDENCE_CAP


def test_a_question_that_asks_more_than_presence_takes_only_the_evidence_against():
    q = "did the dog bark twice?"
    form = asked_form(q)
    yes = form.answers.index("yes")
    assert heard_priors(form, q, tags_with({row("Bark"): 0.95}))[yes] == 0
    assert heard_priors(form, q, tags_with({}))[yes] < 0


def test_options_gain_by_their_own_sounds_and_a_negated_stem_turns_it_round():
    q = "Which sound is in the recording? A) dog B) rain C) siren"
    tags = tags_with({row("Rain"): 0.9})
    form = asked_form(q)
    priors = heard_priors(form, q, tags)
    assert max(range(3), key=priors.__getitem__) == 1
    q_not = "Which sound is NOT in the recording? A) dog B) rain C) siren"
    flipped = heard_priors(asked_form(q_not), q_not, tags)
    assert min(range(3), key=flipped.__getitem__) == 1


def test_a_sound_yamnet_has_no_row_for_is_bounded_by_its_parents_rows():
    bounds = ceilings()
    assert set(bounds["hawk"]) >= {row("Bird")} and bounds["camel"] == (row("Animal"),)
    assert set(bounds["male speech"]) >= {row("Speech")}
    assert "dog" not in bounds  # a class with rows of its own keeps them
    assert "kettle" not in bounds  # in no family with rows and no category row: nothing for or against
    no_bird = tags_with({}).recent[0, -1]
    bird = tags_with({row("Bird"): 0.95}).recent[0, -1]
    assert asked_evidence(no_bird, "is there a hawk?") < 0
    assert asked_evidence(no_bird, "is there a hawk?") == pytest.approx(evidence(no_bird, bounds["hawk"]))
    assert asked_evidence(bird, "is there a hawk?") == 0.0  # a bird heard says nothing for a hawk over a crow
    assert asked_evidence(no_bird, "is there a kettle?") is None
    q = "Which animal is it? A) hawk B) frog"
    form = asked_form(q)
    frog = heard_priors(form, q, tags_with({row("Frog"): 0.99}))
    assert frog[0] < 0 < frog[1]  # no bird heard speaks against the hawk
    assert heard_priors(form, q, tags_with({row("Bird"): 0.9, row("Frog"): 0.01}))[0] == 0.0


def test_a_question_about_now_in_a_long_stream_reads_the_last_ten_seconds():
    bark = row("Bark")
    s = torch.full((1, 400, NUM_CLASSES), 0.001)  # 64 s of stream: the dog barked at its start only
    s[0, 10, bark] = 0.95
    tags = Tags.empty(1).push(s)
    yes = asked_form("is a dog barking?").answers.index("yes")
    assert heard_priors(asked_form("is a dog barking?"), "is a dog barking?", tags)[yes] < 0
    assert heard_priors(asked_form("did a dog bark?"), "did a dog bark?", tags)[yes] > 0
    assert heard_priors(asked_form("was that a dog?"), "was that a dog?", tags)[yes] < 0  # just now


def test_the_onset_kept_is_where_the_run_of_each_class_highest_score_began():
    """Slow reference: from the whole sequence, the run over THRESHOLD around each class's first highest score."""
    g = torch.Generator().manual_seed(0)
    every = torch.rand(2, 300, NUM_CLASSES, generator=g) ** 4  # runs over THRESHOLD of a few columns
    tags = Tags.empty(2)
    for a, b in ((0, 7), (7, 100), (100, 101), (101, 300)):
        tags = tags.push(every[:, a:b])
    want = torch.full((2, NUM_CLASSES), -1.0)
    for b in range(2):
        for r in range(NUM_CLASSES):
            j = int(every[b, :, r].argmax())
            if every[b, j, r] >= THRESHOLD:
                while j > 0 and every[b, j - 1, r] >= THRESHOLD:
                    j -= 1
                want[b, r] = j
    assert (want >= 0).any() and (want > 0).any()
    torch.testing.assert_close(tags.onset, want)


def test_heard_ago_counts_back_from_the_end_of_the_stream_to_the_start_of_the_sound():
    bark = row("Bark")
    s = torch.full((1, 1000, NUM_CLASSES), 0.001)  # 160 s of stream
    s[0, 100:110, bark] = torch.linspace(0.5, 0.95, 10)  # the dog from 16 s: its first column ends at 16.16 s
    s[0, 500, bark] = 0.6  # a lesser bark later does not move it
    tags = Tags.empty(1).push(s)
    assert tags.heard_ago((bark,)) == pytest.approx(160 - (16.16 - 0.48), abs=1e-4)
    assert tags.heard_ago((row("Meow"),)) is None  # never over the threshold
    assert tags.heard_ago(()) is None


def test_no_tags_and_open_questions_add_nothing():
    assert heard_priors(asked_form("is there a dog?"), "is there a dog?", None) is None
    assert heard_priors(asked_form("is there a dog?"), "is there a dog?", Tags.empty(1)) is None  # heard nothing
    assert heard_priors(asked_form("what was that?"), "what was that?", tags_with({})) is None


# ---------------------------------------------------------------- the model

@pytest.fixture(scope="module")
def model():
    """sam-tiny with a YAMNet branch (random weights: the tests compare its paths with each other)."""
    torch.manual_seed(2)
    return SAM(SAMConfig.from_name("sam-tiny").replace(branch="yamnet"), Tokenizer.train(TEXT, vocab_size=290)).eval()


@pytest.fixture(scope="module")
def audio():
    g = torch.Generator().manual_seed(3)
    t = torch.arange(int(3.3 * SAMPLE_RATE)) / SAMPLE_RATE
    return (0.3 * torch.sin(2 * torch.pi * 440 * t) * (t > 1.0) + 0.02 * torch.randn(t.numel(), generator=g)).float()


def test_hearing_tags_each_column_with_yamnets_own_scores(model, audio):
    """Slow reference: YAMNet's classifier on the branch's embedding of every column."""
    state = model.hear(audio)
    padded = model.pad_to_blocks(audio.reshape(1, -1))
    from model.audio import with_floor

    floored, before = with_floor(padded, model.block_samples)
    with torch.inference_mode():
        emb = model.branch.embeddings(model.branch.frames(floored, before), model.branch.zero_context(1, "cpu"))
        want = torch.sigmoid(model.branch.yamnet.classifier(emb))
    assert state.tags.columns == want.shape[1]
    torch.testing.assert_close(state.tags.ever, want.amax(1), atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(state.tags.recent[:, -want.shape[1]:], want, atol=1e-5, rtol=1e-4)


def test_streaming_in_odd_pieces_tags_as_hearing_the_whole(model, audio):
    state = model.new_state()
    for a, b in ((0, 999), (999, 20000), (20000, audio.numel())):
        state = model.listen(audio[a:b], state)
    state = model.listen(audio[:0], state, flush=True)
    whole = model.hear(audio)
    assert state.tags.columns == whole.tags.columns
    torch.testing.assert_close(state.tags.ever, whole.tags.ever, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(state.tags.recent, whole.tags.recent, atol=1e-5, rtol=1e-4)


def test_a_saved_state_keeps_its_tags_and_an_old_one_without_them_still_loads(model, audio, tmp_path):
    state = model.hear(audio)
    state.save(tmp_path / "s.safetensors", model.cfg)
    back = StreamState.load(tmp_path / "s.safetensors", model.cfg)
    assert back.tags.columns == state.tags.columns
    for name, t in state.tags.tensors().items():
        torch.testing.assert_close(back.tags.tensors()[name], t)
    tensors, meta = read_safetensors(tmp_path / "s.safetensors", "cpu")
    for name in ("tags.onset", "tags.run", "tags.since", "tags.latest"):  # saved before the tags kept their columns
        del tensors[name]
    save_state_file(tmp_path / "older.safetensors", tensors, meta)
    older = StreamState.load(tmp_path / "older.safetensors", model.cfg)
    torch.testing.assert_close(older.tags.ever, state.tags.ever)
    assert older.tags.heard_ago(tuple(range(NUM_CLASSES))) is None  # no times for what it heard then
    assert older.tags.going_on_for(tuple(range(NUM_CLASSES))) is None
    old = StreamState(state.lm, state.encoder, state.pending, state.history, state.samples_seen, state.branch, None)
    old.save(tmp_path / "old.safetensors", model.cfg)
    resumed = StreamState.load(tmp_path / "old.safetensors", model.cfg)
    assert resumed.tags is None
    assert model.listen(audio[:5000], resumed).tags is not None  # it starts tagging again as it hears


def test_a_state_whose_tags_have_the_wrong_shape_is_refused_by_name(model, audio, tmp_path):
    state = model.hear(audio)
    good = state.tags
    state.tags = Tags(good.recent[:, :5], good.ever, good.columns)
    state.save(tmp_path / "bad.safetensors", model.cfg)
    with pytest.raises(ValueError, match="bad.safetensors: damaged SAM stream state: its tags"):
        StreamState.load(tmp_path / "bad.safetensors", model.cfg)
    state.tags = Tags(good.recent, good.ever, good.columns, good.onset[:, :7], good.run)  # its onsets cut short
    state.save(tmp_path / "bad_onset.safetensors", model.cfg)
    with pytest.raises(ValueError, match="bad_onset.safetensors: damaged SAM stream state: its tags"):
        StreamState.load(tmp_path / "bad_onset.safetensors", model.cfg)


def test_a_large_enough_prior_changes_the_choice(model, audio):
    tok = model.tokenizer
    state = model.hear(audio)
    q = "is there a dog?"
    form = question_form(tok, q)
    with torch.inference_mode():
        logits, pushed = model.lm(torch.tensor([prompt_ids(tok, q)]), state=state.lm.fork())
        plain = choose(model.lm, tok, pushed, logits[:, -1], form.choices)
        for i, ids in enumerate(form.choices):
            push = tuple(1e4 if j == i else 0.0 for j in range(len(form.choices)))
            assert choose(model.lm, tok, pushed, logits[:, -1], form.choices, push) == ids[:-1]
    assert plain in [c[:-1] for c in form.choices]


# ---------------------------------------------------------------- watches

def test_a_watch_is_surer_when_its_sound_was_just_tagged():
    q, other = "Did you just hear a dog barking?", "Did you just hear what I mean?"
    heard = with_tags([0.5, 0.5], [q, other], tags_with({row("Bark"): 0.95}))
    unheard = with_tags([0.5, 0.5], [q, other], tags_with({}))
    assert heard[0] > 0.9 and unheard[0] < 0.1
    assert heard[1] == unheard[1] == 0.5  # a phrase the tags cannot name keeps the language model's confidence
    assert with_tags([0.5], [q], None) == [0.5]


def test_a_watch_reads_only_the_last_columns():
    s = torch.full((1, 40, NUM_CLASSES), 0.001)
    s[0, 40 - WATCH_COLUMNS - 1, row("Bark")] = 0.99  # just before the watch's window
    assert with_tags([0.5], ["Did you just hear a dog?"], Tags.empty(1).push(s))[0] < 0.1


def test_the_watch_benchmark_traces_with_and_without_the_tags(model, audio):
    from live.watch_bench import trace
    from model.watch import yes_confidence

    questions = ["Did you just hear a dog barking?", "Did you just hear what I mean?"]
    hop = 8 * 2560
    times, with_tags_ = trace(model, audio.numpy(), questions, hop, tags=True)
    _, alone = trace(model, audio.numpy(), questions, hop, tags=False)
    state = model.new_state()
    for k, start in enumerate(range(0, audio.numel() - hop + 1, hop)):
        state = model.listen(audio[start:start + hop], state)
        lm = yes_confidence(model.lm, model.tokenizer, state.lm, questions).numpy()
        assert alone[k] == pytest.approx(lm, abs=1e-6)
        assert with_tags_[k] == pytest.approx(with_tags([float(x) for x in lm], questions, state.tags), abs=1e-6)
    assert times[-1] == pytest.approx(state.seconds)
    assert with_tags_[:, 1] == pytest.approx(alone[:, 1], abs=1e-6)  # the second names nothing the tags know


def test_the_tune_never_offers_a_watch_that_cannot_fire_again():
    from live.watch_tune import grid

    quiet = {"events": 0, "alerted": 0, "delays_s": [], "false_alerts_per_hour": 0.0}
    configs = grid(lambda config: [quiet])
    assert configs and all(c["off"] > 0 for c in configs)
    assert min(c["on"] for c in configs) <= 0.15
