"""Choosing the tags' weight: each item scored once and replayed at any weight gives the answers the model gives
at that weight, and the folds keep source packages apart."""
import json
from pathlib import Path

import pytest
import torch

from model.evaluation.answering import Item, answer_items
from model.evaluation.weights import Scored, accuracy, cross_validate, folds, score_valset


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from model.config import SAMConfig
    from model.data.valset import write_valset
    from model.sam import SAM
    from model.tokenizer import Tokenizer
    from test_data_build import make_corpus

    tmp = tmp_path_factory.mktemp("weights")
    corpus = make_corpus(tmp / "c")
    write_valset(corpus, tmp / "val", n_scenes=16, single=True)
    torch.manual_seed(5)
    tok = Tokenizer.train(["a dog barks", "quiet", "yes no", "A) dog B) rain"] * 20, vocab_size=290)
    model = SAM(SAMConfig.from_name("sam-tiny").replace(branch="yamnet"), tok).eval()
    packages = {json.loads(x)["id"]: json.loads(x)["package"] for x in (corpus / "catalog.jsonl").read_text().splitlines()}
    return model, tmp / "val", packages


def test_replaying_the_scores_gives_the_models_own_answers(tiny):
    """Slow reference: answer_items, which answers as sam-ask does at the shipped weights."""
    from model.data.valset import read_wav

    model, val, packages = tiny
    scored = score_valset(model, val, packages)
    assert scored and any(s.choices for s in scored) and any(not s.choices for s in scored)
    items = [s.item for s in scored]
    answers = answer_items(model, items, lambda p: torch.from_numpy(read_wav(Path(p))), 8, 64)
    from model.answer_forms import HEARD_WEIGHT
    from model.naming import NAME_WEIGHT

    assert HEARD_WEIGHT == NAME_WEIGHT  # one weight replays both
    assert [s.answer(HEARD_WEIGHT) for s in scored] == answers
    assert all(s.packages for s in scored)  # each single clip's source package is known


def test_replaying_gives_the_answers_of_a_model_with_a_presence_head(tiny):
    """The same slow reference, for a model whose presence head weighs in beside the tags: at OWN_WEIGHT in closed
    answers, at NAME_OWN_WEIGHT in an open answer named again."""
    from model.answer_forms import HEARD_WEIGHT, OWN_WEIGHT
    from model.naming import NAME_OWN_WEIGHT
    from model.data.valset import read_wav
    from model.presence import PresenceHead, with_head
    from test_data_build import LABELS

    model, val, packages = tiny
    torch.manual_seed(6)
    headed = with_head(model, PresenceHead(model.cfg.lm.d_model, len(LABELS)), list(LABELS))
    scored = score_valset(headed, val, packages)
    assert any(s.own and any(s.own) for s in scored)  # the head weighs in somewhere
    answers = answer_items(headed, [s.item for s in scored], lambda p: torch.from_numpy(read_wav(Path(p))), 8, 64)
    assert [s.answer(HEARD_WEIGHT, OWN_WEIGHT if s.choices else NAME_OWN_WEIGHT) for s in scored] == answers


def test_a_large_weight_lets_the_tags_choose_and_zero_leaves_the_language_model():
    item = Item("s", "Is there a dog?", "yes", "tf")
    s = Scored(item, ("p",), choices=["yes", "no"], logp=[-2.0, -0.5], evidence=[1.0, 0.0])
    assert s.answer(0.0) == "no" and s.answer(2.0) == "yes"
    assert accuracy([s], 0.0, ("tf",)) == (0.0, 1) and accuracy([s], 2.0, ("tf",)) == (1.0, 1)


def test_folds_keep_each_source_package_on_one_side_and_drop_mixed_recordings():
    def at(*packages):
        return Scored(Item("s", "Is there a dog?", "yes", "tf"), packages, ["yes", "no"], [-1.0, -2.0], [0.0, 0.0])

    items = [at("a"), at("b"), at("c"), at("a", "c"), at("a", "b"), at()]
    one, two = folds(items)
    sides = [{p for s in side for p in s.packages} for side in (one, two)]
    assert not sides[0] & sides[1] and sides[0] | sides[1] == {"a", "b", "c"}
    assert len(one) + len(two) == 4  # "a"+"b" mixes the folds, and a recording of no package has none
    res = cross_validate(items, ("tf",), weights=(0.0, 1.0))
    assert res["cross_validated"] == 1.0 and [f["chosen"] for f in res["folds"]] == [0.0, 0.0]
