"""Synthesised sources: sentences spoken by espeak-ng, flite and festival; music rendered by fluidsynth.

Each function writes WAV files under a work folder and returns `Rendered` items (the file, its
class, its pseudo-package and a recording name); the build treats them like package files.
"""
from __future__ import annotations

import random
import struct
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from model.audio import SAMPLE_RATE
from model.data.sources import SOUNDFONT


@dataclass(frozen=True)
class Rendered:
    """One synthesised recording: where it is, what it is, and which tool made it."""

    path: Path
    label: str
    package: str
    recording: str
    text: str = ""


@dataclass(frozen=True)
class SynthConfig:
    """How much speech and music to synthesise."""

    espeak_utterances: int = 140
    flite_utterances: int = 45
    festival_utterances: int = 45
    mma_songs_per_groove: int = 2
    music21_pieces: int = 8  # pieces rendered per instrument
    music21_quarters: float = 24.0  # length of each excerpt in quarter notes
    seed: int = 1234


_SUBJECTS = ("the dog", "my neighbour", "a small child", "the old train", "our teacher", "the cat",
             "a tall man", "the woman next door", "the farmer", "my brother", "the pilot", "a bird")
_VERBS = ("walked to", "looked at", "painted", "waited near", "talked about", "ran past", "found",
          "cleaned", "opened", "closed", "listened to", "remembered")
_OBJECTS = ("the red door", "a quiet garden", "the station", "the kitchen window", "an old piano",
            "the river bank", "the blue car", "a busy market", "the school gate", "the wooden bridge")
_TAILS = ("this morning", "after lunch", "in the rain", "yesterday", "before dinner", "at night",
          "on Sunday", "very slowly", "without a word", "once again")
_QUESTIONS = ("Where did you put the keys?", "What time does the bus leave?", "Can you hear that noise?",
              "Is it going to rain today?", "Would you like some tea?", "Who left the door open?")


def sentences(n: int, rng: random.Random) -> list[str]:
    """`n` varied English sentences and questions from small templates."""
    out = []
    for _ in range(n):
        if rng.random() < 0.2:
            out.append(rng.choice(_QUESTIONS))
        else:
            s = f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)} {rng.choice(_TAILS)}."
            out.append(s[0].upper() + s[1:])
    return out


# espeak-ng voices: language x variant; languages beyond English give the model accents and prosody.
ESPEAK_LANGS = ("en", "en-us", "en-gb-scotland", "de", "fr", "es", "it", "nl", "pt", "pl", "sv", "ru")
ESPEAK_VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m7", "f1", "f2", "f3", "f4", "f5", "klatt", "croak", "whisper")
FLITE_VOICES = ("kal", "kal16", "awb", "rms", "slt")
FESTIVAL_VOICES = ("kal_diphone", "ked_diphone")


def _run(cmd: list[str], stdin: str | None = None) -> None:
    try:
        subprocess.run(cmd, input=stdin, check=True, capture_output=True, text=True, timeout=120)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as e:
        raise RuntimeError(f"{cmd[0]} failed: {getattr(e, 'stderr', '') or e}") from e


def speech(work: Path, cfg: SynthConfig) -> Iterator[Rendered]:
    """Synthesise sentences with espeak-ng, flite and festival voices (class 'speech synthesizer')."""
    rng = random.Random(cfg.seed)
    work.mkdir(parents=True, exist_ok=True)
    plan = [("espeak-ng", i) for i in range(cfg.espeak_utterances)]
    plan += [("flite", i) for i in range(cfg.flite_utterances)]
    plan += [("festival", i) for i in range(cfg.festival_utterances)]
    texts = sentences(len(plan), rng)
    for (tool, i), text in zip(plan, texts):
        out = work / f"{tool}-{i:04d}.wav"
        if tool == "espeak-ng":
            voice = f"{rng.choice(ESPEAK_LANGS)}+{rng.choice(ESPEAK_VARIANTS)}"
            cmd = ["espeak-ng", "-v", voice, "-s", str(rng.randint(130, 200)), "-p", str(rng.randint(30, 70)),
                   "-w", str(out), text]
            stdin = None
        elif tool == "flite":
            voice = rng.choice(FLITE_VOICES)
            cmd, stdin = ["flite", "-voice", voice, "-t", text, "-o", str(out)], None
        else:
            voice = rng.choice(FESTIVAL_VOICES)
            cmd, stdin = ["text2wave", "-eval", f"(voice_{voice})", "-o", str(out)], text
        if not out.exists():
            _run(cmd, stdin)
        yield Rendered(out, "speech synthesizer", tool, f"{tool}/{voice}/{i}", text)


# mma grooves per genre class (the groove files ship with mma).
GROOVES: dict[str, tuple[str, ...]] = {
    "rock music": ("50srock", "60srock", "basicrock", "softrock", "folkrock"),
    "pop music": ("8beat", "popballad", "bubblerock", "broadway"),
    "jazz": ("jazzcombo", "bebop", "modernjazz", "mellowjazz", "swing", "bigband", "dixie"),
    "blues": ("blues", "fastblues", "slowblues", "countryblues", "boggiewoggie"),
    "country music": ("countryswing", "slowcountry", "bluegrass", "westernswing", "hillcountry"),
    "latin music": ("bossanova", "rhumba", "mambo", "salsa", "samba", "chacha", "merengue"),
    "waltz": ("waltz", "vienesewaltz", "fastwaltz", "countrywaltz", "frenchwaltz"),
    "march": ("march", "68march", "dixiemarch", "bwmarch"),
    "ballad": ("ballad", "pianoballad", "rockballad", "stringballad", "guitarballad"),
    "dance music": ("trance", "boneym", "twist", "jive"),
    "reggae": ("ska", "calypso"),
}
_PROGRESSIONS = (("C", "Am", "F", "G7"), ("C", "F", "C", "G7"), ("Am", "Dm", "G7", "C"),
                 ("F", "Bb", "C7", "F"), ("G", "Em", "C", "D7"), ("D", "G", "A7", "D"),
                 ("Dm7", "G7", "Cmaj7", "A7"), ("E", "A", "B7", "E"))


