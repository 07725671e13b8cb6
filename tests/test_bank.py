"""Heard-scene banks: the stored tokens are what the encoder and connector make of the same batches,
a bank fits only the model that made it, and training on one moves the language side alone."""
import json

import numpy as np
import pytest
import torch

from model.bank import bank_batches, build_bank, check_fits, load_bank, scene_of
from model.batches import TASK_KINDS, BatchSpec, batch_loader
from model.config import SAMConfig
from model.data.corpus import load_corpus
from model.sam import SAM
from model.tokenizer import Tokenizer
from test_data_build import make_corpus


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    root = tmp_path_factory.mktemp("bank")
    corpus = load_corpus(make_corpus(root / "c"))
    tok = Tokenizer.train(["is there a dog? yes no", "what was that? rain"] * 20, vocab_size=300)
    torch.manual_seed(0)
    model = SAM(SAMConfig.from_name("sam-tiny"), tok).eval()
    spec = BatchSpec(kinds=TASK_KINDS, batch_size=3, seconds=(1.0, 3.0), long_fraction=0.0, long_seconds=(30.0, 40.0),
                     augment=True, hold_out=(), block_samples=model.block_samples, augment_on="cpu")
    bank = build_bank(model, corpus, root / "bank", spec, batches=4, seed=2, workers=0, checkpoint="tiny")
    return model, corpus, spec, bank, root


def test_stored_tokens_are_the_models_tokens_of_the_same_batches(made):
    model, corpus, spec, bank, _ = made
    assert len(bank.groups) == 4 and bank.meta["scenes"] == len(bank.scenes)
    for g, batch in zip(range(2), batch_loader(corpus, spec, seed=2, workers=0)):
        with torch.inference_mode():
            want = model.audio_tokens(batch.audio).float().numpy()
        for row, i in enumerate(bank.groups[g]):
            s = bank.scenes[i]
            got = np.asarray(bank.tokens[s["offset"]: s["offset"] + s["length"]], np.float32)
            np.testing.assert_allclose(got, want[row], rtol=1e-2, atol=1e-2)  # stored as float16
            assert scene_of(s).events == batch.scenes[row].events


def test_a_bank_fits_only_the_model_that_made_it(made, tmp_path):
    model, _, _, bank, root = made
    check_fits(load_bank(root / "bank"), model)
    torch.manual_seed(123)  # other weights than the fixture's
    other = SAM(SAMConfig.from_name("sam-tiny"), model.tokenizer)
    with pytest.raises(ValueError, match="make the bank again"):
        check_fits(bank, other)
    with pytest.raises(ValueError, match="no bank.json"):
        load_bank(tmp_path)


def test_bank_batches_ask_fresh_questions_of_the_same_scenes(made):
    _, corpus, _, bank, _ = made
    a = list(zip(range(12), bank_batches(bank, TASK_KINDS, corpus.classes, seed=1)))
    b = list(zip(range(12), bank_batches(bank, TASK_KINDS, corpus.classes, seed=1)))
    assert [x.questions for _, x in a] == [x.questions for _, x in b]  # seeded
    questions = {q for _, x in a for q in x.questions}
    assert len(questions) > len(bank.scenes)  # the same scenes, asked different things
    assert all(x.tokens.shape[0] == len(x.questions) for _, x in a)


def test_training_on_a_bank_moves_the_language_side_only(made, tmp_path):
    from model.checkpoint import load_sam, save_sam
    from model.train import main

    model, _, _, _, root = made
    save_sam(model, tmp_path / "init")
    corpus_dir = root / "c" / "corpus"
    assert main(["--stage", "instruct", "--init", str(tmp_path / "init"), "--corpus", str(corpus_dir), "--bank",
                 str(root / "bank"), "--out", str(tmp_path / "run"), "--max-steps", "3", "--backend", "torch",
                 "--lr", "1e-2"]) == 0
    after = load_sam(tmp_path / "run" / "checkpoint")
    for part in ("encoder", "connector"):
        for (k, v), w in zip(getattr(model, part).state_dict().items(), getattr(after, part).state_dict().values()):
            assert torch.equal(v, w), k
    moved = [k for k, v in model.lm.state_dict().items() if not torch.equal(v, after.lm.state_dict()[k])]
    assert moved
    assert len([json.loads(x) for x in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]) >= 1
