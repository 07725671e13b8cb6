"""Questions about a scene in the many ways people word them, each answered in the form it asks for.

The facts come from tasks.py (descriptions, tags, the multiple-choice, counting and order rules);
the wording from wording.py (stems.txt, phrases.tsv). A generator draws what to ask with one
random generator and how to word it with another, so the same question can be asked of the same
scene in trained and in held-out wording (`ask_pair`) and the two answers compared item by item.

Answer forms (a question of one kind is never answered in another kind's form):
- yes/no questions: "yes" / "no"; statements: "true" / "false";
- multiple choice: the option's own label and its text ("(B) dog", "2. dog"), the text alone when
  the options carry no labels;
- counts: digits; identification, order, loudness, "in one word": one class name;
- "in a sentence": a sentence that names the classes ("I hear a dog and a door.");
- when: "at 3.2 s" in a recording, "about 40 seconds ago" in a live stream;
- how long it has been quiet: "about 20 seconds", "it isn't quiet right now", "it has been quiet the whole time";
- what the sound cannot tell (what was said, who, the weather): REFUSAL.

Live streams (longer than LONG_SCENE_S) are asked as the live app asks them: a question in the
present tense ("is it raining?", tag `now`) is about the last RECENT_S seconds, one in the past
tense ("did someone speak?", `ever`) about everything heard. A recording shorter than that is
one moment: both tenses mean all of it.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass, replace

from model.data.labels import ClassInfo
from model.data.mixer import LONG_SCENE_S, RECENT_S, Event, Scene
from model.data.tasks import (KINDS as CLASSIC_KINDS, MIN_GAP_S, QA, SILENCE, absent_classes, conflicts, countable,
                              describe, fmt_time, nothing_recent, ordered_pair, tags)
from model.data.wording import (ClassPhrases, Wording, cached_phrases, casual, finish, option_block, option_answer,
                                sound_slots)

KINDS = CLASSIC_KINDS + ("yesno", "when", "quiet", "unknowable")
STREAM_KINDS = ("recent", "yesno", "when", "quiet")  # what a live session mostly asks
# How often each kind is asked, relative to the others, where it applies: what people ask most comes first.
WEIGHTS = {"yesno": 3.0, "open": 2.0, "recent": 3.0, "loudness": 2.0, "mcq": 1.5, "tf": 1.5, "order": 1.5,
           "when": 1.5, "count": 1.0, "quiet": 1.0, "type": 1.0, "description": 1.0, "tags": 0.7, "unknowable": 1.0}
TRAINING_VARIED = 0.3  # the share of training stems loosened by wording.vary
REFUSAL = "I can't tell that from the sound."
NOT_QUIET = "it isn't quiet right now"
QUIET_ALL = "it has been quiet the whole time"
NOW_MARGIN_S = 3.0  # an event that ended this close before the "now" window makes "is it ...?" ambiguous
RECENT_WINDOWS_S = (5, 10, 20, 30, 60, 120, 300)
INSTRUCTED = {"yesno": 0.25, "mcq": 0.6, "count": 0.15, "one_word": 0.08, "sentence": 0.1}  # share asked with one
TARGETS = ("people", "speech", "music", "animal", "vehicle", "sound", "quiet")
SPEECH = ("speech", "male speech", "female speech", "speech synthesizer", "crowd")
CAT_NOUNS = {"animal": ("animal", "animal", "creature"), "vehicle": ("vehicle",), "instrument": ("instrument",),
             "music": ("kind of music", "music", "style of music", "genre"), "speech": ("voice", "kind of voice"),
             "nature": ("natural sound", "sound of nature"), "tools": ("tool",), "weapon": ("weapon",)}
# A class that names a whole family of others: "is there music?" is true while jazz plays.
UMBRELLAS = {"music": lambda c: c.kind == "music", "speech": lambda c: c.name in SPEECH[1:4],
             "bird": lambda c: c.name in ("hawk", "crow", "owl", "seagull", "cuckoo"),
             "drum beat": lambda c: c.name in ("bass drum", "snare drum", "hi-hat", "cymbal", "tom-tom"),
             "strings": lambda c: c.name in ("violin", "cello"), "engine": lambda c: c.category == "vehicle",
             "crowd": lambda c: c.name in ("cheering", "applause"), "forest": lambda c: c.name in ("bird", "crickets")}


@dataclass(frozen=True)
class Asker:
    """What a generator needs besides the scene: the classes, how people name them, and the wording."""

    classes: dict[str, ClassInfo]
    wording: Wording
    phrases: dict[str, ClassPhrases]

    @classmethod
    def create(cls, classes: dict[str, ClassInfo], split: str = "train", varied: float = 0.0,
               stems: dict | None = None) -> "Asker":
        """The asker of one wording split, with the project's phrase table; `varied` and `stems` (default: what
        training draws from): see `Wording`."""
        return cls(classes, Wording(split, stems, varied=varied), cached_phrases())

    def slots(self, label: str, wrng: random.Random, suffix: str = "") -> dict[str, str]:
        """The slot values naming `label`, drawn from its phrases (its plain name when it has none)."""
        p = self.phrases.get(label) or ClassPhrases(label, (label,))
        return sound_slots(p, wrng, suffix)

    def related(self, a: str, b: str) -> bool:
        """Whether asking about `a` while `b` sounds is ambiguous: synonyms, or one names a family holding the other."""
        if conflicts(a, b, self.classes):
            return True
        ca, cb = self.classes.get(a), self.classes.get(b)
        return bool(ca and cb and ((a in UMBRELLAS and UMBRELLAS[a](cb)) or (b in UMBRELLAS and UMBRELLAS[b](ca))))

    def question(self, kind: str, wrng: random.Random, values: dict[str, str], form: str | None = None,
                 want: dict[str, str | None] | None = None, avoid: tuple[str, ...] = (), need: tuple[str, ...] = (),
                 at: str = "") -> tuple[str, str] | None:
        """A worded question: a stem (see `Wording.stem`), a moment it is about (`at`: 'at 3.2 s'), an
        answer-form instruction (`form`), then casual typing. (text, family), or None when no stem fits."""
        got = self.wording.stem(kind, wrng, values, want, avoid, need)
        if got is None:
            return None
        text, family = got
        text = finish(f"{text} {at}" if at else text)
        if form:
            text = self.wording.instruct(form, text, wrng)
        return casual(text, wrng), family


def stream(scene: Scene) -> bool:
    """Whether the scene is a live stream (asked about its recent past) rather than one recording."""
    return scene.duration_s > LONG_SCENE_S


def window_events(scene: Scene, tense: str) -> list[Event]:
    """The events a question of `tense` is about: the last RECENT_S seconds of a stream for 'now'."""
    if tense == "now" and stream(scene):
        return [e for e in scene.events if e.end_s > scene.duration_s - RECENT_S]
    return list(scene.events)


def _form(kind: str, wrng: random.Random) -> str | None:
    """An answer-form instruction for a question, drawn at its kind's rate."""
    return kind if wrng.random() < INSTRUCTED.get(kind, 0.0) else None


