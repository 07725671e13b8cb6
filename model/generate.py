"""Decoding: greedy by default, temperature and top-p optional, with timing."""
from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

from .lm import MambaLM
from .prompt import right_padded
from .shapes import Shape
from .state import MambaState
from .tokenizer import Tokenizer


MAX_REDECODES = 4  # an answer of an unwanted shape is decoded again at most this many times


@dataclass(frozen=True)
class ItemBias:
    """What the tags add to the logit of a list item's first token (`add`: token -> logit, for or against), where
    the language model begins an item by naming a sound: only where its likeliest token there is one of `namers`,
    the tokens that begin a sound's name, and relative to what `add` gives that token. The tags choose which sound
    an item names, never whether a list names one or ends: the likeliest token keeps its logit, every token of
    `add` moves by what it gets beyond it, and the rest stay."""

    add: dict[int, float]
    namers: frozenset[int]

    def applied(self, scores: Tensor) -> Tensor:
        """(1, V) logits at an item's start, with `add` added where their likeliest token begins a name."""
        top = int(scores[0].argmax())
        if not self.add or top not in self.namers:
            return scores
        shift = self.add.get(top, 0.0)
        scores = scores.clone()
        moved = torch.tensor(list(self.add.values()), dtype=scores.dtype, device=scores.device) - shift
        scores[0, list(self.add)] += moved
        return scores


@dataclass
class Answer:
    """Decoded text with its cost: time to first token, tokens per second, total seconds."""

    text: str
    n_tokens: int
    time_to_first_token: float
    tokens_per_second: float
    total_time: float


def sample(logits: Tensor, temperature: float, top_p: float, generator: torch.Generator | None = None) -> Tensor:
    """Next ids (b,) from logits (b, V): argmax at temperature 0, else nucleus sampling."""
    if temperature <= 0:
        return logits.argmax(-1)
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    if top_p < 1.0:
        sorted_p, order = probs.sort(dim=-1, descending=True)
        outside = sorted_p.cumsum(-1) - sorted_p > top_p  # keep the smallest set reaching top_p
        sorted_p = sorted_p.masked_fill(outside, 0)
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_p)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


def answer_logits(lm: MambaLM, tok: Tokenizer, logits: Tensor) -> Tensor:
    """Logits an answer may take: never vocabulary padding, never the prompt markers."""
    logits = lm.mask_padding(logits)
    logits[:, [tok.question_id, tok.answer_id]] = float("-inf")
    return logits


@torch.inference_mode()
def choice_scores(lm: MambaLM, tok: Tokenizer, state: MambaState, logits: Tensor,
                  choices: list[list[int]]) -> Tensor:
    """log P(choice) of each whole answer (token ids, end token included): (n,) float32.

    `state` is the batch-1 state after the prompt (unchanged) and `logits` (1, V) its last logits.
    The choices are read together, right-padded; each row is causal, so padding after it changes nothing.
    """
    if not choices or any(not c for c in choices):
        raise ValueError("each answer choice needs at least one token")
    device = logits.device
    first = torch.log_softmax(answer_logits(lm, tok, logits.clone()).float(), -1)[0]  # (V,)
    scores = first[torch.tensor([c[0] for c in choices], device=device)]
    ids = right_padded(choices, tok.eot_id, device)  # (n, width)
    width = ids.shape[1]
    if width == 1:
        return scores
    out, _ = lm(ids[:, :-1], state=state.repeat(len(choices)))  # (n, width - 1, V): logits for tokens 2..width
    logp = torch.log_softmax(answer_logits(lm, tok, out.flatten(0, 1)).float(), -1).view(*out.shape)
    taken = logp.gather(-1, ids[:, 1:, None])[..., 0]  # (n, width - 1)
    lengths = torch.tensor([len(c) for c in choices], device=device)
    inside = torch.arange(1, width, device=device)[None] < lengths[:, None]
    return scores + (taken * inside).sum(-1)


def chosen(lm: MambaLM, tok: Tokenizer, state: MambaState, logits: Tensor, choices: list[list[int]],
           priors: tuple[float, ...] | None = None) -> int:
    """The index of the likeliest of `choices` after the prompt (ties: the first); `priors` are added to their
    log-probabilities first."""
    scores = choice_scores(lm, tok, state, logits, choices)
    if priors is not None:
        scores = scores + torch.tensor(priors, dtype=scores.dtype, device=scores.device)
    return int(scores.argmax())


def choose(lm: MambaLM, tok: Tokenizer, state: MambaState, logits: Tensor, choices: list[list[int]],
           priors: tuple[float, ...] | None = None) -> list[int]:
    """The likeliest of `choices` after the prompt (ties: the first), without its end token; `priors` are added
    to their log-probabilities first."""
    return without_end(tok, choices[chosen(lm, tok, state, logits, choices, priors)])


