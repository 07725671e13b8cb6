"""`sam-data pack`: the built corpus -> one tar of at most `budget_mb`, clips in Opus (OGG) or the numpy codec.

Archive members (all under `corpus/`): `catalog.jsonl` (kept clips), `classes.json`,
`audio.bin` (codec streams back to back), `index.json` (id -> offset, size; codec and its quality),
`CREDITS.txt` (sources and licences). `model.data.corpus.load_corpus` reads it with numpy alone.
"""
from __future__ import annotations

import hashlib
import io
import json
import tarfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
from tqdm import tqdm

from model.data import codec
from model.data.catalog import ClipRecord, read_catalog
from model.data.pool import fork_pool
from model.data.sources import LICENCES, SYNTH_LICENCES


class Codec(NamedTuple):
    """A codec the archive can hold: its name in index.json, its encoder, and its settings tried from best
    down until the estimate fits (the numpy codec's quality, Opus's compression level)."""

    index_name: str
    encode: Callable[[np.ndarray, float], bytes]
    settings: tuple[float, ...]


CODECS = {"smc": Codec(codec.MAGIC.decode(), codec.encode, (1.0, 0.85, 0.72, 0.62, 0.55, 0.48, 0.42, 0.36, 0.3, 0.25)),
          # Opus stops at 0.985: 0.99 drops to ~10 kbit/s and narrowband, its log-mel error (0.32) 2.4 times that
          # of 0.985 (0.13, at 11.8 kbit/s) on corpus clips
          "opus": Codec(codec.OPUS, codec.encode_opus, (0.8, 0.85, 0.9, 0.93, 0.95, 0.96, 0.97, 0.975, 0.98, 0.985))}
SAMPLE_EVERY = 15  # every 15th clip estimates the bit rate of a quality
MARGIN = 0.94  # aim below the budget: the estimate comes from a sample
ARCHIVE_ROOT = "corpus"


@dataclass
class PackReport:
    """What the pack step kept, dropped and how big the archive is."""

    path: Path
    size_mb: float
    quality: float  # the codec's setting: quality (numpy codec) or compression level (Opus)
    kbps: float
    clips: int
    hours: float
    dropped: list[str] = field(default_factory=list)  # ids dropped to meet the budget
    dropped_by_class: dict[str, int] = field(default_factory=dict)
    mel_error: float = 0.0
    seconds: float = 0.0
    codec: str = "opus"

    def report(self) -> str:
        """Human-readable summary."""
        drop = ", ".join(f"{k} {v}" for k, v in sorted(self.dropped_by_class.items())) or "nothing"
        return (f"{self.path}: {self.size_mb:.1f} MB, {self.clips} clips, {self.hours:.2f} h, {self.codec} at "
                f"{self.quality} ({self.kbps:.1f} kbit/s, mean log-mel error {self.mel_error:.3f}); "
                f"dropped to fit: {drop}; {self.seconds / 60:.1f} min")


def pack(corpus: Path, out: Path, budget_mb: float = 45.0, workers: int = 2, codec_name: str = "opus",
         split: str | None = None) -> PackReport:
    """Encode every clip of a built corpus (of `split` alone, if given) and write the archive within `budget_mb`
    (MB = 10^6 bytes), in `codec_name`: "smc" (the numpy codec) or "opus" (Opus in OGG, read through soundfile)."""
    if codec_name not in CODECS:
        raise ValueError(f"codec {codec_name!r}: choose one of {', '.join(CODECS)}")
    t0 = time.time()
    catalog = corpus / "catalog.jsonl"
    if not catalog.exists():
        raise ValueError(f"{corpus}: no catalog.jsonl; run `sam-data build --out {corpus}` first")
    stamp = (f"{hashlib.sha1(catalog.read_bytes()).hexdigest()} {budget_mb} {codec.MAGIC.decode()} {codec_name} "
             f"{CODECS[codec_name].settings} {split}")
    saved = out.with_suffix(".report.json")
    if out.exists() and saved.exists():
        previous = json.loads(saved.read_text())
        if previous.pop("stamp", None) == stamp:  # same catalog and budget: the archive is up to date
            return PackReport(**{**previous, "path": out})
    records = [r for r in read_catalog(catalog) if split is None or r.split == split]
    if not records:
        raise ValueError(f"{catalog}: no clips in split {split!r}")
    budget = budget_mb * 1e6 - 200_000 - 400 * len(records)  # room for the catalog, index and tar headers
    quality = _choose_quality(corpus, records, budget, workers, codec_name)
    blobs = _encode_all(corpus, records, quality, workers, codec_name)
    kept, dropped = _fit(records, blobs, budget)
    size = _write(out, corpus, kept, blobs, quality, codec_name)
    seconds = sum(r.duration_s for r in kept)
    report = PackReport(out, size / 1e6, quality, sum(len(blobs[r.id]) for r in kept) * 8 / seconds / 1000,
                        len(kept), seconds / 3600, [r.id for r in dropped], dict(Counter(r.label for r in dropped)),
                        _mel_error(corpus, kept[::SAMPLE_EVERY * 4], blobs), time.time() - t0, codec_name)
    saved.write_text(json.dumps({**asdict(report), "path": str(out), "stamp": stamp}))
    return report


