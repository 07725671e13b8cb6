"""The presence head: its column labels, its rows in the tags (hearing whole = streaming, saved with the state),
what a question's words read of them, and its fitting."""
import numpy as np
import pytest
import torch

from model.answer_forms import asked_form, heard_priors
from model.audio import TOKENS_PER_SECOND
from model.checkpoint import load_sam, save_sam
from model.config import SAMConfig
from model.presence import LABEL_S, Columns, PresenceHead, auc, column_labels, fit, report, with_head
from model.sam import SAM
from model.stream import StreamState
from model.tags import OWN_THRESHOLD, Tags, own_evidence, own_rows
from model.tokenizer import Tokenizer
from model.yamnet import NUM_CLASSES
from test_tags import audio  # noqa: F401  (the fixture: a tone over noise, the recording the tags' tests hear)

OWN = ("dog", "rain", "speech", "female speech", "car horn")
TEXT = ["do you hear a dog barking? yes", "is there rain? no", "a door slams", "a) dog b) rain"] * 30


def test_a_column_is_labelled_with_what_sounds_in_its_last_seconds():
    index = {c: i for i, c in enumerate(OWN)}
    events = [("dog", 1.0, 2.0), ("car horn", 3.05, 3.1)]
    y = column_labels(events, "rain", 30, index)
    for col in range(30):  # slow reference: each column's window against each event
        end = (col + 1) / TOKENS_PER_SECOND
        for label, start, stop in events:
            assert y[col, index[label]] == (start < end and end - LABEL_S < stop)
    assert y[:, index["rain"]].all() and not y[:, index["speech"]].any()
    assert y[:, index["car horn"]].sum() >= 3  # a blip of 50 ms still labels the columns that hear it


def test_auc_matches_counting_pairs():
    g = np.random.default_rng(0)
    pos, neg = g.integers(0, 5, 40).astype(float), g.integers(0, 5, 60).astype(float)
    pairs = [(p > n) + 0.5 * (p == n) for p in pos for n in neg]
    assert auc(pos, neg) == pytest.approx(np.mean(pairs))


def test_fitting_learns_a_separable_presence():
    g = np.random.default_rng(1)
    x = g.standard_normal((6000, 16)).astype(np.float16)
    y = (x[:, :3] > 0.5).astype(np.uint8)  # class k sounds where feature k is high
    one = lambda n: (np.arange(n + 1), np.zeros(n, bool))  # every column a scene of its own
    head = fit(Columns(x[:4000], y[:4000], *one(4000)), steps=200, lr=1e-2, hidden=32)
    res = report(head, Columns(x[4000:], y[4000:], *one(2000)), 0.5)
    assert res["auc"] > 0.95
    assert res["present_called"] > 0.8 and res["absent_called"] < 0.2


# ---------------------------------------------------------------- in the model

@pytest.fixture(scope="module", params=["tokens", "embedding", "both"])
def model(request):
    """sam-tiny with a YAMNet branch and a presence head reading each of what it may read of a column (random
    weights: the tests compare its paths)."""
    torch.manual_seed(4)
    cfg = SAMConfig.from_name("sam-tiny").replace(branch="yamnet", presence=OWN, presence_reads=request.param)
    return SAM(cfg, Tokenizer.train(TEXT, vocab_size=290)).eval()


