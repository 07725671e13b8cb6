"""Task generators: a Scene -> question/answer pairs in varied wording, pure and seeded.

Answer format (short and fixed, so a small model can learn it and an evaluator can parse it):
- class names are written exactly as in classes.tsv, lower case ("dog", "car horn");
- times are seconds with one decimal: "dog at 1.2-2.0 s";
- description: "[<background> in the background; ]<label> at <a>-<b> s, <label> at <a>-<b> s";
  with no events "quiet, nothing happens" or "only <background> in the background, otherwise quiet";
- tags: labels in order of first appearance, background first, joined by ", "; "silence" if none;
- open, order, loudness, recent ("just"): one label;
- mcq: the letter and the option text, "B) dog barking" style: "B) dog";
- tf: "yes" / "no" for questions, "true" / "false" for statements (half of each are true);
- count: digits ("2");
- type: "speech", "music", "sound" or "silence";
- recent ("last N seconds"): labels joined by ", ", or "nothing, it has been quiet" /
  "nothing, only <background> in the background".
"""
from __future__ import annotations

import random
from dataclasses import dataclass

from model.data.labels import ClassInfo
from model.data.mixer import Event, Scene

KINDS = ("description", "tags", "open", "mcq", "tf", "count", "order", "loudness", "type", "recent")
LETTERS = "ABCD"
SILENCE = "silence"
QUIET = "quiet, nothing happens"
NOTHING_RECENT = "nothing, it has been quiet"
ABSENT_STEMS = ("Which of these sounds is NOT in the recording?", "Which sound is absent?")  # MCQ: the odd one out
JUST_HEARD = ("What did you just hear?", "What was that sound just now?", "What just happened?")  # the last sound
MIN_GAP_S = 0.3  # onsets closer than this make "which came first" ambiguous
MIN_LOUDER_DB = 6.0  # smaller level differences make "which is louder" ambiguous
RECENT_MIN_S = 12.0  # "recent" questions need a stream at least this long
RECENT_WINDOWS_S = (5, 10, 20, 30)
NUMBER_WORDS = {5: "five", 10: "ten", 20: "twenty", 30: "thirty"}


@dataclass(frozen=True)
class QA:
    """One training or evaluation item about a scene; the fields after `kind` are set by model.data.questions."""

    question: str
    answer: str
    kind: str
    family: str = ""  # the wording family of stems.txt the question was drawn from
    form: str = ""  # the answer's form: yesno, tf, mcq, count, label, list, sentence, at, ago, duration, ...
    options: tuple[str, ...] = ()  # multiple choice: the options in order
    labels: tuple[str, ...] = ()  # and their labels as written ('(A)', '1.', '' when unlabelled)
    about: str = ""  # the class (or 'target:GROUP', 'total') a question names
    value: float | None = None  # seconds, for answers about time: when, how long quiet, the window asked


def fmt_time(t: float) -> str:
    """Seconds with one decimal."""
    return f"{t:.1f}"


def describe(scene: Scene) -> str:
    """The description answer (format in the module docstring)."""
    bg = scene.background.label if scene.background else None
    if not scene.events:
        return quiet_description(bg)
    parts = ", ".join(f"{e.label} at {fmt_time(e.start_s)}-{fmt_time(e.end_s)} s" for e in scene.events)
    return f"{bg} in the background; {parts}" if bg else parts


def quiet_description(background: str | None) -> str:
    """The description of a scene without events, with or without a background class."""
    return f"only {background} in the background, otherwise quiet" if background else QUIET


def tags(scene: Scene) -> str:
    """The tags answer: labels in order of appearance, or 'silence'."""
    return ", ".join(scene.labels) or SILENCE


def make_qa(scene: Scene, rng: random.Random, kinds: tuple[str, ...], classes: dict[str, ClassInfo]) -> QA:
    """One item of a kind drawn from `kinds` that applies to the scene (description as the fallback)."""
    order = list(kinds)
    rng.shuffle(order)
    for kind in order:
        qa = GENERATORS[kind](scene, rng, classes)
        if qa is not None:
            return qa
    return _description(scene, rng, classes)


def _description(scene, rng, classes) -> QA:
    q = rng.choice(("Describe what you hear.", "What is happening in this recording?",
                    "Give a short description of the audio.", "What can you hear, and when?",
                    "Describe the sound scene.", "Write a caption for this audio."))
    return QA(q, describe(scene), "description")


def _tags(scene, rng, classes) -> QA:
    q = rng.choice(("Which sounds can you hear? Answer with tags.", "List the sound classes present.",
                    "Tag this audio.", "What sound classes does this recording contain?"))
    return QA(q, tags(scene), "tags")


OPEN_QUESTIONS = {
    "animal": ("What animal do you hear{at}?", "Which animal is making noise{at}?", "What animal is that{at}?"),
    "vehicle": ("What vehicle do you hear{at}?", "Which vehicle is that{at}?"),
    "instrument": ("What instrument is playing{at}?", "Which instrument do you hear{at}?"),
    "music": ("What kind of music is playing{at}?", "What style of music is this{at}?"),
    "speech": ("What kind of voice do you hear{at}?", "Whose voice is that{at}?"),
    "nature": ("What natural sound do you hear{at}?", "What is that sound of nature{at}?"),
    "weapon": ("What weapon sound do you hear{at}?",),
    "tools": ("What tool or work sound do you hear{at}?",),
}
GENERIC_OPEN = ("What is making the sound{at}?", "What sound do you hear{at}?", "What is that noise{at}?")


