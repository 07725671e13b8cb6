"""The session benchmark's code paths at tiny sizes: what it feeds, forks and measures is right."""
import pytest
import torch

pytest.importorskip("transformers")

from model.bench.session import (MambaListener, TransformerListener, bench_session, build_models,  # noqa: E402
                                 hops_for, plot, schedule, summary, timed_hops)

HOP = 8


def test_schedule_covers_every_hop_once_and_never_merges_across_a_mark():
    n, marks = 60, [7, 30, 60]
    timed = timed_hops(n, marks, every=16, first=marks[0])
    plan = schedule(n, timed, marks)
    covered = [h for first, count, _ in plan for h in range(first, first + count)]
    assert covered == list(range(n))
    for first, count, is_timed in plan:
        assert not is_timed or count == 1
        assert is_timed == (first in timed)
        assert not any(first < m < first + count for m in marks)  # a question falls between runs only
    assert {7 - 1, 30 - 1, 60 - 1} <= timed and set(range(7)) <= timed
    assert any(count > 1 for _, count, _ in plan)  # untimed stretches really are merged


def test_hops_for_one_minute_is_375_tokens():
    assert hops_for(1, HOP) == 47  # 376 tokens = 60.16 s at 6.25 tokens/s
    assert hops_for(60, HOP) == 2812


@torch.no_grad()
def test_scheduled_feeding_equals_one_long_pass():
    lm, llama = build_models("sam-tiny")
    n, marks = 30, [4, 30]
    plan = schedule(n, timed_hops(n, marks, every=10, first=2), marks)
    assert len(plan) < n  # some hops are pushed together
    stream = torch.randn(1, n * HOP, lm.cfg.d_model)
    ours, theirs = MambaListener(lm), TransformerListener(llama)
    for first, count, _ in plan:
        for listener in (ours, theirs):
            listener.feed(stream[:, first * HOP:(first + count) * HOP])
    _, whole = lm.hidden(inputs_embeds=stream)
    assert ours.state.seen == whole.seen == n * HOP
    assert ((ours.state.ssm - whole.ssm).norm() / whole.ssm.norm()).item() < 1e-4
    assert torch.allclose(ours.state.conv, whole.conv, atol=1e-6)
    once = TransformerListener(llama)
    once.feed(stream)
    assert theirs.cache.get_seq_length() == n * HOP
    for a, b in zip(theirs.cache.layers, once.cache.layers):
        assert torch.allclose(a.keys, b.keys, atol=1e-5) and torch.allclose(a.values, b.values, atol=1e-5)


@torch.no_grad()
def test_questions_leave_the_listening_state_as_it_was():
    lm, llama = build_models("sam-tiny")
    stream = torch.randn(1, 3 * HOP, lm.cfg.d_model)
    prompt = torch.randint(3, lm.cfg.vocab_size, (1, 10))
    ours, theirs = MambaListener(lm), TransformerListener(llama)
    for listener in (ours, theirs):
        listener.feed(stream)
    ssm, keys = ours.state.ssm.clone(), theirs.cache.layers[0].keys.clone()
    for listener in (ours, theirs):
        answer = listener.ask(prompt, 5)
        assert answer["ttft_ms"] > 0 and answer["tokens_per_s"] > 0
    assert torch.equal(ours.state.ssm, ssm)
    assert theirs.cache.get_seq_length() == 3 * HOP
    assert torch.equal(theirs.cache.layers[0].keys, keys)
    # The cache after the question continues exactly as if no question had been asked.
    more = torch.randn(1, HOP, lm.cfg.d_model)
    theirs.feed(more)
    fresh = TransformerListener(llama)
    fresh.feed(torch.cat([stream, more], dim=1))
    assert torch.allclose(theirs.cache.layers[-1].keys, fresh.cache.layers[-1].keys, atol=1e-5)


def test_tiny_session_run_measures_a_constant_state_and_a_growing_cache(tmp_path):
    res = bench_session(minutes=(0.1, 0.3), every=4, repeats=1, preset="sam-tiny")
    flat = summary(res)
    assert res["ratios"]["mamba2"]["state_mib"] == 1.0
    tokens = [m["audio_tokens"] for m in res["transformer"]["marks"]]
    assert res["ratios"]["transformer"]["state_mib"] == pytest.approx(tokens[1] / tokens[0])
    assert flat["mamba2.0.3min.state_mib"] == pytest.approx(res["mamba2"]["marks"][1]["state_mib"])
    for path in plot(res, tmp_path):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
