"""The prompt format, defined once.

A training or inference sequence is

    [audio tokens ...] <|question|> {question} <|answer|> {answer} <|endoftext|>

Audio tokens are embeddings from the connector (one per 160 ms column in the main layout),
never text ids. The question and answer are encoded with one leading space. The loss covers
the answer and its <|endoftext|> only. At inference the listening state holds only audio:
`<|question|> {question} <|answer|>` is pushed onto a fork of it and the answer is decoded
until <|endoftext|>.
"""
from __future__ import annotations

import torch
from torch import Tensor

from .tokenizer import Tokenizer

DESCRIBE_PROMPT = "Describe what you hear."  # sam-caption's question about a whole recording
LIVE_PROMPT = "What happened in the last ten seconds?"  # the live feed's question about the recent past


def distinct_items(description: str) -> str:
    """A description with each comma-separated item said once ("horn, horn" -> "horn"); otherwise unchanged."""
    items = [i.strip() for i in description.split(",")]
    first: dict[str, str] = {}
    for item in items:
        first.setdefault(item.lower(), item)
    return ", ".join(first.values()) if len(first) < len(items) else description


def prompt_ids(tok: Tokenizer, question: str) -> list[int]:
    """<|question|> question <|answer|>: what follows the audio before the answer."""
    question = " ".join(question.split())
    if not question:
        raise ValueError("the question is empty")
    return [tok.question_id, *tok.encode(" " + question), tok.answer_id]


def answer_ids(tok: Tokenizer, answer: str) -> list[int]:
    """answer <|endoftext|>: the tokens the loss covers."""
    return [*tok.encode(" " + " ".join(answer.split())), tok.eot_id]


def right_padded(rows: list[list[int]], pad: int, device: torch.device | str | None = None) -> Tensor:
    """Token rows of different lengths as one (len(rows), longest) long tensor, each row padded after its end."""
    ids = torch.full((len(rows), max(map(len, rows))), pad, dtype=torch.long, device=device)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r, device=device)
    return ids


def training_batch(tok: Tokenizer, questions: list[str], answers: list[str]) -> tuple[Tensor, Tensor]:
    """Right-padded text ids (b, L) and a bool mask (b, L) of the answer positions to predict."""
    rows = [(prompt_ids(tok, q), answer_ids(tok, a)) for q, a in zip(questions, answers, strict=True)]
    ids = right_padded([p + a for p, a in rows], tok.eot_id)
    mask = torch.zeros(ids.shape, dtype=torch.bool)
    for i, (p, a) in enumerate(rows):
        mask[i, len(p): len(p) + len(a)] = True
    return ids, mask
