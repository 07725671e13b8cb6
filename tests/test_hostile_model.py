"""Hostile and broken model input: configs, checkpoint indexes and weights, devices, and failing batch items."""
import json
import math
import shutil

import numpy as np
import pytest
import soundfile as sf
import torch
from safetensors.torch import load_file, save_file

from model import cli
from model.checkpoint import INDEX, check_device, load_sam, read_config, save_sam
from model.config import SAMConfig
from model.sam import SAM
from model.tokenizer import Tokenizer


@pytest.fixture(scope="module")
def tok():
    return Tokenizer.train(["a dog barks", "quiet", "what do you hear?"] * 30, vocab_size=290)


@pytest.fixture
def ck(tok, tmp_path):
    return save_sam(SAM(SAMConfig.from_name("sam-tiny"), tok), tmp_path / "ck")


@pytest.fixture
def sharded(tok, tmp_path):
    return save_sam(SAM(SAMConfig.from_name("sam-tiny"), tok), tmp_path / "sharded", shard_bytes=20_000)


def _edit_config(ck, section: str, field: str, value) -> None:
    cfg = json.loads((ck / "config.json").read_text())
    cfg[section][field] = value
    (ck / "config.json").write_text(json.dumps(cfg))


@pytest.mark.parametrize("section,field,value,message", [
    ("lm", "n_layer", 10**9, r"MambaConfig\.n_layer = 1000000000 is outside 1\.\.1024"),
    ("encoder", "heads", 0, r"EncoderConfig\.heads = 0 is outside"),
    ("lm", "headdim", 0, r"MambaConfig\.headdim = 0 is outside"),
    ("lm", "ngroups", 0, r"MambaConfig\.ngroups = 0 is outside"),
    ("lm", "norm_eps", "1e-5", r"MambaConfig\.norm_eps must be a finite number, got '1e-5'"),
    ("encoder", "norm_eps", math.nan, r"EncoderConfig\.norm_eps must be a finite number"),
    ("lm", "d_model", -32, r"MambaConfig\.d_model = -32 is outside"),
    ("lm", "d_model", 32.0, r"MambaConfig\.d_model must be a whole number, got 32\.0"),
    ("lm", "vocab_size", True, r"MambaConfig\.vocab_size must be a whole number, got True"),
    ("lm", "tie_embeddings", "yes", r"MambaConfig\.tie_embeddings must be true or false"),
    ("encoder", "dim", 0, r"EncoderConfig\.dim = 0 is outside"),
    ("encoder", "depth", 10**9, r"EncoderConfig\.depth = 1000000000 is outside"),
    ("encoder", "mlp_ratio", "4", r"EncoderConfig\.mlp_ratio must be a finite number"),
    ("connector", "hidden", -1, r"ConnectorConfig\.hidden = -1 is outside"),
])
def test_a_config_with_absurd_values_is_refused_before_any_module_is_built(ck, section, field, value, message):
    _edit_config(ck, section, field, value)
    with pytest.raises(ValueError, match=rf"config\.json: {message}"):
        read_config(ck)


def test_a_config_that_is_not_an_object_is_refused(ck):
    for text in ("[]", '"sam"', '{"name": "x", "encoder": {}, "connector": {}, "lm": "mamba"}'):
        (ck / "config.json").write_text(text)
        with pytest.raises(ValueError, match=r"config\.json: not a SAM config"):
            read_config(ck)


def test_sam_caption_says_what_is_wrong_with_a_config_in_one_line(ck, tmp_path):
    _edit_config(ck, "encoder", "heads", 0)
    sf.write(tmp_path / "a.wav", np.zeros(16000), 16000)
    with pytest.raises(SystemExit, match=r"^error: .*config\.json: EncoderConfig\.heads = 0 is outside"):
        cli.caption_main([str(tmp_path / "a.wav"), "--checkpoint", str(ck)])


def _point_first_shard_at(sharded, name: str) -> str:
    index = json.loads((sharded / INDEX).read_text())
    first = sorted(set(index["weight_map"].values()))[0]
    index["weight_map"] = {k: name if v == first else v for k, v in index["weight_map"].items()}
    (sharded / INDEX).write_text(json.dumps(index))
    return first


def test_index_shards_outside_the_checkpoint_folder_are_refused(sharded, tmp_path):
    outside = tmp_path / "outside.safetensors"
    first = _point_first_shard_at(sharded, "../outside.safetensors")
    shutil.copy(sharded / first, outside)  # a readable shard, so only the confinement can refuse it
    with pytest.raises(ValueError, match=r"index\.json: shard '\.\./outside\.safetensors' lies outside"):
        load_sam(sharded)
    _point_first_shard_at(sharded, str(outside))
    with pytest.raises(ValueError, match="lies outside the checkpoint folder"):
        load_sam(sharded)
    (sharded / "link.safetensors").symlink_to(outside)
    _point_first_shard_at(sharded, "link.safetensors")
    with pytest.raises(ValueError, match=r"shard 'link\.safetensors' lies outside"):
        load_sam(sharded)


def test_an_index_shard_linked_inside_the_folder_loads(sharded):
    first = _point_first_shard_at(sharded, "inside.safetensors")
    (sharded / "inside.safetensors").symlink_to(sharded / first)
    assert load_sam(sharded).cfg.name == "sam-tiny"


@pytest.mark.parametrize("text", ["{not json", "[]", '{"metadata": {}}', '{"weight_map": []}',
                                  '{"weight_map": {"encoder.norm.weight": 5}}', b"\xff\xfe"])
