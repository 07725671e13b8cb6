"""The layer work behind the CUDA-graph decoder and hop, checked on the CPU against the eager calls.

The graphs themselves need CUDA (tests/test_gpu.py); the functions they replay do not (the
per-layer compiled block, the whole compiled step, the appends), so their agreement with
MambaLM.step and MambaLM.hidden and their in-place state updates are held here on every run.
"""
import pytest
import torch

from model.config import MambaConfig
from model.cuda_graph import HOP_TOKENS, GraphedAppend, GraphedStep, block_appends, compiled_block_step, whole_step
from model.lm import MambaLM

TINY = MambaConfig(d_model=64, n_layer=3, vocab_size=100, d_state=16, headdim=16, chunk_size=8)


def test_compiled_block_step_equals_the_eager_step():
    torch.manual_seed(0)
    lm = MambaLM(TINY, backend="torch").eval()
    layer_step, weights = compiled_block_step(lm)
    with torch.no_grad():
        _, state = lm(torch.randint(0, 100, (1, 11)))
        conv, ssm = state.conv.clone(), state.ssm.clone()
        for t in range(3):
            tok = torch.randint(0, 100, (1,))
            want, state = lm.step(tok, state=state)
            residual = lm.embed(tok).float()
            for i, w in enumerate(weights):
                residual = layer_step(w, residual, conv[i], ssm[i])  # writes conv[i], ssm[i] in place
            got = lm.lm_head(lm.backbone.norm_f(residual))
            assert torch.allclose(got, want, rtol=1e-5, atol=1e-5), t
            assert torch.allclose(ssm, state.ssm, rtol=1e-5, atol=1e-6) and torch.allclose(conv, state.conv, atol=1e-6)


@pytest.mark.parametrize("compiled", [False, True])
def test_block_appends_equal_the_eager_append(compiled):
    """The layers GraphedAppend captures, run uncaptured: each hop equals lm.hidden onto the same state."""
    lm = MambaLM(TINY, backend="torch").eval()
    layers = block_appends(lm, compiled)
    tol = 1e-4 if compiled else 1e-6
    with torch.no_grad():
        _, state = lm(torch.randint(0, 100, (2, 11)))
        conv, ssm = state.conv.clone(), state.ssm.clone()
        for hop in range(3):
            embeds = torch.randn(2, HOP_TOKENS, TINY.d_model)
            want, state = lm.hidden(inputs_embeds=embeds, state=state)
            residual = embeds
            for i, layer in enumerate(layers):
                residual = layer(residual, conv[i], ssm[i])  # writes conv[i], ssm[i] in place
            got = lm.backbone.norm_f(residual)
            assert torch.allclose(got, want, rtol=tol, atol=tol), hop
            assert torch.allclose(ssm, state.ssm, rtol=tol, atol=tol) and torch.allclose(conv, state.conv, atol=tol)


@pytest.mark.parametrize("graphed", [GraphedStep, GraphedAppend])
def test_graphs_refuse_a_cpu_model(graphed):
    with pytest.raises(ValueError, match="needs the model on a CUDA device"):
        graphed(MambaLM(TINY, backend="torch"))


@pytest.mark.parametrize("compiled", [False, True])
def test_whole_step_equals_the_eager_step(compiled):
    """GraphedStep(compiled="whole")'s function: logits and per-layer states written in place, as lm.step."""
    lm = MambaLM(TINY, backend="torch").eval()
    step, weights = whole_step(lm, compiled=compiled)
    tol = 1e-5 if compiled else 1e-6
    with torch.no_grad():
        _, state = lm(torch.randint(0, 100, (2, 11)))
        conv, ssm = state.conv.clone(), state.ssm.clone()
        convs, ssms = list(conv.unbind(0)), list(ssm.unbind(0))  # as GraphedStep passes its static state
        for t in range(3):
            tok = torch.randint(0, 100, (2,))
            want, state = lm.step(tok, state=state)
            got = step(weights, tok, convs, ssms)  # writes conv, ssm in place through their views
            assert torch.allclose(got, want, rtol=tol, atol=tol), t
            assert torch.allclose(ssm, state.ssm, rtol=tol, atol=tol) and torch.allclose(conv, state.conv, atol=tol)


def test_graphed_step_refuses_an_unknown_compiled_choice():
    with pytest.raises(ValueError, match="compiled must be"):
        GraphedStep(MambaLM(TINY, backend="torch"), compiled="all")