def _qa(worded: tuple[str, str] | None, answer: str, kind: str, **extra) -> QA | None:
    return None if worded is None else QA(worded[0], answer, kind, family=worded[1], **extra)


# -- the kinds ---------------------------------------------------------------------------------------
def _description(scene, rng, wrng, a: Asker) -> QA | None:
    form = "sentence" if wrng.random() < INSTRUCTED["sentence"] else None
    answer = sentence(scene, a) if form else describe(scene)
    return _qa(a.question("description", wrng, {}, form), answer, "description", form=form or "description")


def _tags(scene, rng, wrng, a: Asker) -> QA | None:
    return _qa(a.question("tags", wrng, {}), tags(scene), "tags", form="list")


def _open(scene, rng, wrng, a: Asker) -> QA | None:
    if not scene.events:
        return None
    e = rng.choice(scene.events)
    by_cat = e.category in CAT_NOUNS and rng.random() < 0.5
    rivals = {x.label for x in scene.events if not by_cat or x.category == e.category}
    at = ""
    if len(rivals) > 1:
        t = (e.start_s + e.end_s) / 2
        if any(x.label != e.label and x.start_s <= t <= x.end_s for x in scene.events):
            return None  # another sound at the same moment: ambiguous
        at = _locator(t, wrng)
    values = {"cat": wrng.choice(CAT_NOUNS[e.category])} if by_cat else {}
    form = "sentence" if wrng.random() < INSTRUCTED["sentence"] / 2 else _form("one_word", wrng)
    worded = a.question("open", wrng, values, form, want={"cat" if by_cat else "generic": None}, at=at)
    answer = f"It's {article(e.label, a)}{e.label}." if form == "sentence" else e.label
    return _qa(worded, answer, "open", form=form or "label", about=e.label)


