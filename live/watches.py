"""Watches: sounds a person asked to be told about, asked of the live state at every hop.

A watch is a phrase ("the dog barking", "someone at the door"). After each hop the engine asks
every watch's question ("Did you just hear the dog barking?") of the state of that moment, all of them
in one batched forward without decoding (model/watch.py), and reads the model's confidence
P(yes) / (P(yes) + P(no)), with what the YAMNet branch tagged in the last two seconds weighed in.
Hysteresis turns confidences into alerts: a watch fires when its confidence reaches `on`, and can
fire again only once it has fallen to `off` and `min_gap` seconds of stream have passed since it
last fired, so that one event gives one alert.

This module is pure bookkeeping (no threads, no model); the engine holds the lock.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any, Callable

MAX_WATCHES = 16  # each watch is a row of the per-hop batch: the cap keeps a hop's cost bounded
MAX_PHRASE_CHARS = 2000  # as a question (engine.MAX_QUESTION_CHARS): a longer phrase is refused, not cut
QUESTION_TEMPLATE = "Did you just hear {phrase}?"  # of five wordings, the one that separated best (docs/LIVE.md)
# Ways of typing a watch in the app's question box: "tell me when the dog barks".
NATURAL = re.compile(r"^(?:please\s+)?(?:tell|let|alert|notify|warn)\s+me\s+(?:know\s+)?(?:when|if|whenever)\s+(.*)$",
                     re.IGNORECASE | re.DOTALL)

Scorer = Callable[[Any, list[str]], list[float]]  # (state, questions) -> confidence of "yes" for each


@dataclass(frozen=True)
class WatchConfig:
    """When a watch's confidence makes an alert, and how its question is worded."""

    # Chosen on training-split streams (python -m live.watch_tune), the branch's tags weighed: the most target
    # events alerted with at most one false alert per hour per watch, else the fewest false alerts.
    on: float = 0.95  # confidence at or above which a watch fires
    off: float = 0.75  # confidence at or below which it can fire again
    min_gap: float = 20.0  # s of stream between two alerts of the same watch
    template: str = QUESTION_TEMPLATE

    def __post_init__(self):
        if not 0.0 <= self.off <= self.on <= 1.0:
            raise ValueError(f"watch thresholds must satisfy 0 <= off <= on <= 1, got on {self.on} and off {self.off}")
        if self.min_gap < 0:
            raise ValueError(f"the minimum time between alerts must be >= 0 s, got {self.min_gap}")
        if "{phrase}" not in self.template:
            raise ValueError(f"a watch question template needs {{phrase}}, got {self.template!r}")


@dataclass(frozen=True)
class Preset:
    """A sound the phone makers' lists alert on, as a watch phrase, and the model's classes that are it."""

    phrase: str
    classes: tuple[str, ...]  # model/data/classes.tsv names; the benchmark counts these events as targets


# Apple's Sound Recognition and Android's Sound Notifications, in the model's classes. A crying baby
# and a knock have no class of their own (the nearest, "door", stands for the knock).
PRESETS: dict[str, tuple[Preset, ...]] = {
    "safety": (
        Preset("a smoke alarm", ("alarm", "beep")),
        Preset("a siren", ("siren",)),
        Preset("a car horn", ("car horn",)),
        Preset("a doorbell", ("bell",)),
        Preset("someone at the door", ("door",)),
        Preset("a phone ringing", ("telephone",)),
        Preset("someone shouting", ("scream",)),
        Preset("a dog barking", ("dog",)),
        Preset("a cat meowing", ("cat",)),
        Preset("an appliance beeping", ("beep", "notification")),
        Preset("running water", ("stream", "waterfall")),
        Preset("glass breaking", ("glass breaking",)),
    ),
}


def clean_phrase(text: str) -> str:
    """The phrase as watched: spaces collapsed, final punctuation dropped; ValueError when empty or too long."""
    phrase = " ".join(text.split()).rstrip("?.!").strip()
    if not phrase:
        raise ValueError("the phrase to watch for is empty: say what to listen for, e.g. /watch a dog barking")
    if len(phrase) > MAX_PHRASE_CHARS:
        raise ValueError(f"the phrase is {len(phrase):,} characters long, more than the {MAX_PHRASE_CHARS:,} a watch "
                         "may have: name the sound in fewer words")
    return phrase


