"""Question wording: the grammar's size and split, the class phrases, and the rule that every answer
takes the form its question asks for, with facts that match the scene."""
import random
import re
from collections import Counter

import pytest

from model.data.labels import load_classes
from model.data.mixer import RECENT_S
from model.data.questions import GENERATORS, KINDS, REFUSAL, SPEECH, Asker, ask, ask_pair, meaning, stream
from model.data.wording import (HELD_OUT_STYLES, LABEL_STYLES, PEOPLE_TXT, Wording, cached_stems, casual, definite,
                                finish, grammar_stems, load_phrases, load_stems, slots_of, typo)
from model.evaluation.forms import Asked, judge
from model.evaluation.scoring import corpus_class_names
from model.metrics import normalize
from test_data_tasks import SCENES

CLASSES = load_classes()
STEMS = cached_stems()  # what training draws from: the grammar and the people's families
PHRASES = load_phrases()
TRAINED, HELD = Asker.create(CLASSES, "train"), Asker.create(CLASSES, "held_out")
NAMES = corpus_class_names()
INSTRUCTIONS = ("yesno", "tf", "mcq", "count", "one_word", "sentence")


def asked(qa, scene):
    return Asked(qa.kind, qa.form, qa.answer, qa.options, qa.value, scene.duration_s)


def generated(asker, kinds=KINDS, per_kind=120):
    """(scene, qa) for every kind over the test scenes."""
    out = []
    for kind in kinds:
        n = 0
        for i, scene in enumerate(SCENES):
            qa = GENERATORS[kind](scene, random.Random(i), random.Random(f"w{i}"), asker)
            if qa is not None:
                out.append((scene, qa))
                n += 1
            if n == per_kind:
                break
        assert n >= 15, f"too few {kind} questions"
    return out


ALL_TRAINED = generated(TRAINED)
ALL_HELD = generated(HELD)


def test_every_kind_has_thirty_stems_and_families_on_both_sides_of_the_split():
    for kind in KINDS:
        families = STEMS[kind]
        stems = {s for f in families for s in f.stems}
        assert len(stems) >= 30, kind
        assert any(f.held_out for f in families) and any(not f.held_out for f in families), kind
        held = {s for f in families if f.held_out for s in f.stems}
        assert held and held.isdisjoint({s for f in families if not f.held_out for s in f.stems}), kind
    for form in INSTRUCTIONS:
        families = STEMS[f"instruction:{form}"]
        assert all(s.count("{q}") == 1 for f in families for s in f.stems)
        assert any(f.held_out for f in families) and any(not f.held_out for f in families)


def test_the_peoples_families_train_only_and_leave_the_wording_set_alone():
    people = load_stems(PEOPLE_TXT)
    families = [f for fs in people.values() for f in fs]
    assert len(families) >= 100 and all(f.name.startswith("ppl-") and not f.held_out for f in families)
    grammar = {normalize(s) for fs in grammar_stems().values() for f in fs for s in f.stems}
    assert all(normalize(s) not in grammar for f in families for s in f.stems)  # never a held-out stem trained
    for kind, fs in people.items():
        allowed = {x for f in grammar_stems()[kind] for s in f.stems for x in slots_of(s)}
        assert all(slots_of(s) <= allowed for f in fs for s in f.stems), kind  # only slots the kind fills
        tags = {tuple(sorted(f.tags.items())) for f in grammar_stems()[kind]}
        assert all(tuple(sorted(f.tags.items())) in tags for f in fs), kind  # asking what the grammar's ask
    names = {f.name for f in families}
    assert names <= {f.name for fs in STEMS.values() for f in fs}
    assert names.isdisjoint(f.name for fs in Asker.create(CLASSES, "train", stems=grammar_stems()).wording
                            .families.values() for f in fs)
    from model.data.handwritten import WRITTEN_SETS, load_written, trained_patterns
    said = trained_patterns(people, PHRASES)
    asked = [normalize(w.question) for path, _, _ in WRITTEN_SETS for w in load_written(path)]
    assert not [q for q in asked if any(p.fullmatch(q) for p in said)]  # nor words a hand-written question
    drawn = Counter(qa.family in names for _, qa in ALL_TRAINED)
    assert drawn[True] > 0.2 * sum(drawn.values())  # training asks them, beside the grammar's


