"""Question wording as people type it: a grammar of stems, class phrases, answer-form instructions,
multiple-choice layouts and casual typing, pure and seeded.

`stems.txt` holds the stems of each kind of question in families; a family marked `held-out` is
never used in training, so that evaluation can ask the same scenes in wording the model never saw.
`stems_people.txt` adds families in the same format written in users' many voices (remarks before the
question, tags, fragments, texting) by writers who saw neither the grammar nor any evaluation set; training
draws from both (`cached_stems`), while the wording set and the reader of typing slips keep to the grammar's
own (`grammar_stems`), so that what they measure stays the same as the people's families grow.
`phrases.tsv` says how people name each class ("a dog", "barking", "a dog|bark|barking|barked").
A `Wording` draws from one side of that split: `Wording("train")`, `Wording("held_out")`.
"""
from __future__ import annotations

import functools
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).parent
STEMS_TXT = HERE / "stems.txt"
PEOPLE_TXT = HERE / "stems_people.txt"
PHRASES_TSV = HERE / "phrases.tsv"
SPLITS = ("train", "held_out", "all")
SLOT = re.compile(r"\{(\w+)\}")
QUESTION_WORDS = ("what", "which", "who", "whose", "when", "where", "why", "how", "is", "are", "was", "were", "do",
                  "does", "did", "can", "could", "would", "will", "should", "has", "have", "had", "any", "anything",
                  "anyone", "anybody", "somebody", "someone", "am", "isn't", "aren't", "wasn't", "didn't", "don't",
                  "doesn't", "hasn't", "haven't", "whats", "what's", "who's", "how's", "where's", "u", "you")

# Multiple-choice labels: (style, labels). The answer repeats the question's label and the option's text.
LABEL_STYLES = {"A)": "A) B) C) D)", "(A)": "(A) (B) (C) (D)", "A.": "A. B. C. D.", "a)": "a) b) c) d)",
                "(a)": "(a) (b) (c) (d)", "1.": "1. 2. 3. 4.", "1)": "1) 2) 3) 4)", "none": "",
                "a.": "a. b. c. d.", "(1)": "(1) (2) (3) (4)", "A:": "A: B: C: D:", "slash": ""}
HELD_OUT_STYLES = ("a.", "(1)", "A:", "slash")  # answer-form styles kept out of training
OPTION_HEADERS = ("Options:", "Choices:", "Choose from:", "Your options:")
HELD_OUT_HEADERS = ("Possible answers:",)


@dataclass(frozen=True)
class Family:
    """Stems of one kind built the same way; `tags` say what they ask (see stems.txt)."""

    kind: str
    name: str
    stems: tuple[str, ...]
    tags: dict[str, str] = field(default_factory=dict, hash=False)
    held_out: bool = False

    def has(self, tag: str, value: str | None = None) -> bool:
        """Whether the family carries `tag` (with that value, when given)."""
        return tag in self.tags and (value is None or self.tags[tag] == value)


@dataclass(frozen=True)
class Action:
    """A sound as something done: subject and verb forms ("a dog", "bark", "barking", "barked")."""

    subj: str
    verb: str
    verbing: str
    verbed: str


@dataclass(frozen=True)
class ClassPhrases:
    """How people name one class: noun phrases (the first the plainest) and actions."""

    name: str
    nouns: tuple[str, ...]
    actions: tuple[Action, ...] = ()

    def article(self) -> str:
        """'a', 'an' or '' for the class name in a sentence, from how its plainest noun is said."""
        first = self.nouns[0] if self.nouns else self.name
        word = first.split(" ", 1)[0]
        return word if word in ("a", "an") else ""