def _locator(t: float, wrng: random.Random) -> str:
    return wrng.choice(("at {t} s", "at {t} seconds", "around {t} s", "at about {t} s in")).format(t=fmt_time(t))


def _mcq(scene, rng, wrng, a: Asker) -> QA | None:
    present = scene.labels
    absent_stem = len(present) >= 3 and rng.random() < 0.3
    if absent_stem:
        odd = absent_classes(scene, rng, a.classes, 1)
        if odd is None:
            return None
        correct, others = odd[0], rng.sample(present, 3)
    else:
        correct = rng.choice(present) if present else SILENCE
        others = absent_classes(scene, rng, a.classes, 3, near=correct if present else None)
        if others is None:
            return None
        if present and rng.random() < 0.2:
            others[rng.randrange(3)] = SILENCE
    if any(a.related(o, p) for o in others for p in present if o not in present and o != SILENCE):
        return None
    options = others + [correct]
    rng.shuffle(options)
    block, labels = option_block(options, wrng.choice(a.wording.label_styles), wrng, a.wording.headers)
    got = a.wording.stem("mcq", wrng, {"options": "\0"}, want={"absent": None} if absent_stem else None,
                         avoid=() if absent_stem else ("absent",), need=("options",))
    if got is None:
        return None
    text = _mcq_text(got[0], block)
    if wrng.random() < INSTRUCTED["mcq"]:
        text = a.wording.instruct("mcq", text, wrng)
    text = casual(text, wrng, keep=block)
    return QA(text, option_answer(labels, options, options.index(correct)), "mcq", family=got[1], form="mcq",
              options=tuple(options), labels=tuple(labels))


def _mcq_text(stem: str, block: str) -> str:
    """The stem around its options: the words before them and after them each finished as a sentence."""
    before, _, after = stem.partition("\0")
    parts = [finish(before) if before.strip() else "", block, finish(after) if after.strip() else ""]
    return " ".join(p for p in parts if p)


def _yesno(scene, rng, wrng, a: Asker) -> QA | None:
    tense = rng.choice(("now", "ever"))
    if rng.random() < 0.3:  # a group ("is anyone there?"), chosen so that yes and no are equally common
        truth = rng.random() < 0.5
        targets = [t for t in TARGETS if group_present(scene, t, tense, a.classes) is truth]
        if not targets:
            return None
        target = rng.choice(targets)
        worded = a.question("yesno", wrng, {}, _form("yesno", wrng), want={"target": target, tense: None})
        return _qa(worded, "yes" if truth else "no", "yesno", form="yesno", about=f"target:{target}")
    label, truth = _yesno_class(scene, rng, tense, a)
    if label is None:
        return None
    worded = a.question("yesno", wrng, a.slots(label, wrng), _form("yesno", wrng), want={tense: None},
                        avoid=("target",))
    return _qa(worded, "yes" if truth else "no", "yesno", form="yesno", about=label)


def _yesno_class(scene: Scene, rng: random.Random, tense: str, a: Asker) -> tuple[str | None, bool]:
    """A class to ask about, and whether it sounds in the question's window; (None, _) when none is clear."""
    heard = {e.label for e in window_events(scene, tense)} | ({scene.background.label} if scene.background else set())
    if rng.random() < 0.5:
        return (rng.choice(sorted(heard)), True) if heard else (None, False)
    earlier = sorted({e.label for e in scene.events} - heard)
    if earlier and tense == "now" and rng.random() < 0.3:  # "is the music still on?" after it stopped
        label = rng.choice(earlier)
        last_end = max(e.end_s for e in scene.events if e.label == label)
        if last_end < scene.duration_s - RECENT_S - NOW_MARGIN_S and not any(a.related(label, h) for h in heard):
            return label, False
        return None, False
    absent = absent_classes(scene, rng, a.classes, 1, near=rng.choice(sorted(heard)) if heard else None)
    if absent is None or any(a.related(absent[0], p) for p in scene.labels):
        return None, False
    return absent[0], False