def test_the_grammar_words_tens_of_thousands_of_questions():
    """Stems times the ways their slots can be filled by the classes' phrases, per kind that names sounds."""
    nouns = sum(len(p.nouns) for p in PHRASES.values())
    actions = sum(len(p.actions) for p in PHRASES.values())
    for kind in ("yesno", "tf", "count", "when"):
        total = 0
        for f in STEMS[kind]:
            for s in f.stems:
                slots = slots_of(s)
                ways = actions if slots & {"subj", "verb", "verbing", "verbed", "the_subj"} else nouns if slots else 1
                total += ways
        assert total >= 10_000, (kind, total)


def test_phrases_cover_every_class_and_never_name_two():
    assert set(PHRASES) == set(CLASSES)
    owner = {}
    for name, p in PHRASES.items():
        assert p.nouns, name
        for noun in p.nouns:
            key = normalize(noun)
            assert owner.setdefault(key, name) == name, f"{noun!r} names both {owner[key]} and {name}"
        for a in p.actions:
            assert a.verbing.split(" ")[0].endswith("ing"), a


def test_training_wording_never_draws_a_held_out_family_or_style():
    held = {f.name for fs in STEMS.values() for f in fs if f.held_out}
    trained = {f.name for fs in STEMS.values() for f in fs if not f.held_out}
    assert all(qa.family not in held or qa.family in trained for _, qa in ALL_TRAINED)
    assert all(qa.family in held for _, qa in ALL_HELD if qa.family not in trained)
    styles = {qa.labels[0] for _, qa in ALL_TRAINED if qa.kind == "mcq"}
    held_labels = {LABEL_STYLES[s].split()[0] for s in HELD_OUT_STYLES if LABEL_STYLES[s]}
    assert styles and styles.isdisjoint(held_labels)
    assert Wording("train").label_styles and set(Wording("train").label_styles).isdisjoint(HELD_OUT_STYLES)


def test_every_answer_takes_the_form_its_question_asks_and_is_judged_right():
    """The gold answer of each generated question passes the form check and the scorer counts it right."""
    for scene, qa in ALL_TRAINED + ALL_HELD:
        right, form = judge(asked(qa, scene), qa.answer, NAMES)
        assert right and form, (qa, scene.duration_s)
        if qa.kind == "yesno":
            assert qa.answer in ("yes", "no")
        elif qa.kind == "tf":
            assert qa.answer in ("true", "false")
        elif qa.kind == "count":
            assert qa.answer.isdigit()
        elif qa.kind == "mcq":
            text = max((o for o in qa.options if qa.answer.endswith(o)), key=len)
            label = qa.answer[: len(qa.answer) - len(text)].strip()
            assert qa.labels.count(label) == 1 or (label == "" and set(qa.labels) == {""}), qa
            assert label in qa.question
        elif qa.kind == "unknowable":
            assert qa.answer == REFUSAL


def test_wrong_forms_are_caught():
    scene, qa = next((s, q) for s, q in ALL_TRAINED if q.kind == "yesno")
    assert judge(asked(qa, scene), "1", NAMES) == (False, False)
    assert judge(asked(qa, scene), REFUSAL, NAMES) == (False, False)
    scene, qa = next((s, q) for s, q in ALL_TRAINED if q.kind == "mcq")
    assert judge(asked(qa, scene), "true", NAMES)[1] is False
    scene, qa = next((s, q) for s, q in ALL_TRAINED if q.kind == "count")
    assert judge(asked(qa, scene), "yes", NAMES)[1] is False


def _window_labels(scene, tense):
    """What a question of `tense` is about, recomputed here: a stream's last RECENT_S seconds for 'now'."""
    edge = scene.duration_s - RECENT_S if tense == "now" and scene.duration_s > 30 else -1.0
    labels = {e.label for e in scene.events if e.end_s > edge}
    return labels | ({scene.background.label} if scene.background else set())