def test_the_tags_hold_the_heads_probabilities_after_yamnets_rows(model, audio):
    state = model.hear(audio)
    with torch.inference_mode():  # slow reference: the whole recording's tokens and embeddings, the head on them
        tokens, _, emb = model.heard(model.pad_to_blocks(audio.reshape(1, -1)))
        read = {"tokens": tokens, "embedding": emb, "both": torch.cat([tokens, emb], -1)}[model.cfg.presence_reads]
        want = model.presence(read)
    assert model.presence.mean.numel() == read.shape[-1]
    assert state.tags.own == OWN
    assert state.tags.ever.shape == (1, NUM_CLASSES + len(OWN))
    torch.testing.assert_close(state.tags.ever[:, NUM_CLASSES:], want.amax(1), atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(state.tags.recent[:, -want.shape[1]:, NUM_CLASSES:], want, atol=1e-5, rtol=1e-4)


def test_streaming_in_pieces_tags_the_own_rows_as_hearing_the_whole(model, audio):
    state = model.new_state()
    for a, b in ((0, 777), (777, 30000), (30000, audio.numel())):
        state = model.listen(audio[a:b], state)
    state = model.listen(audio[:0], state, flush=True)
    whole = model.hear(audio)
    torch.testing.assert_close(state.tags.recent, whole.tags.recent, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(state.tags.ever, whole.tags.ever, atol=1e-5, rtol=1e-4)


def test_a_saved_state_keeps_the_own_rows_and_one_without_them_gains_them(model, audio, tmp_path):
    state = model.hear(audio)
    state.save(tmp_path / "s.safetensors", model.cfg)
    back = StreamState.load(tmp_path / "s.safetensors", model.cfg)
    assert back.tags.own == OWN
    torch.testing.assert_close(back.tags.ever, state.tags.ever)
    plain = state.tags.with_own(())  # as a model without a head would have saved it
    older = Tags(plain.recent[..., :NUM_CLASSES], plain.ever[:, :NUM_CLASSES], plain.columns,
                 plain.onset[:, :NUM_CLASSES], plain.run[:, :NUM_CLASSES])
    resumed = StreamState(state.lm, state.encoder, state.pending, state.history, state.samples_seen, state.branch, older)
    after = model.listen(audio[:4000], resumed, flush=True)
    assert after.tags.own == OWN and after.tags.ever.shape[-1] == NUM_CLASSES + len(OWN)
    torch.testing.assert_close(after.tags.ever[:, :NUM_CLASSES] >= older.ever, torch.ones_like(older.ever, dtype=bool))


def test_a_model_with_its_head_saves_and_loads(model, audio, tmp_path):
    save_sam(model, tmp_path / "ckpt")
    back = load_sam(tmp_path / "ckpt")
    assert back.cfg.presence == OWN
    torch.testing.assert_close(back.hear(audio).tags.ever, model.hear(audio).tags.ever)
    assert back.cfg.presence_reads == model.cfg.presence_reads
    head = PresenceHead(model.cfg.lm.d_model, 2)
    again = with_head(back, head, ["dog", "rain"])
    assert again.cfg.presence == ("dog", "rain") and back.cfg.presence == OWN and again.cfg.presence_reads == "tokens"
    assert torch.equal(again.presence.net[0].weight, head.net[0].weight)


def test_the_config_names_its_head_only_when_it_has_one():
    cfg = SAMConfig.from_name("sam-tiny").replace(branch="yamnet")
    assert "presence" not in cfg.to_dict()
    d = cfg.replace(presence=OWN).to_dict()
    assert d["presence"] == list(OWN) and SAMConfig.from_dict(d).presence == OWN
    assert "presence_reads" not in d  # a head that reads the tokens, as every head did before it could read more
    both = cfg.replace(presence=OWN, presence_reads="both").to_dict()
    assert both["presence_reads"] == "both" and SAMConfig.from_dict(both).presence_reads == "both"
    with pytest.raises(ValueError, match="presence_reads"):
        cfg.replace(presence=OWN, presence_reads="spectrogram")
    with pytest.raises(ValueError, match="distinct"):
        cfg.replace(presence=("dog", "dog"))
    with pytest.raises(ValueError, match="needs the branch"):
        SAM(SAMConfig.from_name("sam-tiny").replace(presence=OWN))


# ---------------------------------------------------------------- what a question reads

def own_tags(probs: dict[str, float], level: float = 0.01) -> Tags:
    s = torch.full((1, 20, NUM_CLASSES + len(OWN)), level)
    for c, p in probs.items():
        s[0, -1, NUM_CLASSES + OWN.index(c)] = p
    return Tags.empty(1, own=OWN).push(s)


def test_a_question_reads_the_rows_of_the_classes_it_names_or_the_group_it_asks_about():
    at = {c: NUM_CLASSES + i for i, c in enumerate(OWN)}
    assert own_rows("is there a dog?", OWN) == (at["dog"],)
    assert set(own_rows("is anyone there?", OWN)) == {at["speech"], at["female speech"]}
    assert own_rows("is there a cat?", OWN) == ()  # a class the head does not hear: nothing, not a group
    assert own_rows("is there a dog?", ()) == ()


def test_the_head_says_yes_to_what_it_hears_and_no_to_what_it_does_not():
    tags = own_tags({"dog": 0.9})
    assert own_evidence(tags.ever[0], "is there a dog?", OWN) > 0
    assert own_evidence(tags.ever[0], "is it raining?", OWN) == 0  # never against: its silence says little
    assert own_evidence(tags.ever[0], "is there a cat?", OWN) is None
    yes = heard_priors(asked_form("is there a dog?"), "is there a dog?", tags, weight=0.0)
    no = heard_priors(asked_form("is it raining?"), "is it raining?", tags, weight=0.0)
    assert yes[0] > 0 and no[0] == 0  # the first answer allowed is "yes"
    off = heard_priors(asked_form("is there a dog?"), "is there a dog?", tags, own_weight=0.0)
    alone = heard_priors(asked_form("is there a dog?"), "is there a dog?", tags, weight=0.0)
    both = heard_priors(asked_form("is there a dog?"), "is there a dog?", tags)
    assert alone[0] == pytest.approx(yes[0]) and both[0] == pytest.approx(off[0] + alone[0])


def test_options_gain_by_what_the_head_heard_of_each():
    tags = own_tags({"rain": 0.95})
    q = "Which of these can you hear? A) dog B) rain"
    priors = heard_priors(asked_form(q), q, tags, weight=0.0)
    assert priors[1] > 0 == priors[0]
    q = "Which of these did you NOT hear? A) dog B) rain"
    priors = heard_priors(asked_form(q), q, tags, weight=0.0)
    assert priors[1] < 0 == priors[0]
    assert OWN_THRESHOLD < 0.95


def test_naming_reads_yamnets_rows_alone(model, audio):
    from model.naming import named_scores

    tags = model.hear(audio).tags
    plain = Tags(tags.recent[..., :NUM_CLASSES], tags.ever[:, :NUM_CLASSES], tags.columns,
                 tags.onset[:, :NUM_CLASSES], tags.run[:, :NUM_CLASSES])
    for q in ("what was that?", "what did you just hear?"):
        assert torch.equal(named_scores(q, tags), named_scores(q, plain))


def test_naming_hears_the_heads_support_for_a_sound_only_and_weighs_it_by_its_weight():
    import math

    from model.naming import best_fused, choose_name, named_own

    tags = own_tags({"rain": 0.95, "dog": 0.2})
    own = named_own("what was that?", tags)
    assert set(own) == {"rain"}  # under OWN_THRESHOLD the head says nothing, for or against
    assert own["rain"] == pytest.approx(math.log(0.95 / 0.05) - math.log(OWN_THRESHOLD / (1 - OWN_THRESHOLD)))
    assert named_own("what was that?", Tags.empty(1).push(torch.rand(1, 3, NUM_CLASSES))) == {}  # no head
    lm, scores = {"dog": -1.0, "rain": -2.0}, torch.full((NUM_CLASSES,), 0.001)
    assert choose_name(lm, scores, added=False, own=own, own_weight=0.0) == "dog"
    assert choose_name(lm, scores, added=False, own=own, own_weight=1.0) == "rain"  # 3.4 nats of support beat 1
    assert choose_name({"dog": -1.0, "rain": -9.0}, scores, added=False, own=own, own_weight=1.0) == "dog"
    names = list(lm)  # the bounded search agrees with its slow reference when the head weighs in
    got = best_fused(names, [lm[c] for c in names], lambda some: [lm[c] for c in some], scores, own=own,
                     own_weight=1.0)
    assert got == "rain"


def test_the_choice_grid_replays_each_witness_as_the_answers_weigh_them():
    import math

    from model.evaluation.presence import grid

    g = np.random.default_rng(2)
    rows = [{"present": int(g.random() < 0.5), "lm": float(g.random()), "tags": float(g.normal()) if k % 3 else None,
             "head": float(g.random())} for k in range(200)]
    res = grid(rows, 0.5)
    lo = lambda p: math.log(p / (1 - p))  # noqa: E731
    for (w, t, low, way) in ((1.0, 0.15, -8, "both ways"), (2.0, 0.3, 0, "only for")):  # slow reference, row by row
        yes = [lo(r["lm"]) + 0.5 * (r["tags"] or 0.0) + w * max(low, min(8, lo(r["head"]) - lo(t))) > 0 for r in rows]
        right = np.mean([y == bool(r["present"]) for y, r in zip(yes, rows)])
        assert res[f"and the head {way} at {w}, threshold {t}"]["right"] == pytest.approx(right, abs=1e-4)
    alone = np.mean([(lo(r["lm"]) > 0) == bool(r["present"]) for r in rows])
    assert res["language model"]["right"] == pytest.approx(alone, abs=1e-4)
