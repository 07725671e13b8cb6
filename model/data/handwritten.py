"""The hand-written question sets: questions typed in a user's own words, never trained on, asked of
validation scenes, single clips and long streams.

`handwritten.jsonl` came first; the answer-form rules (model/answer_forms.py) were since checked against
its answers, so it no longer measures wording nobody looked at. `handwritten2.jsonl` and
`handwritten3.jsonl` were written later, each by someone who had read neither the rules nor the other
sets. The second set's answers were read to mend the rules after its first measurement; the third is
kept unread, the measure of whether such mending holds on wording nobody looked at. `handwritten4.jsonl`,
written the same way, came before the people's families of training stems (model/data/stems_people.txt) and
is kept unread too; no stem of those families words a question of any set. `handwritten5.jsonl`, written the
same way after those families and before any model trained on them, is kept unread; its questions that one of
those stems words were left out, since they measure trained wording.

Each question says what it asks (its kind, the class it names, the time it is about); its answer
comes from the scene it is asked of, by the same rules as the generated questions. A question that
does not apply to a scene (a class it names is ambiguous there, an order that is a matter of a
moment) is not asked of it. `twin` words the same question in trained wording, so that each
hand-written answer is compared with the answer to the same question asked the way training asks it.
"""
from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

from model.data.mixer import RECENT_S, Scene
from model.data.questions import (NOT_QUIET, QUIET_ALL, REFUSAL, Asker, fmt_span, group_present, sentence, stream,
                                  window_phrase)
from model.data.tasks import (MIN_GAP_S, MIN_LOUDER_DB, QA, SILENCE, absent_classes, countable, ordered_pair, describe,
                              fmt_time, nothing_recent, tags)
from model.data.wording import cached_phrases, definite, finish, option_answer, option_block, plain
from model.metrics import normalize

HANDWRITTEN = Path(__file__).parent / "handwritten.jsonl"
HANDWRITTEN2 = Path(__file__).parent / "handwritten2.jsonl"
HANDWRITTEN3 = Path(__file__).parent / "handwritten3.jsonl"
HANDWRITTEN4 = Path(__file__).parent / "handwritten4.jsonl"
HANDWRITTEN5 = Path(__file__).parent / "handwritten5.jsonl"
# each set's file, its items' wording in the wording set and its trained twins' wording
WRITTEN_SETS = ((HANDWRITTEN, "handwritten", "twin"), (HANDWRITTEN2, "handwritten2", "twin2"),
                (HANDWRITTEN3, "handwritten3", "twin3"), (HANDWRITTEN4, "handwritten4", "twin4"),
                (HANDWRITTEN5, "handwritten5", "twin5"))
KIND_OF = {"identify": "open", "quiet_time": "quiet"}  # the hand-written set's kinds -> the generator's
PLACEHOLDER = re.compile(r"\{([1-4ab])\}")
LABEL_BEFORE = re.compile(r"([(\[]?[A-Da-d1-4][)\].:]?)\s*$")


@dataclass(frozen=True)
class Written:
    """One hand-written question and what it asks."""

    id: str
    kind: str  # the generator's kind (identify -> open, quiet_time -> quiet)
    question: str
    cls: str | None
    contexts: tuple[str, ...]
    extra: dict = field(default_factory=dict, hash=False)

    def get(self, key: str, default=None):
        return self.extra.get(key, default)


def load_written(path: Path = HANDWRITTEN) -> list[Written]:
    """handwritten.jsonl -> questions; ValueError naming the line when one is malformed."""
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            out.append(Written(d["id"], KIND_OF.get(d["kind"], d["kind"]), d["question"], d.get("class"),
                               tuple(d["contexts"]), {k: v for k, v in d.items() if k not in
                                                      ("id", "kind", "question", "class", "contexts")}))
        except (KeyError, json.JSONDecodeError, TypeError) as e:
            raise ValueError(f"{path}:{n}: not a hand-written question ({e}); fix the line") from e
    return out