def group_present(scene: Scene, target: str, tense: str, classes: dict[str, ClassInfo]) -> bool | None:
    """Whether a group of sounds (TARGETS) sounds in the window of `tense`; None when that is unclear."""
    events = window_events(scene, tense)
    if tense == "now" and stream(scene):
        edge = scene.duration_s - RECENT_S
        if any(edge - NOW_MARGIN_S < e.end_s <= edge for e in scene.events):
            return None  # something stopped just before the window: "now" is a matter of seconds
    bg = scene.background.label if scene.background else None
    if target == "sound":
        return bool(events) or bg is not None
    if target == "quiet":
        return not events
    member = {"people": lambda c: c.category in ("human", "speech"), "speech": lambda c: c.name in SPEECH,
              "music": lambda c: c.kind == "music", "animal": lambda c: c.category == "animal",
              "vehicle": lambda c: c.category == "vehicle"}[target]
    labels = {e.label for e in events} | ({bg} if bg else set())
    return any(member(classes[x]) for x in labels if x in classes)


def _tf(scene, rng, wrng, a: Asker) -> QA | None:
    truth = rng.random() < 0.5
    form = rng.choice(("presence", "presence", "order", "count"))
    if form == "order":
        pair = ordered_pair(scene, rng)
        if pair is None:
            return None
        x, y = pair if truth else pair[::-1]
        values = {**a.slots(x.label, wrng, "1"), **a.slots(y.label, wrng, "2")}
    elif form == "count":
        counts = countable(scene)
        if not counts:
            return None
        label = rng.choice(sorted(counts))
        n = counts[label] if truth else max(1, counts[label] + rng.choice((1, 2) if counts[label] == 1 else (-1, 1)))
        values = {**a.slots(label, wrng), "n": str(n) if wrng.random() < 0.5 else number_word(n)}
    else:
        label, truth = _yesno_class(scene, rng, "ever", a)
        if label is None:
            return None
        values = a.slots(label, wrng)
    got = a.wording.stem("tf", wrng, values, want={"form": form})
    if got is None:
        return None
    text = a.wording.instruct("tf", finish(times(got[0]), question=False), wrng)
    return QA(casual(text, wrng), "true" if truth else "false", "tf", family=got[1], form="tf")


def times(text: str) -> str:
    """'1 times' and 'one times' said as 'once'."""
    return re.sub(r"\b(1|one) times\b", "once", text)


NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


def number_word(n: int) -> str:
    """'two' for 2, 'once' and 'twice' are left to the stems; digits above ten."""
    return NUMBER_WORDS[n] if 0 <= n < len(NUMBER_WORDS) else str(n)


def _count(scene, rng, wrng, a: Asker) -> QA | None:
    overlap = any(b.start_s < x.end_s for x, b in zip(scene.events, scene.events[1:]))
    if rng.random() < 0.35 and not overlap:
        worded = a.question("count", wrng, {}, _form("count", wrng), want={"total": None})
        return _qa(worded, str(len(scene.events)), "count", form="count", about="total")
    counts = countable(scene)
    if not counts:
        return None
    label = rng.choice(sorted(counts))
    if rng.random() < 0.15:  # a class that is not there: "none" of it, counted as 0
        absent = absent_classes(scene, rng, a.classes, 1)
        if absent is None or any(a.related(absent[0], p) for p in scene.labels):
            return None
        label, n = absent[0], 0
    else:
        n = counts[label]
    worded = a.question("count", wrng, a.slots(label, wrng), _form("count", wrng), avoid=("total", "distinct"))
    return _qa(worded, str(n), "count", form="count", about=label)


def _order(scene, rng, wrng, a: Asker) -> QA | None:
    pair = ordered_pair(scene, rng)
    if pair is None:
        return None
    first_ev, second = pair
    form = _form("one_word", wrng)
    style = rng.random()
    if style < 0.5:
        x, y = (first_ev, second) if rng.random() < 0.5 else (second, first_ev)
        values = {**a.slots(x.label, wrng, "1"), **a.slots(y.label, wrng, "2")}
        return _qa(a.question("order", wrng, values, form, want={"pair": None}), first_ev.label, "order", form="label")
    first, last = scene.events[0], max(scene.events, key=lambda e: e.start_s)
    if style < 0.75 and len(scene.events) > 1 and scene.events[1].start_s - first.start_s >= MIN_GAP_S:
        return _qa(a.question("order", wrng, {}, form, want={"first": None}), first.label, "order", form="label")
    runner_up = max((e.start_s for e in scene.events if e is not last), default=-1.0)
    if last.start_s - runner_up >= MIN_GAP_S:
        return _qa(a.question("order", wrng, {}, form, want={"last": None}), last.label, "order", form="label")
    return None


