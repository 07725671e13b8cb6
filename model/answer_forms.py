"""Answers in the form the question asks for.

`asked_form` reads a question's form from its words, in this order:
- **It lists its answers**: "Answer yes or no", "True or false:", options labelled "(A) ... (B) ...",
  "[A] ... [B] ..." or "1. ... 2. ...", options without labels after a header ("Options: rain, wind or
  hail"), between slashes ("rain / wind / hail"), one per line, or three or more after a "which" question's
  colon or question mark ("which of these did you hear? rain; thunder; wind"). The answer is the likeliest of them,
  scored by its log-probability after the question, its end token included, as the evaluation's
  cloze scores multiple choice. A labelled option is answered as the training data answers it, its
  label as written and its text ("(B) a dog"); an unlabelled one by its text.
- **It asks what kind of sound** ("speech or music?", "is this a voice, a song or just noise", "is someone
  speaking or is it music"): speech, music, another sound or silence.
- **It asks how many** ("how many times did the dog bark", "count the knocks"): a number.
- **It asks yes or no by its grammar**: an auxiliary verb first ("is there ...", "did someone ...",
  "can you hear ...", "anyone there?"), no question word, and no alternatives ("is it X or Y"),
  except where the alternatives are what is asked about ("is there singing or music"); or a short question that
  names a sound and no more ("dog barking?", "hear any birds?").
- **It names the sounds to choose between** ("which was louder, the dog or the rain", "which is the
  quieter of the dog and the rain", "was that a cow or a goat?", "between the bell and the dog, which came
  first?"): one of them, by its class name, the narrower where one narrows another down ("who is talking, a man
  or a woman?", "male or female?"); alternatives no class names ("is it a plane or a bird?") are chosen between
  as written; "was the dog before or after the rain?" is answered before or after.
- **It asks how long it has been quiet** ("how long has it been quiet?", "how long since anything
  happened?"): an answer that gives a span or says it isn't quiet or has been all along; **or when**, by its
  first words as the training data's timing questions begin ("when did ...", "how long ago ...", "find when
  ...", "can you tell me when ...", "the dog barked - when?"): an answer that gives a time. Neither is the refusal.
- **Anything else with a question word or a request** ("what was that", "describe the scene") is
  answered freely, but never by a bare yes, no, true, false or number, which answer other kinds, nor by
  nothing, nor by a bare time ("at 0.3 s") unless it asks when and not for the sounds themselves ("what happens,
  and when?").

**The words the language model reads.** Where the rules read which of two sounds came first or is louder or
quieter ("between the dog and the rain, which was first?"), the first or last sound ("what kicked things off?") or
how long it has been quiet ("how long since anything made a peep?", "when did it go quiet?"), options that each name
one of our sounds, or whether one sound is there ("any chance there's a dog?", "true or false: you can hear rain"),
the language model reads the question in the words training asked it in most ("Which came first, the dog or the
rain?", "What is the first sound?", "How long has it been quiet?", "Which of these sounds can you hear? A) dog B)
rain", "Do you hear a dog?"), what kind of sound a whole recording is ("Is this speech, music, another sound, or
silence?"), and, in a long stream, what one sound is ("what on earth was that?", "what's making that noise?":
"What was that sound just now?", as the training streams ask about the sound just heard): it learnt those kinds in few
words, and the rules read many. The answers allowed, and what the tags add to them, still follow the question asked
(`Form.ask`, `Form.stream_ask`); an option or "true" is said as the question says it (`Form.scored`). Which of two
came later, never asked in training, is asked as which came first, and the other one said.

**What the branch tagged** (model/tags.py), for a model with a YAMNet branch: where the answers to choose
from name sounds (options, the sounds named as alternatives) or the question asks whether a sound is
there ("is there a dog?", "did someone sneeze?"), each answer's score gains HEARD_WEIGHT times the tags'
log-odds for its sound (against it, for "which did you NOT hear"); "yes" gains them for the sound asked
about, or for the group of sounds asked about without naming one ("is anyone there?", "any animals?").
Questions that ask more than whether it is there (how often, before what, louder than what) take only
the evidence against it. In a stream longer than LONG_SCENE_S, a question about the
present or about what was just heard ("is it raining?", "was that a dog?") reads the last ten
seconds' tags, one in the past tense ("did someone speak?") the tags of all it has heard. A model with a
presence head (model/presence.py) adds OWN_WEIGHT times its log-odds for our classes the same way, only ever
for a sound (tags.own_support).

A question about what the sound cannot tell (what was said, who someone is, the world beyond the
recording, what cannot be heard, how someone feels or things are, why, what will happen) is answered by the refusal, unless it offers sounds to
choose between, and only such a question: the
closed forms never offer it, since the question asks for a number, yes or no, or one of the sounds
it names, and nor does a question that asks for the sounds themselves, to describe, list, tag or name
them ("list the sounds", "describe the recording"), in the words the training data asks them with. A
question none of the rules reads is answered freely. `question_form` reads the question with its slips of typing
put right (model/spelling.py). The scoring is `model.generate.choice_scores`;
the banned answers are kept out by `model.generate.generate`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from torch import Tensor

from .data.questions import CAT_NOUNS, REFUSAL
from .data.tasks import ABSENT_STEMS, LETTERS, SILENCE
from .metrics import normalize
from .prompt import DESCRIBE_PROMPT, answer_ids
from .spelling import respelled
from .shapes import NOT_A_QUIET_SPAN, NOT_A_TIME, NOTHING, TIME_OR_NOTHING, Shape
from .tokenizer import Tokenizer

YES_NO = ("yes", "no")  # as the training data answers (model/data/questions.py)
TRUE_FALSE = ("true", "false")

_YES_NO = re.compile(r"\byes\s*(?:or|/)\s*(?:a\s+)?no\b|\bno\s*(?:or|/)\s*(?:a\s+)?yes\b|\by\s*(?:/|or)\s*n\b",
                     re.IGNORECASE)
# Whether it is so, asked by what follows a statement or a sound ("helicopter overhead or not", "the pig was quieter
# than the siren, right?", "the dog barked, didn't it?"): yes or no
_TAGGED_YES_NO = re.compile(r"\bor (?:not|no|nah|did i (?:imagine|dream) (?:it|that)|am i (?:imagining|hearing) "
                            r"(?:it|things|that))\s*[?.!]*$|"
                            r"[,\-\u2013\u2014]\s*(?:right|correct|yes|yeah|no|innit|eh|(?:is|was|are|were|did|does|do|"
                            r"has|have|had)n'?t (?:it|he|she|they|there|that|you|i))\s*[?.!]*\s*"
                            r"(?:(?:pls|please|thx|thanks)\s*[?.!]*)?$", re.IGNORECASE)
# A statement given to judge: "true or false", "T/F", "tf:", "right or wrong:", "correct or not?", "is this statement
# correct:", "is it true that ...", a statement ending "- true?"
_TRUE_FALSE = re.compile(r"\btrue\s*(?:or|/)\s*(?:false|not)\b|\bfalse\s*(?:or|/)\s*true\b|\bt\s*(?:or|/)\s*f\b|"
                         r"^\W*tf\s*[:\-]|\b(?:right|correct|accurate)\s*(?:or|/)\s*(?:wrong|not|incorrect|false)\b|"
                         r"\b(?:is|was) (?:this|that|the following|my|the) stat[e]?ment "
                         r"(?:true|correct|right|accurate)\b|"
                         r"\bis it true that\b|\s[-\u2013\u2014]+\s*true\s*[?.!]*\s*$|\bfact or fiction\b|"
                         r"^\W*(?:(?:hey|hi|hmm+|erm?|um+|uh+|ok(?:ay)?|so|well|quick question)\b[\s,:]*)*"
                         r"(?:fact[- ]?check|verify (?:this|the following|the) (?:statement|claim)|evaluate|"
                         r"(?:is|was) (?:this|that) (?:right|correct|true|accurate)|check this (?:claim|statement)|"
                         r"claim|statement)\s*:|"
                         r"(?:\s[-\u2013\u2014]+|[.,])\s*(?:is|was) (?:that|it|this) (?:true|accurate)"
                         r"\s*[?.!]*\s*(?:(?:pls|please|thx|thanks)\s*[?.!]*)?$", re.IGNORECASE)
# An option label at the start of the text or after white space, followed by white space:
# (A) A) A. A: [A] a) a. (1) 1) 1. 1:
_LABEL = re.compile(r"(?:^|(?<=\s))([(\[])?([A-Ha-h]|[1-9])([.):\]])(?=\s)")
_SEQUENCES = ("ABCDEFGH", "abcdefgh", "123456789")


def stated_answers(question: str) -> tuple[str, ...] | None:
    """The answers a question lists, or None when it lists none.

    Labelled options give "label text" for each ("(A) a dog", "(B) rain"); otherwise "true or false"
    gives ("true", "false") and "yes or no" gives ("yes", "no").
    """
    options = labelled_options(question)
    if options:
        return tuple(f"{label} {text}" for label, text in options)
    if _TRUE_FALSE.search(question):
        return TRUE_FALSE
    if _YES_NO.search(question):
        return YES_NO
    return None


def labelled_options(question: str) -> list[tuple[str, str]]:
    """The longest run of consecutive option labels of one style ("A." "B." "C."), at least two, each
    with its option's text: [(label as written, text)]; [] when there is none or an option is empty."""
    found = []
    for m in _LABEL.finditer(question):
        opened, mark, close = m.group(1) or "", m.group(2), m.group(3)
        if (opened, close) not in (("", "."), ("", ")"), ("", ":"), ("(", ")"), ("[", "]")):  # "(A." is not a label
            continue
        found.append((opened, mark, close, m))
    best: list[re.Match] = []
    for i, (opened, mark, close, m) in enumerate(found):
        seq = next((s for s in _SEQUENCES if mark == s[0]), None)
        if seq is None:
            continue  # a run starts at A, a or 1
        run = [m]
        for o2, m2, c2, m_next in found[i + 1:]:
            if len(run) < len(seq) and (o2, m2, c2) == (opened, seq[len(run)], close):
                run.append(m_next)
        if len(run) >= 2 and len(run) > len(best):
            best = run
    ends = [m.start() for m in best[1:]] + [len(question)]
    options = [(m.group(0).strip(), _option_text(question[m.end():end], last=k == len(best) - 1))
               for k, (m, end) in enumerate(zip(best, ends))]
    return options if all(text for _, text in options) else []