def mma_music(work: Path, cfg: SynthConfig) -> Iterator[Rendered]:
    """Render mma grooves (the style is the genre label) through fluidsynth's General MIDI font."""
    rng = random.Random(cfg.seed + 1)
    work.mkdir(parents=True, exist_ok=True)
    for genre, grooves in GROOVES.items():
        for groove in grooves:
            for k in range(cfg.mma_songs_per_groove):
                wav = work / f"mma-{groove}-{k}.wav"
                if not wav.exists():
                    chords = rng.choice(_PROGRESSIONS)
                    lines = [f"Groove {groove.capitalize()}", f"Tempo {rng.randint(80, 150)}"]
                    lines += [f"{bar + 1} {chords[bar % len(chords)]}" for bar in range(8)]
                    src = work / f"mma-{groove}-{k}.mma"
                    src.write_text("\n".join(lines) + "\n")
                    mid = src.with_suffix(".mid")
                    _run(["mma", str(src), "-f", str(mid)])
                    render_midi(mid, wav)
                yield Rendered(wav, genre, "fluidsynth-mma", f"mma/{groove}/{k}")


def render_midi(mid: Path, wav: Path) -> None:
    """MIDI file -> 16 kHz WAV with fluidsynth and the FluidR3 General MIDI soundfont."""
    _run(["fluidsynth", "-ni", "-g", "0.5", "-r", str(SAMPLE_RATE), "-F", str(wav), str(SOUNDFONT), str(mid)])


# General MIDI programs (0-based) for the instrument classes rendered from the music21 corpus.
GM_PROGRAMS: dict[str, int] = {
    "piano": 0, "harpsichord": 6, "marimba": 12, "organ": 19, "accordion": 21, "acoustic guitar": 24,
    "electric guitar": 27, "bass guitar": 33, "violin": 40, "cello": 42, "harp": 46, "strings": 48,
    "choir": 52, "trumpet": 56, "horn": 60, "saxophone": 65, "bassoon": 70, "clarinet": 71, "flute": 73,
}
MUSIC21_WORKS = ("bach", "beethoven", "mozart", "haydn", "handel", "schumann", "chopin", "joplin", "monteverdi",
                 "palestrina", "corelli", "schubert")


def music21_music(work: Path, cfg: SynthConfig) -> Iterator[Rendered]:
    """Excerpts of the music21 corpus played on one General MIDI instrument each (label: the instrument)."""
    from music21 import corpus  # optional dependency: pip install '.[data]'

    rng = random.Random(cfg.seed + 2)
    work.mkdir(parents=True, exist_ok=True)
    paths = sorted(str(p) for w in MUSIC21_WORKS for p in corpus.getComposer(w))
    rng.shuffle(paths)
    cursor = 0
    for label, program in GM_PROGRAMS.items():
        made = 0
        while made < cfg.music21_pieces and cursor < len(paths):
            path = paths[cursor]
            cursor += 1
            name = Path(path).stem
            wav = work / f"m21-{program:03d}-{name}.wav"
            if not wav.exists():
                notes = _score_notes(path, cfg.music21_quarters)
                if len(notes) < 8:
                    continue
                mid = wav.with_suffix(".mid")
                mid.write_bytes(midi_bytes(notes, program, tempo_bpm=rng.randint(70, 130)))
                render_midi(mid, wav)
            made += 1
            yield Rendered(wav, label, "fluidsynth-music21", f"music21/{name}/{program}")


def _score_notes(path: str, quarters: float) -> list[tuple[float, float, int]]:
    """(onset, duration, midi pitch) in quarter notes for the first `quarters` of a score."""
    from music21 import converter

    try:
        score = converter.parse(path)
    except Exception as e:  # music21 raises many unrelated types for odd files
        raise RuntimeError(f"music21 could not parse {path}: {e}") from e
    out = []
    for n in score.flatten().notes:
        onset = float(n.offset)
        if onset >= quarters:
            break
        for p in n.pitches:
            out.append((onset, max(float(n.quarterLength), 0.25), int(p.midi)))
    return out


def midi_bytes(notes: list[tuple[float, float, int]], program: int, tempo_bpm: int = 100) -> bytes:
    """A single-track Standard MIDI File: one program, notes given as (onset, duration, pitch) in quarters."""
    tpq = 480  # ticks per quarter note
    events = [(0, 0, bytes([0xC0, program]))]
    for onset, dur, pitch in notes:
        events.append((round(onset * tpq), 1, bytes([0x90, pitch, 80])))
        events.append((round((onset + dur) * tpq), 0, bytes([0x80, pitch, 0])))
    events.sort(key=lambda e: (e[0], e[1]))
    tempo = 60_000_000 // tempo_bpm
    track = b"\x00\xff\x51\x03" + tempo.to_bytes(3, "big")
    now = 0
    for tick, _, data in events:
        track += _varlen(tick - now) + data
        now = tick
    track += b"\x00\xff\x2f\x00"
    header = b"MThd" + struct.pack(">IHHH", 6, 0, 1, tpq)
    return header + b"MTrk" + struct.pack(">I", len(track)) + track


def _varlen(value: int) -> bytes:
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))
