"""Training objectives: what a curriculum stage minimises, as modules whose forward returns the loss.

Each objective turns a Batch into tensors (`inputs`, outside forward) and computes its loss in
`forward`, so DDP and FSDP see every parameter used through one forward call.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .batches import Batch
from .data.feature_masks import FeatureMasks, mask_features
from .prompt import right_padded, training_batch
from .sam import SAM
from .yamnet import EMBEDDING, NUM_CLASSES, YAMNet

IGNORE = -100  # label of positions without a target


class TaggerHead(nn.Module):
    """Mean-pooled encoder patches -> class logits."""

    def __init__(self, dim: int, n_classes: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.proj = nn.Linear(dim, n_classes)

    def forward(self, patches: Tensor) -> Tensor:
        return self.proj(self.norm(patches.mean(dim=(1, 2))))


class TaggerObjective(nn.Module):
    """Stage 1: the encoder tags the scene's classes (multi-label BCE); the LM learns the text (next token).

    The two share nothing yet; the connector is not used and is held fixed.
    """

    def __init__(self, sam: SAM, n_classes: int, masks: FeatureMasks = FeatureMasks()):
        super().__init__()
        self.sam, self.masks = sam, masks
        self.head = TaggerHead(sam.cfg.encoder.dim, n_classes)
        sam.connector.requires_grad_(False)

    def inputs(self, batch: Batch, device: torch.device) -> tuple[Tensor, Tensor, Tensor]:
        tok = self.sam.tokenizer
        rows = [[tok.eot_id, *tok.encode(" " + t), tok.eot_id] for t in batch.texts]
        ids = right_padded(rows, IGNORE)
        return batch.audio.to(device, non_blocking=True), batch.labels.to(device), ids.to(device)

    def forward(self, audio: Tensor, labels: Tensor, ids: Tensor) -> Tensor:
        patches = self.sam.encoder(training_features(self, audio))
        tag = F.binary_cross_entropy_with_logits(self.head(patches).float(), labels)
        logits, _ = self.sam.lm(ids.clamp_min(0))
        text = F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), ids[:, 1:].flatten(), ignore_index=IGNORE)
        return tag + text


class TeacherHead(nn.Module):
    """An encoder column's patches -> logits of YAMNet's 521 classes and a guess of its 1024-d embedding,
    both of the 0.96 s that end with the column."""

    def __init__(self, dim: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.scores = nn.Linear(dim, NUM_CLASSES)
        self.embedding = nn.Linear(dim, EMBEDDING)

    def forward(self, patches: Tensor) -> tuple[Tensor, Tensor]:
        x = self.norm(patches.mean(dim=2))
        return self.scores(x), self.embedding(x)


def teacher_loss(head: TeacherHead, patches: Tensor, emb: Tensor, yamnet: YAMNet) -> Tensor:
    """Distillation of YAMNet into the encoder, column by column: binary cross-entropy against YAMNet's
    scores plus one minus the cosine to its embedding (about 0.7 and 1 before training)."""
    emb = emb.detach().float()
    with torch.no_grad():
        target = torch.sigmoid(yamnet.classifier(emb.to(yamnet.classifier.weight.dtype))).float()
    logits, guess = head(patches)
    scores = F.binary_cross_entropy_with_logits(logits.float(), target)
    return scores + (1 - F.cosine_similarity(guess.float(), emb, dim=-1)).mean()


class AnswerObjective(nn.Module):
    """Stages 2-4: cross-entropy of the answer tokens after the audio and the question.

    `encoder_dropout`: with a hearing branch, the share of scenes (in training) whose encoder tokens
    are left out, so the LM learns to answer from the branch alone. Without it the encoder, which
    knows every training clip well, answers for both, and the branch is hardly used (a 7-minute GPU
    run gave its tokens a tenth of the encoder's norm and changed 1 open answer in 25). A left-out
    scene's encoder tokens become one learnt vector, not zeros: a new branch's tokens are zeros too,
    and all-zero LM input has no finite gradient through the gated RMSNorm.

    `teacher`: with a hearing branch, the weight of `teacher_loss`, which teaches our encoder to hear
    what YAMNet hears in the same scene (YAMNet runs on the mixed scene anyway, for the branch); the
    head it trains is not part of the model.
    """

    def __init__(self, sam: SAM, masks: FeatureMasks = FeatureMasks(), encoder_dropout: float = 0.0,
                 teacher: float = 0.0):
        super().__init__()
        for flag, value in (("--encoder-dropout", encoder_dropout), ("--teacher", teacher)):
            if value and sam.branch is None:
                raise ValueError(f"{flag} needs a model with a hearing branch (--branch yamnet)")
        if not 0 <= encoder_dropout < 1:
            raise ValueError(f"--encoder-dropout {encoder_dropout}: a share in [0, 1)")
        if teacher < 0:
            raise ValueError(f"--teacher {teacher}: a weight of 0 or more")
        self.sam, self.masks, self.encoder_dropout, self.teacher = sam, masks, encoder_dropout, teacher
        if encoder_dropout:
            self.absent = nn.Parameter(torch.randn(sam.cfg.lm.d_model) * 0.02)
        if teacher:
            self.teacher_head = TeacherHead(sam.cfg.encoder.dim)

    def inputs(self, batch: Batch, device: torch.device) -> tuple[Tensor, Tensor, Tensor]:
        ids, mask = training_batch(self.sam.tokenizer, batch.questions, batch.answers)
        return batch.audio.to(device, non_blocking=True), ids.to(device), mask.to(device)

    def forward(self, audio: Tensor, ids: Tensor, mask: Tensor) -> Tensor:
        absent = None
        if self.training and self.encoder_dropout:
            dropped = torch.rand(audio.shape[0], device=audio.device) < self.encoder_dropout
            absent = (dropped, self.absent)
        audio_tok, patches, emb = self.sam.heard(audio, feature_masking(self), absent)
        loss = self.sam.answer_loss(audio_tok, ids, mask)
        if self.teacher:
            loss = loss + self.teacher * teacher_loss(self.teacher_head, patches, emb, self.sam.branch.yamnet)
        return loss


class HeardObjective(nn.Module):
    """The answer objective from audio tokens heard once and stored (a heard-scene bank, model/bank.py):
    the encoder and connector are not run, only the language side learns."""

    def __init__(self, sam: SAM):
        super().__init__()
        self.sam, self.masks = sam, FeatureMasks()

    def inputs(self, batch, device: torch.device) -> tuple[Tensor, Tensor, Tensor]:
        ids, mask = training_batch(self.sam.tokenizer, batch.questions, batch.answers)
        return batch.tokens.to(device, non_blocking=True), ids.to(device), mask.to(device)

    def forward(self, tokens: Tensor, ids: Tensor, mask: Tensor) -> Tensor:
        return self.sam.answer_loss(tokens, ids, mask)


def feature_masking(objective: TaggerObjective | AnswerObjective) -> Callable[[Tensor], Tensor] | None:
    """The masking of the encoder's input in training mode, when the objective has masks (never in eval)."""
    return (lambda feats: mask_features(feats, objective.masks)) if objective.training and objective.masks else None


def training_features(objective: TaggerObjective | AnswerObjective, audio: Tensor) -> Tensor:
    """The encoder's input for a batch, masked as `feature_masking` says."""
    feats = objective.sam.hearing_features(audio)
    masking = feature_masking(objective)
    return masking(feats) if masking else feats


def objective_for(stage: str, sam: SAM, n_classes: int, masks: FeatureMasks = FeatureMasks(),
                  heard: bool = False, encoder_dropout: float = 0.0,
                  teacher: float = 0.0) -> TaggerObjective | AnswerObjective | HeardObjective:
    """The stage's objective; `heard`: answers from a bank's stored audio tokens."""
    if heard:
        if stage == "tagger":
            raise ValueError("a heard-scene bank holds no audio to tag: --bank trains the answer stages only")
        return HeardObjective(sam)
    if stage == "tagger":
        return TaggerObjective(sam, n_classes, masks)
    return AnswerObjective(sam, masks, encoder_dropout, teacher)