# What ends the last option's text: a new line, a question mark, a sentence's end, a dash between
# spaces, or the instruction that follows the options ("... D. rain answer with the letter").
_LAST_END = re.compile(r"\n|\?|\.\s|\s[-\u2013\u2014]\s|\s(?=(?:answer|choose|pick|select|reply|respond|"
                       r"just|only|please|which|give|tell|say|write|type)\b)", re.IGNORECASE)


def _option_text(text: str, last: bool) -> str:
    """An option's text as the answer repeats it: one line, without the list's commas and 'or'."""
    if last:
        text = _LAST_END.split(text, maxsplit=1)[0]
    text = " ".join(text.split()).strip(" ,;/")
    text = re.sub(r"(?:,|\s)\s*or$", "", text).strip(" ,;/")
    return text.rstrip(".:!")


_INSTRUCTION = re.compile(r"(?:answer|choose|pick|select|reply|respond|just|only|please|give|tell|say|write|type)\b",
                          re.IGNORECASE)
_HEADER = re.compile(r"\b(?:options?|choices?|choose from|pick from|select from|possible answers|one of these)"
                     r"(?:\s+(?:are|is|include))?\s*[:\-\u2013\u2014]?\s*", re.IGNORECASE)
_BULLET = re.compile(r"^\s*[-*\u2022]\s*")
MAX_OPTION_WORDS = 6


def unlabelled_options(question: str) -> list[str]:
    """Options written without labels: after a header ("Options: rain, wind or hail"), between spaced
    slashes ("rain / wind / hail") or one per line under the question; [] when there are none."""
    for find in (_header_options, _slash_options, _line_options, _listed_after, _asked_in_turn):
        options = find(question)
        if len(options) >= 2 and len(set(map(str.lower, options))) == len(options) and all(
                0 < len(o.split()) <= MAX_OPTION_WORDS for o in options):
            return options
    return []


def _header_options(question: str) -> list[str]:
    """The options after the first header that some follow."""
    for head in _HEADER.finditer(question):
        body = question[head.end():]
        lines = _line_options("?\n" + body.lstrip("\n")) if "\n" in body else []
        if "/" in body:
            options = _slash_options(body, whole=True)
        elif lines:
            options = lines
        else:
            body = _LAST_END.split(body, maxsplit=1)[0]
            items = re.split(r"\s*,\s*(?:or\s+|and\s+)?|\s+or\s+|\s+and\s+", body.strip())
            options = [_option_text(x, last=False) for x in items if x.strip()]
        if len(options) >= 2:
            return options
    return []


def _listed_after(question: str) -> list[str]:
    """Three or more options listed after a "which" question's colon or question mark, between commas or
    semicolons ("which of these did you hear? rain; thunder; wind", "which is NOT there: rain, wind, hail, birds")."""
    question = question.strip()
    m = re.search(r"[:?]\s*([^:?]+)$", question)
    if not m or not (_WHICH.search(question) or re.search(r"\bwhich\b", question[:m.start()], re.IGNORECASE)):
        return []
    items = re.split(r"\s*[,;]\s*(?:or\s+|and\s+)?", _LAST_END.split(m.group(1) + "\n", maxsplit=1)[0].strip())
    options = [_option_text(x, last=False) for x in items if x.strip()]
    kinds = set().union(*map(_kinds, options))
    return options if len(options) >= 3 and len(kinds) < 2 else []  # "which is it: speech, music or another sound"


def _asks_itself(text: str) -> bool:
    """Whether a piece of text between question marks is a question of its own ("is it raining", "any thunder"),
    not an option."""
    words = normalize(text).split()
    return bool(words) and (words[0] in AUXILIARIES or words[0] in ("any", "anything", "anyone", "someone", "what",
                                                                     "which", "who", "when", "where", "how", "why"))


def _asked_in_turn(question: str) -> list[str]:
    """Three or more sounds each asked with its own question mark ("is this splash? waterfall? waves? forest? pick
    the closest", "so which was it: rain? wind? a dog?", "plane? helicopter? bird? pick one"): the first after "is
    it/this/that", a which-question's colon or dash, or alone at the start, the others alone, each naming one of
    our sounds."""
    parts = [x.strip() for x in question.split("?")]
    for start in range(len(parts) - 2):
        is_it = _IS_IT.match(parts[start] + "?")
        which = re.match(r"^(?:\w+\s+)?(?:which|what)\b[^:]*?(?::|\s[-\u2013\u2014]+)\s*(.+)$", parts[start],
                         re.IGNORECASE)  # "so which was it: rain? wind? ..."
        if is_it or which:
            first = (is_it or which).group(1)
        elif start == 0 and not _asks_itself(parts[0]):
            first = parts[0]  # "plane? helicopter? bird?" begins with its first option
        else:
            continue
        if len(first.split()) > MAX_OPTION_WORDS or not class_mentions(first):
            continue
        run = [first]
        for x in parts[start + 1:]:
            if not x or len(x.split()) > MAX_OPTION_WORDS or not class_mentions(x) or _asks_itself(x):
                break  # "dog barking? is it raining? any thunder?" asks three things, not one of three
            run.append(x)
        if len(run) >= 3:
            return run
    return []


def _slash_options(question: str, whole: bool = False) -> list[str]:
    parts = re.split(r"\s+/\s+", question) if not whole else re.split(r"\s*/\s*", question)
    if len(parts) < 2:
        return []
    last = _option_text(parts[-1], last=True)
    middle = [_option_text(p, last=False) for p in parts[1:-1]]
    # The first option starts after the question's punctuation; without any (and no header before it),
    # it is as long as the longest other option.
    pieces = re.split(r"[?:\n,]|\s[-\u2013\u2014]\s", parts[0])
    width = max(len(o.split()) for o in middle + [last])
    first = pieces[-1] if len(pieces) > 1 or whole else " ".join(parts[0].split()[-width:])
    return [_option_text(first, last=False), *middle, last]


def _line_options(question: str) -> list[str]:
    """The longest run of two or more short lines after the question's first line."""
    lines = question.split("\n")
    best: list[str] = []
    run: list[str] = []
    for line in lines[1:] + [""]:
        text = _BULLET.sub("", line).strip().rstrip(".,;")
        if text and "?" not in text and not text.endswith(":") and len(text.split()) <= MAX_OPTION_WORDS \
                and not _INSTRUCTION.match(text) and not _HEADER.fullmatch(text + ":"):
            run.append(text)
            continue
        if len(run) > len(best):
            best = run
        run = []
    return best if len(best) >= 2 else []


# -- forms read from the question's grammar --------------------------------------------------------
TYPES = ("speech", "music", "sound", "silence")  # as the training data answers "what kind of sound"
BEFORE_AFTER = ("before", "after")  # "was the dog before or after the rain?"
COUNTS = tuple(str(n) for n in range(31))
BARE = YES_NO + TRUE_FALSE + COUNTS  # answers of other kinds, never the answer to an open question

_FILLER = re.compile(r"^(?:(?:hey|hi|hello|ok|okay|so|um+|uh+|erm?|hmm+|oh|yo|well|wait|alright|quick question|"
                     r"question|listen|please|sorry|and|but|now|sam)\b[\s,:;!.\-]*)+", re.IGNORECASE)
AUXILIARIES = frozenset("""is are was were am do does did can could will would should has have had
    isn't aren't wasn't weren't don't doesn't didn't can't couldn't won't wouldn't hasn't haven't
    isnt arent wasnt werent dont doesnt didnt cant couldnt wont wouldnt hasnt havent""".split())
SOMEONE = ("any", "some", "there", "no one", "nobody")  # what an existence question asks about
# Existence questions without a verb first ("anyone there?"); "any" and "anything" first ask yes or no
# only about a sound they name ("any dogs?"): "any sounds lately?" and "anything happen?" ask what was
# heard, as the training data answers them.
SOMEONE_FIRST = frozenset("anyone anybody someone somebody".split())
_QUESTION_WORD = re.compile(r"\b(?:what|what's|whats|which|who|who's|whom|whose|where|where's|when|why|how|how's)\b",
                            re.IGNORECASE)
_REQUEST = re.compile(r"^(?:(?:would|do) you mind\s+\w+ing\b|"
                      r"(?:(?:can|could|would|will)\s+(?:you|u)\s+(?:please\s+)?)?(?:describe|list|tell|give|gimme|"
                      r"name|tag|write|identify|caption|summari[sz]e|explain|report|transcribe|show|label|classify|"
                      r"guess|mention|repeat|provide|run|go|talk|walk|enumerate|itemi[sz]e|narrate|annotate|chronicle|"
                      r"recount|catalog(?:ue)?|jot|outline|detail|spell out|sketch|catch me up|fill me in|update me|"
                      r"bring me up to speed)\b)"
                      r"(?!.*\b(?:if|whether)\b)", re.IGNORECASE)
_ALTERNATIVES = re.compile(r"\bor\b(?!\s+(?:not|no|nah|anything|so|what|maybe|(?:is\s+it\s+)?just\s+me|am i|did i)\b)|"
                           r"\bvs\.?(?=\s)|\bversus\b|\bcategor(?:y|ies)\b", re.IGNORECASE)
# A question that asks when, by its first words as the training data's timing questions begin ("when did ...",
# "at what point ...", "what time in the clip ...", "how long ago ...", "where in the clip ...", "give me the time of").
_WHEN_FIRST = re.compile(r"(?:(?:so|and|(?:(?:can|could) you |please )?(?:tell me|let me know)|do you know|any idea|"
                         r"roughly|approximately|about|around|i wonder|not sure|"
                         r"i (?:want|need|would like|'d like|wanna) to know)\s+)?"
                         r"(?:when\b(?! (?:i|you) (?:was|were|am|are)\b)|"
                         r"(?:find|point out|point me to|show me|mark) when\b|"
                         r"at (?:what|which) (?:point|time|second|moment|"
                         r"timestamp)\b|what (?:time|timestamp)\b(?! (?:is it|of day)\b)|how long ago\b|how "
                         r"(?:many seconds|far) (?:in|into)\b|where in the\b|locate\b.*\bin time\b|mark the time\b|"
                         r"give me the (?:time|timestamp|onset)\b|what(?:'s| is) the (?:timestamp|onset|start time)\b|"
                         r"at (?:roughly|about|approximately|around) what (?:time|point|second)\b|"
                         r"(?:what|which) (?:second|moment)\b|the (?:exact )?moment\b|"
                         r"(?:find|show me|give me|mark|pinpoint|locate|note) the (?:exact )?(?:moment|time|timestamp|"
                         r"point|second)\b|time ?stamp (?:for|of)\b|"
                         r".*[-,:\u2013\u2014]\s*(?:when|what time|at what time|when (?:was|did|is) (?:that|it|this))"
                         r"\s*\??$)",
                         re.IGNORECASE)
