"""The wording evaluation set: hand-written questions kept out of training, answered from the scene,
paired with trained wording; the scorer's accuracy, form errors and yes/no balance."""
import json
import random
from collections import Counter

import pytest

from model.data.handwritten import WRITTEN_SETS, Written, ask_written, load_written, option_labels, unseen
from model.data.labels import load_classes
from model.data.mixer import Background, Event, Scene
from model.data.questions import KINDS, Asker, ask
from model.data.wording import load_stems
from model.evaluation.scoring import corpus_class_names
from model.evaluation.wordset import PAIRS, WORDINGS, score_wordset
from model.metrics import choice_index, normalize
from test_data_tasks import SCENES

CLASSES = load_classes()
ASKER = Asker.create(CLASSES)
WRITTEN = load_written()


def scene(*events, duration=10.0, background=None):
    evs = [Event(s, e, label, CLASSES[label].category, CLASSES[label].kind, "c", -20.0, None) for s, e, label in events]
    bg = Background(background, CLASSES[background].category, "b", -35.0) if background else None
    return Scene(None, evs, bg, [], duration)


@pytest.mark.parametrize("path", [p for p, _, _ in WRITTEN_SETS], ids=lambda p: p.name)
def test_each_hand_written_set_covers_every_kind_with_real_classes(path):
    written = load_written(path)
    assert len(written) >= 300
    assert len({w.id for w in written}) == len(written)
    kinds = Counter(w.kind for w in written)
    assert set(kinds) == set(KINDS), set(KINDS) ^ set(kinds)
    assert all(w.cls is None or w.cls in CLASSES for w in written)
    assert all(w.get("class2") is None or w.get("class2") in CLASSES for w in written)
    assert all(set(w.contexts) <= {"clip", "scene", "stream"} and w.contexts for w in written)
    for w in written:
        if w.kind == "mcq":
            assert all(w.question.count("{" + i + "}") == 1 for i in "1234"), w.id
        if w.get("ask") in ("pair", "pair_last", "before_after", "a_first_yn", "louder", "quieter", "louder_yn",
                            "quieter_yn"):
            assert "{a}" in w.question and "{b}" in w.question, w.id


def test_no_training_question_is_a_hand_written_one():
    """Training draws only from stems.txt; none of 20,000 drawn questions may equal a hand-written question."""
    kept = unseen(WRITTEN, load_stems())
    assert 300 <= len(kept) < len(WRITTEN)  # the plainest everyday questions ("did a door slam?") the grammar says too
    assert "did a door slam?" not in {w.question for w in kept}
    written = {normalize(w.question) for w in kept}
    stems = {normalize(s) for fs in load_stems().values() for f in fs for s in f.stems}
    assert not written & stems
    drawn = {normalize(ask(SCENES[i % len(SCENES)], random.Random(i), KINDS, ASKER).question) for i in range(20_000)}
    assert not written & drawn


@pytest.mark.parametrize("template, labels", [
    ("(A) {1} (B) {2} (C) {3} (D) {4}", ["(A)", "(B)", "(C)", "(D)"]),
    ("Options:\na. {1}\nb. {2}\nc. {3}\nd. {4}", ["a.", "b.", "c.", "d."]),
    ("1) {1} 2) {2} 3) {3} 4) {4}", ["1)", "2)", "3)", "4)"]),
    ("is it {1}, {2}, {3} or {4}?", ["", "", "", ""]),
    ("[A] {1} [B] {2} [C] {3} [D] {4}", ["[A]", "[B]", "[C]", "[D]"])])
def test_option_labels_are_read_from_the_template(template, labels):
    assert option_labels(template) == labels


def written(kind, question, cls=None, **extra):
    return Written("t", kind, question, cls, ("scene",), extra)


def test_hand_written_answers_follow_the_scene():
    rng = random.Random(0)
    dog = scene((1.0, 2.0, "dog"), (4.0, 5.0, "door"))
    quiet = scene(background="rain")
    ask_dog = written("yesno", "is there a dog?", "dog", time="ever")
    assert ask_written(ask_dog, dog, rng, ASKER).answer == "yes"
    assert ask_written(ask_dog, quiet, rng, ASKER).answer == "no"
    assert ask_written(written("yesno", "is it raining?", "rain", time="now"), quiet, rng, ASKER).answer == "yes"
    anyone = written("yesno", "anyone there?", target="people", time="now")
    assert ask_written(anyone, scene((1.0, 2.0, "speech")), rng, ASKER).answer == "yes"
    assert ask_written(anyone, dog, rng, ASKER).answer == "no"
    assert ask_written(written("count", "how many barks?", "dog"), dog, rng, ASKER).answer == "1"
    assert ask_written(written("when", "when did the dog bark?", "dog"), dog, rng, ASKER).answer == "at 1.0 s"
    first = written("order", "which came first, {a} or {b}?", ask="pair")
    qa = ask_written(first, dog, rng, ASKER)
    assert qa.answer == "dog" and "{a}" not in qa.question
    later = ask_written(written("order", "which was later, {a} or {b}?", ask="pair_last"), dog, rng, ASKER)
    assert later.answer == "door"
    long = scene((10.0, 12.0, "dog"), (100.0, 101.0, "bell"), duration=118.0)
    assert ask_written(written("yesno", "is a dog barking now?", "dog", time="now"), long, rng, ASKER).answer == "no"
    assert ask_written(written("yesno", "did a dog bark?", "dog", time="ever"), long, rng, ASKER).answer == "yes"
    assert ask_written(written("recent", "what happened in the last 30 s?", window_s=30), long, rng,
                       ASKER).answer == "bell"
    assert ask_written(written("quiet", "how long has it been quiet?"), long, rng, ASKER).answer == "about 15 seconds"
    mcq = written("mcq", "which one? (a) {1} (b) {2} (c) {3} (d) {4}", absent=False)
    qa = ask_written(mcq, dog, rng, ASKER)
    picked = qa.answer.split(" ", 1)[1]
    assert qa.answer.startswith(("(a)", "(b)", "(c)", "(d)")) and picked in ("dog", "door")