def _open(scene, rng, classes) -> QA | None:
    if not scene.events:
        return None
    e = rng.choice(scene.events)
    same = {x.label for x in scene.events if x.category == e.category}
    at = ""
    if len(same) > 1:
        t = (e.start_s + e.end_s) / 2
        if any(x.label != e.label and x.start_s <= t <= x.end_s for x in scene.events):
            return None  # another sound at the same moment: ambiguous
        at = f" at {fmt_time(t)} s"
    template = rng.choice(OPEN_QUESTIONS.get(e.category, GENERIC_OPEN))
    return QA(template.format(at=at), e.label, "open")


def conflicts(a: str, b: str, classes: dict[str, ClassInfo]) -> bool:
    """True when one class name is the other or a synonym of it (e.g. 'speech' and 'male speech')."""
    if a == b:
        return True
    ca, cb = classes.get(a), classes.get(b)
    return bool((ca and ca.accepts(b)) or (cb and cb.accepts(a)))


def absent_classes(scene, rng, classes, k: int, near: str | None = None) -> list[str] | None:
    """`k` classes not in the scene and not synonyms of anything in it; half the time of `near`'s category."""
    present = scene.labels
    pool = [c for c in sorted(classes) if not any(conflicts(c, p, classes) for p in present)]
    if near and rng.random() < 0.5:
        cat = classes[near].category
        same = [c for c in pool if classes[c].category == cat]
        pool = same if len(same) >= k else pool
    picked: list[str] = []
    rng.shuffle(pool)
    for c in pool:
        if not any(conflicts(c, p, classes) for p in picked):
            picked.append(c)
        if len(picked) == k:
            return picked
    return None


def _mcq(scene, rng, classes) -> QA | None:
    present = scene.labels
    if len(present) >= 3 and rng.random() < 0.3:
        absent = absent_classes(scene, rng, classes, 1)
        if absent is None:
            return None
        correct, others = absent[0], rng.sample(present, 3)
        stem = rng.choice(ABSENT_STEMS)
    else:
        correct = rng.choice(present) if present else SILENCE
        others = absent_classes(scene, rng, classes, 3, near=correct if present else None)
        if others is None:
            return None
        if present and rng.random() < 0.2:
            others[rng.randrange(3)] = SILENCE  # teaches that "silence" is wrong when something sounds
        stem = rng.choice(("Which of these sounds can you hear?", "What do you hear?",
                           "Which sound is in the recording?", "Pick the sound that occurs."))
    options = others + [correct]
    rng.shuffle(options)
    text = " ".join(f"{LETTERS[i]}) {o}" for i, o in enumerate(options))
    letter = LETTERS[options.index(correct)]
    return QA(f"{stem} {text}", f"{letter}) {correct}", "mcq")


def _tf(scene, rng, classes) -> QA | None:
    truth = rng.random() < 0.5
    form = rng.choice(("presence", "presence", "order", "count"))
    if form == "order":
        pair = ordered_pair(scene, rng)
        if pair:
            a, b = pair if truth else pair[::-1]
            q = rng.choice(("True or false: the {a} comes before the {b}.", "True or false: you hear the {a} first, "
                            "then the {b}.")).format(a=a.label, b=b.label)
            return QA(q, "true" if truth else "false", "tf")
    if form == "count":
        counts = countable(scene)
        if counts:
            label = rng.choice(sorted(counts))
            true_n = counts[label]
            n = true_n if truth else (true_n + rng.choice((1, 2)) if true_n == 1 else true_n + rng.choice((-1, 1)))
            q = f"True or false: the {label} sounds {n} time{'s' if n > 1 else ''}."
            return QA(q, "true" if truth else "false", "tf")
    if truth:
        if not scene.labels:
            return QA(rng.choice(("Is it quiet?", "Is this recording silent?")), "yes", "tf")
        label = rng.choice(scene.labels)
    else:
        absent = absent_classes(scene, rng, classes, 1, near=rng.choice(scene.labels) if scene.labels else None)
        if absent is None:
            return None
        label = absent[0]
    q = rng.choice(("Is there a {x} in this recording?", "Do you hear a {x}?", "Can you hear {x}?",
                    "Does this audio contain {x}?")).format(x=label)
    return QA(q, "yes" if truth else "no", "tf")


def countable(scene) -> dict[str, int]:
    """Event counts per class, only for classes whose events never overlap each other."""
    out = {}
    for label in {e.label for e in scene.events}:
        evs = sorted((e for e in scene.events if e.label == label), key=lambda e: e.start_s)
        if all(b.start_s >= a.end_s for a, b in zip(evs, evs[1:])):
            out[label] = len(evs)
    return out