# A question that asks how long it has been quiet, as the training data's quiet questions ask it ("how long has it
# been quiet?", "how long since anything happened?", "been quiet how long?", "the duration of the current silence").
_HOW_LONG_QUIET = re.compile(r"\bhow much (?:quiet|silent) time\b|\bhow (?:long|many (?:seconds|minutes)|much time)\b.*\b(?:quiet|silen(?:t|ce)|still|"
                             r"hush(?:ed)?|noiseless|soundless|calm|peaceful|"
                             r"nothing|no (?:sound|noise)|since|last (?:sound|noise)|"
                             r"without (?:a |any )?(?:sound|noise|peep|anything))|\bsince when\b.*\b(?:quiet|silen(?:t|ce)|nothing)\b|"
                             r"\btime (?:elapsed |passed |gone by )?since (?:the last|last|anything|something|any)\b|"
                             r"\blength of the (?:current )?(?:silence|quiet|sil[ea]nt (?:period|spell|stretch|bit))\b|"
                             r"\b(?:quiet|silent|silence|nothing(?:'s| has)? happened|last (?:sound|noise))\b.*\bhow (?:long|much time|many "
                             r"(?:seconds|minutes))\b|\bduration of the (?:current )?silence\b",
                             re.IGNORECASE)
# Alternatives compared by order or loudness ("did you hear the bell or the knock first?"): one of them is asked for.
_WHICH_FIRST = re.compile(r"\bor\b.*\b(?:first|last|earlier|later|sooner|louder|quieter|softer|longer|shorter)\b",
                          re.IGNORECASE)
_OR_IS_IT = re.compile(r"\bor\s+(?:is|was|are|were)\s+(?:it|this|that|these|those)\b", re.IGNORECASE)
_COUNT = re.compile(r"\bhow\s+many\b(?!\s+(?:seconds|minutes|hours)\b)|\bhow\s+often\b|\bnumber\s+of\b|"
                    r"\bcount(?:ing)?\b|^\W*total\b|"
                    r"\btally\b|\bnumerically\b|\bas\s+a\s+(?:digit|number)\b|\bwith\s+a\s+(?:digit|number)\b",
                    re.IGNORECASE)
_WHICH = re.compile(r"^(?:which|what|who)\b|\bwhich\s+one\b", re.IGNORECASE)
_OF_PAIR = re.compile(r"\bof\b.+\band\b", re.IGNORECASE)  # "the louder of X and Y", "first out of X and Y"
# Two sounds joined by "and", then the question ("between the bell and the knock, which came first?", "the horn and
# the siren: which was louder?", "i heard a bell and a knock, which was first?")
_MALE_OR_FEMALE = re.compile(r"\b(?:male|female)\b.*\bor\b.*\b(?:male|female)\b", re.IGNORECASE)  # "male or female?"
_AND_THEN_WHICH = re.compile(r"^between\b.+\band\b.*\bwhich\b|\band\b[^?]*[,:;\u2013\u2014-]\s*(?:so\s+|but\s+)?which\b",
                             re.IGNORECASE)
# A sound named with where or when it may be heard, and no verb of asking: whether it is there ("a cricket anywhere in
# the clip", "a fire burning rn")
_PRESENCE_MARK = re.compile(r"\b(?:rn|right now|now|at the moment|atm|currently|anywhere|at any point|at some point|"
                            r"at all|earlier|somewhere|going on)\b", re.IGNORECASE)
_TYPE_ASKED = re.compile(r"\b(?:what|which) (?:kind|sort|type|category|genre)s? of (?:audio|recording|soundtrack)\b|"
                         r"\bclassify (?:this|the) (?:audio|recording|clip)\b|"  # "how would you classify this audio?"
                         r"\b(?:what|which) (?:kind|sort|type) of sound is (?:in|on) (?:the|this) "
                         r"(?:clip|recording|audio)\b|"
                         r"\bwhat(?:'s| is) (?:this|the) (?:audio|recording)\b.*\bgeneral|"
                         r"\bgeneral\w*\b.*\bwhat(?:'s| is) (?:this|the) (?:audio|recording)\b",
                         re.IGNORECASE)
_BEFORE_AFTER = re.compile(r"\bbefore\s+or\s+after\b|\bafter\s+or\s+before\b", re.IGNORECASE)
_KIND_WORDS = {
    "speech": r"speech|speaking|talking|talk|voices?|words|spoken|conversation|someone saying|somebody saying|"
              r"vocals?|chatter|chatting|being said|"
              r"(?:a )?(?:person|human)|people|someone|somebody",
    "music": r"music|musical|songs?|tunes?|melody|(?:an )?instruments?",
    "sound": r"noises?|sound effects?|(?:an)?other sounds?|(?:other|different) kind of sound|different sounds?|"
             r"just (?:a )?sounds?|something else|random sounds?",
    "silence": r"silence|silent|quiet|nothing",
}


def _kinds(text: str) -> set[str]:
    """The kinds of sound (speech, music, sound, silence) that `text` names."""
    text = _NOT_A_KIND.sub(" ", text)
    return {k for k, said in _KIND_WORDS.items() if re.search(rf"\b(?:{said})\b", text, re.IGNORECASE)}


# Loudness in words that name kinds of sound ("which one's making less noise", "which is the quiet one")
_NOT_A_KIND = re.compile(r"\b(?:less|more|most|least)\s+(?:noise|sound)\b|\b(?:quiet|loud|soft)(?:er|est)? one\b",
                         re.IGNORECASE)


# What the sound cannot tell, as the training data's unknowable questions ask it (model/data/stems.txt) and in the
# other words people use for each of its kinds: what was said, who someone is, the world beyond the recording,
# what cannot be heard (looks, size, distance, place, smell, sight), why, what someone wants or will do.
_PEOPLE = (r"man|woman|guy|girl|boy|person|announcer|speaker|lady|kids?|child|children|people|voice|caller|narrator|"
           r"singer|crowd|host|teacher|driver|neighbou?r|baby|dude|men|women")
_PERSON = rf"(?:he|she|they|someone|somebody|people|that (?:person|guy|voice)|the (?:{_PEOPLE}))"
_KIN = (r"mom|mum|mother|dad|father|wife|husband|son|daughter|brother|sister|friends?|boss|neighbou?rs?|kids?|partner|"
        r"roommate|grandma|grandpa|granny|grandmother|grandfather|uncle|aunt|auntie|cousin|nan")