def test_a_class_that_could_be_mistaken_for_one_there_is_not_asked():
    """'is there speech?' over a man talking would be a trick question: no answer, no item."""
    man = scene((1.0, 3.0, "male speech"))
    assert ask_written(written("yesno", "is there speech?", "speech", time="ever"), man, random.Random(0),
                       ASKER) is None
    assert ask_written(written("yesno", "is a man talking?", "male speech", time="ever"), scene((1.0, 3.0, "speech")),
                       random.Random(0), ASKER) is None


def test_the_set_on_disk_pairs_each_question_with_its_twin(tmp_path):
    from model.data.wordset import write_wordset
    from test_data_build import make_corpus

    corpus = make_corpus(tmp_path / "c")
    report = write_wordset(corpus, tmp_path / "w", n_clips=6, n_scenes=10, n_streams=1, seed=3)
    rows = [json.loads(x) for x in (tmp_path / "w" / "items.jsonl").read_text().splitlines()]
    assert set(report.items) == set(WORDINGS)
    by_pair = {}
    for r in rows:
        by_pair.setdefault(r["pair"], {})[r["wording"]] = r
        assert (tmp_path / "w" / r["scene"]).is_file()
    for members in by_pair.values():
        if {"trained", "held_out"} <= set(members):
            a, b = members["trained"], members["held_out"]
            assert a["kind"] == b["kind"] and a["scene"] == b["scene"] and a["question"] != b["question"]
        for twin_wording, hand_wording in PAIRS[1:]:
            if twin_wording not in members:
                continue
            twin, hand = members[twin_wording], members[hand_wording]
            if hand["kind"] == "mcq":  # each in its own labels: the same option
                assert twin["options"] == hand["options"]
                assert choice_index(twin["answer"], twin["options"]) == choice_index(hand["answer"], hand["options"])
            else:
                assert twin["answer"] == hand["answer"]
    again = write_wordset(corpus, tmp_path / "w2", n_clips=6, n_scenes=10, n_streams=1, seed=3)
    assert again.items == report.items
    assert (tmp_path / "w2" / "items.jsonl").read_text() == (tmp_path / "w" / "items.jsonl").read_text()


def test_scoring_counts_right_answers_wrong_forms_and_false_yeses():
    rows, scenes = [], {"s.wav": {"duration_s": 10.0}}
    for i, (kind, form, answer) in enumerate([("yesno", "yesno", "yes"), ("yesno", "yesno", "no"),
                                              ("count", "count", "2"), ("open", "label", "dog")]):
        for wording in ("trained", "held_out"):
            rows.append({"scene": "s.wav", "context": "scene", "wording": wording, "pair": f"p{i}", "kind": kind,
                         "form": form, "answer": answer, "question": "q", "options": [], "value": None})
    names = corpus_class_names()
    perfect = score_wordset(rows, [r["answer"] for r in rows], scenes, names)
    assert perfect["accuracy"]["held_out"]["all"]["value"] == 1.0
    assert perfect["form_errors"]["trained"]["value"] == 0.0
    trained, held = ["yes", "yes", "2", "dog"], ["1", "yes", "yes", "yes"]
    res = score_wordset(rows, [p for pair in zip(trained, held) for p in pair], scenes, names)
    assert res["accuracy"]["trained"]["all"]["value"] == 0.75  # "yes" to the absent sound
    assert res["yes_no"]["trained"]["false_yes"]["value"] == 1.0
    assert res["yes_no"]["trained"]["true_yes"]["value"] == 1.0
    assert res["form_errors"]["held_out"]["value"] == 0.75  # "1", "yes", "yes" where a yes/no, count and name belong
    pair = res["pairs"]["trained_vs_held_out"]["all"]
    assert pair["n"] == 4 and pair["trained"] == 0.75 and pair["held_out"] == 0.0
