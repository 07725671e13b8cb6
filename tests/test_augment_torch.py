"""Augmentation on the training device: the batched torch chains agree with the numpy reference."""
import random

import numpy as np
import pytest
import torch

from model.data.augment import AugmentConfig, Chain, Noise, apply, draw, fast_len, random_signals
from model.data.augment_torch import augment_batch, signals

HALF = AugmentConfig(colour_prob=0.5, reverb_prob=0.5, noise_prob=0.5, resample_prob=0.5, clip_prob=0.5)


def numpy_signals(chains, n):
    """The reference's own random signals, laid out as augment_batch takes them."""
    pairs = [random_signals(c, n) for c in chains]
    tails = torch.zeros(len(chains), max((c.ir_length() for c in chains), default=0))
    noises = torch.zeros(len(chains), fast_len(n))
    for i, (tail, noise) in enumerate(pairs):
        if tail is not None:
            tails[i, : len(tail)] = torch.from_numpy(tail)
        if noise is not None:
            noises[i] = torch.from_numpy(noise)
    return tails, noises


@pytest.mark.parametrize("n", [16_000 * 2 + 3, 4_801])
def test_batched_chains_agree_with_the_reference(n):
    rng = np.random.default_rng(n)
    chains = [draw(rng, HALF) for _ in range(16)]
    # every transform is present in some rows and absent in others
    for field in ("colour", "reverb", "band_hz", "noise", "clip_drive_db"):
        present = [getattr(c, field) is not None for c in chains]
        assert any(present) and not all(present), field
    x = (0.2 * rng.standard_normal((16, n))).astype(np.float32)
    x[3] *= 8  # loud enough to hit the final clip
    want = np.stack([apply(x[i], c) for i, c in enumerate(chains)])
    got = augment_batch(torch.from_numpy(x), chains, *numpy_signals(chains, n)).numpy()
    assert got.shape == want.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, want, atol=2e-5 * np.abs(want).max())


def test_seeded_noise_lands_at_the_drawn_snr():
    n = 48_000
    x = torch.from_numpy((0.1 * np.random.default_rng(1).standard_normal((6, n))).astype(np.float32))
    chains = [Chain(None, None, None, Noise(e, snr), None, 0.0, seed)
              for seed, (e, snr) in enumerate([(0.0, 10.0), (0.5, 20.0), (1.0, 30.0)] * 2)]
    y = augment_batch(x, chains)
    snr = 20 * torch.log10(x.square().mean(1).sqrt() / (y - x).square().mean(1).sqrt())
    assert torch.allclose(snr, torch.tensor([c.noise.snr_db for c in chains]), atol=0.05)
    assert not torch.equal(y[0] - x[0], y[3] - x[3])  # other seeds, other noise
    again = augment_batch(x, chains)
    assert torch.equal(y, again)  # the seeds fix the noise
    tails, noises = signals(chains, n, x.device)
    assert tails.shape == (6, 0) and noises.shape == (6, fast_len(n))


def test_a_batch_augmented_on_the_device_equals_one_augmented_by_the_workers(tmp_path):
    from model.batches import BatchSpec, BatchStream
    from model.data.corpus import load_corpus
    from model.data.dataset import clip_bank
    from test_data_build import make_corpus  # here, not at the top: it needs soundfile, the CUDA test does not

    corpus = load_corpus(make_corpus(tmp_path / "corpus"))
    train = corpus.subset("train")
    bank = clip_bank(train)
    spec = dict(kinds=("tags", "mcq"), batch_size=6, seconds=(1.0, 3.0), long_fraction=0.0, long_seconds=(30.0, 60.0),
                augment=True, hold_out=(), block_samples=20480)
    for b in range(3):
        on_cpu = BatchStream(corpus, BatchSpec(**spec), 0).batch(random.Random(b), bank, corpus.class_names, train)
        later = BatchStream(corpus, BatchSpec(**spec, augment_on="device"), 0).batch(random.Random(b), bank,
                                                                                     corpus.class_names, train)
        assert on_cpu.chains is None and len(later.chains) == 6
        assert (on_cpu.questions, on_cpu.answers, on_cpu.texts) == (later.questions, later.answers, later.texts)
        assert torch.equal(on_cpu.labels, later.labels)
        n = later.audio.shape[1]
        got = augment_batch(later.audio, later.chains, *numpy_signals(later.chains, n))
        torch.testing.assert_close(got, on_cpu.audio, atol=2e-5, rtol=0)
        assert not torch.equal(later.audio, on_cpu.audio)


@pytest.mark.gpu
def test_on_cuda_the_chains_agree_with_the_reference():
    n = 16_000 * 15
    rng = np.random.default_rng(7)
    chains = [draw(rng, HALF) for _ in range(64)]
    x = (0.2 * rng.standard_normal((64, n))).astype(np.float32)
    want = np.stack([apply(x[i], c) for i, c in enumerate(chains)])
    tails, noises = numpy_signals(chains, n)
    got = augment_batch(torch.from_numpy(x).cuda(), chains, tails.cuda(), noises.cuda()).cpu().numpy()
    np.testing.assert_allclose(got, want, atol=1e-4 * np.abs(want).max())  # cuFFT in float32 over 240k samples
    seeded = augment_batch(torch.from_numpy(x).cuda(), chains)
    assert torch.isfinite(seeded).all() and seeded.abs().max() <= 1.0