_UNKNOWABLE = re.compile("|".join([
    # what someone said or what it means, asked of anyone ("what did my mom say on the voicemail", "what's the radio
    # saying", "what does the siren mean"); one's own life, plans and things; what caused it; makes, tastes, fingers
    r"\bwhat(?:'s| (?:did|does|do|is|was|are|were)) (?:the|my|our|your|that|this|his|her) (?:\w+ ){1,4}?"
    r"(?:say|said|saying|shouting|yelling|whispering|mean|means|meant)\b|\bmeaning of\b|\bwords of\b",
    r"\b(?:my|our) (?:plans?|calendar|schedule|keys|wallet|glasses|appointments?|agenda|to-?do)\b|"
    r"\bwhere (?:are|is|did i put) my\b|\bwhere did my \w+ go\b|\bthe meeting\b|\bdid i (?:lock|leave|forget|turn "
    r"off|close|shut|unplug)\b|\b(?:put|left) my\b",
    r"\bmake and model\b|\bflavou?r\b|\bwhat(?:'s| is) so funny\b|\bheaded\b|\bhow long until\b|\bnext song\b|"
    r"\bgoing to (?:be|get)\b|\bin love\b|\btelling the truth\b|\bis (?:the )?\w+ lying\b|"
    r"\b(?:sound|seem)s? (?:annoyed|angry|upset|happy|sad|tired|mad|bored|nervous|worried)\b|"
    r"\b(?:is|are) (?:better|worse)\b|\bbetter, this one\b|\bbest way\b|\bwhat caused\b|\bhow many fingers\b",
    rf"\bwhat (?:did|does|do|is|are|was|were) {_PERSON} (?:just )?(?:say|said|saying|talking about|mention|"
    r"mentioned)\b",
    r"\bwhat words\b|\btopic of the conversation\b|\bphone number\b|\baddress (?:she|he|they)\b",
    r"\bwho(?:'s| is| was)? (?:that|this|talking|speaking|singing|at the door|on the phone|the artist)\b",
    r"\bwhose\b|\b(?:his|her|their) name\b|\bname of (?:the|this|that) (?:woman|man|person|song|piece|band|artist|"
    r"album|movie)\b|\bwho (?:sang|wrote)\b|\bwhich album\b|\bwhat (?:song|band|movie|album) is\b",
    r"\bweather\b(?! (?:sound|noise))|\bwhat time is it\b|\bwhat day is it\b|\bwhat(?:'s| is) the date\b|\btomorrow\b|"
    r"\bthe score\b|\bin the news\b|\btemperature\b|\bhow far away\b|\bwhat city\b|"
    r"\bwhere (?:was|is) (?:this|it) recorded\b",
    r"\bwhat colou?r\b|\bhow old\b|\bwhat breed\b|\bwearing\b|\blook like\b|\bwhat brand\b|\bhow tall\b|"
    r"\bwhat(?:'s| is| was) (?:the |their |his |her |its )?(?:exact |rough |approximate )?age\b|\bage of\b|"
    r"\b(?:is|was|are|were) (?:the|that|this|he|she|they) (?:\w+ )?(?:young|old|elderly)\b|"
    r"\bany good\b|\bout of (?:ten|10|five|5)\b|"
    r"\blicen[cs]e plate\b|\bhow much (?:does|did|is)\b.*\bcost\b",
    r"\bwhy (?:is|are|was|were|did|does|do)\b|\bthinking\b",
    # what speech says beyond its sound: its language, its topic, its words
    r"\b(?:what|which) (?:language|accent|dialect)\b|\blyrics\b|\b(?:talking|arguing|chatting|speaking|"
    r"joking|laughing|singing) about\b|\bwhat(?:'s| is| was) (?:being )?said\b|\bwhat(?:'s| is| was) the "
    r"(?:conversation|argument|discussion|call|message) about\b",
    # who, where and when beyond the recording; what cannot be heard; what has not happened yet
    r"\bwho(?:'s| is| was) (?:calling|there|knocking|it)\b|\bwhere (?:am i|are we|are you|is (?:this|that) "
    r"place)\b|\bwhat (?:country|room|building|street|town)\b|\bforecast\b|\bwhat will\b|\bgoing to happen\b|"
    r"\bnext (?:week|month|year)\b|\bwhat (?:model|make) (?:is|of)\b|\bprice\b|"
    r"\bpassword\b|\bfeeling\b",
    # what was said, asked or announced, in other verbs; speech written down or translated
    rf"\bwhat (?:did|does|do|is|are|was|were|'s) {_PERSON} (?:just )?(?:tell|told|telling|ask|asked|asking|announce|"
    r"announced|announcing|whisper|whispered|whispering|yell|yelled|yelling|shout|shouted|shouting|mean|meant|trying "
    r"to (?:say|tell))\b",
    rf"\bwhat {_PERSON} (?:just )?(?:said|says|say|told|asked|meant|means)\b|\bgoing on about\b|\bread (?:out|aloud)\b|"
    rf"\b(?:word|words|number|name)s? {_PERSON} (?:just )?(?:said|says|read|spoke|used)\b|"
    r"\bspell\b(?!\s+(?:it\s+)?out\b)|"
    r"\bwhat (?:did|does|do|is) (?:it|this|that|the \w+) (?:say|said|saying)\b|\btranscri(?:be|pt|ption)\b|\btranslat"
    r"(?:e|ion)\b|\bwhat(?:'s| is| was) the (?:joke|announcement|message|news|story|punchline)\b"
    r"(?! (?:in|of|here|behind the (?:sound|noise))\b)",
    # who someone is: a person, a performer, the people of one's own life
    r"\bwho (?:knocked|called|rang|phoned|came in|left|arrived|sings|sang|composed|performs|performed|recorded)\b|"
    rf"\bwho(?:'s| is| was) the (?:singer|artist|band|composer|{_PEOPLE})\b|"
    rf"\b(?:is|was) (?:that|this|it) (?:(?:my|our|your) )?(?:{_KIN})\b|\b(?:my|our) (?:{_KIN})'s\b|\bwhich of my\b",
    r"\bname (?:the|of the|this|that) (?:artist|band|singer|song|tune|composer|album|movie|film|show|station|"
    r"channel|podcast)\b|\b(?:which|what) (?:composer|artist|band|singer|station|channel|show|programme|program|movie|"
    r"film|episode|podcast)\b|\bwhat(?:'s| is) on (?:the )?(?:tv|radio|television|telly)\b|\bwho won\b",
    # what cannot be heard: size, weight, looks, makes, distance and direction, place, what is written or seen
    r"\bhow (?:big|small|large|tall|short|heavy|far|close|near|fast)\b(?! in(?:to)?\b| along\b)|\bwhat size\b|"
    r"\b(?:upstairs|downstairs|left|right|near|far|close)\s+or\s+(?:upstairs|downstairs|left|right|near|far|close|"
    r"away)\b|"
    r"\b(?:big|small|large|little|tiny|huge|tall|short|young|old)\s+or\s+(?:a\s+)?(?:big|small|large|little|tiny|huge|"
    r"tall|short|young|old)\b|"
    r"\bweigh\b|\bweight\b|"
    r"\bwhat (?:make|model|brand|shape)\b|\bwhich (?:direction|way|side|room|floor|street|city|town|country)\b|"
    r"\bthe address\b|\bbreed\b|\bcolou?rs?\b|\bhow much money\b|"
    r"\bwhere (?:did|does|do|will) (?:he|she|they|it|we|i|the (?!sound|noise)\w+) "
    r"(?:go|went|come|live|put|hide|keep)\b|"
    r"\bwhere (?:is|are|am|was|were) (?:this|we|i|they|he|she|that|the (?!sound|noise)\w+)\b(?! in the)|"
    r"\bwhat does the (?:sign|screen|note|label|message) say\b|\bwritten\b|\b(?:what )?can you see\b|"
    r"\bsmell\w*|\btaste[sd]?\b|\bstink\w*",
    # the recording itself, and the world outside it: when and how it was made, the time, weather and news
    r"\b(?:when|who|how) (?:was (?:this|it) )?recorded\b|\bwhat (?:microphone|mic|device|camera)\b|"
    r"\bwhat (?:time of day|year|month|season)\b|\btoday's date\b|\bthe date\b|\bwhat's the news\b|"
    r"\bis it (?:hot|cold|warm|chilly|freezing|humid|sunny|cloudy|dark|light|daytime|night ?time|morning|evening)\b|"
    r"\bhot outside\b|\bcold in here\b|\bstock\b|\bcost\b",
    # minds, and what has not happened yet
    r"\bwhat (?:does|did|do) (?:he|she|they|it|the \w+) want\b|\bhow (?:does|did|do) (?:he|she|they|the \w+) feel\b|"
    r"\blying\b|\btrying to (?:say|tell)\b|\bwhat happens next\b|"
    r"\bwill (?:it|he|she|they|the \w+) (?:rain|snow|stop|come|do|be|start)\b|"
    r"\bgoing to (?:rain|snow)\b",
    # how someone is or feels, and the state of things, beyond their sound ("is the baby hungry?", "is the door locked?")
    r"\b(?:is|are|was|were|am|does|do|did) (?:he|she|they|it|i|we|you|someone|somebody|anyone|anybody|everyone|"
    r"everybody|everything|things|all|"
    r"(?:the|my|our|that|this) \w+(?: (?!(?:sound|seem|look|feel)s?\b)\w+)?) (?:(?:seem|look|feel)(?:s|ing)? )?(?:so |very |really )?"
    r"(?:hungry|thirsty|happy|sad|angry|mad|upset|tired|sleepy|bored|scared|afraid|worried|hurt|injured|sick|ill|"
    r"okay|ok|alright|lonely|nervous|drunk|married|pregnant|locked|unlocked|full|hot|cold|warm|deep|clean|"
    r"dirty|expensive|cheap|old|new)\b|\bleave (?:the|my) \w+ (?:open|unlocked)\b",
    # what someone does or has beyond its sound: reads, cooks, eats, watches, plans, buys; their job
    rf"\bwhat(?:'s| (?:is|are|was|were|did|does|do)) (?:{_PERSON}|he|she|they|it|the \w+) (?:reading|cooking|eating|"
    r"drinking|"
    r"watching|looking at|planning|writing|buying|holding|ordering|order|ordered|cook|eat|drink|read|watch|plan|"
    r"buy|write)\b|"
    r"\bwhat (?:he|she|they|someone|somebody) (?:ordered|bought|ate|drank|read|wrote|cooked|planned|watched)\b|"
    r"\bfor (?:dinner|lunch|breakfast|supper)\b|\b(?:job|profession|occupation|salary)\b|\bwhat day\b|"
    r"\bhow (?:deep|wide)\b|\bwhat (?:kind|sort|type|make) of (?:car|truck|van|phone|computer|shoes?)\b|"
    r"\bname of (?:the|this|that) (?:street|road|place|town|city|restaurant|shop|store|dog|cat|horse|baby|kid|child|"
    r"boy|girl|show|book|game|company)\b|\b(?:which|what) team\b|\bwho(?:'s| is) winning\b|"
    r"\bhow many\b.*\b(?:live|lives|living|floors|storeys|stories|rooms|years old)\b|"
    r"\bhow long (?:until|till|before) (?:the|my|our) \w+ (?:arrives?|comes?|gets? here|leaves?)\b|"
    r"\bwhat(?:'s|s| is) (?:the|this|that) (?:tv |radio )?(?:show|programme|program|film|movie|song|book|game|street|"
    r"road|restaurant|shop|store|place|town|city|band|podcast|station|channel) called\b",
    # what was said, its gist and its words; who a speaker is by name; a work's title; why, in other words
    r"\bon about\b|\bgist of\b(?! (?:the |this |that |what (?:you|i) )?(?:audio|sounds?|recording|clip|noises?|scene|"
    r"session|hear|heard)\b)|\bexact words\b|\b(?:his|her|their) words\b|\bquote\b|\bdiscuss(?:ed|ing|ion)?\b|"
    r"\bmentioned\b|\binstructions?\b|\bwhat questions?\b|"
    r"\b(?:identify|name) the (?:speaker|person|man|woman|caller|singer|people)\b|\bwhich person\b|"
    r"\b(?:speaker|person|man|woman|guy|girl|caller|singer|dog|cat|baby|kid|child)(?:'s)? (?:called|named)\b|"
    r"\b(?:his|her|their|\w+'s) age\b|\bwhat age\b|\bhow (?:hot|cold|warm|humid)\b|\b(?:weekday|weekend|holiday)\b|"
    r"\bname (?:that|this|the) (?:tune|song|track|piece)\b|\bwhat (?:track|record|tune)\b|\btitle of\b|"
    r"\bwhat (?:game|show|film|movie) is (?:this|that|it)\b|"
    r"\bis (?:the|that|this|it|she|he) (?:\w+ )?(?:red|blue|green|yellow|black|white|grey|gray|brown|pink|purple|orange|"
    r"tall|fat|thin|pretty|ugly|beautiful|handsome|heavy)\b(?! noise)|"
    r"\bhow many (?:legs|wheels|eyes|doors|windows|floors)\b|\breason (?:for|why)\b|\bhow come\b|"
    r"\bwhat (?:made|makes|caused|causes) (?:the |a |him |her |them |it )(?:\w+ )?(?:to )?(?:bark|barking|cry|crying|"
    r"laugh|laughing|scream|screaming|shout|shouting|yell|yelling|stop|start|go off|leave|run)\b|"
    r"\b(?:what|who)\b(?:'s)?(?: \w+){0,3} (?:laughing|shouting|barking|yelling|screaming|staring|looking) at\b",
    # advice, opinion and one's own affairs: what to do, whether a song is good, a parcel or flight, what one did
    r"^(?:(?:so|and|hey|ok|okay)\W+)?(?:should|shall|must) (?:i|we)\b|\bis it (?:safe|ok|okay|a good idea|wise) to\b|"
    r"\bis (?:this|that|it|the \w+) (?:a )?(?:good|bad|nice|great|decent) (?:song|tune|band|singer|idea|one|choice)\b|"
    r"\b(?:is|was) (?:this|that|the) (?:song|tune|track|music|band|singer|singing|piece|album|playing)(?: \w+)? "
    r"(?:good|bad|nice|great|decent|catchy|popular|famous|any good)\b|"
    r"\bwhat (?:does|did|do) (?:that|this|the|those|these) (?:sentence|word|words|phrase|line|lyrics?|sign) mean\b|"
    r"\bmean(?:s|ing)? in (?:english|spanish|french|german|plain english)\b|"
    r"\bmy (?:package|parcel|order|delivery|flight|bus|train|taxi|uber|pizza|food) (?:here|arrived|land|landed|"
    r"come|coming|late|on time|ready)\b|\bdid my (?:package|parcel|order|delivery|flight|bus|train) \w+|"
    r"\bwhat time (?:did|do|should|will) (?:i|we)\b|\bhow much longer\b|"
    r"\bwhat time (?:does|do|will|is) (?:the|my|our|your|this|that) \w+ (?:leave|leaving|arrive|arriving|come|coming|"
    r"depart|departing|open|close|start)\b|\b(?:coming|come) (?:over|round|around|home|back)\b|"
    r"\bwhich (?:neighbou?r|person|kid|child|guy|man|woman|colleague|roommate|flatmate)\b|"
    r"\bdid i (?:leave|turn|switch) (?:the |my )?(?:iron|stove|oven|lights?|heater|heating|hob|straighteners)\b|"
    r"\bis (?:the |my )?(?:iron|stove|oven|hob|heater|heating) (?:on|off|hot)\b|\bready\?*$",
    # what is private: a pin, an email, a name
    r"\bpin(?: code| number)?\b(?! drop)|\be-?mail\b|\bcredit card\b|\bwhat(?:'s| is) (?:his|her|their|its) name\b|"
    r"\b\w+'s name\b",
]), re.IGNORECASE)


