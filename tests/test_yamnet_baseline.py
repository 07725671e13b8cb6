"""YAMNet as sam-eval's baseline: made-up score vectors turned into answers through the AudioSet table, scored
as the model's answers are; and one real run on assets/demo.ogg."""
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from model.audio import SAMPLE_RATE
from model.data.audioset import default_map
from model.data.labels import load_classes
from model.data.tasks import QUIET
from model.evaluation.answering import Item
from model.evaluation.scoring import corpus_class_names, correct
from model.evaluation.yamnet_answers import Tagger, answer_valset, answer_wordset
from model.yamnet import Heard, hear, patch_ends
from model.evaluation.yamnet_baseline import beside, results_from_bits
from model.resample import Resampler
from model.yamnet import NUM_CLASSES, WEIGHTS

ROOT = Path(__file__).resolve().parent.parent
YAMNET_DIR = ROOT / "data" / "yamnet"
DEMO = ROOT / "assets" / "demo.ogg"


@pytest.fixture(scope="module")
def tagger():
    return Tagger(load_classes(), default_map(), pooling="max", threshold=0.5)


@pytest.fixture(scope="module")
def names():
    return corpus_class_names()


def scores(**by_name: float) -> torch.Tensor:
    """(521,) scores, zero but for the AudioSet classes named (display name with '_' for ' ')."""
    index = {r.display_name: r.index for r in default_map()}
    out = torch.zeros(NUM_CLASSES)
    for name, value in by_name.items():
        out[index[name.replace("_", " ")]] = value
    return out


def heard(*patches: torch.Tensor) -> Heard:
    """Patches of made-up scores, patch k spanning [2k, 2k + 1] seconds."""
    k = torch.arange(len(patches), dtype=torch.float32)
    return Heard(torch.stack(patches), 2 * k, 2 * k + 1, 2.0 * len(patches))


def test_an_open_question_gets_the_top_class_of_ours_skipping_new_and_dropped(tagger, names):
    s = scores(Sneeze=0.9, Silence=0.8, Bark=0.6, Meow=0.5)  # new, drop, into dog, into cat
    assert tagger.top(s) == "dog"
    assert tagger.raw_top(s) == "sneeze"  # the raw top-1, new classes allowed
    item = Item("", "What sound do you hear?", "dog", "open")
    assert answer_valset(item, heard(s), tagger, names) == "dog" and correct(item, "dog", names)
    raw = Item("", item.question, "dog", "open", "raw")
    assert answer_valset(raw, heard(s), tagger, names) == "sneeze" and not correct(raw, "sneeze", names)


def test_a_class_of_ours_scores_its_best_audioset_class(tagger):
    mapped = dict(zip(tagger.names, tagger.mapped(scores(Bark=0.3, Yip=0.7, Dog=0.1, Purr=0.9)).tolist()))
    assert mapped["dog"] == pytest.approx(0.7)
    assert mapped["cat"] == 0.0  # purring is a new class, not cat
    assert max(mapped.values()) == pytest.approx(0.7)


def test_an_umbrella_gives_way_to_its_members_as_our_labels_do(tagger, names):
    s = scores(Music=0.9, **{"Violin,_fiddle": 0.6})  # "music" is an umbrella over every music class
    assert tagger.present(s) == ["violin"] and tagger.top(s) == "violin"
    assert tagger.present(scores(Music=0.9)) == ["music"] and tagger.top(scores(Music=0.9, Bark=0.3)) == "music"


def test_an_open_question_for_a_category_can_be_answered_within_it(tagger, names):
    s = heard(scores(Music=0.9, Bark=0.3))
    question = "What animal is that?"
    assert answer_valset(Item("", question, "dog", "open"), s, tagger, names) == "music"
    assert answer_valset(Item("", question, "dog", "open", "category"), s, tagger, names) == "dog"


def test_multiple_choice_takes_the_option_whose_class_scores_highest(tagger, names):
    h = heard(scores(Bark=0.6, Meow=0.3, Rain=0.2))
    item = Item("", "What do you hear? A) cat B) dog C) rain D) silence", "B) dog", "mcq")
    assert answer_valset(item, h, tagger, names) == "B)" and correct(item, "B)", names)
    quiet = heard(scores(Bark=0.2, Meow=0.1))  # nothing passes the threshold: silence wins
    assert answer_valset(item, quiet, tagger, names) == "D)"
    absent = Item("", "Which sound is absent? A) cat B) dog C) rain D) cow", "D) cow", "mcq")
    assert answer_valset(absent, heard(scores(Meow=0.9, Bark=0.8, Rain=0.7, Moo=0.1)), tagger, names) == "D)"
    assert tagger.pick(["kitten", "woof"], scores(Bark=0.6, Meow=0.3), names) == 1  # options by synonym


def test_tags_and_descriptions_are_the_classes_over_the_threshold(tagger, names):
    h = heard(scores(Bark=0.8, Rain=0.6, Meow=0.4, Sneeze=0.9))
    item = Item("", "Describe what you hear.", "rain in the background; dog at 1.0-2.0 s", "description")
    said = answer_valset(item, h, tagger, names)
    assert said == "dog, rain" and correct(item, said, names)
    tags = Item("", "Tag this audio.", "dog, cat", "tags")
    assert not correct(tags, answer_valset(tags, h, tagger, names), names)  # the cat is under the threshold
    quiet = Item("", "Describe what you hear.", QUIET, "description")
    assert answer_valset(quiet, heard(scores(Bark=0.3)), tagger, names) == QUIET


