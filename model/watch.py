"""Yes/no confidence of questions about a listening state: one batched forward, no decoding.

A watch asks its question of the live state every hop. Decoding an answer would cost a prompt
pass and then a step per token; the answer to a yes/no question is settled by its first token,
so the prompt pass alone gives it: the logits after `<|answer|>` hold P(" yes") and P(" no")
(in the default tokenizer " yes" is " y" + "es", and P("es" | " y") measures >= 0.999 on
live streams, so the first token speaks for the word).

All questions go in one batch: the state's rows are repeated, the prompts right-padded to one
length, and each row's logits read at its own `<|answer|>`. The model is causal, so padding
after that position changes nothing before it; the padded rows' final states are discarded.
Pushing the tokens all questions share ("<|question|> Do you hear") once, before the batch, was
measured and dropped: on the CPU the extra pass costs more than it saves below ten questions,
and saves under 10% at sixteen.

For a model with a YAMNet branch, what the branch tagged in the last WATCH_COLUMNS columns adds its
log-odds for the sound the question names (model/tags.py) to the answer's: the two are read as
independent witnesses, so a sound AudioSet knows ("a baby crying", "a smoke alarm") is alerted on
even where the language model's yes/no does not move.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from .lm import MambaLM
from .prompt import prompt_ids, right_padded
from .state import MambaState
from .tags import asked_evidence, log_odds, own_evidence
from .tokenizer import Tokenizer

YES, NO = " yes", " no"  # the answers the training data gives yes/no questions (model/data/questions.py)
WATCH_COLUMNS = 13  # the tags of the last ~2 s (13 columns of 160 ms): a hop and the patch before it
WATCH_OWN_WEIGHT = 1.0  # of the presence head's log-odds (model/presence.py), beside the tags' at full weight


def answer_first_ids(tok: Tokenizer) -> tuple[int, int]:
    """The first token ids of " yes" and " no"; ValueError when the tokenizer makes them the same."""
    yes, no = tok.encode(YES)[0], tok.encode(NO)[0]
    if yes == no:
        raise ValueError("the tokenizer starts ' yes' and ' no' with the same token: cannot score yes/no")
    return yes, no


@torch.inference_mode()
def yes_confidence(lm: MambaLM, tok: Tokenizer, state: MambaState, questions: list[str]) -> Tensor:
    """P(yes) / (P(yes) + P(no)) for each question asked of `state` (unchanged): (n,) float32."""
    if not questions:
        return torch.zeros(0)
    device = lm.backbone.embedding.weight.device
    prompts = [prompt_ids(tok, q) for q in questions]
    ids = right_padded(prompts, tok.eot_id, device)  # (n, L)
    hidden, _ = lm.hidden(ids, state=state.repeat(len(prompts)))  # (n, L, d_model)
    last = torch.tensor([len(p) - 1 for p in prompts], device=device)
    logits = lm.lm_head(hidden[torch.arange(len(prompts), device=device), last])  # (n, V) at each <|answer|>
    yes, no = answer_first_ids(tok)
    pair = logits[:, [yes, no]].float()  # a softmax over the two: P(yes) / (P(yes) + P(no))
    return torch.softmax(pair, dim=-1)[:, 0].cpu()


@torch.inference_mode()
def yes_confidence_one_by_one(lm: MambaLM, tok: Tokenizer, state: MambaState, questions: list[str]) -> Tensor:
    """The slow reference of `yes_confidence`: each question on its own, unpadded."""
    yes, no = answer_first_ids(tok)
    device = lm.backbone.embedding.weight.device
    out = []
    for q in questions:
        logits, _ = lm(torch.tensor([prompt_ids(tok, q)], device=device), state=state)
        out.append(torch.softmax(logits[0, -1, [yes, no]].float(), dim=-1)[0])
    return torch.stack(out).cpu() if out else torch.zeros(0)


def with_tags(confidences: list[float], questions: list[str], tags) -> list[float]:
    """Each confidence with the tags' log-odds for the sound its question names (or the group it asks about,
    "anyone") added to its own (unchanged where the question names none the tags know, or without tags)."""
    if tags is None or tags.columns == 0:
        return list(confidences)
    recent = tags.last(WATCH_COLUMNS)[0]
    out = []
    for p, q in zip(confidences, questions):
        e, o = asked_evidence(recent, q), own_evidence(recent, q, tags.own)
        if e is None and o is None:
            out.append(p)
        else:
            out.append(1 / (1 + math.exp(-(log_odds(p) + (e or 0.0) + WATCH_OWN_WEIGHT * (o or 0.0)))))
    return out


def confidence(sam, state, questions: list[str]) -> list[float]:
    """`yes_confidence` for a SAM and its StreamState, with what its branch tagged (`with_tags`): what sam-live's
    watches call every hop."""
    if sam.tokenizer is None:
        raise ValueError("this model has no tokenizer; load a checkpoint directory with tokenizer.json")
    return with_tags(yes_confidence(sam.lm, sam.tokenizer, state.lm, questions).tolist(), questions,
                     getattr(state, "tags", None))