def _when(scene, rng, wrng, a: Asker) -> QA | None:
    once = [e for e in scene.events if sum(x.label == e.label for x in scene.events) == 1]
    if not once:
        return None
    e = rng.choice(once)
    if stream(scene):
        ago = scene.duration_s - e.start_s
        return _qa(a.question("when", wrng, a.slots(e.label, wrng)), f"about {fmt_span(ago)} ago", "when",
                   form="ago", about=e.label, value=round(e.start_s, 2))
    return _qa(a.question("when", wrng, a.slots(e.label, wrng)), f"at {fmt_time(e.start_s)} s", "when", form="at",
               about=e.label, value=round(e.start_s, 2))


def fmt_span(seconds: float) -> str:
    """A span said as a person would: '4 seconds', '25 seconds', '3 minutes' (rounded to what matters)."""
    if seconds < 10:
        n = max(1, round(seconds))
        return f"{n} second{'s' if n != 1 else ''}"
    if seconds < 120:
        step = 5 if seconds < 60 else 10
        return f"{step * round(seconds / step)} seconds"
    minutes = round(seconds / 60) if seconds < 600 else 5 * round(seconds / 300)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def _loudness(scene, rng, wrng, a: Asker) -> QA | None:
    from model.data.tasks import MIN_LOUDER_DB

    once = [e for e in scene.events if sum(x.label == e.label for x in scene.events) == 1]
    pairs = [(x, y) for x in once for y in once if x.level_db - y.level_db >= MIN_LOUDER_DB]
    if not pairs:
        return None
    loud, soft = rng.choice(pairs)
    x, y = (loud, soft) if rng.random() < 0.5 else (soft, loud)
    ask = rng.choice(("louder", "quieter"))
    values = {**a.slots(x.label, wrng, "1"), **a.slots(y.label, wrng, "2")}
    answer = loud.label if ask == "louder" else soft.label
    return _qa(a.question("loudness", wrng, values, _form("one_word", wrng), want={ask: None}), answer, "loudness",
               form="label")


def _type(scene, rng, wrng, a: Asker) -> QA | None:
    if not scene.events:
        return None if scene.background else _qa(a.question("type", wrng, {}), SILENCE, "type", form="type")
    if len(scene.events) == 1 and not scene.background:
        return _qa(a.question("type", wrng, {}), scene.events[0].kind, "type", form="type")
    e = rng.choice(scene.events)
    t = (e.start_s + e.end_s) / 2
    if any(x is not e and x.kind != e.kind and x.start_s <= t <= x.end_s for x in scene.events):
        return None
    return _qa(a.question("type", wrng, {}, at=_locator(t, wrng)), e.kind, "type", form="type")


def _recent(scene, rng, wrng, a: Asker) -> QA | None:
    from model.data.tasks import RECENT_MIN_S

    if scene.duration_s < RECENT_MIN_S:
        return None
    end, bg = scene.duration_s, scene.background.label if scene.background else None
    if rng.random() < 0.55:
        whole = rng.random() < 0.2
        window = end if whole else rng.choice([w for w in RECENT_WINDOWS_S if w < end])
        if not whole and any(end - window - NOW_MARGIN_S / 2 < e.end_s <= end - window for e in scene.events):
            return None  # an event at the window's edge: in or out is a matter of a second
        heard = [e.label for e in scene.events if e.end_s > end - window]
        values = {} if whole else {"window": window_phrase(window, wrng)}
        worded = a.question("recent", wrng, values, want={"window": None}, need=tuple(values))
        return _qa(worded, ", ".join(dict.fromkeys(heard)) or nothing_recent(bg), "recent", form="list",
                   value=float(window))
    recent = [e for e in scene.events if e.end_s > end - RECENT_S]
    worded = a.question("recent", wrng, {}, want={"just": None})
    if not recent:
        return _qa(worded, nothing_recent(bg), "recent", form="list", value=RECENT_S)
    last = max(recent, key=lambda e: e.end_s)
    if any(e is not last and e.label != last.label and e.end_s > last.end_s - MIN_GAP_S for e in recent):
        return None
    return _qa(worded, last.label, "recent", form="label", value=RECENT_S)


