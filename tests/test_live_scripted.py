"""The scripted live session's planning and scoring: questions fit the moment they are asked, yes/no
questions alternate, and answers are judged against what had been heard by then."""
import json
import random

import pytest

from live.scripted import MIN_FIRST_S, plan, prefix, score
from model.data.handwritten import ask_written
from model.data.labels import load_classes
from model.data.mixer import Event, Scene
from model.data.questions import REFUSAL, Asker

CLASSES = load_classes()


def stream() -> Scene:
    rng = random.Random(4)
    labels = ["dog", "door", "speech", "rain", "piano", "car horn", "bell", "cough", "bird", "music"]
    events, t = [], 5.0
    while t < 280:
        label = rng.choice(labels)
        d = rng.uniform(0.5, 4.0)
        c = CLASSES[label]
        events.append(Event(round(t, 2), round(t + d, 2), label, c.category, c.kind, "x", -20.0, None))
        t += d + rng.uniform(5, 25)
    return Scene(None, events, None, [], 300.0)


def test_prefix_keeps_only_what_was_heard():
    scene = stream()
    heard = prefix(scene, 100.0)
    assert heard.duration_s == 100.0
    assert all(e.start_s < 100.0 and e.end_s <= 100.0 for e in heard.events)
    assert len(heard.events) == sum(e.start_s < 100.0 for e in scene.events)


def test_the_plan_asks_questions_that_fit_their_moment_with_yes_and_no_alternating():
    scene = stream()
    asked = plan(scene, every=12.0, seed=1)
    times = [t for t, _, _ in asked]
    assert times == sorted(times) and times[0] >= MIN_FIRST_S and len(asked) >= 15
    asker = Asker.create(CLASSES)
    answers = []
    for t, w, text in asked:
        qa = ask_written(w, prefix(scene, t), random.Random(f"{w.id}/{t}"), asker)
        assert qa is not None and " ".join(qa.question.split()) == text and "{" not in text
        if qa.form == "yesno":
            answers.append(qa.answer)
    assert answers and all(a != b for a, b in zip(answers, answers[1:]))


def test_answers_are_judged_against_the_moment_they_were_asked(tmp_path):
    scene = stream()
    asked = plan(scene, every=12.0, seed=2)
    asker = Asker.create(CLASSES)
    expected = [ask_written(w, prefix(scene, t), random.Random(f"{w.id}/{t}"), asker).answer for t, w, _ in asked]

    def log(answers) -> str:
        lines = []
        for i, ((t, _, text), a) in enumerate(zip(asked, answers), 1):
            lines.append({"type": "question", "question_id": i, "question": text, "stream_time": t})
            lines.append({"type": "answer", "question_id": i, "question": text, "text": a, "asked_at": t,
                          "time_to_first_token": 0.02, "tokens_per_second": 50.0})
        path = tmp_path / f"events{len(list(tmp_path.iterdir()))}.jsonl"
        path.write_text("".join(json.dumps(x) + "\n" for x in lines))
        return path

    report, rows = score(scene, asked, log(expected))
    assert report["answered"] == len(asked) and report["accuracy"] == 1.0 and report["form_errors"] == 0.0
    refused, _ = score(scene, asked, log([REFUSAL] * len(asked)))
    unknowable = sum(e == REFUSAL for e in expected)
    assert refused["accuracy"] == unknowable / len(asked)
    assert refused["form_errors"] == 1 - unknowable / len(asked)
    recent = [i for i, (_, w, _) in enumerate(asked) if w.kind == "recent"]
    assert recent  # the plan asks what happened
    assert report["recent_precision"] == report["recent_recall"] == 1.0 and report["recent_n"] == len(recent)
    assert refused["recent_precision"] == refused["recent_recall"] == 0.0  # a refusal names no sound
    first = [e.split(", ")[0] if i in recent else e for i, e in enumerate(expected)]  # each list's first sound
    some, _ = score(scene, asked, log(first))
    longer = any("," in expected[i] for i in recent)
    assert some["recent_precision"] == 1.0 and (some["recent_recall"] < 1.0) == longer


def test_a_missing_question_set_is_named_before_anything_is_mixed(tmp_path, capsys):
    from live.scripted import main

    with pytest.raises(SystemExit):
        main(["--questions", str(tmp_path / "none.jsonl"), "--out", str(tmp_path / "out")])
    assert "none.jsonl: no such file" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
