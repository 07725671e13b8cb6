"""The YAMNet teacher of the corpus: clip labels from scores through audioset.tsv, clips heard in batches
as one by one, the file round trip, and the agreement report against rule labels."""
import random

import pytest
import torch

from model.data.audioset import read_audioset_map
from model.data.catalog import ClipRecord
from model.data.labels import load_classes
from model.data.teacher import TeacherLabel, agreement, label_clip, read_labels, tag_clips, write_labels
from model.yamnet import NUM_CLASSES, YAMNet

ROWS = read_audioset_map()
CLASSES = load_classes()


def index_where(test):
    return next(r.index for r in ROWS if test(r))


def scores_with(**by_index):
    s = torch.full((NUM_CLASSES,), 0.01)
    for i, v in by_index.items():
        s[int(i[1:])] = v
    return s


def test_dropped_classes_are_passed_over_and_merged_ones_give_their_best_score():
    drop = index_where(lambda r: r.action == "drop")
    into = [r for r in ROWS if r.action == "into"]
    target = into[0].ours
    same_target = [r.index for r in ROWS if r.action in ("same", "into") and r.ours == target]
    new = index_where(lambda r: r.action == "new")
    scores = scores_with(**{f"i{drop}": 0.9, f"i{same_target[0]}": 0.5, f"i{new}": 0.4})
    if len(same_target) > 1:
        scores[same_target[1]] = 0.45
    label = label_clip("c", scores, ROWS)
    assert label.top[0] == (ROWS[drop].display_name, 0.9)  # shown as YAMNet said it
    assert label.target == target and label.score == 0.5  # the drop skipped; merged rows counted once, best score
    assert [t[0] for t in label.targets].count(target) == 1
    assert (ROWS[new].name, "new", 0.4) in label.targets
    assert [t[2] for t in label.targets] == sorted((t[2] for t in label.targets), reverse=True)


def test_clips_heard_in_batches_get_the_labels_they_get_one_by_one(tmp_path):
    torch.manual_seed(0)
    model = YAMNet().eval()
    rng = torch.Generator().manual_seed(1)
    clips = [(f"c{i}", torch.randn(n, generator=rng) * 0.1) for i, n in enumerate((4000, 16000, 23000, 9000))]
    together = list(tag_clips(model, clips, ROWS, batch=3))
    alone = [next(tag_clips(model, [c], ROWS, batch=1)) for c in clips]
    assert [t.id for t in together] == [c for c, _ in clips]
    for a, b in zip(together, alone):
        assert a.target == b.target and [x[0] for x in a.targets] == [x[0] for x in b.targets]
        assert a.score == pytest.approx(b.score, abs=1e-3)
    write_labels(together, tmp_path / "teacher.jsonl")
    assert read_labels(tmp_path / "teacher.jsonl") == {t.id: t for t in together}


def test_a_damaged_teacher_file_names_its_line(tmp_path):
    path = tmp_path / "teacher.jsonl"
    write_labels([TeacherLabel("a", (("Dog", 0.9),), (("dog", "same", 0.9),))], path)
    path.write_text(path.read_text() + '{"id": "b", "top": []}\n')
    with pytest.raises(ValueError, match=r"teacher.jsonl:2: not a teacher label"):
        read_labels(path)


def record(clip_id, label):
    info = CLASSES[label]
    return ClipRecord(clip_id, label, info.category, "pkg", "p", clip_id, "free", 1.0, "h")


def test_agreement_counts_the_rule_label_its_family_and_new_classes():
    cello_family = "music"  # a family (questions.UMBRELLAS) that holds every music class
    assert CLASSES["cello"].kind == "music"
    new_name = next(r.name for r in ROWS if r.action == "new")
    records = [record("a", "dog"), record("b", "cello"), record("c", "dog"), record("d", "cat"), record("e", "dog")]
    labels = {
        "a": TeacherLabel("a", (), (("dog", "same", 0.8),)),  # the same
        "b": TeacherLabel("b", (), ((cello_family, "same", 0.7), ("cello", "same", 0.1))),  # its family
        "c": TeacherLabel("c", (), (("cat", "same", 0.6), ("dog", "same", 0.5), (new_name, "new", 0.4))),
        "d": TeacherLabel("d", (), (("dog", "same", 0.9),)),  # not consistent
        "e": TeacherLabel("e", (), (("dog", "same", 0.1),)),  # unsure
    }
    rep = agreement(records, labels, CLASSES, min_score=0.3, seed=random.randrange(100))
    assert (rep["sure"], rep["unsure"]) == (4, 1)
    assert rep["same"] == 0.25 and rep["consistent"] == 0.75  # a; a, b and c (dog among c's classes)
    assert rep["new_classes"] == {new_name: {"clips": 1, "examples": ["c"]}}
    assert rep["confusions"] == [{"rule": "cat", "teacher": "dog", "clips": 1, "examples": ["d"]}]