def _count(scene, rng, classes) -> QA | None:
    overlap = any(b.start_s < a.end_s for a, b in zip(scene.events, scene.events[1:]))
    if rng.random() < 0.35 and not overlap:
        q = rng.choice(("How many sound events are there?", "How many separate sounds do you hear?",
                        "Count the sound events."))
        return QA(q, str(len(scene.events)), "count")
    counts = countable(scene)
    if not counts:
        return None
    label = rng.choice(sorted(counts))
    q = rng.choice(("How many times do you hear the {x}?", "How many {x} sounds are there?",
                    "Count the {x} sounds.")).format(x=label)
    return QA(q, str(counts[label]), "count")


def ordered_pair(scene, rng) -> tuple[Event, Event] | None:
    """Two events of different, once-only classes whose onsets are clearly apart, in time order."""
    once = [e for e in scene.events if sum(x.label == e.label for x in scene.events) == 1]
    pairs = [(a, b) for a in once for b in once if b.start_s - a.start_s >= MIN_GAP_S]
    return rng.choice(pairs) if pairs else None


def _order(scene, rng, classes) -> QA | None:
    pair = ordered_pair(scene, rng)
    if pair is None:
        return None
    a, b = pair
    style = rng.random()
    if style < 0.5:
        x, y = (a, b) if rng.random() < 0.5 else (b, a)
        q = rng.choice(("Which came first, the {x} or the {y}?", "Which do you hear first: the {x} or the {y}?"))
        return QA(q.format(x=x.label, y=y.label), a.label, "order")
    first, last = scene.events[0], max(scene.events, key=lambda e: e.start_s)
    if style < 0.75 and len(scene.events) > 1 and scene.events[1].start_s - first.start_s >= MIN_GAP_S:
        return QA(rng.choice(("What is the first sound?", "What do you hear first?")), first.label, "order")
    runner_up = max((e.start_s for e in scene.events if e is not last), default=-1.0)
    if last.start_s - runner_up >= MIN_GAP_S:
        return QA(rng.choice(("What is the last sound?", "What do you hear last?")), last.label, "order")
    return None


def _loudness(scene, rng, classes) -> QA | None:
    once = [e for e in scene.events if sum(x.label == e.label for x in scene.events) == 1]
    pairs = [(a, b) for a in once for b in once if a.level_db - b.level_db >= MIN_LOUDER_DB]
    if not pairs:
        return None
    loud, soft = rng.choice(pairs)
    x, y = (loud, soft) if rng.random() < 0.5 else (soft, loud)
    if rng.random() < 0.5:
        q = rng.choice(("Which is louder, the {x} or the {y}?", "Which sounds louder: the {x} or the {y}?"))
        return QA(q.format(x=x.label, y=y.label), loud.label, "loudness")
    q = rng.choice(("Which is quieter, the {x} or the {y}?", "Which is softer: the {x} or the {y}?"))
    return QA(q.format(x=x.label, y=y.label), soft.label, "loudness")


def _type(scene, rng, classes) -> QA | None:
    if not scene.events:
        if scene.background:
            return None
        return QA("Is this speech, music, another sound, or silence?", SILENCE, "type")
    if len(scene.events) == 1 and not scene.background:
        q = rng.choice(("Is this speech, music or another kind of sound?", "Speech, music or sound?"))
        return QA(q, scene.events[0].kind, "type")
    e = rng.choice(scene.events)
    t = (e.start_s + e.end_s) / 2
    if any(x is not e and x.kind != e.kind and x.start_s <= t <= x.end_s for x in scene.events):
        return None
    return QA(f"Is the sound at {fmt_time(t)} s speech, music or another sound?", e.kind, "type")


def _recent(scene, rng, classes) -> QA | None:
    if scene.duration_s < RECENT_MIN_S:
        return None
    end = scene.duration_s
    if rng.random() < 0.5:
        window = rng.choice([w for w in RECENT_WINDOWS_S if w < end])
        heard = [e.label for e in scene.events if e.end_s > end - window]
        word = NUMBER_WORDS[window]
        q = rng.choice((f"What happened in the last {word} seconds?", f"What did you hear in the last {window} seconds?"))
        return QA(q, ", ".join(dict.fromkeys(heard)) or _nothing(scene), "recent")
    recent = [e for e in scene.events if e.end_s > end - 10]
    q = rng.choice(JUST_HEARD)
    if not recent:
        return QA(q, _nothing(scene), "recent")
    last = max(recent, key=lambda e: e.end_s)
    if any(e is not last and e.label != last.label and e.end_s > last.end_s - MIN_GAP_S for e in recent):
        return None
    return QA(q, last.label, "recent")


def _nothing(scene) -> str:
    return nothing_recent(scene.background.label if scene.background else None)


def nothing_recent(background: str | None) -> str:
    """The answer to "what happened in the last seconds?" when no event did."""
    return f"nothing, only {background} in the background" if background else NOTHING_RECENT


GENERATORS = {"description": _description, "tags": _tags, "open": _open, "mcq": _mcq, "tf": _tf,
              "count": _count, "order": _order, "loudness": _loudness, "type": _type, "recent": _recent}
assert tuple(GENERATORS) == KINDS