# A question that asks for the sounds themselves, to describe, list, tag or name them, in the training data's
# description and tag questions' words (model/data/stems.txt): the sound can always answer it, so it is never refused.
_ASKING = (r"describe|describing|description|keywords?|key words|caption|rundown|(?:walk|talk|run) me through|"
           r"break down|timeline|summari[sz]e|list|tags?|labels?|names?|overview|enumerate|pick out|sum up|recap|"
           r"identify")
_SOUNDS = (r"sounds?|noises?|audio|recording|clip|scene|sound events?|soundscape|(?:what )?you(?:'re| are)? "
           r"hear(?:ing)?")
_OF_SOUND = re.compile(rf"\b(?:{_SOUNDS})\b", re.IGNORECASE)  # a question that speaks of the sound itself
# What went on, or which of a kind of sound it is ("what happened in the last hour", "fill me in", "what am I listening
# to", "what bird is singing", "which instrument is that"): the sound can always answer it
_OF_EVENTS = re.compile(r"\bwhat (?:(?:has |had )?happened|went on|has gone on|have i missed|did i miss|"
                        r"am i listening|are we listening|is (?:that|this) i(?:'m| am) hearing)\b|"
                        r"^(?:fill me in|catch me up|update me|bring me up to speed)\b|"
                        r"^(?:(?:do you know|can you tell(?: me)?|could you tell(?: me)?|any idea|tell me) )?"
                        r"(?:what|which)(?:'s| is| was)?(?: kind of| sort of| type of)? (?:animal|creature|bird|"
                        r"vehicle|instrument|genre|tool|weapon|machine|appliance|alarm|engine)\b", re.IGNORECASE)
_ASKS_SOUNDS = re.compile(rf"\b(?:{_ASKING})\b.*\b(?:{_SOUNDS})\b|\b(?:{_SOUNDS})\b.*\b(?:{_ASKING})\b|"
                          r"\b(?:which|what) (?:sounds|noises)\b|\bsoundscape\b", re.IGNORECASE)
# A request for a description that names nothing else ("give me a summary", "summarize", "a quick recap please"): in
# a session that listens, what else is there to describe but the sound.
_DESCRIBE_ALONE = re.compile(r"^(?:(?:can|could|would|will) (?:you|u) |please |just )*(?:give me |gimme |get me )?"
                             r"(?:a |an |the )?(?:quick |short |brief |little |fast )?"
                             r"(?:summary|summari[sz]e|recap|rundown|overview|gist|description|describe|"
                             r"sum (?:it|things|that|everything) up)(?: (?:please|pls|thanks|thx))?[?.!]*$",
                             re.IGNORECASE)
