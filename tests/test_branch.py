"""The YAMNet hearing branch: a column hears YAMNet's last 0.96 s, streams equal whole recordings,
a new branch changes nothing until trained, and checkpoints, states and --freeze carry it."""
import json

import pytest
import torch

from model.audio import LEFT_PAD, SAMPLE_RATE
from model.branch import CONTEXT_FRAMES
from model.checkpoint import load_sam, save_sam
from model.config import SAMConfig
from model.files import write_safetensors
from model.sam import SAM
from model.stream import StreamState
from model.tokenizer import Tokenizer
from model.train import frozen, with_branch
from model.yamnet import PATCH_FRAMES, SILENCE, YAMNet

TEXT = ["a dog barks", "a door slams", "quiet", "rain falls", "is there a dog?", "yes", "no"] * 20


@pytest.fixture(scope="module")
def tok():
    return Tokenizer.train(TEXT, vocab_size=290)


@pytest.fixture(scope="module")
def model(tok):
    """sam-tiny with a branch whose projection is not zero, so the branch shows in every output."""
    torch.manual_seed(1)
    m = SAM(SAMConfig.from_name("sam-tiny").replace(branch="yamnet"), tok).eval()
    torch.nn.init.normal_(m.branch.proj.fc2.weight, std=0.05)
    return m


@pytest.fixture(scope="module")
def audio():
    g = torch.Generator().manual_seed(3)
    t = torch.arange(int(4.1 * SAMPLE_RATE)) / SAMPLE_RATE
    tone = 0.3 * torch.sin(2 * torch.pi * 440 * t) * (t > 1.5)
    return (tone + 0.02 * torch.randn(2, t.numel(), generator=g)).float()


def test_a_column_hears_the_96_frames_that_end_with_it(model, audio):
    """Slow reference: YAMNet's frames of the whole floored recording, silence before it, cut by hand."""
    from model.audio import with_floor

    padded = model.pad_to_blocks(audio)
    floored, before = with_floor(padded, model.block_samples)
    frames = model.branch.frames(floored, before)
    assert frames.shape[1] == padded.shape[1] // 160
    lead = torch.full((2, CONTEXT_FRAMES, frames.shape[2]), SILENCE)
    every = torch.cat([lead, frames], dim=1)
    with torch.inference_mode():
        got = model.branch.embeddings(frames, model.branch.zero_context(2, "cpu"))
        for column in (0, 3, 11, got.shape[1] - 1):
            end = CONTEXT_FRAMES + 16 * (column + 1)
            want = model.branch.yamnet.embed(every[:, end - PATCH_FRAMES:end])
            torch.testing.assert_close(got[:, column], want, atol=1e-5, rtol=1e-4)


def test_frames_need_no_future_audio(model, audio):
    """A frame covers [160 i - 240, 160 i + 160): the frames of a prefix are a prefix of the frames."""
    from model.audio import with_floor

    floored, before = with_floor(model.pad_to_blocks(audio), model.block_samples)
    whole = model.branch.frames(floored, before)
    cut = 5 * model.block_samples // 2
    first = model.branch.frames(floored[:, :cut], before)
    second = model.branch.frames(floored[:, cut:], floored[:, cut - LEFT_PAD:cut])
    torch.testing.assert_close(torch.cat([first, second], 1), whole, atol=1e-5, rtol=1e-5)


def test_streaming_in_odd_pieces_equals_hearing_the_whole_recording(model, audio):
    whole = model.hear(audio)
    state = model.new_state(2)
    for start in range(0, audio.shape[1], 7001):
        state = model.listen(audio[:, start:start + 7001], state)
    state = model.listen(audio[:, :0], state, flush=True)
    torch.testing.assert_close(state.branch, whole.branch)
    torch.testing.assert_close(state.lm.ssm, whole.lm.ssm, atol=1e-5, rtol=1e-4)
    assert whole.branch.shape == (2, CONTEXT_FRAMES, 64)