def without_end(tok: Tokenizer, ids: list[int]) -> list[int]:
    """An answer's token ids without its end token."""
    return list(ids[:-1] if ids and ids[-1] == tok.eot_id else ids)


@torch.inference_mode()
def generate(lm: MambaLM, tok: Tokenizer, state: MambaState, prompt: list[int], max_new_tokens: int = 48,
             temperature: float = 0.0, top_p: float = 1.0, on_token: Callable[[str], None] | None = None,
             generator: torch.Generator | None = None, choices: list[list[int]] | None = None,
             banned: list[list[int]] | None = None, once: bool = False,
             priors: tuple[float, ...] | None = None, unwanted: Shape | None = None,
             said: list[str] | None = None, item_bias: ItemBias | None = None) -> Answer:
    """Push `prompt` onto `state` (which is not modified) and decode until <|endoftext|> or the limit.

    With `choices` (whole answers' token ids, end token included: the answers a question may have,
    model/answer_forms.py), the answer is the likeliest of them instead, `priors` added to their
    log-probabilities, and said as `said` writes it where given (the choices scored in the words the language model
    read, the answer in those of the question asked). `banned` holds whole answers
    (end token included) the answer may not be: when the decoding ends in one, its first token is
    ruled out and the answer decoded again. Text that could still become a banned answer is held back
    from `on_token` until it cannot. An answer of the `unwanted` shape (one the question does not ask for:
    a bare time, nothing at all) is ruled out the same way, at most MAX_REDECODES times (a banned one as
    often as it takes), and text that could still take that shape is held back too. With `once`, a list
    answer ends before its first item said a second time ("hiss, bass guitar, hiss, hiss" is "hiss, bass
    guitar"), an item the token limit cut off is left out ("rain, dog at 4.1-5" is "rain"), and each item
    is streamed once it is complete. `item_bias` weighs in at the start of each list item (`ItemBias`).
    """
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
    if not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")
    start = time.perf_counter()
    device = lm.backbone.embedding.weight.device
    logits, state = lm(torch.tensor([prompt], device=device), state=state)
    if choices:
        k = chosen(lm, tok, state, logits[:, -1], choices, priors)
        ids = without_end(tok, choices[k])
        final = said[k] if said else tok.decode(ids)
        if on_token is not None:
            on_token(final)
        total = time.perf_counter() - start
        return Answer(final.strip(), len(ids), total, 0.0, total)
    banned = [b for b in banned or [] if b]
    said_banned = _banned_texts(tok, banned)
    # first tokens of banned answers the decoding ended in; from the start, where an empty answer is unwanted, the end
    # token and the comma (a list answer's first item said again: `said_once` leaves nothing of it)
    empty_unwanted = unwanted is not None and unwanted.matches("")
    ruled_out: list[int] = [t for t in (tok.eot_id, tok.comma_id) if t is not None] if empty_unwanted else []
    reshaped = 0  # decodings again for an unwanted shape
    first = None
    while True:
        ids: list[int] = []
        text = ""
        ended = False  # by the end token or a repeated item, not the token limit
        nxt, s = logits[:, -1], state
        for _ in range(max_new_tokens):
            scores = answer_logits(lm, tok, nxt)
            if not ids and ruled_out:
                scores[:, ruled_out] = float("-inf")
            if item_bias is not None and (not ids or ids[-1] == tok.comma_id):
                scores = item_bias.applied(scores)
            token = int(sample(scores, temperature, top_p, generator)[0])
            if first is None:
                first = time.perf_counter() - start
            if token == tok.eot_id:
                ended = True
                break
            ids.append(token)
            if once and tok.comma_id is not None and token == tok.comma_id:
                cut = said_once(ids, tok.comma_id)
                if len(cut) < len(ids):
                    ids, ended = cut, True
                    break
            so_far = tok.decode(ids).strip() if on_token is not None else ""
            if on_token is not None and not (_may_become(ids, banned) or _may_say(so_far, said_banned) or (
                    unwanted is not None and unwanted.may_become(so_far))):
                new_text = tok.decode(well_timed(tok, ids[: _last_item_end(ids, tok.comma_id)], tok.comma_id)
                                      if once else ids)
                if not new_text.endswith("\ufffd") and len(new_text) > len(text):  # whole UTF-8 characters
                    on_token(new_text[len(text):])
                    text = new_text
            nxt, s = lm.step(torch.tensor([token], device=device), state=s)
        first_token = ids[0] if ids else tok.eot_id  # ruled out when this answer is decoded again
        if once:
            ids = well_timed(tok, whole_items(said_once(ids, tok.comma_id), tok.comma_id, ended), tok.comma_id)
        is_banned = _said(tok, ids) in said_banned  # (the same tokens say the same text)
        shaped = not is_banned and unwanted is not None and unwanted.matches(tok.decode(ids).strip())
        if not (is_banned or shaped) or first_token in ruled_out or shaped and reshaped >= MAX_REDECODES:
            break
        reshaped += shaped
        ruled_out.append(first_token)
    final = tok.decode(ids)
    if on_token is not None and final != text:
        on_token(final[len(text):])  # what a cut-off character or a possible banned answer held back
    total = time.perf_counter() - start
    decode_time = max(total - (first or total), 1e-9)
    return Answer(final.strip(), len(ids), first or total, max(len(ids) - 1, 0) / decode_time, total)