def _read(corpus: Path, clip_id: str) -> np.ndarray:
    import soundfile as sf

    x, _ = sf.read(str(corpus / "clips" / f"{clip_id}.flac"), dtype="float32")
    return x


def _encode_job(job: tuple[str, str, float, str]) -> tuple[str, bytes]:
    corpus, clip_id, quality, codec_name = job
    return clip_id, CODECS[codec_name].encode(_read(Path(corpus), clip_id), quality)


def _encode_all(corpus: Path, records: list[ClipRecord], quality: float, workers: int,
                codec_name: str) -> dict[str, bytes]:
    jobs = [(str(corpus), r.id, quality, codec_name) for r in records]
    progress = dict(total=len(jobs), desc=f"encode {codec_name} {quality}", unit="clip")
    if workers <= 1:  # no pool to start or stop: one worker is this process
        return dict(tqdm(map(_encode_job, jobs), **progress))
    with fork_pool(workers) as pool:
        return dict(tqdm(pool.imap_unordered(_encode_job, jobs, chunksize=8), **progress))


def _choose_quality(corpus: Path, records: list[ClipRecord], budget: float, workers: int, codec_name: str) -> float:
    """The best setting whose bit rate, estimated on a sample, fits the budget (bisection over the codec's)."""
    qualities = CODECS[codec_name].settings
    sample = records[::SAMPLE_EVERY]
    scale = sum(r.duration_s for r in records) / sum(r.duration_s for r in sample)

    def fits(q: float) -> bool:
        return sum(map(len, _encode_all(corpus, sample, q, workers, codec_name).values())) * scale <= budget * MARGIN

    lo, hi = 0, len(qualities) - 1  # answer index in [lo, hi]; qualities[hi] is the fallback
    while lo < hi:
        mid = (lo + hi) // 2
        if fits(qualities[mid]):
            hi = mid
        else:
            lo = mid + 1
    return qualities[lo]


def _fit(records: list[ClipRecord], blobs: dict[str, bytes], budget: float) -> tuple[list[ClipRecord], list[ClipRecord]]:
    """Drop clips, from the largest classes first (their later windows first), until the total fits."""
    total = sum(len(b) for b in blobs.values())
    per_class: dict[str, list[ClipRecord]] = defaultdict(list)
    for r in records:
        per_class[r.label].append(r)
    dropped = []
    while total > budget:
        label = max(per_class, key=lambda c: (len(per_class[c]), c))
        victim = max(per_class[label], key=lambda r: (r.start_s, r.duration_s))
        per_class[label].remove(victim)
        dropped.append(victim)
        total -= len(blobs[victim.id])
    gone = {r.id for r in dropped}
    return [r for r in records if r.id not in gone], dropped


def _write(out: Path, corpus: Path, kept: list[ClipRecord], blobs: dict[str, bytes], quality: float,
           codec_name: str) -> int:
    out.parent.mkdir(parents=True, exist_ok=True)
    offsets, audio = {}, bytearray()
    for r in kept:
        offsets[r.id] = [len(audio), len(blobs[r.id])]
        audio += blobs[r.id]
    catalog = "".join(line + "\n" for line in (corpus / "catalog.jsonl").read_text().splitlines()
                      if line.strip() and json.loads(line)["id"] in offsets)
    members = {
        "catalog.jsonl": catalog.encode(),
        "classes.json": (corpus / "classes.json").read_bytes(),
        "index.json": json.dumps({"codec": CODECS[codec_name].index_name, "quality": quality,
                                  "clips": offsets}).encode(),
        "CREDITS.txt": _credits(kept).encode(),
        "audio.bin": bytes(audio),
    }
    tmp = out.with_suffix(".partial")
    with tarfile.open(tmp, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(f"{ARCHIVE_ROOT}/{name}")
            info.size, info.mtime = len(data), 0
            tar.addfile(info, io.BytesIO(data))
    tmp.replace(out)
    return out.stat().st_size


def _credits(kept: list[ClipRecord]) -> str:
    counts = Counter(r.package for r in kept)
    lines = ["SAM Live training corpus: sources and licences (per-file detail: each package's debian/copyright).", ""]
    for pkg, n in sorted(counts.items()):
        lines.append(f"{pkg}\t{n} clips\t{LICENCES.get(pkg) or SYNTH_LICENCES.get(pkg, '')}")
    return "\n".join(lines) + "\n"


def _mel_error(corpus: Path, sample: list[ClipRecord], blobs: dict[str, bytes]) -> float:
    """Mean absolute difference of normalised log-mel features, original vs decoded, on a sample."""
    import torch

    from model.audio import features

    errs = []
    for r in sample:
        x = _read(corpus, r.id)
        y = codec.decode(blobs[r.id])
        errs.append(float((features(torch.from_numpy(x)) - features(torch.from_numpy(y))).abs().mean()))
    return float(np.mean(errs)) if errs else 0.0