def test_training_tokens_equal_what_a_stream_hears(model, audio):
    """audio_tokens (training) and hear (inference) put the same tokens into the LM."""
    padded = model.pad_to_blocks(audio)
    _, want = model.lm.hidden(inputs_embeds=model.audio_tokens(padded))
    torch.testing.assert_close(model.hear(padded).lm.ssm, want.ssm, atol=1e-5, rtol=1e-4)


def test_the_branch_changes_the_tokens(model, audio):
    plain = SAM(model.cfg.replace(branch=""), model.tokenizer).eval()
    for name in ("encoder", "connector", "lm"):
        getattr(plain, name).load_state_dict(getattr(model, name).state_dict())
    padded = model.pad_to_blocks(audio)
    assert (model.audio_tokens(padded) - plain.audio_tokens(padded)).abs().max() > 1e-3


@pytest.fixture(scope="module")
def yamnet_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("yamnet")
    torch.manual_seed(4)
    write_safetensors(folder / "yamnet.safetensors", dict(YAMNet().state_dict()), {"model": "yamnet", "format": "pt"})
    return folder


def test_a_new_branch_leaves_the_answers_as_they_were(tok, audio, yamnet_dir):
    plain = SAM(SAMConfig.from_name("sam-tiny"), tok).eval()
    branched = with_branch(plain, "yamnet", str(yamnet_dir)).eval()
    padded = plain.pad_to_blocks(audio)
    torch.testing.assert_close(branched.audio_tokens(padded), plain.audio_tokens(padded))
    want = YAMNet()
    want.load_state_dict(stored_weights(yamnet_dir))
    assert all(torch.equal(a, b) for a, b in zip(branched.branch.yamnet.state_dict().values(),
                                                 want.state_dict().values()))
    with pytest.raises(ValueError, match="already has"):
        with_branch(branched, "yamnet", str(yamnet_dir))


def stored_weights(folder):
    from model.files import read_safetensors

    return read_safetensors(folder / "yamnet.safetensors")[0]


def test_checkpoint_round_trip_keeps_the_branch(model, audio, tmp_path):
    save_sam(model, tmp_path / "ckpt")
    config = json.loads((tmp_path / "ckpt" / "config.json").read_text())
    assert config["branch"] == "yamnet"
    loaded = load_sam(tmp_path / "ckpt")
    padded = model.pad_to_blocks(audio)
    torch.testing.assert_close(loaded.audio_tokens(padded), model.audio_tokens(padded))


def test_a_model_without_a_branch_writes_the_config_it_always_did(tok):
    cfg = SAMConfig.from_name("sam-tiny")
    assert "branch" not in cfg.to_dict()
    assert SAMConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="branch"):
        cfg.replace(branch="clap")


def test_a_saved_state_keeps_the_branch_frames(model, audio, tmp_path):
    state = model.listen(audio[:, : 3 * model.block_samples], model.new_state(2))
    state.save(tmp_path / "s.safetensors", model.cfg)
    back = StreamState.load(tmp_path / "s.safetensors", model.cfg)
    torch.testing.assert_close(back.branch, state.branch)
    broken = StreamState(state.lm, state.encoder, state.pending, state.history, state.samples_seen,
                         state.branch[:, :10])
    broken.save(tmp_path / "bad.safetensors", model.cfg)
    with pytest.raises(ValueError, match="bad.safetensors.*branch frames"):
        StreamState.load(tmp_path / "bad.safetensors", model.cfg)


def test_freeze_names_parts_of_the_branch(model, tok):
    assert frozen(model, "branch.yamnet") is model.branch.yamnet
    with pytest.raises(ValueError, match="no branch"):
        frozen(SAM(SAMConfig.from_name("sam-tiny"), tok), "branch")
    with pytest.raises(ValueError, match="not one of"):
        frozen(model, "yamnet")