def said_once(ids: list[int], comma: int | None) -> list[int]:
    """A list answer's tokens up to (not including) the comma before its first repeated item; all of them
    when no item repeats (or the vocabulary has no comma). Items are the token runs between commas."""
    if comma is None:
        return ids
    seen: set[tuple[int, ...]] = set()
    start = 0
    for end in [i for i, t in enumerate(ids) if t == comma] + [len(ids)]:
        item = tuple(ids[start:end])
        if item in seen:
            return ids[: start - 1]
        seen.add(item)
        start = end + 1
    return ids


# An item that places a sound by its span ("dog at 1.2-3.4 s", the first after "rain in the background; ") as the
# training answers write it; one whose span is garbled ("harp at 48.8- y.1 s") or runs backwards ("at 40.8-39.3 s")
# is no answer a person can read, and a list answer leaves it out (`well_timed`).
_SPAN_BEGUN = re.compile(r"\bat \d+(?:\.\d+)?\s*-")
_TIMED_ITEM = re.compile(r"(?:.+ in the background; )?(?:.+ )?at (\d+(?:\.\d+)?)-(\d+(?:\.\d+)?) s")


def well_timed(tok: Tokenizer, ids: list[int], comma: int | None) -> list[int]:
    """A list answer's tokens without the items whose span is garbled or runs backwards (`_TIMED_ITEM`); items
    are the token runs between commas, and the others are kept as they are."""
    if comma is None or not ids:
        return ids
    items, start = [], 0
    for end in [i for i, t in enumerate(ids) if t == comma] + [len(ids)]:
        items.append(ids[start:end])
        start = end + 1
    kept = [item for item in items if _readable_span(tok.decode(item).strip())]
    if len(kept) == len(items):
        return ids
    return [t for n, item in enumerate(kept) for t in ([comma] if n else []) + item]


def _readable_span(item: str) -> bool:
    """Whether a list item that begins a span ("at 4.1-") gives it whole and forwards; True for any other item."""
    if not _SPAN_BEGUN.search(item):
        return True
    m = _TIMED_ITEM.fullmatch(item)
    return m is not None and float(m.group(1)) <= float(m.group(2))


def whole_items(ids: list[int], comma: int | None, ended: bool) -> list[int]:
    """A list answer's tokens without the item the token limit cut off: up to its last comma when the decoding
    did not end by itself (`ended`); all of them when it did, or when it has one item."""
    if ended or comma is None or comma not in ids:
        return ids
    return ids[: _last_item_end(ids, comma)]


def _last_item_end(ids: list[int], comma: int | None) -> int:
    """The length of the answer's items known to be kept: those before its last comma."""
    return max((i for i, t in enumerate(ids) if t == comma), default=0)


def _banned_texts(tok: Tokenizer, banned: list[list[int]]) -> set[str]:
    """The banned answers as text (`_said`): an answer is banned by what it says, however its tokens spell it
    ("14" is the banned " 14" without its space)."""
    return {_said(tok, without_end(tok, b)) for b in banned}


def _said(tok: Tokenizer, ids: list[int]) -> str:
    return tok.decode(ids).strip().lower()


def _may_say(so_far: str, said_banned: set[str]) -> bool:
    """Whether the text decoded so far (stripped) could still become a banned answer's text (`_said`)."""
    text = so_far.lower()
    return any(b.startswith(text) for b in said_banned)


def _unwanted(tok: Tokenizer, ids: list[int], banned: list[list[int]], unwanted: Shape | None) -> bool:
    """Whether a decoded answer (without its end token) is banned or has the unwanted shape."""
    return (_said(tok, ids) in _banned_texts(tok, banned)  # (the same tokens say the same text)
            or unwanted is not None and unwanted.matches(tok.decode(ids).strip()))


def _may_become(ids: list[int], banned: list[list[int]]) -> bool:
    """Whether the answer decoded so far could still end as one of the banned answers."""
    return any(len(b) > len(ids) and b[:len(ids)] == ids for b in banned)