def unique_phrases(phrases: list[str]) -> list[str]:
    """The phrases cleaned, each once (the first spelling kept); ValueError for a bad one or too many."""
    out: dict[str, str] = {}
    for phrase in phrases:
        phrase = clean_phrase(phrase)
        out.setdefault(key(phrase), phrase)
    if len(out) > MAX_WATCHES:
        raise ValueError(f"{len(out)} sounds to watch for, more than the {MAX_WATCHES} a session keeps: "
                         "watch for fewer")
    return list(out.values())


def parse_command(line: str, natural: bool = False) -> tuple[str, str] | None:
    """("watch" | "unwatch", phrase) for `/watch PHRASE`, `/unwatch PHRASE` and, with `natural`, "tell me when
    PHRASE"; None for a question. ValueError for an unknown /command or a command without its phrase."""
    text = line.strip()
    if text.startswith("/"):
        name, _, rest = text[1:].partition(" ")
        if name.lower() not in ("watch", "unwatch"):
            raise ValueError(f"unknown command /{name[:20]}: use /watch PHRASE or /unwatch PHRASE")
        return name.lower(), clean_phrase(rest)
    if natural and (m := NATURAL.match(text)):
        return "watch", clean_phrase(m.group(1))
    return None


def key(phrase: str) -> str:
    """What makes two phrases the same watch: case and spacing do not count."""
    return " ".join(phrase.lower().split())


@dataclass
class Watch:
    """One phrase being watched for, and where its hysteresis stands."""

    phrase: str
    question: str
    active: bool = False  # fired and not yet fallen to `off`
    last_alert: float | None = None  # stream s
    confidence: float | None = None  # at the last hop

    def update(self, confidence: float, now: float, config: WatchConfig) -> bool:
        """Take this hop's confidence; True when the watch fires now."""
        self.confidence = confidence
        if self.active:
            self.active = confidence > config.off
            return False
        if confidence < config.on:
            return False
        self.active = True  # a rise within min_gap of the last alert is the same event: no second alert
        if self.last_alert is not None and now - self.last_alert < config.min_gap:
            return False
        self.last_alert = now
        return True


@dataclass
class WatchList:
    """The session's watches in the order they were added."""

    config: WatchConfig = field(default_factory=WatchConfig)
    watches: list[Watch] = field(default_factory=list)

    @property
    def phrases(self) -> list[str]:
        return [w.phrase for w in self.watches]

    def find(self, phrase: str) -> Watch | None:
        return next((w for w in self.watches if key(w.phrase) == key(phrase)), None)

    def add(self, phrase: str) -> Watch:
        """Start watching for `phrase`; ValueError when it is already watched, bad, or the list is full."""
        phrase = clean_phrase(phrase)
        if self.find(phrase) is not None:
            raise ValueError(f"already watching for {phrase!r}")
        if len(self.watches) >= MAX_WATCHES:
            raise ValueError(f"{MAX_WATCHES} watches already (the most a session keeps): /unwatch one first")
        watch = Watch(phrase, self.config.template.format(phrase=phrase))
        self.watches.append(watch)
        return watch

    def remove(self, phrase: str) -> Watch:
        """Stop watching for `phrase`; ValueError, naming those watched, when it is not."""
        watch = self.find(clean_phrase(phrase))
        if watch is None:
            watched = ", ".join(repr(p) for p in self.phrases) or "nothing"
            raise ValueError(f"not watching for {phrase.strip()[:80]!r} (watching for {watched})")
        self.watches.remove(watch)
        return watch

    def update(self, watches: list[Watch], confidences: list[float], now: float) -> list[Watch]:
        """Take a hop's confidences of `watches` (a list taken before scoring); those that fire now.

        A watch removed while its question was being scored is left out.
        """
        assert len(watches) == len(confidences), (len(watches), len(confidences))
        return [w for w, c in zip(watches, confidences) if w in self.watches and w.update(c, now, self.config)]


def scorer_for(model: Any) -> Scorer:
    """How `model` scores watch questions: its own `confidence` (protocol.WatchScorer), else model/watch.py's
    for a SAM; ValueError for a model that has neither."""
    own = getattr(model, "confidence", None)
    if callable(own):
        return own
    if hasattr(model, "lm") and hasattr(model, "tokenizer"):  # a SAM from model.checkpoint.load_sam
        from model.watch import confidence

        return functools.partial(confidence, model)
    raise ValueError(f"the model {getattr(model, 'name', '?')} cannot score yes/no questions, so it cannot watch")
