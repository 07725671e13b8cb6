"""Loaders for public benchmark layouts, so sam-eval runs on them when a user has them on disk.

  AudioCaps caption CSV: audiocap_id, youtube_id, start_time, caption (several rows per clip)
  Clotho caption CSV:    file_name, caption_1 ... caption_5
  OpenAQA-style JSON:    a list of {"audio_id", "instruction", "output", ["task", "dataset", "input"]}
Audio files are looked up in a folder under the names these datasets are commonly stored as.
"""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

from .audio import AUDIO_SUFFIXES


@dataclass
class CaptionItem:
    id: str
    audio: Path
    references: list[str] = field(default_factory=list)


@dataclass
class QAItem:
    id: str
    audio: Path
    question: str
    answer: str
    task: str = ""


def _find_audio(folder: Path, stems: list[str]) -> Path | None:
    for stem in stems:
        for suffix in ("", *AUDIO_SUFFIXES):
            p = folder / f"{stem}{suffix}"
            if p.is_file():
                return p
    return None


def _read_csv(path: Path, needed: set[str]) -> list[dict[str, str]]:
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = needed - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{path}: missing column(s) {sorted(missing)}; found {reader.fieldnames}")
        return list(reader)


def load_audiocaps(csv_path: str | Path, audio_dir: str | Path) -> tuple[list[CaptionItem], list[str]]:
    """Clips with all their reference captions, and the ids whose audio is not in audio_dir."""
    rows = _read_csv(Path(csv_path), {"youtube_id", "start_time", "caption"})
    items: dict[str, CaptionItem] = {}
    missing: list[str] = []
    for r in rows:
        key = f"{r['youtube_id']}_{r['start_time']}"
        if key not in items:
            start = r["start_time"].split(".")[0]
            stems = [r.get("audiocap_id", ""), r["youtube_id"], f"Y{r['youtube_id']}", key,
                     f"{r['youtube_id']}_{start}", f"Y{r['youtube_id']}_{start}"]
            audio = _find_audio(Path(audio_dir), [s for s in stems if s])
            if audio is None:
                missing.append(key)
                items[key] = CaptionItem(key, Path())
            else:
                items[key] = CaptionItem(key, audio)
        items[key].references.append(r["caption"])
    return [i for i in items.values() if i.audio != Path()], sorted(set(missing))


def load_clotho(csv_path: str | Path, audio_dir: str | Path) -> tuple[list[CaptionItem], list[str]]:
    """Clotho's one row per file with caption_1..caption_5."""
    rows = _read_csv(Path(csv_path), {"file_name"})
    items, missing = [], []
    for r in rows:
        audio = _find_audio(Path(audio_dir), [r["file_name"]])
        refs = [v for k, v in sorted(r.items()) if k.startswith("caption") and v]
        if audio is None:
            missing.append(r["file_name"])
        else:
            items.append(CaptionItem(r["file_name"], audio, refs))
    return items, missing


def load_openaqa(json_path: str | Path, audio_root: str | Path | None = None) -> tuple[list[QAItem], list[str]]:
    """Question-answer items; audio_id paths that do not exist are re-rooted under audio_root by file name."""
    path = Path(json_path)
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from e
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list of items")
    items, missing = [], []
    for n, d in enumerate(data):
        if not isinstance(d, dict) or not {"audio_id", "instruction", "output"} <= set(d):
            raise ValueError(f"{path}: item {n} needs audio_id, instruction and output")
        audio = Path(d["audio_id"])
        if not audio.is_file() and audio_root is not None:
            audio = Path(audio_root) / audio.name
        if not audio.is_file():
            missing.append(str(d["audio_id"]))
            continue
        question = d["instruction"] + (f" {d['input']}" if d.get("input") else "")
        items.append(QAItem(str(d.get("id", n)), audio, question, d["output"], d.get("task", "")))
    return items, missing