def test_yes_no_is_whether_the_asked_class_passes_the_threshold(tagger, names):
    h = heard(scores(Bark=0.8, Meow=0.2))

    def ask(question):
        return answer_valset(Item("", question, "", "tf"), h, tagger, names)

    assert ask("Is there a dog in this recording?") == "yes"
    assert ask("Do you hear a cat?") == "no"
    assert ask("Is it quiet?") == "no"
    assert ask("True or false: the dog comes before the cat.") is None  # order: skipped
    row = {"kind": "yesno", "form": "yesno", "about": "target:animal", "question": "Any animals?", "answer": "yes"}
    assert answer_wordset(row, h, tagger, names) == "yes"
    assert answer_wordset({**row, "about": "target:vehicle"}, h, tagger, names) == "no"


def test_a_question_at_a_moment_hears_the_patches_over_it(tagger, names):
    h = heard(scores(Bark=0.9), scores(Meow=0.6))  # a dog at 0-1 s, a cat at 2-3 s
    assert answer_valset(Item("", "What animal is that at 2.5 s?", "cat", "open"), h, tagger, names) == "cat"
    assert answer_valset(Item("", "What animal is that?", "cat", "open"), h, tagger, names) == "dog"


def test_wordset_multiple_choice_answers_with_the_items_own_labels(tagger, names):
    row = {"kind": "mcq", "form": "mcq", "family": "absent", "question": "Which sound is absent? 1) dog 2) cat",
           "options": ["dog", "cat"], "labels": ["1)", "2)"], "answer": "2) cat"}
    assert answer_wordset(row, heard(scores(Bark=0.9, Meow=0.1)), tagger, names) == "2)"
    assert answer_wordset({**row, "family": "choose", "question": "Which one? dog or cat", "labels": []},
                          heard(scores(Bark=0.9, Meow=0.1)), tagger, names) == "dog"


def test_patches_every_hop_plus_the_tail():
    assert patch_ends(50) == [50]  # shorter than a patch: one, padded with silence in front
    assert patch_ends(192) == [96, 144, 192]
    assert patch_ends(200) == [96, 144, 192, 200]


def test_beside_pairs_the_same_items():
    ours = [{"scene": "a", "kind": "open", "variant": "", "question": "q", "correct": True},
            {"scene": "a", "kind": "open", "variant": "raw", "question": "q", "correct": False},
            {"scene": "b", "kind": "open", "variant": "", "question": "q", "correct": False},
            {"scene": "a", "kind": "mcq", "variant": "reordered", "question": "m", "correct": True}]
    model = [{"scene": "a", "kind": "open", "variant": "", "question": "q", "correct": False},
             {"scene": "c", "kind": "open", "variant": "", "question": "q", "correct": True},
             {"scene": "a", "kind": "mcq", "variant": "reordered", "question": "m", "correct": True},
             {"scene": "a", "kind": "mcq", "variant": "", "question": "m", "correct": False}]
    table = beside(ours, model, ("scene", "kind", "variant", "question"))
    assert table["open"] == {"n": 1, "yamnet": 1.0, "model": 0.0, "p": 1.0}
    assert table["open_raw"]["n"] == 1  # the raw top-1 is paired with the model's answer to the same question
    assert table["mcq_reordered"] == {"n": 1, "yamnet": 1.0, "model": 1.0, "p": 1.0}  # each order with its own


def test_a_models_results_are_read_back_from_its_reports_bits(tmp_path):
    """A report keeps per-kind bit strings in item order; they pair with the baseline's items by question."""
    (tmp_path / "scenes.jsonl").write_text(json.dumps({"scene": "scenes/0.wav", "type": "scene", "events": []}) + "\n")
    items = [{"scene": "scenes/0.wav", "question": "What sound do you hear?", "answer": "dog", "kind": "open"},
             {"scene": "scenes/0.wav", "question": "What do you hear? A) cat B) dog", "answer": "B) dog",
              "kind": "mcq"}]
    (tmp_path / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in items))
    got = results_from_bits({"correct": {"open_accuracy": "1", "mcq_accuracy": "0", "mcq_reordered_accuracy": "1",
                                         "mcq_cloze_accuracy": "1"}}, tmp_path)
    assert [(r["kind"], r["variant"], r["question"], r["correct"]) for r in got] == [
        ("open", "", "What sound do you hear?", True), ("mcq", "", items[1]["question"], False),
        ("mcq", "reordered", "What do you hear? A) dog B) cat", True)]
    with pytest.raises(ValueError, match="another validation set"):
        results_from_bits({"correct": {"open_accuracy": "10"}}, tmp_path)


@pytest.mark.skipif(not (YAMNET_DIR / WEIGHTS).exists(), reason="needs YAMNet weights: make yamnet")
def test_real_yamnet_hears_the_demo_dog_and_answers_in_our_vocabulary(tagger, names):
    from model.yamnet import load_yamnet

    audio, rate = sf.read(str(DEMO), dtype="float32", always_2d=True)
    r = Resampler(rate, SAMPLE_RATE)
    wave = np.concatenate([r.push(audio.mean(1)), r.flush()])
    dog = json.loads(DEMO.with_suffix(".json").read_text())["events"][0]
    assert dog["label"] == "dog"
    clip = torch.from_numpy(wave[int(dog["start_s"] * SAMPLE_RATE): int(dog["end_s"] * SAMPLE_RATE)])
    h = hear(load_yamnet(YAMNET_DIR), [("dog", clip)])["dog"]
    assert h.scores.shape == (len(patch_ends((clip.numel() - 400) // 160 + 1)), NUM_CLASSES)
    assert 0.0 <= float(h.scores.min()) and float(h.scores.max()) <= 1.0
    said = answer_valset(Item("", "What sound do you hear?", "dog", "open"), h, tagger, names)
    assert said in load_classes()
    assert "dog" in Tagger(tagger.classes, tagger.rows, threshold=0.3).present(h.pool("max"))
