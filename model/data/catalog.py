"""The catalog: one JSON line per clip, and the train/validation split by source recording."""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

SPLITS = ("train", "validation")


@dataclass(frozen=True)
class ClipRecord:
    """One corpus clip and where it came from."""

    id: str
    label: str  # the class (classes.tsv)
    category: str
    package: str  # Debian package, or the tool for synthesised clips
    path: str  # path inside the package (0ad: inside mods/public/public.zip)
    recording: str  # the source recording: windows of one recording share it
    licence: str
    duration_s: float
    hash: str  # SHA-1 of the 16-bit samples
    split: str = "train"
    start_s: float = 0.0  # where the clip starts in its recording
    text: str = ""  # transcript for speech, when known

    @classmethod
    def from_dict(cls, d: dict) -> "ClipRecord":
        """Build from a JSON object, ignoring keys this version does not know."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def split_for(recording: str, val_fraction: float) -> str:
    """'validation' for a stable `val_fraction` of recordings (by hash), else 'train'."""
    h = int(hashlib.sha1(recording.encode()).hexdigest()[:8], 16)
    return "validation" if h % 10_000 < val_fraction * 10_000 else "train"


def write_catalog(records: list[ClipRecord], path: Path) -> None:
    """Write records as JSON lines (atomically: a temporary file, then a rename)."""
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(asdict(r), ensure_ascii=False) + "\n")
    tmp.replace(path)


def read_catalog(path: Path) -> list[ClipRecord]:
    """Read a catalog written by `write_catalog`; ValueError naming the line when one is broken."""
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                out.append(ClipRecord.from_dict(json.loads(line)))
            except (json.JSONDecodeError, TypeError) as e:
                raise ValueError(f"{path}:{n}: not a catalog record ({e}); rebuild with sam-data build") from e
    return out
