"""The sam-live command line: help, the missing-model message, the demo fallback, headless JSON lines."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
import soundfile as sf
import torch

import live.cli as cli
from live.microphone import NoInputDevice
from test_live_session import scene, stub_main
from test_live_stubmodel import RATE


def test_help_names_every_option(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for option in ["--device", "--list-devices", "--input", "--fast", "--checkpoint", "--describe-every", "--log-dir",
                   "--no-audio", "--resume", "--headless", "--list-sessions", "--show", "Ctrl+Q", "--watch",
                   "--watch-preset", "--watch-threshold", "--watch-release", "--watch-gap", "/watch PHRASE"]:
        assert option in out


def test_without_a_model_it_says_how_to_get_one(monkeypatch, capsys):
    import model.checkpoint

    monkeypatch.setattr(model.checkpoint, "default_checkpoint", lambda: None)
    assert cli.main([]) == 2
    err = capsys.readouterr().err
    assert "No trained SAM model is installed" in err and "make train" in err and '"Training"' in err
    assert "--checkpoint DIR" in err


@pytest.mark.parametrize("argv,message", [(["--fast"], "--fast replays a recording"),
                                          (["--input", "a.wav", "--device", "1"], "give one"),
                                          (["--describe-every", "0"], "positive")])
def test_contradictory_options_are_refused(argv, message, capsys):
    with pytest.raises(SystemExit):
        cli.main(argv)
    assert message in capsys.readouterr().err


def test_a_bad_input_file_is_named(tmp_path, capsys):
    bad = tmp_path / "noise.wav"
    bad.write_text("not audio")
    assert stub_main(["--input", str(bad), "--headless", "--checkpoint", str(tmp_path)]) == 2
    assert str(bad) in capsys.readouterr().err


def no_microphone(device=None):
    raise NoInputDevice("this machine has no audio input device")


def test_without_a_microphone_the_demo_plays_through_the_same_pipeline(tmp_path, monkeypatch, capsys):
    demo = tmp_path / "demo.ogg"
    sf.write(demo, scene(2.0), RATE, format="OGG")
    monkeypatch.setattr(cli, "MicrophoneSource", no_microphone)
    monkeypatch.setattr(cli, "DEMO", demo)
    assert stub_main(["--headless", "--checkpoint", str(tmp_path), "--log-dir", str(tmp_path / "log")]) == 0
    out = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert out[0]["source"] == str(demo)
    assert out[1]["type"] == "warning" and "No audio input device found" in out[1]["message"]
    assert any(e["type"] == "description" and "tone" in e["text"] for e in out)

    monkeypatch.setattr(cli, "DEMO", tmp_path / "missing.ogg")
    assert stub_main(["--headless", "--checkpoint", str(tmp_path), "--log-dir", str(tmp_path / "log")]) == 2
    err = capsys.readouterr().err
    assert "no audio input device" in err and "missing.ogg is not installed" in err and "--input FILE" in err


def test_headless_lines_have_type_stream_and_wall_time_and_match_the_log(tmp_path, capsys):
    wav = tmp_path / "s.wav"
    sf.write(wav, scene(5.0), RATE)
    assert stub_main(["--input", str(wav), "--fast", "--headless", "--no-audio", "--describe-every", "1",
                      "--checkpoint", str(tmp_path), "--log-dir", str(tmp_path / "log")]) == 0
    out = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert all(isinstance(e["type"], str) and isinstance(e["stream_time"], float) and e["wall_time"] > 1e9
               for e in out)
    kinds = {e["type"] for e in out}
    assert {"session_started", "level", "description", "source_ended", "session_ended"} <= kinds
    (folder,) = (tmp_path / "log").iterdir()
    logged = [json.loads(x) for x in (folder / "events.jsonl").read_text().splitlines()]
    assert logged == out
    assert not (folder / "audio").exists()  # --no-audio


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    """A real (untrained) sam-tiny checkpoint directory, through the model package's own saver."""
    from model.checkpoint import save_sam
    from model.config import SAMConfig
    from model.sam import SAM
    from model.tokenizer import Tokenizer

    tok = Tokenizer.train(["a dog barks", "a door slams", "quiet", "what do you hear?"] * 30, vocab_size=290)
    path = tmp_path_factory.mktemp("ckpt") / "sam-tiny"
    save_sam(SAM(SAMConfig.from_name("sam-tiny"), tok).eval(), path)
    return path


def test_the_real_command_runs_a_real_checkpoint(tmp_path, tiny_checkpoint):
    from model.checkpoint import load_sam
    from model.stream import StreamState

    wav = tmp_path / "s.wav"
    sf.write(wav, scene(6.0), RATE)
    proc = subprocess.run([sys.executable, "-m", "live.cli", "--input", str(wav), "--fast", "--headless",
                           "--checkpoint", str(tiny_checkpoint), "--log-dir", str(tmp_path / "log")],
                          input="@3 what do you hear?\n", capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = [json.loads(x) for x in proc.stdout.splitlines()]
    assert out[0]["model"] == "sam-tiny"
    assert len([e for e in out if e["type"] == "description"]) >= 3
    (answer,) = [e for e in out if e["type"] == "answer"]
    assert answer["asked_at"] == pytest.approx(3.84) and isinstance(answer["text"], str)
    (folder,) = (tmp_path / "log").iterdir()
    model = load_sam(tiny_checkpoint)
    state = StreamState.load(folder / "state.safetensors", model.cfg)
    assert state.samples_seen == 6 * RATE
    assert torch.isfinite(state.lm.ssm).all()
