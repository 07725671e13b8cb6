"""How the model answers the items: each scene heard once, questions decoded in batches, and
multiple choice scored by likelihood (cloze)."""
from __future__ import annotations

import re
import sys
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import torch

from ..answer_forms import TokenForm, question_form
from ..data.tasks import ABSENT_STEMS
from ..generate import choice_scores, generate_batch
from ..naming import feed_bias
from ..prompt import answer_ids, prompt_ids
from ..sam import SAM, heard_again
from ..state import MambaState
from .stats import bits


MCQ_OPTION = re.compile(r"([A-D])\) (.+?)(?= [A-D]\) |$)")


@dataclass
class Item:
    scene: str  # path of the scene's audio
    question: str
    answer: str
    kind: str
    variant: str = ""  # "reordered" for the second option order of a multiple-choice item


FEED = "feed"  # the kind of the items that stand for sam-live's feed (SAM.describe(recent=True))
MARGINS = "margins"  # the variant of a description item whose scene is heard inside digital silence


def mcq_parts(question: str) -> tuple[str, list[str]]:
    """'stem A) x B) y ...' -> (stem, [x, y, ...])."""
    first = question.find(" A) ")
    if first < 0:
        raise ValueError(f"not a multiple-choice question: {question!r}")
    return question[:first], [m.group(2) for m in MCQ_OPTION.finditer(question[first + 1:])]


def reorder(item: Item) -> Item:
    """The same multiple-choice item with its options in reverse order, answer key moved with them."""
    stem, options = mcq_parts(item.question)
    correct = options["ABCD".index(item.answer[0])]
    options = options[::-1]
    text = " ".join(f"{'ABCD'[i]}) {o}" for i, o in enumerate(options))
    return Item(item.scene, f"{stem} {text}", f"{'ABCD'[options.index(correct)]}) {correct}", item.kind, "reordered")


def answer_items(model: SAM, items: list[Item], read, batch_size: int, max_new_tokens: int,
                 on_heard: Callable[[list[int], MambaState], None] | None = None, forms: bool = True,
                 tags: bool = True) -> list[str]:
    """Each scene heard once, its questions asked on forks, answers decoded in batches; with `forms`, an
    answer keeps to the form its question states, as `SAM.ask` does, and with `tags` too, what the
    branch tagged weighs in its choice (model/answer_forms.py), in the first token of each item decoded freely
    (naming.feed_bias), in the naming of one sound (model/naming.py) and in a time given in a long stream
    (model/timing.py).

    `on_heard(indices, state)`, when given, sees each scene's heard state with the indices of its
    items, for other scorings of the same hearing.
    """
    by_scene: dict[str, list[int]] = defaultdict(list)
    for i, it in enumerate(items):
        by_scene[it.scene].append(i)
    answers: list[str] = [""] * len(items)
    pending: list[tuple[int, Any, Any]] = []  # (item, LM state, tags)
    tok = model.tokenizer

    def flush() -> None:
        asked = [question_form(tok, items[i].question, heard) if forms else TokenForm(None, [])
                 for i, _, heard in pending]
        prompts = [prompt_ids(tok, a.asked or items[i].question) for (i, _, _), a in zip(pending, asked)]
        texts = generate_batch(model.lm, tok, [s for _, s, _ in pending], prompts,
                               max_new_tokens, [a.choices for a in asked], [a.banned for a in asked], once=forms,
                               priors=[a.priors for a in asked], unwanted=[a.unwanted for a in asked],
                               said=[a.said for a in asked],
                               item_bias=[feed_bias(tok, items[i].question, heard) if forms and not a.choices
                                          else None for (i, _, heard), a in zip(pending, asked)])
        for (i, state, heard), prompt, a, t in zip(pending, prompts, asked, texts):
            keep = a.choices or not forms or items[i].kind == FEED  # the feed keeps its decoded names, as sam-live's
            answers[i] = t if keep else heard_again(model.lm, tok, state, prompt, items[i].question, t, heard)
        pending.clear()

    for scene, idx in progress(by_scene.items(), "answering", len(by_scene)):
        state = model.hear(torch.as_tensor(read(scene)))
        if on_heard is not None:
            on_heard(idx, state.lm)
        for i in idx:
            pending.append((i, state.lm, state.tags if tags else None))
        if len(pending) >= batch_size:
            flush()
    if pending:
        flush()
    return answers


CLOZE_QUESTION = "What sound do you hear?"  # an open question every training stage after the tagger asks


@torch.inference_mode()
def cloze_scores(model: SAM, state: MambaState, answers: list[str], question: str = CLOZE_QUESTION) -> list[float]:
    """Log-probability of each answer (its end token included) after `question`, from a heard state.

    The prompt is pushed once; the answers are then scored together (`generate.choice_scores`).
    """
    tok = model.tokenizer
    logits, pushed = model.lm(torch.tensor([prompt_ids(tok, question)], device=model.device), state=state)
    return choice_scores(model.lm, tok, pushed, logits[:, -1], [answer_ids(tok, a) for a in answers]).tolist()


def cloze_choice(model: SAM, state: MambaState, question: str) -> str:
    """Multiple choice without its answer format: the letter of the option likeliest as the answer to
    an open question (the least likely, when the stem asks which sound is absent).

    A model that has never been taught the "B) dog" answer form can still be scored this way, so
    this separates knowing the sounds from knowing the format.
    """
    stem, options = mcq_parts(question)
    scores = cloze_scores(model, state, options)
    pick = min if is_absent_stem(stem) else max
    return "ABCD"[pick(range(len(options)), key=scores.__getitem__)]


def is_absent_stem(stem: str) -> bool:
    """Whether a multiple-choice stem asks for the option that is not in the recording."""
    return stem in ABSENT_STEMS


class ClozeScorer:
    """`cloze_choice` for the multiple-choice items in their first order, from the states
    `answer_items` hears (its `on_heard`); `result()` gives mcq_cloze_accuracy in item order."""

    def __init__(self, model: SAM, items: list[Item]):
        self.model, self.items, self.right = model, items, {}

    def __call__(self, indices: list[int], state: MambaState) -> None:
        for i in indices:
            it = self.items[i]
            if it.kind == "mcq" and not it.variant:
                self.right[i] = cloze_choice(self.model, state, it.question) == it.answer[0]

    def result(self) -> dict[str, Any]:
        right = [self.right[i] for i in sorted(self.right)]
        if not right:
            return {}
        return {"mcq_cloze_accuracy": sum(right) / len(right), "mcq_cloze_n": len(right),
                "correct": {"mcq_cloze_accuracy": bits(right)}}


def progress(it, desc: str, total: int) -> Iterator:
    """`it` with a progress bar of `total` scenes on stderr (none when stderr is not a terminal)."""
    from tqdm import tqdm

    return iter(tqdm(it, desc=desc, total=total, unit="scene", file=sys.stderr, disable=None))