def load_stems(path: Path = STEMS_TXT) -> dict[str, list[Family]]:
    """stems.txt -> {kind: families}; ValueError naming the line when the file is malformed."""
    kinds: dict[str, list[Family]] = {}
    kind, head, stems = None, None, []

    def close() -> None:
        if head is not None:
            if not stems:
                raise ValueError(f"{path}: family {head[0]!r} of {kind!r} has no stems")
            kinds[kind].append(Family(kind, head[0], tuple(stems), head[1], head[2]))

    for n, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.split("#", 1)[0].strip() if raw.lstrip().startswith("#") else raw.strip()
        if not line:
            continue
        if line.startswith("=="):
            close()
            kind, head, stems = line[2:].strip(), None, []
            kinds.setdefault(kind, [])
        elif line.startswith("--"):
            if kind is None:
                raise ValueError(f"{path}:{n}: a family before any '== kind' line")
            close()
            words = line[2:].split()
            if not words:
                raise ValueError(f"{path}:{n}: a family line needs a name")
            tags = dict(w.split("=", 1) if "=" in w else (w, "") for w in words[1:])
            held = "held-out" in tags
            tags.pop("held-out", None)
            head, stems = (words[0], tags, held), []
        else:
            if head is None:
                raise ValueError(f"{path}:{n}: a stem outside any family: {line!r}")
            stems.append(line)
    close()
    return kinds


def load_phrases(path: Path = PHRASES_TSV) -> dict[str, ClassPhrases]:
    """phrases.tsv -> {class: ClassPhrases}; ValueError naming the row when it is malformed."""
    out = {}
    for n, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not raw.strip() or raw.startswith("#"):
            continue
        cols = raw.split("\t")
        nouns = tuple(p.strip() for p in cols[1].split(",") if p.strip()) if len(cols) > 1 else ()
        actions = []
        for a in (cols[2].split(",") if len(cols) > 2 else []):
            if not a.strip():
                continue
            parts = [p.strip() for p in a.split("|")]
            if len(parts) != 4 or not all(parts):
                raise ValueError(f"{path}:{n}: action {a.strip()!r} needs subject|verb|verb-ing|verb-past")
            actions.append(Action(*parts))
        out[cols[0].strip()] = ClassPhrases(cols[0].strip(), nouns, tuple(actions))
    return out


def definite(phrase: str) -> str | None:
    """'a dog' -> 'the dog', 'rain' -> 'the rain', 'someone talking' -> 'the person talking'; None where
    no definite form reads well ('digging a hole')."""
    words = phrase.split(" ")
    if words[0] in ("someone", "somebody") and len(words) > 1:
        return "the person " + " ".join(words[1:])
    if words[0] in ("someone", "somebody", "something", "it", "anyone"):
        return phrase
    if words[0] in ("a", "an", "some", "the") and len(words) > 1:
        return "the " + " ".join(words[1:])
    if words[0].endswith("ing") and len(words) > 1 and words[1] in ("a", "an", "the", "on", "in", "at", "with"):
        return None
    return "the " + phrase


def plain(phrase: str) -> str | None:
    """The phrase without its article: 'a dog' -> 'dog'; None for 'someone talking', which has no bare noun."""
    words = phrase.split(" ", 1)
    if words[0] in ("someone", "somebody", "something", "anyone"):
        return None
    return words[1] if words[0] in ("a", "an", "some", "the") and len(words) > 1 else phrase


PLAINEST = 0.3  # how often a sound is named by its plainest phrase ("a dog"), whatever the others


def sound_slots(p: ClassPhrases, rng: random.Random, suffix: str = "") -> dict[str, str]:
    """The slot values naming one class, drawn from its phrases; `suffix` numbers them ('1', '2'). A slot
    with no good form for the phrase drawn is left out, so stems that need it are not used."""
    noun = (p.nouns[0] if rng.random() < PLAINEST else rng.choice(p.nouns)) if p.nouns else p.name
    out = {"x": noun, "the_x": definite(noun), "x_plain": plain(noun)}
    if p.actions:
        a = rng.choice(p.actions)
        out.update(subj=a.subj, the_subj=definite(a.subj), verb=a.verb, verbing=a.verbing, verbed=a.verbed)
    return {f"{k}{suffix}" if suffix else k: v for k, v in out.items() if v}


def slots_of(stem: str) -> set[str]:
    """The slot names a stem uses."""
    return set(SLOT.findall(stem))


def fill(stem: str, values: dict[str, str]) -> str:
    """The stem with its slots filled (every slot must have a value)."""
    return SLOT.sub(lambda m: values[m.group(1)], stem)


