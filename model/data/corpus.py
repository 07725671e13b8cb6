"""Load the corpus anywhere: from the packed archive (numpy only) or from a build folder (FLAC).

The archive's codec streams are decoded once into `pcm.npy` (int16, all clips back to back) beside
the unpacked archive; later loads, DataLoader workers and other ranks memory-map that file.
"""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import tarfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model.data import codec
from model.data.catalog import ClipRecord, read_catalog
from model.data.clips import PCM_SCALE, to_pcm16
from model.data.labels import ClassInfo



@dataclass
class Corpus:
    """Clip records, class metadata and a way to get each clip's samples (float32, 16 kHz)."""

    records: list[ClipRecord]
    classes: dict[str, ClassInfo]
    root: Path
    pcm_path: Path | None = None  # decoded archive: (total,) int16, memory-mapped on first use
    offsets: dict[str, tuple[int, int]] | None = None
    _pcm: np.ndarray | None = None

    def __getstate__(self) -> dict:
        # DataLoader workers started with spawn reopen the memory map instead of copying it
        return {**self.__dict__, "_pcm": None}

    def audio(self, clip_id: str) -> np.ndarray:
        """The clip's samples as float32 in [-1, 1]."""
        if self.pcm_path is not None:
            if self._pcm is None:
                self._pcm = np.load(self.pcm_path, mmap_mode="r")
            start, n = self.offsets[clip_id]
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
        return Corpus(keep, self.classes, self.root, self.pcm_path, self.offsets)


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
        pcm_path, offsets = _decoded(path, workers)
        return Corpus(records, classes, path, pcm_path, offsets)
    if not (path / "clips").is_dir():
        raise ValueError(f"{path}: neither an archive folder (index.json) nor a build folder (clips/)")
    return Corpus(records, classes, path)


def _unpack(tar_path: Path) -> Path:
    """Extract the archive next to itself (`corpus.tar` -> `corpus.unpacked/corpus/`), again when it changed."""
    dest = tar_path.with_suffix(".unpacked")
    root = dest / "corpus"
    stat = tar_path.stat()
    stamp = f"{stat.st_size} {stat.st_mtime_ns}"
    with _locked(dest):
        done = root / ".complete"
        if not done.exists() or done.read_text() != stamp:
            shutil.rmtree(dest, ignore_errors=True)
            try:
                with tarfile.open(tar_path) as tar:
                    tar.extractall(dest, filter="data")
            except tarfile.TarError as e:
                raise ValueError(f"{tar_path}: not a corpus archive ({e}); re-pack with `sam-data pack`") from e
            done.write_text(stamp)
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
    return to_pcm16(x)


def _decoded(root: Path, workers: int | None) -> tuple[Path, dict[str, tuple[int, int]]]:
    """Decode audio.bin into pcm.npy once (in parallel); return its path and the clip offsets."""
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
    return pcm_path, offsets