def unseen(written: list[Written], stems: dict, phrases: dict | None = None) -> list[Written]:
    """The questions the training grammar cannot word: no trained stem, its slots filled with any of the
    classes' phrases, says them word for word (a few short everyday questions such as "what did I miss?"
    or "when did the car honk?" coincide). Only these measure wording the model never saw."""
    said = trained_patterns(stems, phrases or cached_phrases())
    return [w for w in written if not any(p.fullmatch(normalize(w.question)) for p in said)]


def trained_patterns(stems: dict, phrases: dict) -> list[re.Pattern]:
    """Each trained stem as a pattern over normalised text, its slots matching the phrases that fill them."""
    from model.data.questions import CAT_NOUNS

    def alt(values) -> str:
        return "(?:" + "|".join(sorted({re.escape(normalize(v)) for v in values if normalize(v)}, key=len,
                                       reverse=True)) + ")"

    nouns = [n for p in phrases.values() for n in p.nouns]
    acts = [a for p in phrases.values() for a in p.actions]
    the = [d for d in (definite(n) for n in nouns + [a.subj for a in acts]) if d]
    values = {"x": alt(nouns), "the_x": alt(the), "x_plain": alt([plain(n) or n for n in nouns]),
              "subj": alt([a.subj for a in acts]), "the_subj": alt(the + [a.subj for a in acts]),
              "verb": alt([a.verb for a in acts]), "verbing": alt([a.verbing for a in acts]),
              "verbed": alt([a.verbed for a in acts]), "cat": alt([c for cs in CAT_NOUNS.values() for c in cs]),
              "n": r"\w+", "window": r"(?:\w+ ){2,3}\w+", "options": ".+", "q": ".+"}
    out = []
    for kind, families in stems.items():
        for f in families:
            if f.held_out or kind.startswith("instruction:"):  # an instruction alone is no question
                continue
            for stem in f.stems:
                parts = [p for p in re.split(r"(\{\w+\})", stem) if normalize(p) or p.startswith("{")]
                out.append(re.compile(" ".join(values[p[1:-1].rstrip("12")] if p.startswith("{")
                                               else re.escape(normalize(p)) for p in parts)))
    return out


def option_labels(template: str) -> list[str]:
    """The labels a multiple-choice template writes before its {1}..{4} ('(A)', '1)', '' when none)."""
    out = []
    for i in "1234":
        before = template[: template.index("{" + i + "}")]
        m = LABEL_BEFORE.search(before)
        out.append(m.group(1) if m and (m.start(1) == 0 or not before[m.start(1) - 1].isalnum()) else "")
    return out


def ask_written(w: Written, scene: Scene, rng: random.Random, a: Asker) -> QA | None:
    """`w` asked of `scene`: placeholders filled and the answer found; None when it does not apply."""
    got = ANSWERS[w.kind](w, scene, rng, a)
    if got is None:
        return None
    question, answer, form, about, value, options, labels = got
    return QA(question, answer, w.kind, family=w.id, form=form, about=about, value=value, options=options,
              labels=labels)


def _window(w: Written, scene: Scene) -> float | None:
    """The seconds before the end a question is about: its own window, the last RECENT_S of a stream for
    a question about now, else all of it (None)."""
    if w.get("window_s"):
        return float(w.get("window_s"))
    return RECENT_S if w.get("time") == "now" and stream(scene) else None


def _heard(scene: Scene, window: float | None) -> set[str]:
    events = [e for e in scene.events if window is None or e.end_s > scene.duration_s - window]
    return {e.label for e in events} | ({scene.background.label} if scene.background else set())


def _yesno(w, scene, rng, a):
    window = _window(w, scene)
    if w.cls is None:
        tense = "now" if window is not None else "ever"
        if window is not None and window != RECENT_S:
            labels = _heard(scene, window) - ({scene.background.label} if scene.background else set())
            truth = bool(labels) or scene.background is not None if w.get("target") == "sound" else None
        else:
            truth = group_present(scene, w.get("target"), tense, a.classes)
        return None if truth is None else (w.question, "yes" if truth else "no", "yesno", f"target:{w.get('target')}",
                                           None, (), ())
    if w.cls not in a.classes:
        return None
    heard = _heard(scene, window)
    truth = w.cls in heard
    if not truth and any(x != w.cls and a.related(w.cls, x) for x in scene.labels):
        return None  # a sound it could be taken for is there
    if not truth and window is not None and any(e.label == w.cls and e.end_s > scene.duration_s - window - 3.0
                                                 for e in scene.events):
        return None  # it stopped just before the window: "now" is a matter of seconds
    return w.question, "yes" if truth else "no", "yesno", w.cls, None, (), ()