def window_phrase(seconds: float, wrng: random.Random) -> str:
    """'in the last five minutes', 'over the past 30 seconds', ... for a window of `seconds`."""
    lead = wrng.choice(("in the last", "over the last", "in the past", "over the past", "during the last",
                        "within the last"))
    if seconds >= 60:
        m = int(seconds // 60)
        return f"{lead} minute" if m == 1 else f"{lead} {wrng.choice((str(m), number_word(m)))} minutes"
    return f"{lead} {wrng.choice((str(int(seconds)), number_word(int(seconds))))} seconds"


def _quiet(scene, rng, wrng, a: Asker) -> QA | None:
    worded = a.question("quiet", wrng, {})
    if not scene.events:
        return _qa(worded, QUIET_ALL, "quiet", form="duration", value=round(scene.duration_s, 2))
    last_end = max(e.end_s for e in scene.events)
    silent = scene.duration_s - last_end
    if silent < 0.5:
        return _qa(worded, NOT_QUIET, "quiet", form="duration", value=0.0)
    if silent < 1.5:
        return None  # a second of quiet: is that "quiet"? not a fair question
    return _qa(worded, f"about {fmt_span(silent)}", "quiet", form="duration", value=round(silent, 2))


def _unknowable(scene, rng, wrng, a: Asker) -> QA | None:
    return _qa(a.question("unknowable", wrng, {}), REFUSAL, "unknowable", form="refusal")


def article(label: str, a: Asker) -> str:
    """'a ' or 'an ' before a class name in a sentence, or '' for a mass noun ('rain', 'speech')."""
    p = a.phrases.get(label)
    art = p.article() if p else ""
    return f"{art} " if art else ""


def sentence(scene: Scene, a: Asker) -> str:
    """The description as one sentence: 'I hear a dog and a door, with rain in the background.'"""
    bg = scene.background.label if scene.background else None
    names = [f"{article(x, a)}{x}" for x in dict.fromkeys(e.label for e in scene.events)]
    if not names:
        return f"It's quiet, with only {bg} in the background." if bg else "It's quiet: nothing happens."
    said = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return f"I hear {said}" + (f", with {bg} in the background." if bg else ".")


GENERATORS = {"description": _description, "tags": _tags, "open": _open, "mcq": _mcq, "tf": _tf, "yesno": _yesno,
              "count": _count, "order": _order, "when": _when, "loudness": _loudness, "type": _type,
              "recent": _recent, "quiet": _quiet, "unknowable": _unknowable}
assert set(GENERATORS) == set(KINDS)


def ask(scene: Scene, rng: random.Random, kinds: tuple[str, ...], asker: Asker) -> QA:
    """One question of a kind drawn from `kinds` that applies to the scene (a description as the fallback)."""
    wrng = random.Random(rng.getrandbits(64))
    order = sorted(dict.fromkeys(kinds), key=lambda k: -rng.random() ** (1 / WEIGHTS.get(k, 1.0)))  # weighted shuffle
    for kind in order:
        qa = GENERATORS[kind](scene, rng, wrng, asker)
        if qa is not None:
            return qa
    return _description(scene, rng, wrng, asker) or QA("Describe what you hear.", describe(scene), "description")


def ask_pair(scene: Scene, seed: str, kind: str, first: Asker, second: Asker) -> tuple[QA, QA] | None:
    """The same question about `scene` in two wordings (same facts, same answer), or None when either
    wording has no stem for it."""
    got = [GENERATORS[kind](scene, random.Random(seed), random.Random(f"{seed}/words/{i}"), asker)
           for i, asker in enumerate((first, second))]
    if got[0] is None or got[1] is None or meaning(got[0]) != meaning(got[1]):
        return None
    return got[0], got[1]


def meaning(qa: QA) -> tuple:
    """What a question asks and its answer, whatever the wording: a multiple-choice answer by its option's
    text; descriptions and sentences, whose words follow the form asked, by their kind alone."""
    if qa.options:
        answer = next(o for i, o in enumerate(qa.options)
                      if option_answer(list(qa.labels), list(qa.options), i) == qa.answer)
    else:
        answer = qa.answer if qa.kind != "description" and qa.form != "sentence" else ""
    return qa.kind, qa.about, qa.value, answer
