"""Load the corpus anywhere: from the packed archive (numpy only) or from a build folder (FLAC).

The archive's codec streams are decoded once into `pcm.npy` (int16, all clips back to back) beside
the unpacked archive; later loads, DataLoader workers and other ranks memory-map that file.
"""
from __future__ import annotations

import fcntl
import json
import os
import tarfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model.data import codec
from model.data.catalog import ClipRecord, read_catalog
from model.data.labels import ClassInfo

PCM_SCALE = 32767.0  # int16 full scale of the decoded cache


@dataclass
class Corpus:
    """Clip records, class metadata and a way to get each clip's samples (float32, 16 kHz)."""

    records: list[ClipRecord]
    classes: dict[str, ClassInfo]
    root: Path
    _pcm: np.ndarray | None = None  # (total,) int16, memory-mapped
    _offsets: dict[str, tuple[int, int]] | None = None

    def audio(self, clip_id: str) -> np.ndarray:
        """The clip's samples as float32 in [-1, 1]."""
        if self._pcm is not None:
            start, n = self._offsets[clip_id]
            return self._pcm[start : start + n].astype(np.float32) / PCM_SCALE
        import soundfile as sf

        x, _ = sf.read(str(self.root / "clips" / f"{clip_id}.flac"), dtype="float32")
        return x

    @property
    def class_names(self) -> list[str]:
        """All class names, sorted: the order of multi-hot label vectors."""
        return sorted(self.classes)

    def subset(self, split: str | None = None, exclude_packages: tuple[str, ...] = ()) -> "Corpus":
        """Records of one split (None: all) without the held-out packages; same audio store."""
        keep = [r for r in self.records
                if (split is None or r.split == split) and r.package not in exclude_packages]
        if not keep:
            raise ValueError(f"{self.root}: no clips in split {split!r} after excluding {list(exclude_packages)}")
        return Corpus(keep, self.classes, self.root, self._pcm, self._offsets)


def load_corpus(path: str | Path, workers: int | None = None) -> Corpus:
    """A corpus from `corpus.tar`, its unpacked folder, or a `sam-data build` folder with clips/*.flac."""
    path = Path(path)
    if not path.exists():
        raise ValueError(f"{path}: no such corpus; build it with `sam-data build` or copy corpus.tar here")
    if path.is_file():
        path = _unpack(path)
    elif (path / "corpus" / "index.json").exists():
        path = path / "corpus"
    classes = {c["name"]: ClassInfo(c["name"], c["category"], c["kind"], tuple(c["synonyms"]))
               for c in json.loads((path / "classes.json").read_text())}
    records = read_catalog(path / "catalog.jsonl")
    if (path / "index.json").exists():
        pcm, offsets = _decoded(path, workers)
        return Corpus(records, classes, path, pcm, offsets)
    if not (path / "clips").is_dir():
        raise ValueError(f"{path}: neither an archive folder (index.json) nor a build folder (clips/)")
    return Corpus(records, classes, path)


def _unpack(tar_path: Path) -> Path:
    """Extract the archive next to itself once (`corpus.tar` -> `corpus.unpacked/corpus/`)."""
    dest = tar_path.with_suffix(".unpacked")
    root = dest / "corpus"
    with _locked(dest):
        if not (root / ".complete").exists():
            try:
                with tarfile.open(tar_path) as tar:
                    tar.extractall(dest, filter="data")
            except tarfile.TarError as e:
                raise ValueError(f"{tar_path}: not a corpus archive ({e}); re-pack with `sam-data pack`") from e
            (root / ".complete").touch()
    return root


class _locked:
    """An exclusive lock on `<folder>.lock` so concurrent ranks unpack and decode once."""

    def __init__(self, folder: Path):
        folder.parent.mkdir(parents=True, exist_ok=True)
        self.path = folder.with_name(folder.name + ".lock")

    def __enter__(self):
        self.f = open(self.path, "w")
        fcntl.flock(self.f, fcntl.LOCK_EX)

    def __exit__(self, *exc):
        fcntl.flock(self.f, fcntl.LOCK_UN)
        self.f.close()


def _decode_job(job: tuple[str, int, int]) -> np.ndarray:
    path, offset, size = job
    with open(path, "rb") as f:
        f.seek(offset)
        x = codec.decode(f.read(size))
    return np.clip(np.round(x * PCM_SCALE), -32768, 32767).astype(np.int16)


def _decoded(root: Path, workers: int | None) -> tuple[np.ndarray, dict[str, tuple[int, int]]]:
    """Decode audio.bin into pcm.npy once (in parallel); return the memory map and clip offsets."""
    index = json.loads((root / "index.json").read_text())["clips"]
    ids = sorted(index)
    pcm_path, idx_path = root / "pcm.npy", root / "pcm_index.json"
    with _locked(root):
        if not idx_path.exists():
            jobs = [(str(root / "audio.bin"), *index[i]) for i in ids]
            workers = workers or min(16, os.cpu_count() or 1)
            with ProcessPoolExecutor(workers) as pool:
                parts = list(pool.map(_decode_job, jobs, chunksize=16))
            offsets, start = {}, 0
            for i, part in zip(ids, parts):
                offsets[i] = (start, len(part))
                start += len(part)
            np.save(pcm_path, np.concatenate(parts) if parts else np.zeros(0, np.int16))
            tmp = idx_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(offsets))
            tmp.replace(idx_path)
    offsets = {k: tuple(v) for k, v in json.loads(idx_path.read_text()).items()}
    return np.load(pcm_path, mmap_mode="r"), offsets