def _tf(w, scene, rng, a):
    claim = w.get("claim", "presence")
    if claim == "order":
        firsts = {e.label: e.start_s for e in scene.events if sum(x.label == e.label for x in scene.events) == 1}
        other = w.get("class2")
        if w.cls not in firsts or other not in firsts or abs(firsts[w.cls] - firsts[other]) < MIN_GAP_S:
            return None
        truth = firsts[w.cls] < firsts[other]
    elif claim == "count":
        counts = countable(scene)
        if w.cls not in counts:
            return None
        truth = counts[w.cls] == int(w.get("n"))
    else:
        truth = w.cls in scene.labels
        if not truth and any(a.related(w.cls, x) for x in scene.labels):
            return None
    return w.question, "true" if truth else "false", "tf", w.cls, None, (), ()


def _mcq(w, scene, rng, a):
    present = scene.labels
    if w.get("absent"):
        if len(present) < 3:
            return None
        odd = absent_classes(scene, rng, a.classes, 1)
        if odd is None:
            return None
        correct, others = odd[0], rng.sample(present, 3)
    else:
        correct = rng.choice(present) if present else SILENCE
        others = absent_classes(scene, rng, a.classes, 3, near=correct if present else None)
        if others is None:
            return None
    if any(a.related(o, p) for o in others for p in present if o not in present):
        return None
    options = others + [correct]
    rng.shuffle(options)
    labels = option_labels(w.question)
    question = PLACEHOLDER.sub(lambda m: options[int(m.group(1)) - 1], w.question)
    return (question, option_answer(labels, options, options.index(correct)), "mcq", correct, None, tuple(options),
            tuple(labels))


def _count(w, scene, rng, a):
    if w.get("total"):
        if scene.background is not None or any(b.start_s < x.end_s for x, b in zip(scene.events, scene.events[1:])):
            return None  # overlapping sounds, or a background: how many is a matter of opinion
        n = len({e.label for e in scene.events}) if w.get("distinct") else len(scene.events)
        return w.question, str(n), "count", "distinct" if w.get("distinct") else "total", None, (), ()
    counts = countable(scene)
    if w.cls in counts:
        return w.question, str(counts[w.cls]), "count", w.cls, None, (), ()
    if w.cls in scene.labels or any(a.related(w.cls, x) for x in scene.labels):
        return None
    return w.question, "0", "count", w.cls, None, (), ()


def _order(w, scene, rng, a):
    ask = w.get("ask")
    if ask in ("first", "last"):
        events = scene.events
        if len(events) < 2:
            return None
        if ask == "first":
            first = events[0]
            if events[1].start_s - first.start_s < MIN_GAP_S:
                return None
            return w.question, first.label, "label", first.label, None, (), ()
        last = max(events, key=lambda e: e.start_s)
        if last.start_s - max(e.start_s for e in events if e is not last) < MIN_GAP_S:
            return None
        return w.question, last.label, "label", last.label, None, (), ()
    pair = ordered_pair(scene, rng)
    if pair is None:
        return None
    first, second = pair
    x, y = (first, second) if rng.random() < 0.5 else (second, first)
    question = w.question.replace("{a}", _name(x.label, rng, a)).replace("{b}", _name(y.label, rng, a))
    if ask == "before_after":
        return question, "before" if x is first else "after", "before_after", x.label, None, (), ()
    if ask == "a_first_yn":
        return question, "yes" if x is first else "no", "yesno", x.label, None, (), ()
    answer = second.label if ask == "pair_last" else first.label
    return question, answer, "label", answer, None, (), ()


