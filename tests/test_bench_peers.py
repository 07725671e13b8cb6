"""The peer benchmark's weight mapping: transformers' Mamba2 with our weights computes what we compute."""
import pytest
import torch

pytest.importorskip("transformers")

from model.bench.peers import agreement, alternating_medians, bench_preset, build_peer  # noqa: E402
from model.config import MambaConfig  # noqa: E402
from model.lm import MambaLM  # noqa: E402

# Two groups and a short chunk, so the group layout of B and C and the chunk boundaries both matter.
CFG = MambaConfig(d_model=32, n_layer=2, vocab_size=100, d_state=8, headdim=8, ngroups=2, chunk_size=8)


def random_lm(cfg=CFG):
    lm = MambaLM(cfg, backend="torch").eval()
    with torch.no_grad():  # non-trivial dt, D and gains so that a wrongly mapped tensor shows
        for layer in lm.backbone.layers:
            layer.mixer.dt_bias.uniform_(-1, 1)
            layer.mixer.D.normal_()
            layer.mixer.norm.weight.uniform_(0.5, 1.5)
            layer.norm.weight.uniform_(0.5, 1.5)
    return lm


def test_peer_with_our_weights_agrees_on_prefill_append_and_step():
    lm = random_lm()
    diffs = agreement(lm, build_peer(lm), prefill=21, append=13, steps=3)
    assert set(diffs) == {"prefill", "append", "step"}
    assert max(diffs.values()) < 1e-4, diffs


def test_agreement_notices_a_different_model():
    lm = random_lm()
    peer = build_peer(lm)
    with torch.no_grad():
        peer.backbone.layers[1].mixer.D.add_(0.5)
    assert agreement(lm, peer, prefill=21, append=13, steps=3)["prefill"] > 1e-3


def test_alternating_medians_interleaves_the_calls():
    calls = []
    alternating_medians({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, repeat=3, warmup=1)
    assert calls == ["a", "b"] * 4


def test_tiny_preset_end_to_end():
    res = bench_preset("mamba2-tiny", step_repeat=1, append_repeat=1)
    assert res["mamba2-tiny.max_rel_diff"] < 1e-4
    assert res["mamba2-tiny.our_cpu_chunk"] == 8  # the config's 8, below the CPU chunk
    assert res["mamba2-tiny.theirs_cpu_chunk.max_rel_diff_prefill"] < 1e-4  # their chunk changes speed only
    for key in ("step", "append_8", "append_64", "append_512"):
        assert res[f"mamba2-tiny.{key}.ours_ms"] > 0 and res[f"mamba2-tiny.{key}.theirs_ms"] > 0
