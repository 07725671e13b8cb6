"""Task generators: MCQs have one right option, true/false is balanced, counts and orders match the scene."""
import random
import re

import pytest

from model.data.labels import load_classes
from model.data.mixer import Background, Event, Scene
from model.data.tasks import GENERATORS, KINDS, LETTERS, SILENCE, conflicts, describe, make_qa, tags

CLASSES = load_classes()
LABELS = ["dog", "door", "piano", "speech", "car horn", "bird", "rain", "helicopter", "bell", "explosion"]


def random_scene(rng: random.Random) -> Scene:
    """A scene of random events (no audio needed: tasks read only the metadata)."""
    duration = rng.choice([rng.uniform(1, 20), rng.uniform(40, 200)])
    events = []
    for _ in range(rng.choice([0, 1, 2, 3, 4, 6])):
        label = rng.choice(LABELS)
        start = rng.uniform(0, duration - 0.5)
        end = min(duration, start + rng.uniform(0.2, 3))
        info = CLASSES[label]
        events.append(Event(round(start, 3), round(end, 3), label, info.category, info.kind, "c", rng.uniform(-40, -15), None))
    events.sort(key=lambda e: (e.start_s, e.end_s))
    bg = Background("wind", "nature", "w", -35.0) if rng.random() < 0.3 else None
    return Scene(None, events, bg, [], duration)


SCENES = [random_scene(random.Random(i)) for i in range(400)]


def items(kind):
    out = []
    for i, scene in enumerate(SCENES):
        qa = GENERATORS[kind](scene, random.Random(1000 + i), CLASSES)
        if qa is not None:
            assert qa.kind == kind
            out.append((scene, qa))
    assert len(out) > 30, f"too few {kind} items"
    return out


def test_mcq_has_exactly_one_correct_option():
    for scene, qa in items("mcq"):
        options = re.findall(r"([ABCD])\) (.+?)(?= [ABCD]\) |$)", qa.question)
        assert [o[0] for o in options] == list(LETTERS)
        texts = [o[1] for o in options]
        present = set(scene.labels) or {SILENCE}
        negated = "NOT" in qa.question or "absent" in qa.question
        correct = [t for t in texts if (t in present) != negated]
        assert len(correct) == 1, (qa, scene.labels)
        letter = LETTERS[texts.index(correct[0])]
        assert qa.answer == f"{letter}) {correct[0]}"
        # no option is a synonym of another class in the scene (the answer would be ambiguous)
        for t in texts:
            assert t == SILENCE or t in present or not any(conflicts(t, p, CLASSES) for p in scene.labels)


def test_true_false_is_balanced_and_correct():
    answers = []
    for scene, qa in items("tf"):
        answers.append(qa.answer in ("yes", "true"))
        m = re.match(r"(?:Is there a|Do you hear a|Can you hear|Does this audio contain) (.+?)(?: in this recording)?\?$",
                     qa.question)
        if m:
            assert (m.group(1) in scene.labels) == (qa.answer == "yes")
        m = re.match(r"True or false: the (.+) sounds (\d+) times?\.$", qa.question)
        if m:
            n = sum(e.label == m.group(1) for e in scene.events)
            assert (n == int(m.group(2))) == (qa.answer == "true")
    share = sum(answers) / len(answers)
    assert 0.4 < share < 0.6, share


def test_counts_agree_with_the_scene():
    for scene, qa in items("count"):
        m = re.search(r"the (.+)\?$|many (.+) sounds are there|Count the (.+) sounds", qa.question)
        if "sound events" in qa.question or "separate sounds" in qa.question:
            assert int(qa.answer) == len(scene.events)
        else:
            label = next(g for g in m.groups() if g)
            assert int(qa.answer) == sum(e.label == label for e in scene.events)


def test_orders_agree_with_the_scene():
    for scene, qa in items("order"):
        first_of = {}
        for e in scene.events:
            first_of.setdefault(e.label, e.start_s)
        m = re.search(r"the (.+) or the (.+)\?$|: the (.+) or the (.+)\?$", qa.question)
        if m:
            a, b = [g for g in m.groups() if g]
            assert qa.answer == min((a, b), key=first_of.__getitem__)
        elif "first" in qa.question:
            assert qa.answer == scene.events[0].label
        else:
            assert qa.answer == max(scene.events, key=lambda e: e.start_s).label


def test_loudness_picks_the_louder_or_quieter():
    for scene, qa in items("loudness"):
        x, y = re.search(r"the (.+) or the (.+)\?$", qa.question).groups()
        level = {e.label: e.level_db for e in scene.events}
        louder = max((x, y), key=level.__getitem__)
        quieter = min((x, y), key=level.__getitem__)
        assert qa.answer == (louder if "louder" in qa.question else quieter)


def test_recent_answers_look_only_at_the_end():
    for scene, qa in items("recent"):
        m = re.search(r"last (\d+|five|ten|twenty|thirty) seconds", qa.question)
        if m:
            w = {"five": 5, "ten": 10, "twenty": 20, "thirty": 30}.get(m.group(1)) or int(m.group(1))
            heard = list(dict.fromkeys(e.label for e in scene.events if e.end_s > scene.duration_s - w))
            assert qa.answer == (", ".join(heard) if heard else qa.answer)
            if not heard:
                assert qa.answer.startswith("nothing")
        elif not qa.answer.startswith("nothing"):
            recent = [e for e in scene.events if e.end_s > scene.duration_s - 10]
            assert qa.answer == max(recent, key=lambda e: e.end_s).label


def test_descriptions_and_tags_say_quiet_when_nothing_happens():
    quiet = Scene(None, [], None, [(0.0, 5.0)], 5.0)
    assert "quiet" in describe(quiet) and tags(quiet) == SILENCE
    rain_only = Scene(None, [], Background("rain", "nature", "r", -30), [(0.0, 5.0)], 5.0)
    assert describe(rain_only).startswith("only rain") and tags(rain_only) == "rain"
    scene = SCENES[next(i for i, s in enumerate(SCENES) if len(s.events) >= 2)]
    text = describe(scene)
    for e in scene.events:
        assert f"{e.label} at {e.start_s:.1f}-{e.end_s:.1f} s" in text


@pytest.mark.parametrize("kind", KINDS)
def test_make_qa_respects_the_kinds(kind):
    kinds_seen = {make_qa(s, random.Random(i), (kind,), CLASSES).kind for i, s in enumerate(SCENES[:60])}
    assert kinds_seen <= {kind, "description"} and kind in kinds_seen