# A short question asking when ("timestamp of the bark?", "when the alarm?"): a time, not whether
_SHORT_WHEN = re.compile(r"\b(?:when|time ?stamps?|timing|what time|how long|ago)\b", re.IGNORECASE)
# A short question with no verb before what it asks about ("loud in here?", "all quiet?", "noise outside?", "something
# moving out there?"): whether it is so, as a question naming a sound ("dog barking?") is; the sounds alone ("sounds?",
# "noises?") ask which, and "anything ...?" asks what was heard, as the training data answers it.
_SHORT_YES_NO = re.compile(r"^something\b|\b(?:quiet|silent|silence|still|loud|noisy|noise|sound|racket|"
                           r"din|commotion)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Form:
    """What a question asks for: the answers to choose from, or (an open question) answers it may not be."""

    kind: str  # listed, refusal, type, count, yesno, named, open
    answers: tuple[str, ...] = ()
    banned: tuple[str, ...] = ()
    unwanted: Shape | None = None  # an open answer's shape the question does not ask for (model/shapes.py)
    ask: str = ""  # the question the language model reads instead, in its training wording ("" for the one asked)
    stream_ask: str = ""  # the same, where the recording is a long stream (model.tags.Tags.stream): "" for `ask`
    scored: tuple[str, ...] = ()  # the answers as the language model scores them after `ask` (() for `answers`)


def asked_form(question: str) -> Form | None:
    """The form `question` asks for by its words (module docstring), or None when no rule reads it."""
    answers = stated_answers(question)
    if answers in (YES_NO, TRUE_FALSE):  # "can you hear a piano? answer yes or no", "true or false: a dog barks"
        return Form("listed", answers, **_presence_asked(question))
    if answers:
        options = [text for _, text in labelled_options(question)]
        return Form("listed", answers, **_options_asked(question, options)) if options else Form("listed", answers)
    options = unlabelled_options(question)
    if options:
        return Form("listed", tuple(options), **_options_asked(question, options))
    text = " ".join(question.split())
    plain = text.replace("\u2019", "'")
    if (_UNKNOWABLE.search(plain) or _WHO_OR_WILL.search(_FILLER.sub("", plain))) and not _between_sounds(text):
        return Form("refusal", (REFUSAL,))
    bare = _FILLER.sub("", text)
    words = _words_after_filler(text)
    embedded = _INDIRECT.match(bare)
    indirect = bool(embedded) and not _QUESTION_WORD.search(embedded.group(1)) and not _COUNT.search(text)
    if indirect:
        words = normalize(embedded.group(2)).split()  # "tell me if there was rain": asked as "was there rain?"
    yes_no = indirect and bool(words) or _yes_no_question(text, words) or bool(_TAGGED_YES_NO.search(text))
    existence = yes_no and _existence(words) and not _WHICH_FIRST.search(text)  # "did you hear X or Y first?"
    alternatives = bool(_ALTERNATIVES.search(text))
    paired = bool(_AND_THEN_WHICH.search(bare))  # "between the dog and the rain, which was first?"
    between = alternatives or paired or bool(_OF_PAIR.search(text))  # "the dog or the rain"; "the louder of X and Y"
    if _TYPE_ASKED.search(text) and not class_mentions(text):  # "what kind of audio is this?"
        return _type(text)
    if _BEFORE_AFTER.search(text):  # "was the dog before or after the rain?"
        return Form("listed", BEFORE_AFTER)
    named = _narrowest(class_mentions(text)) if between else ()
    if _MALE_OR_FEMALE.search(text):  # "is the person male or female?", "a male or female voice?"
        named = ("male speech", "female speech")
    kinds = _kinds(text)
    choice = bool(_OR_IS_IT.search(text))  # "is someone speaking or is it music": a choice, not whether either is there
    of_kind = len(kinds) >= 2 and alternatives and (not existence or choice or len(kinds) >= 3 or "sound" in kinds)
    if of_kind and (kinds & {"sound", "silence"} or set(named) <= {"speech", "music"}):
        return _type(text)  # "speech, music or another sound?"
    if len(named) >= 2 and (_WHICH.search(bare) or paired):  # "which was louder, the dog or the rain"
        return _named(text, named)
    if _HOW_LONG_QUIET.search(bare) or _WENT_QUIET.search(bare):
        # "how long has it been quiet?", "when did it go quiet?": a span, or that it isn't or has been all along
        return Form("open", banned=BARE + (REFUSAL,), unwanted=NOT_A_QUIET_SPAN,
                    ask="" if class_mentions(text) else QUIET_ASKED)  # "how long since the dog barked?" keeps its words
    if _WHEN_FIRST.match(bare):  # "when did the dog bark?", "how long ago was that?": a time
        return Form("open", banned=BARE + (REFUSAL,), unwanted=NOT_A_TIME)
    if _COUNT.search(text):
        return Form("count", COUNTS)
    if yes_no and (not alternatives or existence) and not (choice and len(named) >= 2):
        # "did someone scream or was it a bird?" is a choice between the two, not whether someone screamed
        return Form("yesno", YES_NO, **({} if alternatives else _presence_asked(text)))
    if len(named) >= 2:  # "was that a cow or a goat?", "dog first or rain first?"
        return _named(text, named)
    if of_kind:
        return _type(text)
    said = _said_alternatives(bare) if alternatives else []
    if said:  # "is it a plane or a helicopter?": one of them, as said
        return Form("listed", tuple(said), **_bare_scored(said))
    question_word, request = bool(_QUESTION_WORD.search(text)), bool(_REQUEST.match(bare))
    asks_sounds, describe_alone = bool(_ASKS_SOUNDS.search(text)), bool(_DESCRIBE_ALONE.match(bare))
    asks_when = bool(_ASKS_WHEN.search(text))
    short = text.endswith("?") and len(words) <= 6 and not question_word and not alternatives and not request
    if _TAGS_ALONE.match(bare):  # "tags?", "labels please"
        return Form("open", banned=BARE + (REFUSAL,), unwanted=TIME_OR_NOTHING, ask=TAGS_ASKED)
    if short and _SHORT_WHEN.search(text) and class_mentions(text):  # "timestamp for the explosion?": a time
        return Form("open", banned=BARE + (REFUSAL,), unwanted=NOT_A_TIME)
    if short and not _SHORT_WHEN.search(text) and (class_mentions(text) or _SHORT_YES_NO.search(" ".join(words))
                                                   and not asks_sounds and not asks_when):
        return Form("yesno", YES_NO)  # "dog barking?", "hear any birds?", "loud in here?"
    plain_words = not question_word and not request and not alternatives
    if plain_words and len(words) <= 10 and _PRESENCE_MARK.search(text) and (class_mentions(text)
                                                                              or GROUP_WORDS.search(text)):
        return Form("yesno", YES_NO, **_presence_asked(text))  # "a cowbell somewhere", "a fire burning rn"
    sounds = asks_sounds or describe_alone
    of_sound = bool(_OF_SOUND.search(text))  # "the sounds, please", "jot down the sounds": about the sound too
    if question_word or request or alternatives and yes_no or sounds or of_sound:
        # "is the sound loud or soft?" is not answered "yes" either, nor "what was that?" by a bare time, nor
        # "list the sounds" or "what's that noise" by the refusal: what the sound cannot tell is read above, and a
        # question that speaks of the sound itself asks what it can, but where it comes from
        about_sound = sounds or of_sound and not re.match(r"where\b", bare, re.IGNORECASE) or bool(
            _OF_EVENTS.search(bare))
        end, keywords = _end_asked(text), _tags_asked(text)
        return Form("open", banned=BARE + ((REFUSAL,) if about_sound else ()),
                    unwanted=NOTHING if asks_when and (re.match(r"how\b", bare, re.IGNORECASE)
                                                      or not _TELLS_SOUNDS.search(text)) else TIME_OR_NOTHING,
                    ask=DESCRIBE_PROMPT if describe_alone else end or _one_word_asked(text) or keywords,
                    stream_ask="" if describe_alone or end or keywords else _just_asked(text))
    return None


# What kind of sound, as the training data asks it of a whole recording; a question about one moment of it ("was
# the sound at 3 s speech or music?", "is the first sound a voice?") keeps its own words.
KIND_ASKED = "Is this speech, music, another sound, or silence?"
_ONE_MOMENT = re.compile(r"\d|\b(?:first|last|start|end|beginning|begin|began|earlier|before|after|then|later|"
                         r"background|second|seconds|minute|minutes)\b", re.IGNORECASE)


def _type(text: str) -> Form:
    """Speech, music, another sound or silence: read by the language model as training asks it of a recording."""
    return Form("type", TYPES, ask="" if _ONE_MOMENT.search(text) else KIND_ASKED)


# What one sound is ("what was that?", "what's making that noise?", "identify this sound", "what's responsible for
# that noise"): in a long stream, asked as the training streams ask about the sound just heard. A question that names
# a kind ("which animal was that?") keeps its words, which the training words would lose.
JUST_ASKED = "What was that sound just now?"
_SOUND_NOUN = r"sound|noise|racket|thing|kind of (?:noise|sound)|sound (?:event|class|source)|type of sound(?: event)?"
_IDENTIFIES = re.compile(
    rf"\b(?:what|which)(?:'s|s|\s+(?:is|was))?(?:\s+(?:exactly|on earth|the heck|the hell|in the world))?\s+"
    rf"(?:is\s+|was\s+)?(?:that|this|it)\b(?!\s+(?:doing|saying|about|for|mean|means))|"
    rf"\b(?:what|which)\s+(?:{_SOUND_NOUN})\s+(?:is|was|'s|made|makes|do|did|can|could|are|am|does|would|might|appears|"
    rf"is making|was making|(?:that|this|it) (?:is|was)|(?:you|we|i) (?:hear|heard|can hear)|"
    rf"(?:we|you|i)'?(?:re|m| are| am) hearing)\b|"
    rf"\b(?:what|which)(?:'s|s|\s+is|\s+was) the (?:{_SOUND_NOUN})\s*(?:[?.!]|$|source\b|in\b)|"
    rf"\b(?:that|this|the) (?:sound|noise|racket) (?:is|was)\b|"
    rf"\b(?:identify|name|id|recogni[sz]e|classify)\b(?:\s+\w+){{0,3}}?\s+(?:{_SOUND_NOUN}|that|this|it)\b|"
    rf"\bwhat(?:'s|s|\s+is|\s+was|\s+could be|\s+might be|\s+just|\s+on earth just)?\s+(?:making|made|causing|caused|"
    rf"producing|produced|produces|responsible for)\s+(?:that|this|the)\s+(?:sound|noise|racket)\b|"
    rf"\b(?:source|cause|origin) of (?:that|this|the) (?:sound|noise)\b|\bwhat just happened\b|"
    rf"\b(?:most recent|latest) (?:sound|noise)\b|"
    rf"\b(?:sound|noise|that) (?:you heard |i heard )?(?:a (?:moment|second) ago|just now)\b|"
    rf"\bwhat (?:am i|are we|did i just|did you just|did the mic just) (?:hearing|hear|pick up)\b", re.IGNORECASE)
# the kinds that the training's questions about one sound name ({cat}), and birds
_OF_A_KIND = re.compile(r"\b(?:bird|" + "|".join(sorted({n for ns in CAT_NOUNS.values() for n in ns}, key=len,
                                                         reverse=True)) + r")\b", re.IGNORECASE)
_NOT_ONE_SOUND = re.compile(r"\b(?:sounds|noises|every|each|everything|all|happening|going on|when|how|where|why|"
                            r"first|last|final|start|starts|started|begin\w*|open(?:s|ed)? with|end(?:s|ed|ing)?|"
                            r"finish\w*|loud\w*|quiet\w*|general\w*|overall|"
                            r"in the (?:last|past)|over the (?:last|past)|"
                            r"\d+\s*(?:s|secs?|seconds?|mins?|minutes?)|"
                            r"(?:few|several|two|three|five|ten|twenty|thirty) (?:seconds|minutes))\b", re.IGNORECASE)


def _just_asked(text: str) -> str:
    """JUST_ASKED for a question about what one sound is, asked of a long stream; "" for any other question, or
    one that names a sound ("what is the dog doing?"), a kind of sound the training words would lose ("which
    vehicle is that?") or asks about more than the sound just heard."""
    if (not _IDENTIFIES.search(text) or _NOT_ONE_SOUND.search(text) or _OF_A_KIND.search(text)
            or class_mentions(text)):
        return ""
    return JUST_ASKED


# When it went quiet, as the training data's "how long ago was the last sound" asks it ("when did it go quiet?",
# "when did you last hear anything?"): how long it has been quiet.
_WENT_QUIET = re.compile(r"\bwhen (?:did|has|had|was) (?:it|things|everything|the room|the place|all|the house) "
                         r"(?:go|gone|get|got|become|turn|fall|went) (?:quiet|silent|still)\b|"
                         r"\bwhen (?:was|did) (?:the |you )?last (?:sound|noise|hear)\b|"
                         r"\bwhen (?:did|was) the last (?:time|thing) (?:you|i) heard\b|"
                         r"\bwhen did (?:the |all )?(?:sounds?|noises?|everything) stop\b|"
                         r"\bwhen was the last time you heard (?:anything|something|a sound|a noise)\b", re.IGNORECASE)

# Who someone is, and what is yet to come, asked with the question word first ("who's playing the piano?", "any
# idea who came in?", "will the baby wake up?", "when will the train come?").
_WHO_OR_WILL = re.compile(r"^(?:(?:do you know|any idea|can you tell(?: me)?|tell me|guess|i wonder)\s+)?"
                          r"(?:who|whose|whom|who's|will (?!you\b))\b|\b(?:when|what|where|who|how) will\b",
                          re.IGNORECASE)


# Whether something is so, asked indirectly: "tell me if ...", "i wonder whether ...", "let me know if ...", "i'd like
# to know if ...", "check whether ...", "not sure if ..."; group 1 is what comes before "if", group 2 the clause
_INDIRECT = re.compile(r"^(.{0,40}?\b(?:know|tell(?: me| us)?|check|see|sure|wonder(?:ing)?|find out|confirm|"
                       r"curious|say|ask(?:ing)?))\s+(?:if|whether)\s+(.+)$", re.IGNORECASE)


def _between_sounds(text: str) -> bool:
    """Whether `text` offers two or more of our sounds to choose between ("who is talking, a man or a woman?"),
    which the sound can tell even where the words alone would ask what it cannot ("who")."""
    return bool(_ALTERNATIVES.search(text)) and len(class_mentions(text)) >= 2


# A question about when, as the training data and people ask it ("when did ...", "at what second", "give me
# the time of ...", "the timestamp", "where in the clip", "how long ago"): only it may be answered by a bare time.
_ASKS_WHEN = re.compile(r"\b(?:when|time|times?tamp|timing|second|seconds|moment|point|ago|since|how long|where in|"
                        r"begins?|start(?:s|ed)?|onset|locate|at what|at which)\b", re.IGNORECASE)
# A question for the sounds, with their times or not ("what happens, and when?", "describe the sounds with
# timestamps"): a bare time is never its whole answer.
_TELLS_SOUNDS = re.compile(r"\b(?:describe|timeline|walk me through|run me through|narrat\w*|annotat\w*|chronicle|"
                           r"play-by-play|(?:log|list|report) of (?:the )?(?:sound )?events|(?:each|every|all(?: the)?) (?:sound )?events?|"
                           r"what occurs|what(?:'s| is) in (?:here|this)|"
                           r"what (?:happens|happened|sounds|"
                           r"noises|do you hear|did you hear|you hear|can you hear|is going on|was going on)|"
                           r"which (?:sounds|noises)|(?:list|name) (?:the|all|each|every)|each sound|every sound)\b",
                           re.IGNORECASE)
# The question the language model reads instead, where the rules read a kind they can write in the words training
# asked it in most (model/data/tasks.py, stems.txt): which of two sounds came first or is louder or quieter, the first
# or last sound, how long it has been quiet, options that each name a sound, whether a sound is there. The answers
# allowed, and what the tags add, still follow the question asked.
QUIET_ASKED = "How long has it been quiet?"
FIRST_ASKED = "What is the first sound?"
LAST_ASKED = "What is the last sound?"
_EARLIER = re.compile(r"\b(?:first|earlier|earliest|sooner|before|preced\w*|opening|began|starts? off)\b", re.IGNORECASE)
_LATER = re.compile(r"\b(?:last|later|latest|final|after|afterwards|ended|ending|closing|second|next)\b", re.IGNORECASE)
_LOUDER = re.compile(r"\b(?:louder|loudest|noisier|noisiest)\b|\bmore loud(?:ly)?\b", re.IGNORECASE)
_QUIETER = re.compile(r"\b(?:quieter|quietest|softer|softest|fainter|faintest)\b|\bless loud\b", re.IGNORECASE)
_FIRST_SOUND = re.compile(r"\b(?:first|earliest|opening|initial)\b|"
                          r"\b(?:kick|start|set)(?:ed|s)? (?:things|it|everything|the whole thing|it all) off\b|"
                          r"\b(?:start(?:ed|s)?|open(?:ed|s)?|began|begins) (?:the|this) (?:recording|clip|audio)\b",
                          re.IGNORECASE)
_LAST_SOUND = re.compile(r"\bmost recent\b|"
                         r"\b(?:last|final|closing)\b(?! (?:\d+|few|couple|one|two|three|five|ten|fifteen|twenty|"
                         r"thirty|sixty|minutes?|seconds?|hours?|while|night|week|time|bit)\b)|"
                         r"\b(?:end(?:ed|s)?|close[ds]?|finish(?:ed|es)?) (?:the|this) (?:recording|clip|audio)\b|"
                         r"\bat the (?:very )?end\b", re.IGNORECASE)
_NOT_ORDER = re.compile(r"\b(?:in|over|during|within|for|from) the (?:last|past|previous)\b|"
                        r"\b(?:when|time|how|since|many|much)\b", re.IGNORECASE)


def _named(text: str, named: tuple[str, ...]) -> Form:
    """A choice between the sounds a question names, asked of the language model in the training wording of which
    of two came first, or is louder or quieter, where it asks that. Training never asked which came later: that
    is asked as which came first, and the other sound said ("which came last, the dog or the rain?" -> the rain,
    where the dog came first)."""
    if len(named) != 2:
        return Form("named", named)
    a, b = named
    earlier, later = bool(_EARLIER.search(text)), bool(_LATER.search(text))
    louder, quieter = bool(_LOUDER.search(text)), bool(_QUIETER.search(text))
    first = f"Which came first, the {a} or the {b}?"
    if earlier != later and not (louder or quieter):
        return Form("named", named, ask=first) if earlier else Form("named", (b, a), ask=first, scored=named)
    if louder != quieter and not (earlier or later):
        return Form("named", named, ask=f"Which is {'louder' if louder else 'quieter'}, the {a} or the {b}?")
    return Form("named", named)


def _options_asked(question: str, options: list[str]) -> dict:
    """A question that lists two to four sounds to choose from, each naming one of our classes and no two the same,
    in the training data's multiple-choice words ("Which of these sounds can you hear? A) dog B) rain"; the odd one
    out's, where it asks which is not there): {"ask": ..., "scored": ("A) dog", ...)}, or {} for any other."""
    names = []
    for option in options:
        said = class_mentions(option)
        names.append(SILENCE if normalize(option) in _SILENT_OPTIONS else said[0] if len(said) == 1 else None)
    if not 2 <= len(options) <= len(LETTERS) or None in names or len(set(names)) < len(names):
        return {}
    scored = tuple(f"{LETTERS[i]}) {name}" for i, name in enumerate(names))
    stem = ABSENT_STEMS[0] if _NEGATED.search(question) else "Which of these sounds can you hear?"
    return {"ask": f"{stem} {' '.join(scored)}", "scored": scored}


_SILENT_OPTIONS = frozenset({"silence", "nothing", "quiet", "no sound", "none", "silent", "nothing at all"})


def _presence_asked(question: str) -> dict:
    """A question or statement of whether one of our sounds is there and no more ("any chance there's a dog?",
    "true or false: you can hear rain"), in the training data's words: "Do you hear a dog?", or "Did you hear a
    dog?" in the past tense ({"ask": ..., "scored": ("yes", "no")}); {} for any other, one that asks how often,
    in what order or how loud, or names two sounds or none."""
    from .tags import asked_groups

    named = class_mentions(question)
    if len(named) != 1 or _MORE_THAN_THERE.search(question) or _NEGATED.search(question) or \
            _ALTERNATIVES.search(_YES_NO.sub("", _TRUE_FALSE.sub("", question))) or asked_groups(question):
        return {}
    from .data.wording import cached_phrases

    label = named[0]
    p = cached_phrases().get(label)
    art = p.article() if p else ""
    verb = "Did" if _PAST.search(question) and not _JUST.search(question) else "Do"
    return {"ask": f"{verb} you hear {art + ' ' if art else ''}{label}?", "scored": YES_NO}


# One word asked for in other words than the training data's "in one word" ("in a single word", "a one-word answer")
_ONE_WORD = re.compile(r"\b(?:in|with|using|as) (?:a )?(?:single|one|1)[- ]word(?: answer| reply)?\b|"
                       r"\b(?:a |one )?(?:single|1)[- ]word (?:answer|reply|only|please)\b", re.IGNORECASE)


def _one_word_asked(text: str) -> str:
    """The question with its request for one word in the training data's words ("... in one word"); "" when it
    asks for none in other words."""
    asked = _ONE_WORD.sub("in one word", text)
    return asked if asked != text else ""


_TAGS_ALONE = re.compile(r"^(?:(?:the|any|some|your|sound|audio)\s+)*(?:tags|labels|keywords|hashtags)"
                         r"(?:\s+(?:please|pls|thanks))?\s*[?.!]*$", re.IGNORECASE)
_KEYWORDS = re.compile(r"\b(?:keywords?|key words|hashtags?)\b", re.IGNORECASE)
TAGS_ASKED = "list the sounds"  # a tag question's training wording


def _tags_asked(text: str) -> str:
    """A request for keywords or hashtags of the sound ("give me 3-5 keywords describing the audio") in the training
    data's words for tags; "" for any other question, or one that names a sound."""
    return TAGS_ASKED if _KEYWORDS.search(text) and not class_mentions(text) else ""


def _end_asked(text: str) -> str:
    """The training wording of an open question for the first or the last sound ("what kicked things off?",
    "what's the very last thing you heard?"); "" for any other open question."""
    if class_mentions(text) or _NOT_ORDER.search(text):
        return ""
    first, last = bool(_FIRST_SOUND.search(text)), bool(_LAST_SOUND.search(text))
    return FIRST_ASKED if first and not last else LAST_ASKED if last and not first else ""


_IS_IT = re.compile(r"^(?:is|was|are|were)\s+(?:it|this|that|they|these|those)\s+(.+?)[?.!]*$", re.IGNORECASE)


# A question of what happened, ending in two words joined by "or" ("did it thunder once or twice?"): the two (one of
# how a thing is, "is the sound loud or soft?", stays open)
_ENDS_WITH_OR = re.compile(r"^(?:did|does|do|has|have|had|will|would|can|could)\b.*?\s([a-z'-]+)\s+or\s+"
                           r"([a-z'-]+)[?.!]*$", re.IGNORECASE)
_NOT_AN_ALTERNATIVE = re.compile(r"(?:a|an|the|in|at|of|to|it|this|that|there|here|and|not|either)$", re.IGNORECASE)
# Alternatives alone ("police or ambulance?", "a cow or a goat"): no question word or verb before them.
_BARE_OR = re.compile(r"^(?!(?:is|was|are|were|do|does|did|can|could|will|would|has|have|had|what|which|who|how|when|"
                      r"where|why)\b)([^?:]+?\bor\b[^?:]+?)[?.!]*$", re.IGNORECASE)


def _said_alternatives(bare: str) -> list[str]:
    """The alternatives of "is it X or Y?" ("was that a cow, a goat or a sheep"; without filler), of
    alternatives alone ("police or ambulance?") or of two words ending a question of what happened ("did the door
    open or close?"), as written; [] for any other question or when one is long."""
    m = _IS_IT.match(bare) or _BARE_OR.match(bare)
    if not m:
        m = _ENDS_WITH_OR.match(bare)  # "did it thunder once or twice?", "did the door open or close?"
        return [m.group(1), m.group(2)] if m and not _NOT_AN_ALTERNATIVE.match(m.group(1)) else []
    items = [x.strip(" ,") for x in re.split(r",|\bor\b", m.group(1)) if x.strip(" ,")]
    return items if len(items) >= 2 and all(len(x.split()) <= 4 for x in items) else []


# A word before a sound's name that the language model never says in an answer ("a plane", "the doorbell", "my phone")
_DETERMINER = re.compile(r"^(?:a|an|the|some|my|your|our|his|her|their)\s+(?=\S)", re.IGNORECASE)


def _bare_scored(said: list[str]) -> dict:
    """Alternatives as the language model scores them: without a leading article or possessive, which its
    answers never have and whose unlikely first token would decide the choice ("a plane" over "a helicopter"
    while a helicopter flies over); {} where none has one, or where two would become the same."""
    bare = [_DETERMINER.sub("", x) for x in said]
    if bare == said or len({normalize(x) for x in bare}) < len(bare):
        return {}
    return {"scored": tuple(bare)}


# Where a remark or a leading phrase ends and the question may begin: a comma, dots, a sentence's end, a dash
_CLAUSE_END = re.compile(r",|\.{2,}|\u2026|[.;:!?](?=\s)|\s[-\u2013\u2014]+\s")


def _words_after_filler(text: str) -> list[str]:
    """The words of a question from its verb: without filler ("hey, ...") or a leading phrase or remark ("over
    the whole session, did ...", "hoo hoo... is that an owl", "so loud today. was that thunder?") where an
    auxiliary verb follows it."""
    text = _FILLER.sub("", text.strip().lower())
    for end in _CLAUSE_END.finditer(text):
        if _QUESTION_WORD.search(text[:end.start()]):
            break
        after = normalize(_FILLER.sub("", text[end.end():])).split()
        if after and after[0] in AUXILIARIES:
            return after
    return normalize(text).split()


_RELATIVE_WHAT = re.compile(r"\b(?:is|was) (?:that|this) what\b", re.IGNORECASE)  # "is that what you hear?"


def _yes_no_question(text: str, words: list[str]) -> bool:
    """An auxiliary verb first ("did someone ...") or an existence question ("anyone there?", "any dogs
    around?"), with no question word and not a request ("can you describe ..."); `words` are
    `_words_after_filler(text)`."""
    if not words or _QUESTION_WORD.search(_RELATIVE_WHAT.sub("", text)) or _REQUEST.match(" ".join(words)):
        return False
    if words[0] in ("you", "u") and len(words) > 1:  # "you hearing a dog?"
        return words[1].endswith("ing") or words[1] in ("hear", "heard", "hearin", "notice", "noticed")
    if words[0] in ("any", "anything"):  # "any dogs?", "any animals?" ask yes or no; "anything happen?" what happened
        return bool(class_mentions(text)) or words[0] == "any" and bool(GROUP_WORDS.search(text))
    return words[0] in AUXILIARIES or words[0] in SOMEONE_FIRST


# The groups of sounds a yes/no question may ask about without naming one (model/data/questions.py, TARGETS), in
# more words than tags.GROUPS, which reads only the groups it has a block of YAMNet's rows for
GROUP_WORDS = re.compile(r"\b(?:animals?|critters?|wildlife|creatures?|humans?|people|persons?|vehicles?|cars?|"
                         r"traffic|music|voices?|talking|speech)\b", re.IGNORECASE)


def _existence(words: list[str]) -> bool:
    """Whether a yes/no question (its `_words_after_filler`) asks if something is there ("is there ...",
    "did you hear ...", "any ..."): then "X or Y" names what is asked about rather than alternatives to
    choose from."""
    if len(words) < 2:
        return False
    if words[0] in SOMEONE_FIRST or words[0] in ("you", "u", "any", "anything"):
        return True
    rest = " ".join(words[1:3])
    return rest.startswith(SOMEONE) or re.match(r"(?:you|u) (?:hear|notice|detect|catch|pick)", rest) is not None


@lru_cache(maxsize=1)
def _phrase_classes() -> tuple[dict[str, str], int]:
    """Every plain way phrases.tsv names a class ("a barking dog" -> dog, "rain" -> rain), lower case and
    without its article, where it names one class only; and the most words one of them has. A noun phrase
    (or a subject with its verb, "a dog barking") names its class and no other, so it is read over a bare
    verb that other classes' subjects share ("talking" is speech, though "a computer talking" is the
    speech synthesizer's); a bare verb only its own classes share ("buzzing": a bee, a mosquito) names none."""
    from .data.wording import cached_phrases

    nouns: dict[str, set[str]] = {}
    verbs: dict[str, set[str]] = {}
    for name, p in cached_phrases().items():
        for claims, said in ((nouns, [name, *p.nouns, *(f"{a.subj} {a.verbing}" for a in p.actions)]),
                             (verbs, [a.verbing for a in p.actions])):
            for s in said:
                key = re.sub(r"^(?:a|an|the|some|someone|somebody)\s+", "", s.lower()).strip()
                for k in {key, key + "s", s.lower()}:
                    if k:
                        claims.setdefault(k, set()).add(name)
    table = {k: next(iter(v)) for k, v in verbs.items() if len(v) == 1 and k not in nouns}
    table.update({k: next(iter(v)) for k, v in nouns.items() if len(v) == 1})
    return table, max(len(k.split()) for k in table)


def _narrowest(named: tuple[str, ...]) -> tuple[str, ...]:
    """The sounds to choose between without one that others narrow down ("who is talking, a man or a woman?" is
    male or female speech, not speech): a class whose name another's ends with is left out."""
    return tuple(c for c in named if not any(o != c and o.endswith(" " + c) for o in named))


@lru_cache(maxsize=4096)  # asked_form reads the sounds of one question in several of its rules
def class_mentions(text: str) -> tuple[str, ...]:
    """The classes a text names (phrases.tsv), each once, in the order first named; the longest phrase wins."""
    table, longest = _phrase_classes()
    words = re.findall(r"[a-z0-9'-]+", text.lower())
    found: list[str] = []
    i = 0
    while i < len(words):
        for n in range(min(longest, len(words) - i), 0, -1):
            name = table.get(" ".join(words[i:i + n]))
            if name is not None:
                if name not in found:
                    found.append(name)
                i += n
                break
        else:
            i += 1
    return tuple(found)


# --------------------------------------------------------------- what the branch tagged

HEARD_WEIGHT = 0.5  # of the tags' log-odds against the LM's log-probabilities: chosen over 0-4 by two-fold
# cross-validation on recordings of sources the model never heard, the folds split by source package (docs/RESULTS.md)
OWN_WEIGHT = 1.0  # of the presence head's log-odds (model/presence.py), chosen as HEARD_WEIGHT was (docs/RESULTS.md)
_NEGATED = re.compile(r"\b(?:(?<!\bor )not|isn't|wasn't|weren't|aren't|absent|missing|odd one|never)\b", re.IGNORECASE)
_MORE_THAN_THERE = re.compile(r"\b(?:\d+|once|twice|thrice|times?|two|three|four|five|count|total|before|after|first|"
                              r"last|louder|quieter|softer|more|less|than|longer|shorter|started?|stopped|ended?|again|"
                              r"both|and)\b",
                              re.IGNORECASE)
# Which of the sounds named came first or is louder: the presence head, which says only whether a sound is there,
# has no say (read there, it took the trained wording's loudness questions from 0.77 to 0.68 right).
_ORDER_OR_LEVEL = re.compile(r"\b(?:first|last|before|after|earlier|later|louder|quieter|softer|loudest|quietest|"
                             r"longer|shorter|started|stopped|ended)\b", re.IGNORECASE)
_PAST = re.compile(r"\b(?:did|was|were|has|have|had|ever|earlier|so far|at any point|all along|at all)\b",
                   re.IGNORECASE)
_JUST = re.compile(r"\b(?:that|this|just|now|currently|still|at the moment)\b", re.IGNORECASE)  # "was that a dog?"
_LAST_HEARD = re.compile(r"\bthe (?:very )?(?:last|latest|most recent) (?:thing|sound|noise)\b", re.IGNORECASE)


def asked_scores(question: str, tags) -> Tensor:
    """(521 + len(tags.own),) the tags a question about one stream (model.tags.Tags, batch 1) reads: in a stream (`Tags.stream`,
    longer than LONG_SCENE_S), the last ten seconds' for the present, what was just heard or the last sound heard
    ("what was the last thing you heard?"), else all it has heard."""
    from .tags import RECENT_COLUMNS

    recent = tags.stream and (_JUST.search(question) or _LAST_HEARD.search(question) or not _PAST.search(question))
    return tags.last(RECENT_COLUMNS)[0] if recent else tags.ever[0]


def heard_priors(form: Form, question: str, tags, weight: float = HEARD_WEIGHT,
                 own_weight: float = OWN_WEIGHT) -> tuple[float, ...] | None:
    """What the tags (model.tags.Tags of one stream, or None) add to each of the form's answers' log-probabilities
    (module docstring): YAMNet's rows at `weight`, the presence head's at `own_weight`; None when they add nothing."""
    from .tags import asked_evidence, named_evidence, own_evidence, own_rows, own_support

    if tags is None or tags.columns == 0 or form.kind not in ("listed", "named", "yesno"):
        return None
    scores = asked_scores(question, tags)
    negated = bool(_NEGATED.search(question))
    said = [normalize(a) for a in form.answers]
    positive = next((p for p, n in (YES_NO, TRUE_FALSE) if p in said and n in said), None)
    if positive is not None:  # "is there a dog?", "true or false: a dog barks"
        e, o = asked_evidence(scores, question), own_evidence(scores, question, tags.own)
        if e is None and o is None:
            return None
        more = bool(_MORE_THAN_THERE.search(question))  # "twice?": a sound heard is no evidence, one missed is
        side = lambda x: -x if negated else min(x, 0.0) if more else x  # noqa: E731
        e = weight * side(e or 0.0) + own_weight * side(o or 0.0)  # linear in the weights: tools replay them
        return tuple(e if a == positive else 0.0 for a in said)
    if _ORDER_OR_LEVEL.search(question):  # "which was louder, the dog or the rain?": both may well be there
        own_weight = 0.0
    named = [(named_evidence(scores, a), own_rows(a, tags.own)) for a in form.answers]
    if not any(e is not None or own for e, own in named):
        return None
    return tuple((-1 if negated else 1) * (weight * (e or 0.0) + own_weight * own_support(scores, own))
                 for e, own in named)


@dataclass(frozen=True)
class TokenForm:
    """A Form as token ids (end token included, as `prompt.answer_ids` writes an answer), with what the tags
    add to each choice's score (None: nothing)."""

    choices: list[list[int]] | None
    banned: list[list[int]]
    priors: tuple[float, ...] | None = None
    unwanted: Shape | None = None
    asked: str | None = None  # the question the language model reads instead (Form.ask); None: the one asked
    said: list[str] | None = None  # the choices as the question asked says them, where `choices` are scored as
    # the language model read them (Form.scored)


def question_form(tok: Tokenizer, question: str, tags=None) -> TokenForm:
    """The answers `question` may have, as token ids: its closed answers, or the answers it may not be; with
    `tags` (model.tags.Tags of the stream asked about), what they add to each closed answer."""
    question = respelled(question)  # the rules read the words meant; the language model reads them as typed
    form = asked_form(question)
    if form is None:
        return TokenForm(None, [])
    priors = heard_priors(form, question, tags) if form.answers else None
    asked = form.stream_ask if form.stream_ask and tags is not None and tags.stream else form.ask
    return TokenForm([answer_ids(tok, a) for a in form.scored or form.answers] or None,
                     [answer_ids(tok, a) for a in form.banned], priors, form.unwanted, asked or None,
                     list(form.answers) if form.scored else None)
