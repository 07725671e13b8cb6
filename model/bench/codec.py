"""The corpus archive's codec against Opus and Vorbis in OGG, at equal size, on real corpus clips.

Every clip the training run reads has to travel to the GPU machine (64 MiB a call, the working
tree included), so the archive's bits per second decide how much audio a run can hear. This
prints, per codec setting, the bit rate over a seeded sample of clips and the mean absolute
error of the two front ends the model hears through: the encoder's normalised fbank
(model/audio.py) and YAMNet's log-mel (model/yamnet.py), original against decoded.

    python -m model.bench.codec --clips 60 --out docs/results/codec_compare.json
"""
from __future__ import annotations

import argparse
import io
import json
import random
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..audio import SAMPLE_RATE, features
from ..data import codec
from ..data.catalog import read_catalog
from ..yamnet import YAMNetFrontend

Codec = Callable[[np.ndarray], tuple[bytes, np.ndarray]]  # samples -> (encoded bytes, decoded samples)


def ours(quality: float) -> Codec:
    def run(x: np.ndarray) -> tuple[bytes, np.ndarray]:
        data = codec.encode(x, quality)
        return data, codec.decode(data)
    return run


def ogg(subtype: str, level: float) -> Codec:
    """libsndfile's OGG encoder; `level` is its compression level (higher: fewer bits)."""
    import soundfile as sf

    def run(x: np.ndarray) -> tuple[bytes, np.ndarray]:
        buf = io.BytesIO()
        sf.write(buf, x, SAMPLE_RATE, format="OGG", subtype=subtype, compression_level=level)
        data = buf.getvalue()
        y, _ = sf.read(io.BytesIO(data), dtype="float32")
        return data, y
    return run


SETTINGS: dict[str, Codec] = {
    "ours q0.25": ours(0.25), "ours q0.30": ours(0.30), "ours q0.40": ours(0.40),
    "opus 0.97": ogg("OPUS", 0.97), "opus 0.95": ogg("OPUS", 0.95), "opus 0.93": ogg("OPUS", 0.93),
    "vorbis 1.0": ogg("VORBIS", 1.0),
}


def front_end_errors(x: np.ndarray, y: np.ndarray, yamnet: YAMNetFrontend) -> tuple[float, float]:
    n = min(len(x), len(y))
    a, b = torch.from_numpy(x[:n].astype(np.float32)), torch.from_numpy(y[:n].astype(np.float32))
    return (float((features(a) - features(b)).abs().mean()),
            float((yamnet(a[None]) - yamnet(b[None])).abs().mean()))


def compare(corpus: Path, clips: int, seed: int = 0) -> dict[str, dict[str, float]]:
    """Per setting: kbit/s over the sample and the mean fbank and YAMNet log-mel errors."""
    import soundfile as sf

    records = read_catalog(corpus / "catalog.jsonl")
    sample = random.Random(seed).sample(records, min(clips, len(records)))
    yamnet = YAMNetFrontend()
    seconds, totals = 0.0, {name: [0, [], []] for name in SETTINGS}
    for r in sample:
        x, _ = sf.read(str(corpus / "clips" / f"{r.id}.flac"), dtype="float32")
        seconds += len(x) / SAMPLE_RATE
        for name, run in SETTINGS.items():
            data, y = run(x)
            fbank_err, yamnet_err = front_end_errors(x, y, yamnet)
            totals[name][0] += len(data)
            totals[name][1].append(fbank_err)
            totals[name][2].append(yamnet_err)
    return {name: {"kbps": n * 8 / seconds / 1000, "fbank_error": float(np.mean(f)),
                   "yamnet_mel_error": float(np.mean(m))} for name, (n, f, m) in totals.items()} | {
        "sample": {"clips": len(sample), "seconds": seconds, "seed": seed}}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m model.bench.codec", description=__doc__.split("\n\n")[0])
    p.add_argument("--corpus", type=Path, default=Path("data/corpus"), help="built corpus folder (sam-data build)")
    p.add_argument("--clips", type=int, default=60, help="clips in the seeded sample (default: %(default)s)")
    p.add_argument("--out", type=Path, help="JSON file for the results")
    args = p.parse_args(argv)
    if not (args.corpus / "catalog.jsonl").is_file():
        p.error(f"{args.corpus}: no built corpus here (catalog.jsonl); run `sam-data build` or pass --corpus")
    torch.set_num_threads(1)
    res = compare(args.corpus, args.clips)
    for name, row in res.items():
        if name != "sample":
            print(f"{name:12} {row['kbps']:6.1f} kbit/s   fbank error {row['fbank_error']:.3f}   "
                  f"YAMNet log-mel error {row['yamnet_mel_error']:.3f}")
    if args.out:
        args.out.write_text(json.dumps(res, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
