"""The Mamba-2 core: chunked scan, chunk-append and step against a naive recurrence."""
import json
import random

import pytest
import torch
import torch.nn.functional as F

from model.config import MambaConfig
from model.lm import MambaLM
from model.state import MambaState
from model.state_spaces import load_mamba, save_mamba

CFG = MambaConfig(d_model=32, n_layer=2, vocab_size=100, d_state=8, headdim=8, ngroups=2, chunk_size=8)


def naive_mixer(mixer, u):
    """The Mamba-2 mixer token by token from its parameters, written independently of model/."""
    c = mixer.cfg
    b, L, _ = u.shape
    H, P, N, G = c.nheads, c.headdim, c.d_state, c.ngroups
    zxbcdt = u @ mixer.in_proj.weight.T
    z, xBC, dt = zxbcdt.split([c.d_inner, c.conv_dim, H], dim=-1)
    w = mixer.conv1d.weight[:, 0]  # (conv_dim, k)
    k = c.d_conv
    padded = torch.cat([xBC.new_zeros(b, k - 1, c.conv_dim), xBC], dim=1)
    conv = torch.stack([(padded[:, t:t + k].transpose(1, 2) * w).sum(-1) for t in range(L)], 1)
    xBC = F.silu(conv + mixer.conv1d.bias)
    x, Bm, Cm = xBC.split([c.d_inner, G * N, G * N], dim=-1)
    A = -torch.exp(mixer.A_log)
    dt = F.softplus(dt + mixer.dt_bias)
    h = torch.zeros(b, H, P, N)
    ys = []
    for t in range(L):
        y_t = []
        for head in range(H):
            g = head // (H // G)
            xh = x[:, t, head * P:(head + 1) * P]  # (b, P)
            Bt, Ct = Bm[:, t, g * N:(g + 1) * N], Cm[:, t, g * N:(g + 1) * N]
            dth = dt[:, t, head, None, None]
            h[:, head] = torch.exp(dth * A[head]) * h[:, head] + dth * xh[:, :, None] * Bt[:, None, :]
            y_t.append((h[:, head] * Ct[:, None, :]).sum(-1) + mixer.D[head] * xh)
        ys.append(torch.cat(y_t, -1))
    y = torch.stack(ys, 1) * F.silu(z)
    gs = c.d_inner // G
    y = torch.cat([yy * torch.rsqrt(yy.pow(2).mean(-1, keepdim=True) + c.norm_eps)
                   for yy in y.split(gs, dim=-1)], -1) * mixer.norm.weight
    return y @ mixer.out_proj.weight.T


def naive_lm(lm, ids):
    res = lm.backbone.embedding(ids)
    for layer in lm.backbone.layers:
        n = layer.norm
        x = res * torch.rsqrt(res.pow(2).mean(-1, keepdim=True) + n.eps) * n.weight
        res = res + naive_mixer(layer.mixer, x)
    n = lm.backbone.norm_f
    return (res * torch.rsqrt(res.pow(2).mean(-1, keepdim=True) + n.eps) * n.weight) @ lm.lm_head.weight.T


def rel_err(a, b):
    return ((a - b).norm() / b.norm()).item()


def random_lm(cfg=CFG):
    lm = MambaLM(cfg, backend="torch").eval()
    with torch.no_grad():  # larger dt and non-trivial gains so every term matters
        for layer in lm.backbone.layers:
            layer.mixer.dt_bias.uniform_(-1, 1)
            layer.mixer.D.normal_()
            layer.mixer.norm.weight.uniform_(0.5, 1.5)
    return lm


@pytest.mark.parametrize("L", [1, 7, 8, 23, 40])
def test_chunked_scan_matches_naive_recurrence(L):
    lm = random_lm()
    ids = torch.randint(0, CFG.vocab_size, (2, L))
    with torch.no_grad():
        ref = naive_lm(lm, ids)
        out, state = lm(ids)
    assert rel_err(out, ref) < 1e-4
    assert state.seen == L


def test_chunk_append_at_random_splits_and_step_match_naive():
    rng = random.Random(1)
    lm = random_lm()
    for trial in range(4):
        L = rng.randint(10, 45)
        ids = torch.randint(0, CFG.vocab_size, (2, L))
        cuts = sorted(rng.sample(range(1, L), 3))
        with torch.no_grad():
            ref = naive_lm(lm, ids)
            state, outs = None, []
            for a, b in zip([0, *cuts], [*cuts, L]):
                o, state = lm(ids[:, a:b], state=state)
                outs.append(o)
            appended = torch.cat(outs, 1)
            state_s, steps = None, []
            for t in range(L):
                o, state_s = lm.step(ids[:, t], state=state_s)
                steps.append(o)
            stepped = torch.stack(steps, 1)
        assert rel_err(appended, ref) < 1e-4, (trial, cuts)
        assert rel_err(stepped, ref) < 1e-4, trial
        assert rel_err(state_s.ssm, state.ssm) < 1e-4
        assert torch.allclose(state_s.conv, state.conv, atol=1e-6)


def test_output_does_not_depend_on_chunk_size():
    lm = random_lm()
    ids = torch.randint(0, CFG.vocab_size, (1, 37))
    outs = []
    for cs in (1, 4, 8, 16, 64):
        other = MambaLM(MambaConfig(**{**CFG.to_dict(), "chunk_size": cs}), backend="torch").eval()
        other.load_state_dict(lm.state_dict())
        with torch.no_grad():
            outs.append(other(ids)[0])
    for o in outs[1:]:
        assert rel_err(o, outs[0]) < 1e-5