def _name(label: str, rng: random.Random, a: Asker) -> str:
    """A class as a person names it, without article (templates write their own 'the')."""
    return a.slots(label, rng).get("x_plain") or label


def _when(w, scene, rng, a):
    events = [e for e in scene.events if e.label == w.cls]
    if len(events) != 1:
        return None
    t = events[0].end_s if w.get("at") == "end" else events[0].start_s
    answer = f"about {fmt_span(scene.duration_s - t)} ago" if stream(scene) else f"at {fmt_time(t)} s"
    return w.question, answer, "ago" if stream(scene) else "at", w.cls, round(t, 2), (), ()


def _loudness(w, scene, rng, a):
    once = [e for e in scene.events if sum(x.label == e.label for x in scene.events) == 1]
    pairs = [(x, y) for x in once for y in once if x.level_db - y.level_db >= MIN_LOUDER_DB]
    if not pairs:
        return None
    loud, soft = rng.choice(pairs)
    x, y = (loud, soft) if rng.random() < 0.5 else (soft, loud)
    question = w.question.replace("{a}", _name(x.label, rng, a)).replace("{b}", _name(y.label, rng, a))
    ask = w.get("ask")
    if ask in ("louder_yn", "quieter_yn"):
        truth = (x is loud) == (ask == "louder_yn")
        return question, "yes" if truth else "no", "yesno", x.label, None, (), ()
    answer = loud.label if ask == "louder" else soft.label
    return question, answer, "label", answer, None, (), ()


def _type(w, scene, rng, a):
    if not scene.events:
        return None if scene.background else (w.question, SILENCE, "type", "", None, (), ())
    kinds = {e.kind for e in scene.events}
    if len(kinds) != 1 or (scene.background and len(scene.events) > 1):
        return None
    return w.question, kinds.pop(), "type", "", None, (), ()


def _recent(w, scene, rng, a):
    end = scene.duration_s
    bg = scene.background.label if scene.background else None
    if w.get("just"):
        recent = [e for e in scene.events if e.end_s > end - RECENT_S]
        if not recent:
            return w.question, nothing_recent(bg), "list", "", RECENT_S, (), ()
        last = max(recent, key=lambda e: e.end_s)
        if any(e is not last and e.label != last.label and e.end_s > last.end_s - MIN_GAP_S for e in recent):
            return None
        return w.question, last.label, "label", last.label, RECENT_S, (), ()
    window = float(w.get("window_s") or end)
    if any(end - window - 1.5 < e.end_s <= end - window for e in scene.events):
        return None
    heard = [e.label for e in scene.events if e.end_s > end - window]
    return w.question, ", ".join(dict.fromkeys(heard)) or nothing_recent(bg), "list", "", window, (), ()


def _quiet(w, scene, rng, a):
    if not scene.events:
        return w.question, QUIET_ALL, "duration", "", round(scene.duration_s, 2), (), ()
    silent = scene.duration_s - max(e.end_s for e in scene.events)
    if silent < 0.5:
        return w.question, NOT_QUIET, "duration", "", 0.0, (), ()
    if silent < 1.5:
        return None
    return w.question, f"about {fmt_span(silent)}", "duration", "", round(silent, 2), (), ()


def _open(w, scene, rng, a):
    cat = w.get("category")
    if stream(scene):
        got = _recent(Written(w.id, "recent", w.question, None, w.contexts, {"just": True}), scene, rng, a)
        if got is None or got[2] != "label" or (cat and a.classes[got[1]].category != cat):
            return None
        return got[0], got[1], "label", got[1], None, (), ()
    labels = {e.label for e in scene.events if not cat or e.category == cat}
    if len(labels) != 1 or (cat and any(e.category != cat for e in scene.events)):
        return None  # which sound "that" is would be a guess
    label = labels.pop()
    if w.get("form") == "sentence":
        return w.question, f"It's {label}.", "sentence", label, None, (), ()
    return w.question, label, "label", label, None, (), ()


def _description(w, scene, rng, a):
    if w.get("form") == "sentence":
        return w.question, sentence(scene, a), "sentence", "", None, (), ()
    return w.question, describe(scene), "description", "", None, (), ()


