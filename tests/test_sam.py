"""SAM: token rates, streaming equals offline, asking forks, the model learns, connectors, encoder."""
import random

import pytest
import torch

from model.audio import SAMPLE_RATE
from model.config import ConnectorConfig, EncoderConfig, SAMConfig
from model.encoder import AudioEncoder
from model.generate import Answer
from model.prompt import DESCRIBE_PROMPT, distinct_items, training_batch
from model.sam import SAM
from model.tokenizer import Tokenizer

TEXT = ["a dog barks", "a door slams", "quiet", "rain falls", "what do you hear?", "how many dogs?",
        "two", "speech then music", "yes", "no"] * 20


@pytest.fixture(scope="module")
def tok():
    return Tokenizer.train(TEXT, vocab_size=290)


def tiny(tok, **changes):
    cfg = SAMConfig.from_name("sam-tiny")
    return SAM(cfg.replace(**changes) if changes else cfg, tok).eval()


def test_token_rates(tok):
    m = tiny(tok)
    assert m.audio_tokens(torch.zeros(1, int(10.24 * SAMPLE_RATE))).shape == (1, 64, m.cfg.lm.d_model)
    assert m.audio_tokens(torch.zeros(1, int(1.28 * SAMPLE_RATE))).shape == (1, 8, m.cfg.lm.d_model)
    state = m.listen(torch.zeros(int(1.28 * SAMPLE_RATE)), m.new_state())
    assert state.lm.seen == 8 and state.pending.shape[-1] == 0


@pytest.mark.parametrize("layout,per_column", [("column", 1), ("time_major", 8), ("freq_major", 8)])
def test_connector_layouts(tok, layout, per_column):
    m = tiny(tok, connector=ConnectorConfig(layout=layout))
    audio = torch.randn(1, int(2.56 * SAMPLE_RATE)) * 0.1
    assert m.audio_tokens(audio).shape[1] == 16 * per_column
    streamed = m.listen(audio[0], m.new_state())
    assert torch.allclose(streamed.lm.ssm, m.hear(audio).lm.ssm, atol=1e-5)


def test_freq_major_orders_rows_within_a_block(tok):
    m = tiny(tok, connector=ConnectorConfig(layout="freq_major"))
    bc = m.cfg.encoder.block_columns
    patches = torch.zeros(1, 2 * bc, 8, m.cfg.encoder.dim)
    for t in range(2 * bc):
        for f in range(8):
            patches[0, t, f, 0] = 100 * t + f
    mlp_in = []
    m.connector.mlp.register_forward_hook(lambda mod, inp, out: mlp_in.append(inp[0]))
    m.connector(patches)
    order = mlp_in[0][0, :, 0].tolist()
    expected = [100 * t + f for blk in range(2) for f in range(8) for t in range(blk * bc, (blk + 1) * bc)]
    assert order == expected


def test_streaming_encoder_equals_whole_clip():
    cfg = EncoderConfig(dim=32, depth=2, heads=2, block_columns=2, context_blocks=2)
    enc = AudioEncoder(cfg).eval()
    feats = torch.randn(2, 32 * 9, 128)
    with torch.no_grad():
        whole = enc(feats)
        cache, parts = enc.zero_cache(2, "cpu", torch.float32), []
        for a, b in [(0, 32), (32, 128), (128, 160), (160, 288)]:
            out, cache = enc.stream(feats[:, a:b], cache)
            parts.append(out)
    assert torch.allclose(torch.cat(parts, 1), whole, atol=1e-5, rtol=1e-5)
    # block-causal: the future never changes the past
    changed = feats.clone()
    changed[:, 160:] += 1.0
    with torch.no_grad():
        assert torch.equal(enc(changed)[:, :10], whole[:, :10])