def test_inputs_embeds_equal_ids():
    lm = random_lm()
    ids = torch.randint(0, CFG.vocab_size, (2, 9))
    with torch.no_grad():
        a, _ = lm(ids)
        b, _ = lm(inputs_embeds=lm.embed(ids))
    assert torch.equal(a, b)


DESIGN_130M = {
    "backbone.embedding.weight": (50288, 768),
    "backbone.layers.{i}.norm.weight": (768,),
    "backbone.layers.{i}.mixer.in_proj.weight": (3352, 768),
    "backbone.layers.{i}.mixer.conv1d.weight": (1792, 1, 4),
    "backbone.layers.{i}.mixer.conv1d.bias": (1792,),
    "backbone.layers.{i}.mixer.dt_bias": (24,),
    "backbone.layers.{i}.mixer.A_log": (24,),
    "backbone.layers.{i}.mixer.D": (24,),
    "backbone.layers.{i}.mixer.norm.weight": (1536,),
    "backbone.layers.{i}.mixer.out_proj.weight": (768, 1536),
    "backbone.norm_f.weight": (768,),
    "lm_head.weight": (50288, 768),
}


def test_130m_preset_has_the_public_keys_and_shapes():
    with torch.device("meta"):
        lm = MambaLM(MambaConfig.from_name("mamba2-130m"))
    want = {}
    for k, shape in DESIGN_130M.items():
        for i in range(24) if "{i}" in k else [None]:
            want[k.format(i=i)] = shape
    got = {k: tuple(v.shape) for k, v in lm.state_dict().items()}
    assert got == want
    assert lm.lm_head.weight is lm.backbone.embedding.weight


def test_state_spaces_directory_round_trip(tmp_path):
    lm = random_lm()
    save_mamba(lm, tmp_path)
    raw = json.loads((tmp_path / "config.json").read_text())
    assert raw["d_model"] == CFG.d_model and raw["ssm_cfg"]["layer"] == "Mamba2"
    loaded = load_mamba(tmp_path, backend="torch").eval()
    ids = torch.randint(0, CFG.vocab_size, (1, 12))
    with torch.no_grad():
        assert torch.equal(lm(ids)[0], loaded(ids)[0])


def test_pickled_checkpoint_needs_the_flag(tmp_path):
    lm = random_lm()
    save_mamba(lm, tmp_path)
    (tmp_path / "model.safetensors").unlink()
    torch.save(lm.state_dict(), tmp_path / "pytorch_model.bin")
    with pytest.raises(ValueError, match="pickle"):
        load_mamba(tmp_path)
    loaded = load_mamba(tmp_path, allow_pickle=True, backend="torch").eval()
    ids = torch.randint(0, CFG.vocab_size, (1, 5))
    with torch.no_grad():
        assert torch.equal(lm(ids)[0], loaded(ids)[0])


def test_shape_mismatch_names_the_key(tmp_path):
    save_mamba(random_lm(), tmp_path)
    raw = json.loads((tmp_path / "config.json").read_text())
    raw["ssm_cfg"]["d_state"] = 16
    (tmp_path / "config.json").write_text(json.dumps(raw))
    with pytest.raises(ValueError, match=r"backbone\.layers\.0\.mixer\.in_proj\.weight"):
        load_mamba(tmp_path)


def test_saved_state_continues_exactly(tmp_path):
    lm = random_lm()
    ids = torch.randint(0, CFG.vocab_size, (2, 30))
    with torch.no_grad():
        _, state = lm(ids[:, :17])
        state.save(tmp_path / "s.safetensors")
        loaded = MambaState.load(tmp_path / "s.safetensors")
        a, sa = lm(ids[:, 17:], state=state)
        b, sb = lm(ids[:, 17:], state=loaded)
    assert loaded.seen == 17
    assert torch.equal(a, b) and torch.equal(sa.ssm, sb.ssm)


def test_fork_is_independent():
    lm = random_lm()
    ids = torch.randint(0, CFG.vocab_size, (1, 10))
    with torch.no_grad():
        _, state = lm(ids)
        before = state.ssm.clone()
        lm(ids, state=state.fork())
    assert torch.equal(state.ssm, before)


def test_bad_inputs_are_value_errors(tmp_path):
    lm = random_lm()
    with pytest.raises(ValueError, match="width"):
        lm(inputs_embeds=torch.randn(1, 3, CFG.d_model + 1))
    _, state = lm(torch.randint(0, CFG.vocab_size, (2, 3)))
    with pytest.raises(ValueError, match="batch size"):
        lm(torch.randint(0, CFG.vocab_size, (1, 3)), state=state)
    other = MambaState.zeros(MambaConfig(**{**CFG.to_dict(), "d_state": 16}), 2)
    with pytest.raises(ValueError, match="another model config"):
        lm(torch.randint(0, CFG.vocab_size, (2, 3)), state=other)
    (tmp_path / "junk.safetensors").write_bytes(b"not a state")
    with pytest.raises(ValueError, match="junk.safetensors"):
        MambaState.load(tmp_path / "junk.safetensors")
    with pytest.raises(ValueError, match="preset"):
        MambaConfig.from_name("mamba2-9b")
