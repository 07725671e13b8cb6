"""sam-caption and sam-ask on a tiny checkpoint the test writes, including the error paths."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from model import cli
from model.checkpoint import save_sam
from model.config import SAMConfig
from model.sam import SAM
from model.tokenizer import Tokenizer


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    tok = Tokenizer.train(["a dog barks", "quiet", "what do you hear?"] * 30, vocab_size=290)
    save_sam(SAM(SAMConfig.from_name("sam-tiny"), tok), root / "ck")
    rng = np.random.default_rng(0)
    sf.write(root / "a.wav", rng.normal(0, 0.1, 44100 * 2), 44100)
    sf.write(root / "b.flac", rng.normal(0, 0.1, (16000, 2)), 16000)
    sf.write(root / "hush.wav", rng.normal(0, 10 ** (-70 / 20), 16000 * 3), 16000)  # a -70 dBFS noise floor
    (root / "bad.wav").write_text("not audio")
    return root


def test_caption_prints_one_line_per_file(files, capsys):
    rc = cli.caption_main([str(files / "a.wav"), str(files / "b.flac"), "--checkpoint", str(files / "ck"), "--json",
                           "--max-new-tokens", "4"])
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rc == 0
    assert [r["audio"] for r in rows] == [str(files / "a.wav"), str(files / "b.flac")]
    assert rows[0]["seconds"] == pytest.approx(2.0, abs=0.01) and rows[1]["seconds"] == pytest.approx(1.0, abs=0.01)
    assert all(isinstance(r["description"], str) for r in rows)


def test_caption_answers_a_quiet_file_as_sam_live_does(files, capsys):
    common = [str(files / "hush.wav"), str(files / "a.wav"), "--checkpoint", str(files / "ck"), "--json",
              "--max-new-tokens", "4"]
    assert cli.caption_main(common) == 0
    hush, loud = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert hush["gated"] and hush["description"] == "quiet" and hush["seconds"] == pytest.approx(3.0, abs=0.01)
    assert not loud["gated"] and "time_to_first_token" in loud  # the model described it
    assert cli.caption_main([*common, "--quiet-db", "-80"]) == 0  # a lower gate lets the -70 dBFS file through
    assert [json.loads(line)["gated"] for line in capsys.readouterr().out.splitlines()] == [False, False]
    assert cli.caption_main([*common, "--no-gate"]) == 0
    assert [json.loads(line)["gated"] for line in capsys.readouterr().out.splitlines()] == [False, False]


def test_ask_reports_a_bad_file_and_goes_on(files, capsys):
    rc = cli.ask_main([str(files / "bad.wav"), str(files / "a.wav"), "-q", "what do you hear?",
                       "--checkpoint", str(files / "ck"), "--max-new-tokens", "3"])
    out = capsys.readouterr()
    assert rc == 1
    assert "bad.wav: error:" in out.err and "not a readable audio file" in out.err
    assert out.out.startswith(f"{files / 'a.wav'}: ")


def test_batch_answers_every_good_item(files, tmp_path):
    items = tmp_path / "items.jsonl"
    lines = [json.dumps({"id": 1, "audio": str(files / "a.wav"), "question": "what do you hear?"}),
             "{broken json",
             json.dumps({"id": 3, "audio": str(files / "missing.wav"), "question": "what?"}),
             json.dumps({"id": 4, "audio": str(files / "b.flac")}),
             json.dumps({"id": 5, "audio": str(files / "b.flac"), "question": "is it quiet?"})]
    items.write_text("\n".join(lines) + "\n")
    out = tmp_path / "answers.jsonl"
    rc = cli.ask_main(["--batch", str(items), "--out", str(out), "--checkpoint", str(files / "ck"),
                       "--max-new-tokens", "3"])
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rc == 1 and len(rows) == 5
    assert [("answer" in r) for r in rows] == [True, False, False, False, True]
    assert rows[2]["id"] == 3 and "missing.wav: no such file" in rows[2]["error"]
    assert "needs the keys" in rows[3]["error"]


def test_no_model_installed_says_how_to_get_one(files, monkeypatch, capsys):
    monkeypatch.setattr(cli, "default_checkpoint", lambda: None)
    with pytest.raises(SystemExit, match="no trained model is installed"):
        cli.caption_main([str(files / "a.wav")])


def test_console_script_runs(files):
    script = Path(sys.executable).parent / "sam-caption"
    res = subprocess.run([str(script), str(files / "b.flac"), "--checkpoint", str(files / "ck"), "--json",
                          "--max-new-tokens", "2"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["audio"] == str(files / "b.flac")