class Wording:
    """The families of one split of stems.txt, and the renderer of questions from them."""

    def __init__(self, split: str = "train", stems: dict[str, list[Family]] | None = None, varied: float = 0.0):
        """`varied`: the share of stems loosened by `vary` (training only: evaluation asks stems as written)."""
        if split not in SPLITS:
            raise ValueError(f"wording split {split!r}: choose one of {SPLITS}")
        self.split, self.varied = split, varied
        every = stems if stems is not None else cached_stems()
        keep = {"train": lambda f: not f.held_out, "held_out": lambda f: f.held_out, "all": lambda f: True}[split]
        self.families = {k: [f for f in fs if keep(f)] for k, fs in every.items()}
        self.label_styles = [s for s in LABEL_STYLES if (s in HELD_OUT_STYLES) == (split == "held_out")
                             or split == "all"]
        self.headers = (HELD_OUT_HEADERS if split == "held_out" else OPTION_HEADERS + HELD_OUT_HEADERS
                        if split == "all" else OPTION_HEADERS)

    def stem(self, kind: str, rng: random.Random, values: dict[str, str], want: dict[str, str | None] | None = None,
             avoid: tuple[str, ...] = (), need: tuple[str, ...] = ()) -> tuple[str, str] | None:
        """A stem of `kind`, filled: (text, family name), or None when no stem fits.

        The family must carry the tags of `want` (a value of None: any value) and none of `avoid`; the
        stem may use only the slots `values` fills and must use those of `need`. A family is drawn
        first, then one of its stems, so every family is used alike however many stems it has.
        """
        want = want or {}
        fams = [f for f in self.families.get(kind, [])
                if all(f.has(t, v) for t, v in want.items()) and not any(f.has(t) for t in avoid)]
        choices = [(f, [s for s in f.stems if set(need) <= slots_of(s) <= values.keys()]) for f in fams]
        choices = [(f, ss) for f, ss in choices if ss]
        if not choices:
            return None
        fam, stems = rng.choice(choices)
        stem = rng.choice(stems)
        if self.varied and not kind.startswith("instruction:") and rng.random() < self.varied:
            stem = vary(stem, rng)
        return fill(stem, values), fam.name

    def instruct(self, form: str, question: str, rng: random.Random) -> str:
        """`question` (finished) with an answer-form instruction of `form` (yesno, tf, mcq, count, one_word,
        sentence) before or after it: 'Is there a dog? Answer yes or no.', 'True or false: there is a dog.'"""
        got = self.stem(f"instruction:{form}", rng, {"q": "\0"})
        if got is None:
            raise ValueError(f"stems.txt has no instruction:{form} stems in the {self.split} split")
        pre, _, post = (p.strip() for p in got[0].partition("\0"))
        text = question
        if pre:
            pre = pre[0].upper() + pre[1:]
            lead = pre if pre[-1] in ":?.,-" else pre + ":"
            text = f"{lead} {question[0].lower() + question[1:] if rng.random() < 0.5 else question}"
        if post:
            if post[0] in ",-(":
                end = "?" if text.endswith("?") or " or " in post or "/" in post else "."
                text = text.rstrip("?.") + ("" if post[0] == "," else " ") + post.rstrip("?.") + end
            else:
                text = f"{text} {finish(post, default='.')}"
        return text


# `vary` drops only words that no question's meaning rests on, and swaps only these synonyms.
DROPPABLE = frozenset("the a an please just really actually exactly that this so here currently ok okay well".split())
SYNONYMS = (("hear", "catch", "notice", "detect", "pick up", "make out"), ("sound", "noise"),
            ("recording", "clip", "audio", "track"), ("happened", "occurred", "went on"), ("can you", "could you"),
            ("did you hear", "did you catch", "did you notice"))
FILLERS_IN = ("actually", "really", "exactly", "please", "just")