@torch.inference_mode()
def generate_batch(lm: MambaLM, tok: Tokenizer, states: list[MambaState], prompts: list[list[int]],
                   max_new_tokens: int = 48, choices: list[list[list[int]] | None] | None = None,
                   banned: list[list[list[int]]] | None = None, once: bool = False,
                   priors: list[tuple[float, ...] | None] | None = None,
                   unwanted: list[Shape | None] | None = None, said: list[list[str] | None] | None = None,
                   item_bias: list[ItemBias | None] | None = None) -> list[str]:
    """Greedy answers for many (state, prompt) pairs at once: prompts pushed one by one, then batched steps.

    Each prompt goes onto its own state (prompt lengths differ and padding would enter the
    state); the states are then stacked and decoded together until every row has ended.
    `choices` and `banned`, when given, hold each row's as `generate` takes them: a row with
    choices is answered by the likeliest of them and takes no part in the decoding; a row whose
    answer is one of its banned answers is decoded again alone, as `generate` decodes it. `once`
    ends each list answer before its first repeated item, as `generate` does; `priors`, each row's
    additions to its choices' scores; `unwanted`, each row's answer shape to decode again, and `said`, how each
    row's choices are said, and `item_bias`, what each row's list items weigh in at their start, as `generate` takes
    them.
    """
    if len(states) != len(prompts):
        raise ValueError(f"{len(states)} states but {len(prompts)} prompts")
    choices = choices if choices is not None else [None] * len(prompts)
    banned = banned if banned is not None else [[] for _ in prompts]
    priors = priors if priors is not None else [None] * len(prompts)
    unwanted = unwanted if unwanted is not None else [None] * len(prompts)
    said = said if said is not None else [None] * len(prompts)
    item_bias = item_bias if item_bias is not None else [None] * len(prompts)
    if len(choices) != len(prompts) or len(banned) != len(prompts):
        raise ValueError(f"{len(choices)} sets of choices and {len(banned)} of banned answers but {len(prompts)} "
                         f"prompts")
    device = lm.backbone.embedding.weight.device
    texts: list[str | None] = [None] * len(prompts)
    last, pushed, free = [], [], []
    for i, (state, prompt, listed, prior) in enumerate(zip(states, prompts, choices, priors)):
        logits, s = lm(torch.tensor([prompt], device=device), state=state)
        if listed:
            k = chosen(lm, tok, s, logits[:, -1], listed, prior)
            texts[i] = (said[i][k] if said[i] else tok.decode(without_end(tok, listed[k]))).strip()
            continue
        last.append(logits[:, -1])
        pushed.append(s)
        free.append(i)
    decoded = _decode_rows(lm, tok, pushed, last, max_new_tokens, [item_bias[k] for k in free])
    for i, (ids, ended) in zip(free, decoded):
        if once:
            kept = said_once(ids, tok.comma_id)
            ids = well_timed(tok, whole_items(kept, tok.comma_id, ended or len(kept) < len(ids)), tok.comma_id)
        if _unwanted(tok, ids, banned[i], unwanted[i]):  # (states are not changed by pushing a prompt onto them)
            texts[i] = generate(lm, tok, states[i], prompts[i], max_new_tokens, banned=banned[i], once=once,
                                unwanted=unwanted[i], item_bias=item_bias[i]).text
        else:
            texts[i] = tok.decode(ids).strip()
    return texts


def _decode_rows(lm: MambaLM, tok: Tokenizer, pushed: list[MambaState], last: list[Tensor],
                 max_new_tokens: int, item_bias: list[ItemBias | None] | None = None) -> list[tuple[list[int], bool]]:
    """Greedy answers' token ids (without the end token) of rows whose prompts are pushed (`last`: each
    row's last logits), decoded together, each with whether it ended before the token limit; each row's
    `item_bias` weighs in where its list items start, as `generate`'s does."""
    if not pushed:
        return []
    device = last[0].device
    state = MambaState(torch.cat([s.conv for s in pushed], 1), torch.cat([s.ssm for s in pushed], 1))
    logits = torch.cat(last)
    out = torch.zeros(len(pushed), 0, dtype=torch.long, device=device)
    done = torch.zeros(len(pushed), dtype=torch.bool, device=device)
    biased = [(r, b) for r, b in enumerate(item_bias or []) if b is not None]
    for _ in range(max_new_tokens):
        logits = answer_logits(lm, tok, logits)
        if biased:  # the rows at an item's start: the answer's first token or one after a comma
            starts = [True] * len(pushed) if out.shape[1] == 0 else (out[:, -1] == tok.comma_id).tolist()
            for r, b in biased:
                if starts[r]:
                    logits[r:r + 1] = b.applied(logits[r:r + 1])
        nxt = logits.argmax(-1).masked_fill(done, tok.eot_id)
        done |= nxt == tok.eot_id
        out = torch.cat([out, nxt[:, None]], 1)
        if bool(done.all()):
            break
        logits, state = lm.step(nxt, state=state)
    return [(row[: row.index(tok.eot_id)], True) if tok.eot_id in row else (row, False) for row in out.tolist()]