def _tags(w, scene, rng, a):
    return w.question, tags(scene), "list", "", None, (), ()


def _unknowable(w, scene, rng, a):
    return w.question, REFUSAL, "refusal", "", None, (), ()


ANSWERS = {"yesno": _yesno, "tf": _tf, "mcq": _mcq, "count": _count, "order": _order, "when": _when,
           "loudness": _loudness, "type": _type, "recent": _recent, "quiet": _quiet, "open": _open,
           "description": _description, "tags": _tags, "unknowable": _unknowable}


# -- the same question in trained wording ----------------------------------------------------------------
def twin(w: Written, qa: QA, scene: Scene, wrng: random.Random, a: Asker) -> QA | None:
    """`qa` (the hand-written `w` asked of `scene`) worded by the training grammar, with the same answer;
    None where the grammar has no such question (before/after, 'was A louder than B?', distinct sounds)."""
    k, about = w.kind, qa.about
    slots = a.slots(about, wrng) if about in a.classes else {}
    if k == "yesno" and qa.form == "yesno" and w.cls is None and about.startswith("target:") and not w.get("window_s"):
        tense = w.get("time", "ever")
        worded = a.question("yesno", wrng, {}, want={"target": about[7:], tense: None})
    elif k == "yesno" and w.cls is not None:
        worded = a.question("yesno", wrng, slots, want={w.get("time", "ever"): None}, avoid=("target",))
    elif k == "tf" and w.get("claim", "presence") == "presence":
        got = a.wording.stem("tf", wrng, slots, want={"form": "presence"})
        worded = got and (a.wording.instruct("tf", finish(got[0], question=False), wrng), got[1])
    elif k == "mcq":
        block, labels = option_block(list(qa.options), wrng.choice(a.wording.label_styles), wrng, a.wording.headers)
        got = a.wording.stem("mcq", wrng, {"options": "\0"}, want={"absent": None} if w.get("absent") else None,
                             avoid=() if w.get("absent") else ("absent",), need=("options",))
        if got is None:
            return None
        before, _, after = got[0].partition("\0")
        text = " ".join(p for p in (finish(before) if before.strip() else "", block,
                                    finish(after) if after.strip() else "") if p)
        answer = option_answer(labels, list(qa.options), list(qa.options).index(about))
        return QA(text, answer, "mcq", family=got[1], form="mcq", options=qa.options, labels=tuple(labels),
                  about=about)
    elif k == "count" and not w.get("distinct"):
        worded = (a.question("count", wrng, {}, want={"total": None}) if w.get("total")
                  else a.question("count", wrng, slots, avoid=("total", "distinct")))
    elif k in ("when", "type", "quiet", "description", "tags", "unknowable") and qa.form != "sentence":
        worded = a.question(k, wrng, slots if k == "when" else {})
    elif k == "open" and qa.form == "label":
        cat = w.get("category")
        from model.data.questions import CAT_NOUNS

        if stream(scene):
            worded = a.question("recent", wrng, {}, want={"just": None})
        elif cat in CAT_NOUNS:
            worded = a.question("open", wrng, {"cat": wrng.choice(CAT_NOUNS[cat])}, want={"cat": None})
        else:
            worded = a.question("open", wrng, {}, want={"generic": None})
    elif k == "recent":
        if w.get("just"):
            worded = a.question("recent", wrng, {}, want={"just": None})
        elif w.get("window_s") and w.get("window_s") < scene.duration_s:
            worded = a.question("recent", wrng, {"window": window_phrase(float(w.get("window_s")), wrng)},
                                want={"window": None}, need=("window",))
        else:
            worded = a.question("recent", wrng, {}, want={"window": None})
    elif k in ("order", "loudness") and qa.form == "label" and w.get("ask") in ("first", "last", "louder", "quieter"):
        worded = a.question(k, wrng, {}, want={w.get("ask"): None}) if k == "order" else None
    else:
        return None
    if not worded:
        return None
    return QA(worded[0], qa.answer, qa.kind, family=worded[1], form=qa.form, about=qa.about, value=qa.value)