@pytest.mark.parametrize("seconds", [7.3, 6.5, 0.01])  # the last part longer, shorter than the pad; tiny
def test_streaming_listen_equals_offline(tok, seconds):
    m = tiny(tok)
    audio = torch.randn(int(seconds * SAMPLE_RATE)) * 0.2
    rng = random.Random(3)
    state, i = m.new_state(), 0
    while i < audio.numel():
        j = min(audio.numel(), i + rng.randint(1, 30_000))
        state = m.listen(audio[i:j], state)
        i = j
    state = m.listen(audio[:0], state, flush=True)
    offline = m.hear(audio)
    assert state.samples_seen == offline.samples_seen == audio.numel()
    assert torch.allclose(state.encoder.keys, offline.encoder.keys, atol=1e-6)
    # the LM reads the tokens in other chunk sizes: float32 rounding of values around 1
    assert torch.allclose(state.lm.ssm, offline.lm.ssm, rtol=1e-4, atol=1e-5)
    assert torch.allclose(state.lm.conv, offline.lm.conv, rtol=1e-4, atol=1e-5)
    a, b = m.ask(state, "what do you hear?"), m.ask(offline, "what do you hear?")
    assert a.text == b.text and a.n_tokens == b.n_tokens


def test_ask_leaves_the_listening_state_unchanged(tok):
    m = tiny(tok)
    state = m.listen(torch.randn(3 * SAMPLE_RATE) * 0.1, m.new_state())
    snapshot = state.fork()
    streamed = []
    ans = m.describe(state, max_new_tokens=6, on_token=streamed.append)
    assert torch.equal(state.lm.ssm, snapshot.lm.ssm) and torch.equal(state.lm.conv, snapshot.lm.conv)
    assert state.lm.seen == snapshot.lm.seen
    assert distinct_items("".join(streamed).strip()) == ans.text
    assert 0 < ans.time_to_first_token <= ans.total_time


@pytest.mark.parametrize("said,shown", [
    ("car horn, car horn", "car horn"), ("cymbal, digging, Cymbal", "cymbal, digging"),
    ("dog at 1.0-2.0 s, dog at 3.0-4.0 s", "dog at 1.0-2.0 s, dog at 3.0-4.0 s"),  # two events: both kept
    ("speech,music", "speech,music"), ("", ""),
])
def test_a_repeated_description_item_is_said_once(said, shown):
    assert distinct_items(said) == shown


def test_describe_says_each_item_once(tok, monkeypatch):
    m = tiny(tok)
    monkeypatch.setattr(m, "ask", lambda state, question, **kw: Answer("tree falling, cymbal, tree falling", 5, 0.1, 9.0, 0.5))
    assert m.describe(m.new_state()).text == "tree falling, cymbal"


def test_sampling_respects_top_p():
    from model.generate import sample

    logits = torch.tensor([[5.0, 4.0, -10.0, -10.0]])
    g = torch.Generator().manual_seed(0)
    draws = {int(sample(logits, 1.0, 0.5, g)) for _ in range(50)}
    assert draws == {0}  # token 0 alone holds more than half the mass
    draws = {int(sample(logits, 1.0, 1.0, g)) for _ in range(200)}
    assert draws <= {0, 1} and 1 in draws


def test_tiny_model_overfits_one_triple(tok):
    torch.manual_seed(0)
    m = tiny(tok).train()
    audio = torch.randn(1, int(1.28 * SAMPLE_RATE)) * 0.3
    answer = "a dog barks"
    ids, mask = training_batch(tok, [DESCRIBE_PROMPT], [answer])
    opt = torch.optim.AdamW(m.parameters(), lr=3e-3)
    before = {n: p.detach().clone() for n, p in m.named_parameters()}
    for _ in range(300):
        loss = m(audio, ids, mask)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.05
    for part in ("encoder.blocks.0.attn.qkv.weight", "connector.mlp.fc1.weight", "lm.backbone.layers.0.mixer.in_proj.weight"):
        assert not torch.equal(before[part], dict(m.named_parameters())[part]), part
    m.eval()
    assert m.describe(m.hear(audio[0])).text == answer


def test_batched_greedy_decoding_equals_one_by_one(tok):
    from model.generate import generate_batch
    from model.prompt import prompt_ids

    m = tiny(tok)
    states = [m.listen(torch.randn(int(s * SAMPLE_RATE)) * 0.2, m.new_state(), flush=True) for s in (1.0, 2.5, 4.0)]
    questions = ["what do you hear?", "how many dogs?", "a door slams?"]
    batched = generate_batch(m.lm, tok, [s.lm for s in states], [prompt_ids(tok, q) for q in questions], 12)
    single = [m.ask(s, q, max_new_tokens=12, forms=False).text for s, q in zip(states, questions)]
    assert batched == single
    assert any(len(t) > 3 for t in single)  # real decoding, not empty answers