def vary(stem: str, rng: random.Random) -> str:
    """A stem loosened the way people loosen sentences, its slots untouched: a small word dropped, a common
    word swapped for a synonym, or a filler put in after the first word or at the end. Training sees a
    stem's meaning in more than one wording, so it learns the words that carry it rather than the sentence."""
    words = stem.split(" ")
    how = rng.randrange(3)
    free = [i for i, w in enumerate(words) if w.lower() in DROPPABLE]
    if how == 0 and free and len(words) > 3:
        del words[rng.choice(free)]
        return " ".join(words)
    text = f" {stem} "
    options = [group for group in SYNONYMS if any(f" {w} " in text for w in group)]
    if how == 1 and options:
        group = rng.choice(options)
        old = next(w for w in group if f" {w} " in text)
        return text.replace(f" {old} ", f" {rng.choice(group)} ", 1).strip()
    if rng.random() < 0.5 and len(words) > 1:
        words.insert(1, rng.choice(FILLERS_IN))
    else:
        words.append(rng.choice(("please", "exactly", "pls")))
    return " ".join(words)


@functools.lru_cache(maxsize=1)
def grammar_stems() -> dict[str, list[Family]]:
    """stems.txt alone, read once per process: the grammar the wording set is asked in."""
    return load_stems()


@functools.lru_cache(maxsize=1)
def cached_stems() -> dict[str, list[Family]]:
    """What training draws from, read once per process: stems.txt and the people's families of stems_people.txt
    (never held out; ValueError when one is marked so or shares a name with a grammar family)."""
    every = {kind: list(families) for kind, families in grammar_stems().items()}
    names = {f.name for families in every.values() for f in families}
    for kind, families in load_stems(PEOPLE_TXT).items():
        for f in families:
            if f.held_out or f.name in names:
                raise ValueError(f"{PEOPLE_TXT}: family {f.name!r} is held out or named as another; people's "
                                 "families are for training and need names of their own")
            names.add(f.name)
        every.setdefault(kind, []).extend(families)
    return every


@functools.lru_cache(maxsize=1)
def cached_phrases() -> dict[str, ClassPhrases]:
    """phrases.tsv, read once per process."""
    return load_phrases()


# -- finishing a question ------------------------------------------------------------------------
IMPERATIVES = ("describe", "list", "tell", "give", "name", "tag", "write", "identify", "count", "provide", "caption",
               "summarize", "summarise", "classify", "label", "pick", "choose", "select", "please", "explain", "report",
               "say", "let", "recap", "fill", "catch", "sum", "enumerate", "determine", "specify", "state", "answer",
               "reply", "respond", "just", "use", "keep", "only", "numbers", "one", "read", "judge", "decide", "i",
               "i'd", "i'm", "statement", "here", "in", "using", "tally", "transcribe", "mention", "break", "note", "go",
               "talk", "walk", "point", "locate", "find", "show", "mark", "spot", "look", "listen", "guess", "put")


def finish(text: str, question: bool | None = None, default: str = "?") -> str:
    """Capital first letter, 'I' as a word, and a question mark or a full stop: a full stop for a request
    ('describe what you hear') or where `question` is False (a statement), else a question mark."""
    text = re.sub(r"\bi\b", "I", " ".join(text.split()))
    if not text:
        return text
    first = re.sub(r"^[^a-z0-9]*", "", text.lower()).split(" ", 1)[0]
    if question is None:
        asks = re.search(r"\b(true or false|yes or no)\b|/", text.lower())
        question = first in QUESTION_WORDS or bool(asks) or (first not in IMPERATIVES and default == "?")
    text = text.rstrip(" ?.")
    return text[0].upper() + text[1:] + ("?" if question else ".")


def ends(text: str, question: bool) -> str:
    """`text` with a question mark (or a full stop) unless it already ends in punctuation."""
    text = text.rstrip()
    return text if text[-1:] in "?.!:" else text + ("?" if question else ".")


def option_block(options: list[str], style: str, rng: random.Random, headers: tuple[str, ...]) -> tuple[str, list[str]]:
    """Multiple-choice options laid out in `style` (inline or one per line, sometimes after a header):
    (block, labels) with the labels as written, '' for unlabelled options."""
    if style in ("none", "slash"):
        joined = " / ".join(options) if style == "slash" else ", ".join(options[:-1]) + " or " + options[-1]
        head = rng.choice(headers) + " " if style == "none" or rng.random() < 0.5 else ""
        return head + joined, [""] * len(options)
    labels = LABEL_STYLES[style].split()[: len(options)]
    sep = "\n" if rng.random() < 0.4 else " "
    body = sep.join(f"{lab} {o}" for lab, o in zip(labels, options))
    head = rng.choice(headers) + sep if rng.random() < 0.3 else ""
    return head + body, labels