def test_yes_no_answers_match_the_scene_and_are_balanced():
    answers = Counter()
    for scene, qa in ALL_TRAINED + ALL_HELD:
        if qa.kind != "yesno":
            continue
        answers[qa.answer] += 1
        fam = next(f for f in STEMS["yesno"] if f.name == qa.family)
        tense = "now" if fam.has("now") else "ever"
        heard = _window_labels(scene, tense)
        if qa.about.startswith("target:"):
            target = qa.about[7:]
            if target == "speech":
                assert (qa.answer == "yes") == bool(heard & set(SPEECH)), (qa, heard)
            if target == "quiet":
                events = {e.label for e in scene.events if e.end_s > (scene.duration_s - RECENT_S if tense == "now"
                                                                      and stream(scene) else -1)}
                assert (qa.answer == "yes") == (not events)
        else:
            assert (qa.answer == "yes") == (qa.about in heard), (qa, heard, tense)
    assert answers["yes"] and 0.35 < answers["yes"] / sum(answers.values()) < 0.65, answers


def test_held_out_and_trained_wording_ask_the_same_thing():
    pairs = 0
    for i, scene in enumerate(SCENES[:150]):
        for kind in KINDS:
            got = ask_pair(scene, f"s{i}", kind, TRAINED, HELD)
            if got is None:
                continue
            a, b = got
            pairs += 1
            assert meaning(a) == meaning(b)
            assert a.family != b.family
            assert {f.name for f in STEMS[kind] if f.held_out} >= {b.family}
    assert pairs > 300


def test_questions_are_seeded():
    scene = SCENES[3]
    a = ask(scene, random.Random(1), KINDS, TRAINED)
    assert a == ask(scene, random.Random(1), KINDS, TRAINED)
    assert len({ask(scene, random.Random(s), KINDS, TRAINED).question for s in range(30)}) > 20


def test_casual_typing_keeps_options_and_makes_one_slip():
    block = "(A) dog (B) cat"
    rng = random.Random(0)
    typed = [casual(f"Which of these do you hear? {block}", rng, keep=block) for _ in range(200)]
    assert all(block in t for t in typed)
    assert len(set(typed)) > 10 and any(t[0].islower() for t in typed)
    for seed in range(30):
        slipped = typo("is there a dog barking outside", random.Random(seed))
        changed = [a for a, b in zip(slipped.split(), "is there a dog barking outside".split()) if a != b]
        assert len(changed) == 1 and len(slipped.split()) == 6


@pytest.mark.parametrize("phrase, expected", [("a dog", "the dog"), ("rain", "the rain"),
                                              ("someone talking", "the person talking"), ("it", "it"),
                                              ("digging a hole", None)])
def test_definite_forms(phrase, expected):
    assert definite(phrase) == expected


def test_finish_ends_questions_and_requests_as_people_do():
    assert finish("is there a dog") == "Is there a dog?"
    assert finish("describe what you hear") == "Describe what you hear."
    assert finish("there is a dog", question=False) == "There is a dog."
    assert finish("what did i miss") == "What did I miss?"
    words = Wording("train")
    for seed in range(40):
        text = words.instruct("yesno", "Is there a dog?", random.Random(seed))
        asks = re.search(r"\byes\b[\s\S]*\bno\b|\bno\b[\s\S]*\byes\b|\by\s*/\s*n\b", text.lower())
        assert "is there a dog" in text.lower() and asks, text
        assert text != "Is there a dog?"


def test_varied_stems_keep_their_slots_and_every_word_that_carries_meaning():
    from model.data.wording import DROPPABLE, SYNONYMS, vary

    swappable = {w for group in SYNONYMS for phrase in group for w in phrase.split()}
    stems = [s for fs in STEMS.values() for f in fs for s in f.stems]
    changed = 0
    for i, stem in enumerate(stems):
        varied = vary(stem, random.Random(i))
        changed += varied != stem
        assert slots_of(varied) == slots_of(stem), (stem, varied)
        kept = [w for w in stem.split() if w.lower() not in DROPPABLE and w not in swappable]
        assert all(w in varied.split() for w in kept), (stem, varied)
    assert changed > 0.9 * len(stems)
    assert Wording("train").varied == 0.0  # evaluation asks the stems as written
