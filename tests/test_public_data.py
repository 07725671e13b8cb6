"""Public benchmark loaders on small files the test writes."""
import json

import numpy as np
import pytest
import soundfile as sf

from model.public_data import load_audiocaps, load_clotho, load_openaqa


def _wav(path):
    sf.write(path, np.zeros(1600), 16000)


def test_audiocaps_groups_captions_and_finds_audio(tmp_path):
    _wav(tmp_path / "Yabc123.wav")
    _wav(tmp_path / "91.flac")
    (tmp_path / "test.csv").write_text(
        "audiocap_id,youtube_id,start_time,caption\n"
        "1,abc123,30,A dog barks\n2,abc123,30,Dogs barking loudly\n"
        "91,zzz,0,Rain falls\n5,missing,10,Wind blows\n")
    items, missing = load_audiocaps(tmp_path / "test.csv", tmp_path)
    assert [(i.audio.name, i.references) for i in items] == [
        ("Yabc123.wav", ["A dog barks", "Dogs barking loudly"]), ("91.flac", ["Rain falls"])]
    assert missing == ["missing_10"]


def test_clotho_reads_five_captions(tmp_path):
    _wav(tmp_path / "birds.wav")
    (tmp_path / "eval.csv").write_text("file_name,caption_1,caption_2,caption_3,caption_4,caption_5\n"
                                       "birds.wav,a,b,c,d,e\nnope.wav,a,b,c,d,e\n")
    items, missing = load_clotho(tmp_path / "eval.csv", tmp_path)
    assert len(items) == 1 and items[0].references == ["a", "b", "c", "d", "e"] and missing == ["nope.wav"]
    (tmp_path / "bad.csv").write_text("name,caption\nx,y\n")
    with pytest.raises(ValueError, match="missing column"):
        load_clotho(tmp_path / "bad.csv", tmp_path)


def test_openaqa_reroots_audio_and_checks_items(tmp_path):
    _wav(tmp_path / "clip.wav")
    data = [{"audio_id": "/data/somewhere/clip.wav", "instruction": "What is the sound?", "output": "A bell.",
             "task": "open-ended question"},
            {"audio_id": "/elsewhere/gone.wav", "instruction": "Q?", "output": "A."}]
    (tmp_path / "qa.json").write_text(json.dumps(data))
    items, missing = load_openaqa(tmp_path / "qa.json", audio_root=tmp_path)
    assert len(items) == 1 and items[0].audio == tmp_path / "clip.wav" and items[0].answer == "A bell."
    assert missing == ["/elsewhere/gone.wav"]
    (tmp_path / "bad.json").write_text(json.dumps([{"instruction": "x"}]))
    with pytest.raises(ValueError, match="item 0 needs"):
        load_openaqa(tmp_path / "bad.json")