def option_answer(labels: list[str], options: list[str], index: int) -> str:
    """The answer to a multiple-choice question: the option's own label and its text ('(B) dog'), or the text."""
    return f"{labels[index]} {options[index]}".strip()


# -- casual typing ---------------------------------------------------------------------------------
CONTRACTIONS = (("what is", "what's"), ("it is", "it's"), ("there is", "there's"), ("that is", "that's"),
                ("do not", "don't"), ("did not", "didn't"), ("is not", "isn't"), ("who is", "who's"),
                ("how is", "how's"), ("where is", "where's"), ("has not", "hasn't"), ("was not", "wasn't"),
                ("can not", "can't"), ("cannot", "can't"), ("i am", "i'm"), ("you are", "you're"),
                ("let us", "let's"), ("what has", "what's"), ("does not", "doesn't"))
FILLERS = ("hey, ", "hey ", "ok so ", "okay, ", "um, ", "so ", "quick question: ", "hi, ", "hmm, ", "wait, ",
           "sorry, ", "yo ", "sam, ", "hey sam, ", "ok ", "question: ", "erm ", "uh ")
SUFFIXES = (" pls", " please", " thanks", "??", " ?", "?!", " thx")
KEYBOARD = "qwertyuiop asdfghjkl zxcvbnm"


def _key_neighbours() -> dict[str, str]:
    """Each letter's neighbouring keys on its KEYBOARD row, left then right: the keys a finger slips to."""
    near: dict[str, str] = {}
    for row in KEYBOARD.split():
        for i, key in enumerate(row):
            near[key] = row[max(i - 1, 0):i] + row[i + 1:i + 2]
    return near


KEY_NEIGHBOURS = _key_neighbours()


def casual(text: str, rng: random.Random, keep: str = "") -> str:
    """`text` typed as people type in a chat box: sometimes lower case, contracted, without its question
    mark, with a filler or a typo. `keep` (e.g. a block of options) is left exactly as it is."""
    head, sep, tail = text.partition(keep) if keep else (text, "", "")
    parts = [head, tail]
    for i, part in enumerate(parts):
        if rng.random() < 0.45:
            for full, short in CONTRACTIONS:
                part = re.sub(rf"\b{full}\b", short, part, flags=re.IGNORECASE) if rng.random() < 0.7 else part
        if rng.random() < 0.06:
            part = typo(part, rng)
        parts[i] = part
    text = parts[0] + sep + parts[1]
    if rng.random() < 0.4:
        text = text.replace(keep, "\0") .lower().replace("\0", keep) if keep else text.lower()
    if rng.random() < 0.3:
        text = re.sub(r"[?.]\s*$", "", text) if not (keep and text.endswith(keep)) else text
    if rng.random() < 0.15:
        text = rng.choice(FILLERS) + (text[0].lower() + text[1:] if text[:1].isupper() and rng.random() < 0.7 else text)
    if rng.random() < 0.05 and not (keep and text.endswith(keep)):
        text = text.rstrip("?. ") + rng.choice(SUFFIXES)
    return text


def typo(text: str, rng: random.Random) -> str:
    """One realistic slip in a word of four letters or more: two letters swapped, one dropped, doubled or
    a neighbouring key hit."""
    words = [m for m in re.finditer(r"[A-Za-z]{4,}", text)]
    if not words:
        return text
    m = rng.choice(words)
    w, i = m.group(0), rng.randrange(1, len(m.group(0)) - 1)
    how = rng.randrange(4)
    if how == 0:
        w = w[:i] + w[i + 1] + w[i] + w[i + 2:]
    elif how == 1:
        w = w[:i] + w[i + 1:]
    elif how == 2:
        w = w[:i] + w[i] + w[i:]
    else:
        near = KEY_NEIGHBOURS.get(w[i].lower(), "")
        w = w[:i] + (rng.choice(near) if near else w[i]) + w[i + 1:]
    return text[: m.start()] + w + text[m.end():]
