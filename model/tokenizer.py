"""Text tokenizer: a byte-level BPE through the `tokenizers` library, with SAM's special tokens.

The default model trains a small BPE on the project's own text; state-spaces LMs use
GPT-NeoX's tokenizer.json, to which the two prompt tokens are added (they land in the
vocabulary's padding, ids 50277 and 50278). Special tokens live here and nowhere else.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

from tokenizers import Tokenizer as HFTokenizer
from tokenizers import decoders, models, pre_tokenizers, trainers

EOT = "<|endoftext|>"  # end of an answer; GPT-NeoX's bos/eos, id 0 there
QUESTION = "<|question|>"  # audio ends, a question begins
ANSWER = "<|answer|>"  # the question ends, the answer begins
SPECIAL_TOKENS = (EOT, QUESTION, ANSWER)


class Tokenizer:
    """Wraps a `tokenizers.Tokenizer` and knows SAM's special tokens."""

    def __init__(self, tok: HFTokenizer):
        missing = [t for t in SPECIAL_TOKENS if tok.token_to_id(t) is None]
        if missing:
            tok.add_special_tokens(missing)
        self.tok = tok
        self.eot_id, self.question_id, self.answer_id = (tok.token_to_id(t) for t in SPECIAL_TOKENS)
        self.comma_id: int | None = tok.token_to_id(",")  # what separates the items of a list answer

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int = 4096, min_frequency: int = 2) -> "Tokenizer":
        """Train a byte-level BPE on `texts`; special tokens take ids 0, 1, 2."""
        tok = HFTokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                      special_tokens=list(SPECIAL_TOKENS), show_progress=False,
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
        tok.train_from_iterator(texts, trainer=trainer)
        return cls(tok)

    @classmethod
    def load(cls, path: str | Path) -> "Tokenizer":
        """Read a tokenizer.json (ours or GPT-NeoX's); ValueError naming the file when it is not one."""
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"{path}: no such tokenizer file")
        try:
            return cls(HFTokenizer.from_file(str(path)))
        except Exception as e:  # the Rust library raises plain Exception for malformed files
            raise ValueError(f"{path}: not a valid tokenizer.json ({e})") from e

    def save(self, path: str | Path) -> None:
        self.tok.save(str(path))

    @property
    def vocab_size(self) -> int:
        """Ids in use, special tokens included (the LM's vocab_size must be at least this)."""
        return self.tok.get_vocab_size(with_added_tokens=True)

    @property
    def special_ids(self) -> tuple[int, int, int]:
        return self.eot_id, self.question_id, self.answer_id

    def encode(self, text: str) -> list[int]:
        return self.tok.encode(text, add_special_tokens=False).ids

    def decode(self, ids: list[int]) -> str:
        return self.tok.decode(ids, skip_special_tokens=True)
