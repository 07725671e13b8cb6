"""SAM: audio encoder + connector + Mamba-2 LM, offline and streaming.

  forward(audio, text_ids, target_mask)  training loss on answer tokens (whole clips)
  new_state() / listen(audio, state)      streaming: encode new audio with the encoder's cached
                                          context and chunk-append its tokens onto the LM state
  ask(state, question) / describe(state)  answer on a fork; the listening state never holds text
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .audio import FRAME_SHIFT, LEFT_PAD, features, pad_tail, with_floor
from .answer_forms import TokenForm, question_form
from .branch import build_branch
from .config import SAMConfig
from .connector import build_connector
from .encoder import AudioEncoder
from .generate import Answer, generate
from .lm import MambaLM
from .naming import feed_bias, renamed
from .presence import PresenceHead, presence_input, presence_width
from .prompt import DESCRIBE_PROMPT, LIVE_PROMPT, distinct_items, prompt_ids
from .spelling import respelled
from .stream import StreamState
from .tags import Tags
from .timing import lasted, timed
from .tokenizer import Tokenizer


def heard_again(lm, tok: Tokenizer, state, prompt: list[int], question: str, answer: str, tags) -> str:
    """An open answer decoded after `prompt` from the LM `state` (unchanged), as sam-ask and sam-eval give it: its
    names chosen again with `tags` (model/naming.py), then a time in a long stream read from them, or how long a
    sound has been going on (model/timing.py)."""
    question = respelled(question)  # the sounds it names, read as meant (model/spelling.py)
    return lasted(question, tags) or timed(question, renamed(lm, tok, state, prompt, question, answer, tags), tags)


class SAM(nn.Module):
    def __init__(self, cfg: SAMConfig, tokenizer: Tokenizer | None = None, backend: str = "auto"):
        super().__init__()
        self.cfg = cfg
        self.name = cfg.name
        self.tokenizer = tokenizer
        if tokenizer is not None and tokenizer.vocab_size > cfg.lm.vocab_size:
            raise ValueError(f"tokenizer has {tokenizer.vocab_size} ids but the LM's vocab_size is {cfg.lm.vocab_size}")
        self.encoder = AudioEncoder(cfg.encoder)
        self.connector = build_connector(cfg.connector, cfg.encoder.dim, cfg.lm.d_model, cfg.encoder.block_columns)
        self.lm = MambaLM(cfg.lm, backend)
        self.branch = build_branch(cfg.branch, cfg.lm.d_model)  # None: the encoder alone hears
        if cfg.presence and self.branch is None:
            raise ValueError("a presence head's rows follow the YAMNet branch's in the tags: it needs the branch")
        self.presence = PresenceHead(presence_width(cfg), len(cfg.presence)) if cfg.presence else None

    # -- sizes -------------------------------------------------------------------------------
    @property
    def block_samples(self) -> int:
        """Audio samples per encoder block (1.28 s by default): the unit listen() consumes."""
        return self.encoder.block_frames * FRAME_SHIFT

    @property
    def device(self) -> torch.device:
        return self.lm.backbone.embedding.weight.device

    def num_parameters(self) -> dict[str, int]:
        count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
        parts = {"encoder": count(self.encoder), "connector": count(self.connector), "lm": count(self.lm)}
        if self.branch is not None:
            parts["branch"] = count(self.branch)
        return {**parts, "total": sum(parts.values())}

    def _tok(self) -> Tokenizer:
        if self.tokenizer is None:
            raise ValueError("this model has no tokenizer; load a checkpoint directory with tokenizer.json")
        return self.tokenizer

    # -- offline / training ------------------------------------------------------------------
    def pad_to_blocks(self, audio: Tensor, history: Tensor | None = None) -> Tensor:
        """(b, n) audio padded at the end to whole encoder blocks with its last moments mirrored (audio.pad_tail)."""
        return pad_tail(audio, self.block_samples, history)

    def hearing_features(self, audio: Tensor, history: Tensor | None = None) -> Tensor:
        """The encoder's input for (b, n) audio starting on a block boundary: its features over the
        model's faint noise floor (audio.with_floor); `history`: the LEFT_PAD samples before it."""
        floored, before = with_floor(audio, self.block_samples, history)
        return features(floored, history=before)

    def audio_tokens(self, audio: Tensor, masked: Callable[[Tensor], Tensor] | None = None,
                     absent: tuple[Tensor, Tensor] | None = None) -> Tensor:
        """(b, n) samples at 16 kHz, n a multiple of block_samples -> LM input tokens (b, n_tokens, d_model).

        Training's options: `masked` is applied to the encoder's features first (SpecAugment; never to the
        branch's); `absent` = (dropped (b,) bool, vector (d_model,)): the dropped scenes' encoder tokens are
        that vector, so the branch alone hears them.
        """
        return self.heard(audio, masked, absent)[0]

    def heard(self, audio: Tensor, masked: Callable[[Tensor], Tensor] | None = None,
              absent: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor, Tensor | None]:
        """audio_tokens, with what made them: the encoder's patches (b, columns, 8, dim) and, with a branch,
        YAMNet's embedding of each column's 0.96 s (b, columns, 1024); None without one."""
        floored, before = with_floor(audio, self.block_samples)
        feats = features(floored, history=before)
        patches = self.encoder(masked(feats) if masked else feats)
        tokens, _, emb = self._heard_tokens(patches, floored, before, self._zero_context(audio.shape[0]), absent)
        return tokens, patches, emb

    def _heard_tokens(self, patches: Tensor, floored: Tensor, before: Tensor, context: Tensor,
                      absent: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor, Tensor | None]:
        """The LM tokens of encoder patches and, with a branch, of the same audio's branch frames; the branch
        context after; the branch's YAMNet embeddings (None without a branch).

        `absent`: as for audio_tokens, the dropped scenes' encoder tokens replaced before the branch's are added.
        """
        tokens = self.connector(patches)
        if absent is not None:
            dropped, vector = absent
            tokens = torch.where(dropped[:, None, None], vector.to(tokens.dtype), tokens)
        if self.branch is None:
            return tokens, context, None
        added, context, emb = self.branch(self.branch.frames(floored, before), context)
        return tokens + added.to(tokens.dtype), context, emb

    def forward(self, audio: Tensor, text_ids: Tensor, target_mask: Tensor) -> Tensor:
        """Mean cross-entropy over the answer tokens of a batch: audio (b, n), text_ids and target_mask (b, L)."""
        return self.answer_loss(self.audio_tokens(audio), text_ids, target_mask)

    def answer_loss(self, audio_tok: Tensor, text_ids: Tensor, target_mask: Tensor) -> Tensor:
        """forward() from the audio's LM tokens (b, n_tokens, d_model) on."""
        embeds = torch.cat([audio_tok.to(self.lm.embed(text_ids).dtype), self.lm.embed(text_ids)], dim=1)
        hidden, _ = self.lm.hidden(inputs_embeds=embeds)
        n_audio = audio_tok.shape[1]
        # position p predicts token p + 1: text token j is predicted at n_audio - 1 + j
        pred = hidden[:, n_audio - 1: n_audio - 1 + text_ids.shape[1]]
        logits = self.lm.lm_head(pred[target_mask])
        return F.cross_entropy(logits.float(), text_ids[target_mask])

    # -- streaming ---------------------------------------------------------------------------
    def new_state(self, batch_size: int = 1) -> StreamState:
        """The state of a session that has heard nothing yet."""
        p = self.lm.backbone.embedding.weight
        zeros = torch.zeros(batch_size, 0, device=p.device)
        return StreamState(self.lm.zero_state(batch_size), self.encoder.zero_cache(batch_size, p.device, p.dtype),
                           zeros, torch.zeros(batch_size, LEFT_PAD, device=p.device), 0, self._zero_context(batch_size),
                           self._tagged(None, None, None, batch_size))

    def _tagged(self, tags: Tags | None, emb: Tensor | None, tokens: Tensor | None, batch_size: int) -> Tags | None:
        """The tags after YAMNet's embeddings `emb` (b, columns, 1024) of newly heard columns (None: none) and, with
        a presence head, its probabilities of the same columns (what it reads of them: `presence_input`); None
        without a branch. A state that has none yet (saved without them) starts them here."""
        if self.branch is None:
            return None
        own = self.cfg.presence
        tags = tags.with_own(own) if tags is not None else Tags.empty(batch_size, self.device, own)
        if emb is None:
            return tags
        classifier = self.branch.yamnet.classifier
        scores = torch.sigmoid(classifier(emb.to(classifier.weight.dtype))).float()
        if self.presence is not None:
            scores = torch.cat([scores, self.presence(presence_input(self.cfg.presence_reads, tokens, emb))], dim=-1)
        return tags.push(scores)

    def _zero_context(self, batch_size: int) -> Tensor:
        """The branch's context before a stream begins; (b, 0) without a branch."""
        if self.branch is None:
            return torch.zeros(batch_size, 0, device=self.device)
        return self.branch.zero_context(batch_size, self.device)

    @torch.inference_mode()
    def hear(self, audio: Tensor) -> StreamState:
        """Offline: a whole recording ((n,) or (b, n)) in one pass of the whole-clip encoder.

        Equal to listen(audio, new_state(), flush=True), which streams it block by block.
        """
        audio = audio.to(self.device, torch.float32)
        audio = audio.reshape(1, -1) if audio.dim() == 1 else audio
        padded = self.pad_to_blocks(audio)
        floored, before = with_floor(padded, self.block_samples)
        patches, enc_cache = self.encoder(features(floored, history=before), return_cache=True)
        tokens, context, emb = self._heard_tokens(patches, floored, before, self._zero_context(audio.shape[0]))
        _, lm_state = self.lm.hidden(inputs_embeds=tokens)
        history = F.pad(padded, (LEFT_PAD, 0))[:, -LEFT_PAD:]
        return StreamState(lm_state, enc_cache, padded[:, :0], history, audio.shape[-1], context,
                           self._tagged(None, emb, tokens, audio.shape[0]))

    @torch.inference_mode()
    def listen(self, audio: Tensor, state: StreamState, flush: bool = False) -> StreamState:
        """Hear `audio` ((n,) or (b, n), float32 16 kHz, any length); returns the new state.

        Whole blocks are encoded and appended to the LM state; the rest waits in the state for
        the next call. flush=True pads that rest to a whole block (end of a file), as hear() does.
        """
        audio = audio.to(self.device, torch.float32).reshape(state.pending.shape[0], -1)
        buf = torch.cat([state.pending, audio], dim=-1)
        if flush:
            encoded = state.samples_seen - state.pending.shape[-1]  # history is zeros before the stream began
            buf = self.pad_to_blocks(buf, state.history[:, LEFT_PAD - min(LEFT_PAD, encoded):])
        take = buf.shape[-1] // self.block_samples * self.block_samples
        lm_state, enc_cache, history, context = state.lm, state.encoder, state.history, state.branch
        emb = tokens = None
        if take:
            floored, before = with_floor(buf[:, :take], self.block_samples, state.history)
            patches, enc_cache = self.encoder.stream(features(floored, history=before), state.encoder)
            tokens, context, emb = self._heard_tokens(patches, floored, before, state.branch)
            _, lm_state = self.lm.hidden(inputs_embeds=tokens, state=state.lm)
            history = torch.cat([state.history, buf[:, :take]], dim=-1)[:, -LEFT_PAD:]
        heard = state.samples_seen + audio.shape[-1]
        return StreamState(lm_state, enc_cache, buf[:, take:].clone(), history, heard, context,
                           self._tagged(state.tags, emb, tokens, buf.shape[0]))

    def ask(self, state: StreamState, question: str, *, max_new_tokens: int = 48, temperature: float = 0.0,
            top_p: float = 1.0, on_token: Callable[[str], None] | None = None, forms: bool = True,
            named: bool = True, witnessed: bool = True) -> Answer:
        """Answer `question` about what the state has heard, decoding on a fork (state is unchanged).

        With `forms`, the answer keeps to the form the question asks for (model/answer_forms.py): the
        likeliest of the answers it lists or its grammar allows ("yes or no", options, a number), never
        a bare yes, no or number to an open question, and a list that names each sound once; with `named`
        too, an answer that names one sound or lists sounds is named again with what the branch tagged
        (model/naming.py), and one that gives a time in a long stream takes it from the tags (model/timing.py);
        with `witnessed` too, what the tags hear weighs in on the first token of each item of an answer decoded
        freely (naming.feed_bias: which sound a description's event or a list's item names) at no extra cost.
        """
        tok = self._tok()
        form = question_form(tok, question, state.tags) if forms else TokenForm(None, [])
        prompt = prompt_ids(tok, form.asked or question)  # the training wording of its kind, where the rules write it
        bias = feed_bias(tok, question, state.tags) if witnessed and forms and not form.choices else None
        answer = generate(self.lm, tok, state.lm.fork(), prompt, max_new_tokens, temperature, top_p, on_token,
                          choices=form.choices, banned=form.banned, once=forms, priors=form.priors,
                          unwanted=form.unwanted, said=form.said, item_bias=bias)
        if not forms or not named or form.choices or temperature > 0:
            return answer
        return dataclasses.replace(answer, text=heard_again(self.lm, tok, state.lm, prompt, question, answer.text,
                                                            state.tags))

    def describe(self, state: StreamState, *, recent: bool = False, **kw) -> Answer:
        """ask() with the description prompt: the whole recording, or (recent=True) its last ten seconds.

        An item the model repeats word for word ("car horn, car horn") is said once. The feed's descriptions
        (recent=True) keep the names decoded with what the tags hear (`witnessed`) rather than naming each item
        again: that costs about 50 ms a name on the laptop CPU every 2 s and took the live loop's real-time
        factor over 0.1 (docs/LIVE.md).
        """
        kw.setdefault("named", not recent)
        answer = self.ask(state, LIVE_PROMPT if recent else DESCRIBE_PROMPT, **kw)
        return dataclasses.replace(answer, text=distinct_items(answer.text))
