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


# ---------------------------------------------------------------- two runs compared

def _session(folder, rows):
    folder.mkdir(parents=True)
    (folder / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def _row(at, question, kind, expected, answer, right, form_ok=True):
    return {"at": at, "kind": kind, "question": question, "expected": expected, "answer": answer, "right": right,
            "form_ok": form_ok, "ttft_s": 0.05}


def test_two_runs_are_compared_answer_by_answer_pooled_over_their_sessions(tmp_path):
    from live.scripted_compare import compare, paired

    before = {"s0": [_row(20.0, "is there a dog?", "yesno", "no", "yes", False),
                     _row(32.5, "what happened?", "recent", "dog", "dog, rain", False),
                     _row(40.0, "how many barks?", "count", "2", "1", False, form_ok=False)],
              "s1": [_row(20.0, "is there a dog?", "yesno", "yes", "yes", True),
                     _row(50.0, "what happened?", "recent", "rain, dog", "rain", False),
                     _row(61.0, "asked only before", "open", "dog", "dog", True)]}
    after = {"s0": [_row(20.0, "is there a dog?", "yesno", "no", "no", True),
                    _row(32.5, "what happened?", "recent", "dog", "dog", True),
                    _row(40.0, "how many barks?", "count", "2", "2", True)],
             "s1": [_row(20.0, "is there a dog?", "yesno", "yes", "no", False),
                    _row(50.0, "what happened?", "recent", "rain, dog", "rain", False)]}
    for side, sessions in (("before", before), ("after", after)):
        for name, rows in sessions.items():
            _session(tmp_path / side / name, rows)
    x, y, names, unpaired = paired(tmp_path / "before", tmp_path / "after")
    assert names == ["s0", "s1"] and unpaired == 1 and len(x.rows) == len(y.rows) == 5
    assert [r["question"] for r in x.rows] == [r["question"] for r in y.rows]  # partners side by side
    assert (x.right(), y.right()) == (1, 3) and (x.wrong_forms(), y.wrong_forms()) == (1, 0)
    assert x.yes_to("no") == (1, 1) and y.yes_to("no") == (0, 1) and y.yes_to("yes") == (0, 1)
    from model.evaluation.scoring import corpus_class_names

    names_ = corpus_class_names()
    assert x.lists(names_) == (pytest.approx(2 / 3), pytest.approx(2 / 3))  # dog, rain | rain of dog | rain, dog
    assert y.lists(names_) == (1.0, pytest.approx(2 / 3))
    text = compare(tmp_path / "before", tmp_path / "after")
    assert "5 answers paired in 2 session(s), 1 asked on one side only" in text
    assert "gained 3, lost 1" in text and "| counts right (1) | 0 | 1 |" in text
    # one session's folder alone
    assert "3 answers paired in 1 session(s)" in compare(tmp_path / "before" / "s0", tmp_path / "after" / "s0")


def test_runs_of_different_sessions_or_without_rows_are_refused_with_the_fix(tmp_path):
    from live.scripted import main

    def refusal(before, after) -> str:
        with pytest.raises(SystemExit) as e:
            main(["--compare", str(before), str(after)])
        return str(e.value)

    _session(tmp_path / "before" / "s0", [_row(20.0, "q", "open", "dog", "dog", True)])
    _session(tmp_path / "after" / "s1", [_row(20.0, "q", "open", "dog", "dog", True)])
    assert "s0, s1 on one side only" in refusal(tmp_path / "before", tmp_path / "after")
    (tmp_path / "empty").mkdir()
    assert "empty: no rows.jsonl" in refusal(tmp_path / "empty", tmp_path / "after")
    (tmp_path / "after" / "s1" / "rows.jsonl").write_text('{"at": 1.0}\n')
    assert "rows.jsonl, line 1: not a scored answer" in refusal(tmp_path / "after" / "s1", tmp_path / "after" / "s1")