def test_a_malformed_index_is_a_clear_error(sharded, text):
    (sharded / INDEX).write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(ValueError, match=r"model\.safetensors\.index\.json: (not a safetensors index|weight_map must)"):
        load_sam(sharded)


def _rewrite_weight(ck, change) -> str:
    tensors = load_file(str(ck / "model.safetensors"))
    key = "lm.backbone.layers.1.mixer.in_proj.weight"
    tensors[key] = change(tensors[key])
    save_file(tensors, str(ck / "model.safetensors"), metadata={"format": "pt"})
    return key


def test_int8_weights_are_refused_naming_the_tensor(ck):
    _rewrite_weight(ck, lambda t: (t * 100).to(torch.int8))
    with pytest.raises(ValueError, match=r"tensor lm\.backbone\.layers\.1\.mixer\.in_proj\.weight is stored as int8"):
        load_sam(ck)


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_non_finite_weights_are_refused_naming_the_tensor(ck, bad):
    def poison(t):
        t = t.clone()
        t[3, 5] = bad
        return t

    _rewrite_weight(ck, poison)
    with pytest.raises(ValueError, match=r"tensor lm\.backbone\.layers\.1\.mixer\.in_proj\.weight holds NaN"):
        load_sam(ck)


def test_an_unknown_or_absent_device_is_a_clear_error(ck, tmp_path):
    with pytest.raises(ValueError, match=r"unknown device 'nosuch'; use cpu, cuda or cuda:N"):
        load_sam(ck, device="nosuch")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU is available here; use cpu"):
            check_device("cuda")
    with pytest.raises(ValueError, match="SAM runs on cpu, cuda or mps"):
        check_device("meta")
    assert check_device("cpu") == torch.device("cpu")
    sf.write(tmp_path / "a.wav", np.zeros(16000), 16000)
    with pytest.raises(SystemExit, match="^error: unknown device 'nosuch'"):
        cli.caption_main([str(tmp_path / "a.wav"), "--checkpoint", str(ck), "--device", "nosuch"])


def _boom_on(method: str, trigger):
    real = getattr(SAM, method)

    def patched(self, state, *args, **kwargs):
        if trigger(*args):
            raise RuntimeError("the kernel\nfailed")
        return real(self, state, *args, **kwargs)

    return patched


def test_sam_ask_batch_records_any_exception_per_item_and_goes_on(ck, tmp_path, monkeypatch):
    monkeypatch.setattr(SAM, "ask", _boom_on("ask", lambda question, *a: question == "boom?"))
    sf.write(tmp_path / "a.wav", np.random.default_rng(0).normal(0, 0.1, 16000), 16000)
    items = tmp_path / "items.jsonl"
    items.write_text("".join(json.dumps({"id": i, "audio": str(tmp_path / "a.wav"), "question": q}) + "\n"
                             for i, q in enumerate(["what?", "boom?", "what?"])))
    out = tmp_path / "answers.jsonl"
    rc = cli.ask_main(["--batch", str(items), "--out", str(out), "--checkpoint", str(ck), "--max-new-tokens", "2"])
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rc == 1 and [r["id"] for r in rows] == [0, 1, 2]
    assert "answer" in rows[0] and "answer" in rows[2]
    assert rows[1]["error"] == "RuntimeError: the kernel failed"  # one line, with the exception's type


def test_sam_ask_batch_takes_a_line_that_is_not_utf8_as_that_lines_error(ck, tmp_path):
    sf.write(tmp_path / "a.wav", np.random.default_rng(0).normal(0, 0.1, 16000), 16000)
    good = json.dumps({"id": 2, "audio": str(tmp_path / "a.wav"), "question": "what?"}).encode()
    (tmp_path / "items.jsonl").write_bytes(b'{"id": 1, "audio": "\xff\xfe.wav", "question": "what?"}\n' + good + b"\n")
    out = tmp_path / "answers.jsonl"
    rc = cli.ask_main(["--batch", str(tmp_path / "items.jsonl"), "--out", str(out), "--checkpoint", str(ck),
                       "--max-new-tokens", "2"])
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rc == 1 and rows[0] == {"id": None, "error": "line 1: not UTF-8 text"} and "answer" in rows[1]


def test_sam_caption_reports_any_exception_per_file_and_goes_on(ck, tmp_path, monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(SAM, "describe", _boom_on("describe", lambda *a: not calls.append(1) and len(calls) == 1))
    for name in ("a.wav", "b.wav"):
        sf.write(tmp_path / name, np.random.default_rng(0).normal(0, 0.1, 16000), 16000)
    rc = cli.caption_main([str(tmp_path / "a.wav"), str(tmp_path / "b.wav"), "--checkpoint", str(ck),
                           "--max-new-tokens", "2"])
    out = capsys.readouterr()
    assert rc == 1
    assert out.err == f"{tmp_path / 'a.wav'}: error: RuntimeError: the kernel failed\n"
    assert out.out.startswith(f"{tmp_path / 'b.wav'}: ")


def test_a_file_that_is_not_audio_is_named_once_in_its_error_line(ck, tmp_path, capsys):
    bad = tmp_path / "notes.wav"
    bad.write_text("not audio")
    rc = cli.caption_main([str(bad), "--checkpoint", str(ck), "--max-new-tokens", "2"])
    err = capsys.readouterr().err
    assert rc == 1 and err.startswith(f"{bad}: error: ") and "audio" in err
    assert not err.removeprefix(f"{bad}: error: ").startswith(str(bad)), err  # not "PATH: error: PATH: ..."

