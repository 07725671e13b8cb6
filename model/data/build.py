"""`sam-data build`: packages and synthesised sources -> labelled 16 kHz clips, catalog and split.

Resumable: every processed source is appended to `progress.jsonl` in the output folder, so an
interrupted build continues where it stopped and a finished one reruns in seconds. Caps, duplicate
removal and the split are applied at the end from that file, so changing them needs no re-decoding.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import random
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tqdm import tqdm

from model.data.catalog import ClipRecord, split_for, write_catalog
from model.data.clips import ClipConfig, content_hash, process, to_pcm16
from model.data.labels import DROP, ClassInfo, load_classes, load_rules, label_for
from model.data.pool import fork_pool
from model.data.sources import LICENCES, PACKAGE_NAMES, SYNTH_LICENCES, audio_files, audio_root, fetch, missing_tools
from model.data.synth import Rendered, SynthConfig, mma_music, music21_music, speech
from model.data.keyboard import typing_clips

CLIP_SUBTYPE = "PCM_16"  # stored clips: 16-bit FLAC


@dataclass
class BuildConfig:
    """Where the corpus goes and how big each class may get."""

    out: Path = Path("data/corpus")
    cache: Path = Path("data/cache")
    packages: tuple[str, ...] = PACKAGE_NAMES
    synthesise: bool = True
    clip: ClipConfig = field(default_factory=ClipConfig)
    synth: SynthConfig = field(default_factory=SynthConfig)
    class_cap: int = 70  # clips per class unless `caps` says otherwise
    caps: dict[str, int] = field(default_factory=lambda: {
        "speech": 450, "speech synthesizer": 230, "male speech": 150, "female speech": 130, "music": 200,
        "bass drum": 80, "snare drum": 80, "hi-hat": 80, "cymbal": 80, "tom-tom": 80, "scream": 45,
        "grunt": 45, "notification": 45, "arrow": 35, "sword": 35, "pickaxe": 35})
    min_recordings: int = 3  # classes with fewer distinct source recordings are left out
    recording_cap: int = 3  # at most this many clips (windows) per source recording
    val_fraction: float = 0.12
    workers: int = 2
    seed: int = 0
    uncapped: bool = False  # every recording of every class (the teacher stage's corpus); recording_cap still holds

    def cap(self, label: str) -> int:
        """Most clips kept for `label`."""
        return 10**9 if self.uncapped else self.caps.get(label, self.class_cap)


@dataclass(frozen=True)
class Source:
    """One recording to process: a package file or a synthesised WAV, already labelled."""

    key: str  # unique: package:path
    package: str
    file: str  # absolute path to read
    path: str  # path inside the package
    label: str
    recording: str
    group: str  # sources of one group are spread out when a class is capped
    text: str = ""


def build(cfg: BuildConfig, log: Callable[[str], None] = print) -> list[ClipRecord]:
    """Run the whole build and return the catalog; ValueError when tools are missing."""
    missing = missing_tools() if cfg.synthesise else []
    if missing:
        raise ValueError("sam-data build needs these Debian packages: " + " ".join(missing)
                         + "; install them with `make data` or `sudo apt-get install " + " ".join(missing) + "`")
    if cfg.synthesise and importlib.util.find_spec("music21") is None:
        raise ValueError("sam-data build needs the music21 package for rendered music; "
                         "install it with `pip install -e '.[data]'`")
    skips: list[dict] = []
    sources = _collect(cfg, load_rules(), skips)
    return write_corpus(sources, cfg, skips, log)


def write_corpus(sources: list[Source], cfg: BuildConfig, skips: list[dict] | None = None,
                 log: Callable[[str], None] = print) -> list[ClipRecord]:
    """Labelled sources -> clips/*.flac, catalog.jsonl, classes.json and build_log.jsonl under cfg.out."""
    t0 = time.time()
    skips = [] if skips is None else skips
    cfg.out.mkdir(parents=True, exist_ok=True)
    (cfg.out / "clips").mkdir(exist_ok=True)
    classes = load_classes()
    unknown = sorted({s.label for s in sources} - set(classes))
    if unknown:
        raise ValueError(f"labels {unknown} are not in classes.tsv; add them there or fix the sources")
    sources = _limit_recordings(sources, cfg)
    done = _process_all(sources, cfg)
    records = _finalise(sources, done, classes, cfg, skips)
    write_catalog(records, cfg.out / "catalog.jsonl")
    used = sorted({r.label for r in records})
    (cfg.out / "classes.json").write_text(json.dumps([asdict(classes[c]) for c in used], indent=1))
    with (cfg.out / "build_log.jsonl").open("w") as f:
        for s in skips:
            f.write(json.dumps(s) + "\n")
    log(summary(records, time.time() - t0, len(skips)))
    return records


def _collect(cfg: BuildConfig, rules, skips: list[dict]) -> list[Source]:
    """Fetch packages, label their files, synthesise speech and music; unlabelled files go to `skips`."""
    sources: list[Source] = []
    seen_files: set[str] = set()
    for package in tqdm(cfg.packages, desc="packages", unit="pkg"):
        root = fetch(package, cfg.cache)
        base = audio_root(package, root)
        for path in audio_files(package, root):
            real = str((base / path).resolve())
            if real in seen_files:
                skips.append({"source": f"{package}:{path}", "reason": "link to a file already listed"})
                continue
            seen_files.add(real)
            rule = label_for(package, path, rules)
            if rule is None or rule.label == DROP:
                why = "no row in labels.tsv" if rule is None else f"dropped: {rule.note or rule.pattern}"
                skips.append({"source": f"{package}:{path}", "reason": why})
                continue
            if package == "bucklespring-data":
                continue  # single keys: strung into typing clips below
            sources.append(Source(f"{package}:{path}", package, real, path, rule.label,
                                  f"{package}:{path}", _group(package, path), _transcript(base, path)))
    if "bucklespring-data" in cfg.packages:
        keys = audio_root("bucklespring-data", fetch("bucklespring-data", cfg.cache)) / "usr/share/buckle/wav"
        sources += [_from_rendered(r) for r in typing_clips(keys, cfg.cache / "synth" / "typing")]
    if cfg.synthesise:
        work = cfg.cache / "synth"
        for gen, sub in ((speech, "speech"), (mma_music, "mma"), (music21_music, "music21")):
            sources += [_from_rendered(r) for r in tqdm(gen(work / sub, cfg.synth), desc=f"synth {sub}", unit="file")]
    return sources


def _from_rendered(r: Rendered) -> Source:
    return Source(f"{r.package}:{r.path.name}", r.package, str(r.path), r.path.name, r.label, r.recording,
                  f"{r.package}:{r.recording.rsplit('/', 1)[0]}", r.text)


def _group(package: str, path: str) -> str:
    """Sources spread out under a class cap: by folder, and by language for tuxpaint's spoken descriptions."""
    stem = Path(path).stem
    if "_desc" in stem:  # name_desc.ogg is English, name_desc_fr.ogg French, ...
        return f"{package}:lang:{stem.partition('_desc')[2].lstrip('_') or 'en'}"
    return f"{package}:{Path(path).parent}"


def _transcript(base: Path, path: str) -> str:
    """Text of a tuxpaint spoken description (`name_desc[_lang].ogg` -> a line of `name.txt`)."""
    p = Path(path)
    if "_desc" not in p.stem:
        return ""
    stem, _, lang = p.stem.partition("_desc")
    txt = base / p.parent / f"{stem}.txt"
    if not txt.exists():
        return ""
    lines = txt.read_text(encoding="utf-8", errors="replace").splitlines()
    if not lang:
        return lines[0].strip() if lines else ""
    prefix = lang.lstrip("_") + ".utf8="
    return next((ln[len(prefix):].strip() for ln in lines if ln.startswith(prefix)), "")


def _limit_recordings(sources: list[Source], cfg: BuildConfig) -> list[Source]:
    """Keep at most cap(label) recordings per class, spread over packages, then over groups within each."""
    rng = random.Random(cfg.seed)
    by_label: dict[str, dict[str, dict[str, list[Source]]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    for s in sources:
        by_label[s.label][s.package][s.group].append(s)
    kept = []
    for label in sorted(by_label):
        per_package = []
        for _, groups in sorted(by_label[label].items()):
            lists = [sorted(g, key=lambda s: s.key) for _, g in sorted(groups.items())]
            for g in lists:
                rng.shuffle(g)
            per_package.append(_interleave(lists))
        kept += _interleave(per_package)[: cfg.cap(label) + cfg.cap(label) // 4]  # margin: silent files, duplicates
    return kept


def _interleave(lists: list[list[Source]]) -> list[Source]:
    """Round-robin over lists: first of each, then second of each, ..."""
    return [x[i] for i in range(max(map(len, lists), default=0)) for x in lists if i < len(x)]


def _process_all(sources: list[Source], cfg: BuildConfig) -> dict[str, dict]:
    """Decode, trim, normalise and store every source not yet in progress.jsonl; return all results."""
    progress = cfg.out / "progress.jsonl"
    done: dict[str, dict] = {}
    if progress.exists():
        for line in progress.read_text().splitlines():
            if line.strip():
                entry = json.loads(line)
                done[entry["key"]] = entry
    todo = [s for s in sources if s.key not in done]
    jobs = [(s, str(cfg.out / "clips"), cfg.clip) for s in todo]
    with progress.open("a") as f, fork_pool(cfg.workers, torch_threads=1) as pool:
        for entry in tqdm(pool.imap_unordered(_process_one, jobs, chunksize=4), total=len(jobs),
                          desc="clips", unit="file", initial=0):
            done[entry["key"]] = entry
            f.write(json.dumps(entry) + "\n")
            f.flush()
    return done


def _process_one(job: tuple[Source, str, ClipConfig]) -> dict:
    """One source -> {'key', 'clips': [{id, start_s, duration_s, hash}], 'skip': reason or ''}."""
    import soundfile as sf

    from model.audio import SAMPLE_RATE, load_audio

    source, clip_dir, clip_cfg = job
    try:
        audio = load_audio(source.file).numpy()
    except ValueError as e:
        return {"key": source.key, "clips": [], "skip": f"unreadable: {e}"}
    pieces = process(audio, clip_cfg)
    if not pieces:
        return {"key": source.key, "clips": [], "skip": "silent or shorter than the minimum"}
    clips = []
    for k, (start, x) in enumerate(pieces):
        cid = hashlib.sha1(f"{source.key}#{k}".encode()).hexdigest()[:12]
        sf.write(f"{clip_dir}/{cid}.flac", to_pcm16(x), SAMPLE_RATE, subtype=CLIP_SUBTYPE)
        clips.append({"id": cid, "start_s": round(start / SAMPLE_RATE, 3),
                      "duration_s": round(len(x) / SAMPLE_RATE, 3), "hash": content_hash(x)})
    return {"key": source.key, "clips": clips, "skip": ""}


def _finalise(sources: list[Source], done: dict[str, dict], classes: dict[str, ClassInfo],
              cfg: BuildConfig, skips: list[dict]) -> list[ClipRecord]:
    """Apply duplicate removal, per-recording and per-class caps, and the split by recording."""
    seen_hash: dict[str, str] = {}
    per_label: dict[str, int] = defaultdict(int)
    records = []
    for s in sources:  # already in spread-out order per class
        entry = done[s.key]
        if entry["skip"]:
            skips.append({"source": s.key, "reason": entry["skip"]})
            continue
        for clip in entry["clips"][: cfg.recording_cap]:
            if clip["hash"] in seen_hash:
                skips.append({"source": s.key, "reason": f"duplicate of {seen_hash[clip['hash']]}"})
                continue
            if per_label[s.label] >= cfg.cap(s.label):
                skips.append({"source": s.key, "reason": f"class cap {cfg.cap(s.label)} for {s.label!r} reached"})
                break
            seen_hash[clip["hash"]] = s.key
            per_label[s.label] += 1
            licence = LICENCES.get(s.package) or SYNTH_LICENCES.get(s.package, "")
            records.append(ClipRecord(clip["id"], s.label, classes[s.label].category, s.package, s.path,
                                      s.recording, licence, clip["duration_s"], clip["hash"],
                                      split_for(s.recording, cfg.val_fraction), clip["start_s"], s.text))
    recordings: dict[str, set[str]] = defaultdict(set)
    for r in records:
        recordings[r.label].add(r.recording)
    few = {c for c, recs in recordings.items() if len(recs) < cfg.min_recordings}
    skips += [{"source": f"{r.package}:{r.path}", "reason": f"class {r.label!r} has fewer than "
               f"{cfg.min_recordings} recordings"} for r in records if r.label in few]
    return sorted((r for r in records if r.label not in few), key=lambda r: (r.label, r.id))


def summary(records: list[ClipRecord], seconds: float, n_skips: int) -> str:
    """A short human-readable account of a catalog."""
    per = defaultdict(set)
    for r in records:
        per[r.label].add(r.recording)
    hours = sum(r.duration_s for r in records) / 3600
    five = sum(1 for v in per.values() if len(v) >= 5)
    val = sum(r.split == "validation" for r in records)
    return (f"{len(records)} clips in {len(per)} classes ({five} with >= 5 recordings), {hours:.2f} h of audio, "
            f"{val} validation clips; {n_skips} files skipped (build_log.jsonl); {seconds / 60:.1f} min")