def test_encoder_dropout_trains_the_branch_with_finite_gradients(tok, audio, yamnet_dir):
    """Left-out scenes hear the branch alone; a new branch's zero tokens must not poison the gradient.

    The shipped model's LM has no finite gradient for all-zero input (the gated RMSNorm of its first
    layer), which a left-out scene of a new branch would be if its encoder tokens were zeros."""
    from model.checkpoint import default_checkpoint
    from model.objectives import AnswerObjective
    from model.prompt import training_batch

    shipped = load_sam(default_checkpoint())
    plain = SAM(shipped.cfg.replace(branch="", presence=()), shipped.tokenizer)  # the shipped encoder, connector and LM alone
    for name in ("encoder", "connector", "lm"):
        getattr(plain, name).load_state_dict(getattr(shipped, name).state_dict())
    m = with_branch(plain, "yamnet", str(yamnet_dir))  # projection at zero, as when added
    objective = AnswerObjective(m, encoder_dropout=0.5).train()
    ids, mask = training_batch(m.tokenizer, ["is there a dog?"] * 2, ["yes", "no"])
    padded = m.pad_to_blocks(audio)
    torch.manual_seed(0)  # the first of the two scenes dropped, the second kept, with this seed
    dropped = torch.rand(2) < 0.5
    assert dropped.tolist() == [True, False]
    torch.manual_seed(0)
    objective(padded, ids, mask).backward()
    grads = [p.grad for p in objective.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    assert m.branch.proj.fc2.weight.grad.abs().sum() > 0  # the branch learns from the first step
    assert objective.absent.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="branch"):
        AnswerObjective(SAM(SAMConfig.from_name("sam-tiny"), tok), encoder_dropout=0.5)
    with pytest.raises(ValueError, match="share"):
        AnswerObjective(m, encoder_dropout=1.0)


def test_a_bfloat16_model_hears_through_its_branch(model, audio):
    """The frames are float32 whatever the weights; YAMNet must take them in its own dtype."""
    half = SAM(model.cfg, model.tokenizer).eval()
    half.load_state_dict(model.state_dict())
    half = half.to(torch.bfloat16)
    state = half.listen(audio[:1], half.new_state())
    assert torch.isfinite(state.lm.ssm.float()).all() and state.branch.shape[1] == CONTEXT_FRAMES


def test_the_teacher_teaches_the_encoder_and_leaves_yamnet_as_it_is(model, audio):
    """--teacher: the encoder learns YAMNet's scores and embedding of the same scene; YAMNet itself gets no gradient."""
    from model.objectives import AnswerObjective, teacher_loss
    from model.prompt import training_batch

    m = SAM(model.cfg, model.tokenizer)
    m.load_state_dict(model.state_dict())
    m.branch.yamnet.requires_grad_(False)  # as --freeze branch.yamnet holds it
    objective = AnswerObjective(m, teacher=1.0).train()
    ids, mask = training_batch(m.tokenizer, ["is there a dog?"] * 2, ["yes", "no"])
    padded = m.pad_to_blocks(audio)
    plain = AnswerObjective(m).train()
    answer_only = plain(padded, ids, mask).item()
    _, patches, emb = m.heard(padded)
    assert emb.shape[:2] == patches.shape[:2] and emb.shape[-1] == 1024  # one embedding per column
    distil = teacher_loss(objective.teacher_head, patches, emb, m.branch.yamnet).item()
    assert 0.3 < distil < 3  # about 0.7 for BCE against scores and ~1 for an untrained embedding guess
    total = objective(padded, ids, mask)
    assert abs(total.item() - (answer_only + distil)) < 1e-3 * (answer_only + distil)
    total.backward()
    assert all(p.grad is None for p in m.branch.yamnet.parameters())
    assert m.encoder.patch_embed.proj.weight.grad.abs().sum() > 0
    # the head can learn it: a few steps on the encoder and head alone lower the distillation loss
    opt = torch.optim.Adam([*objective.teacher_head.parameters(), *m.encoder.parameters()], lr=3e-3)
    for _ in range(30):
        opt.zero_grad()
        _, patches, emb = m.heard(padded)
        loss = teacher_loss(objective.teacher_head, patches, emb, m.branch.yamnet)
        loss.backward()
        opt.step()
    assert loss.item() < 0.7 * distil
    with pytest.raises(ValueError, match="branch"):
        AnswerObjective(SAM(SAMConfig.from_name("sam-tiny"), model.tokenizer), teacher=1.0)
    with pytest.raises(ValueError, match="weight"):
        AnswerObjective(m, teacher=-1.0)
