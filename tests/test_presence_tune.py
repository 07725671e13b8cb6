"""YAMNet's last blocks tuned with a presence head: the columns it hears are the branch's, its frozen trunk and
copied top make YAMNet's own embedding before training, and the columns kept are the scene's, labelled as the
presence head's are."""
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from model.audio import TOKENS_PER_SECOND, with_floor
from model.config import SAMConfig
from model.presence import column_labels
from model.presence_tune import BLOCKS, TunedTop, column_patches, labelled, trunk_features
from model.sam import SAM
from model.tokenizer import Tokenizer


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(5)
    cfg = SAMConfig.from_name("sam-tiny").replace(branch="yamnet")
    return SAM(cfg, Tokenizer.train(["is there a dog? yes", "rain"] * 30, vocab_size=270)).eval()


@torch.inference_mode()
@pytest.mark.parametrize("blocks", [0, 2, BLOCKS])
def test_trunk_and_untrained_top_give_the_branchs_embedding_of_every_column(model, blocks):
    g = torch.Generator().manual_seed(2)
    audio = 0.1 * torch.randn(2, 2 * model.block_samples, generator=g)
    floored, before = with_floor(audio, model.block_samples)
    frames = model.branch.frames(floored, before)
    reference = model.branch.embeddings(frames, model.branch.zero_context(2, "cpu"))  # (2, columns, 1024)
    patches = column_patches(model.branch, audio, model.block_samples)
    assert patches.shape[:2] == reference.shape[:2]
    tuned = TunedTop(model.branch.yamnet, blocks, 3)
    pooled = tuned.top(trunk_features(model.branch.yamnet, patches.flatten(0, 1), blocks)).mean((2, 3))
    torch.testing.assert_close(pooled.unflatten(0, reference.shape[:2]), reference, rtol=1e-4, atol=1e-5)


def test_tuning_changes_the_copy_and_never_yamnet_itself(model):
    before = {k: v.clone() for k, v in model.branch.yamnet.state_dict().items()}
    tuned = TunedTop(model.branch.yamnet, 2, 3)
    with torch.no_grad():
        for p in tuned.top.parameters():
            p.add_(1.0)
    assert all(torch.equal(v, model.branch.yamnet.state_dict()[k]) for k, v in before.items())


def test_only_the_columns_within_each_scene_are_kept_and_labelled():
    index = {"dog": 0, "rain": 1, "bell": 2}
    event = SimpleNamespace(label="dog", start_s=0.5, end_s=1.0)
    scenes = [SimpleNamespace(duration_s=2.0, events=[event], background=None),
              SimpleNamespace(duration_s=3.2, events=[], background=SimpleNamespace(label="rain"))]
    columns = 30  # the batch's audio is longer than both scenes
    patches = torch.arange(2 * columns, dtype=torch.float32).reshape(2, columns, 1, 1).expand(2, columns, 96, 64)
    x, y = labelled(SimpleNamespace(scenes=scenes), patches, index)
    n0, n1 = int(np.ceil(2.0 * TOKENS_PER_SECOND)), int(np.ceil(3.2 * TOKENS_PER_SECOND))
    assert x.shape[0] == y.shape[0] == n0 + n1
    assert torch.equal(x[:n0, 0, 0], torch.arange(n0, dtype=torch.float32))  # scene 0's first columns, in order
    assert torch.equal(x[n0:, 0, 0], columns + torch.arange(n1, dtype=torch.float32))
    assert np.array_equal(y[:n0].numpy(), column_labels([("dog", 0.5, 1.0)], None, n0, index))
    assert y[n0:, 1].all() and not y[n0:, [0, 2]].any()
