"""SpecAugment masks: bands and stretches as configured, only while training."""
import pytest
import torch

from model.audio import CLIP_FRAMES, SAMPLE_RATE
from model.config import SAMConfig
from model.data.feature_masks import FeatureMasks, mask_features
from model.objectives import AnswerObjective
from model.prompt import training_batch
from model.sam import SAM
from model.tokenizer import Tokenizer
from model.train import parse_args


def runs(flags):
    """(start, length) of each run of True in a 1-d bool tensor."""
    out, start = [], None
    for i, f in enumerate(flags.tolist() + [False]):
        if f and start is None:
            start = i
        elif not f and start is not None:
            out.append((start, i - start))
            start = None
    return out


def test_masked_cells_are_zero_and_form_the_drawn_bands_and_stretches():
    gen = torch.Generator().manual_seed(0)
    feats = torch.rand(64, 2 * CLIP_FRAMES, 128) + 1.0  # nothing is 0 before masking
    masks = FeatureMasks(freq=2, freq_width=24, time=2, time_width=16)
    out = mask_features(feats, masks, gen)
    zero = out == 0
    assert torch.equal(out[~zero], feats[~zero])  # what is not masked is untouched
    for row in zero:
        bins, frames = row.all(dim=0), row.all(dim=1)
        assert torch.equal(row, bins[None, :] | frames[:, None])  # only whole bands and whole stretches
        assert len(runs(bins)) <= 2 and int(bins.sum()) <= 2 * 24
        assert len(runs(frames)) <= 2 * 2 and int(frames.sum()) <= 2 * 2 * 16  # two per 10.24 s
    assert zero.any(dim=1).any(dim=0).all()  # over the batch, bands reach every bin, edges included


def test_widths_are_uniform_up_to_the_widest():
    gen = torch.Generator().manual_seed(1)
    out = mask_features(torch.ones(4000, 16, 128), FeatureMasks(freq=1, freq_width=24), gen)
    widths = (out[:, 0] == 0).sum(dim=1).float()
    assert widths.max() == 24 and widths.min() == 0
    assert abs(widths.mean().item() - 12.0) < 0.6  # uniform on 0..24; the mean's standard error is 0.11


def test_no_masks_change_nothing():
    feats = torch.randn(3, 160, 128)
    assert not FeatureMasks() and not FeatureMasks(freq=2) and FeatureMasks(time=1, time_width=5)
    assert torch.equal(mask_features(feats, FeatureMasks()), feats)


def test_an_objective_masks_in_training_only():
    tok = Tokenizer.train(["a dog barks", "what do you hear?", "rain falls"] * 30, vocab_size=280)
    sam = SAM(SAMConfig.from_name("sam-tiny"), tok)
    audio = torch.randn(2, int(2.56 * SAMPLE_RATE)) * 0.1
    ids, target = training_batch(tok, ["what do you hear?"] * 2, ["a dog barks", "rain falls"])
    plain = sam(audio, ids, target).item()
    masked = AnswerObjective(sam, FeatureMasks(freq=4, freq_width=40, time=4, time_width=30))
    torch.manual_seed(0)
    assert masked.train()(audio, ids, target).item() != pytest.approx(plain, abs=1e-6)
    assert masked.eval()(audio, ids, target).item() == pytest.approx(plain, abs=1e-6)
    assert AnswerObjective(sam).train()(audio, ids, target).item() == pytest.approx(plain, abs=1e-6)


def test_the_flags_reach_the_config():
    cfg = parse_args(["--stage", "joint", "--freq-masks", "2", "24", "--time-masks", "1", "16"])
    assert FeatureMasks(*cfg.freq_masks, *cfg.time_masks) == FeatureMasks(2, 24, 1, 16)
    for bad in (["--freq-masks", "2"], ["--time-masks", "1", "x"]):
        with pytest.raises(SystemExit):
            parse_args(["--stage", "joint", *bad])
