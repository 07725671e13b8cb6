"""GPU: mamba_ssm's kernels against the PyTorch path, and the CUDA-graph step against eager.

Tolerances: in float32 the Triton scan multiplies through tl.dot, which runs in TF32 (10-bit
mantissa, relative error ~5e-4 per product), so the paths agree to ~1e-3 relative, not 1e-6:
we allow 5e-3. In bfloat16 (8-bit mantissa, ~4e-3 per rounding, compounded over layers) both
paths round differently; we compare each with the float32 PyTorch reference and allow 3e-2.
"""
import pytest
import torch

from model import kernels
from model.config import MambaConfig
from model.lm import MambaLM

pytestmark = pytest.mark.gpu
CFG = MambaConfig(d_model=256, n_layer=3, vocab_size=1000, d_state=64, headdim=64, chunk_size=64)


def rel(a, b):
    return ((a.float() - b.float()).norm() / b.float().norm()).item()


@pytest.fixture(scope="module")
def models():
    if kernels.load() is None:
        pytest.fail("mamba_ssm's Triton kernels did not import on this CUDA machine")
    torch.manual_seed(0)
    ref = MambaLM(CFG, backend="torch").cuda().eval()
    with torch.no_grad():
        for layer in ref.backbone.layers:
            layer.mixer.dt_bias.uniform_(-2, 0)
    fast = MambaLM(CFG, backend="kernels").cuda().eval()
    fast.load_state_dict(ref.state_dict())
    return ref, fast


@pytest.mark.parametrize("dtype,tol", [(torch.float32, 5e-3), (torch.bfloat16, 3e-2)])
def test_forward_chunk_append_and_step_agree(models, dtype, tol):
    ref, fast = models
    fast = fast.to(dtype)
    ids = torch.randint(0, CFG.vocab_size, (2, 300), device="cuda")  # not a multiple of chunk_size
    with torch.no_grad():
        want, want_state = ref(ids)
        got, got_state = fast(ids)
        assert rel(got, want) < tol
        assert rel(got_state.ssm, want_state.ssm) < tol
        state, parts = None, []
        for a, b in [(0, 37), (37, 38), (38, 200), (200, 300)]:
            out, state = fast(ids[:, a:b], state=state)
            parts.append(out)
        assert rel(torch.cat(parts, 1), want) < tol
        assert rel(state.ssm, want_state.ssm) < tol
        s_ref, s_fast = want_state, state
        for t in range(5):
            tok = torch.randint(0, CFG.vocab_size, (2,), device="cuda")
            l_ref, s_ref = ref.step(tok, state=s_ref)
            l_fast, s_fast = fast.step(tok, state=s_fast)
            assert rel(l_fast, l_ref) < tol, t
    fast.float()


@pytest.mark.parametrize("compiled", [False, True])
def test_cuda_graph_step_equals_eager(models, compiled):
    """Same kernels replayed: equal to rounding; compiled (fused, reassociated) float32: to 1e-4."""
    from model.cuda_graph import GraphedStep

    _, fast = models
    tol = 1e-4 if compiled else 1e-5
    ids = torch.randint(0, CFG.vocab_size, (1, 50), device="cuda")
    with torch.no_grad():
        _, state = fast(ids)
        graphed = GraphedStep(fast, batch_size=1, compiled=compiled)
        graphed.load(state)
        eager = state
        for t in range(8):
            tok = torch.randint(0, CFG.vocab_size, (1,), device="cuda")
            l_eager, eager = fast.step(tok, state=eager)
            l_graph = graphed(tok).clone()
            assert torch.allclose(l_graph, l_eager, rtol=tol, atol=tol), t
        assert torch.allclose(graphed.state.ssm, eager.ssm, rtol=tol, atol=tol)


# Relative error allowed between the whole step compiled into one graph and the eager lm.step on the
# same (PyTorch-path) model: fused and reassociated float32 differs by rounding only; in bfloat16 the
# compiled kernels keep float32 intermediates that eager rounds, which compounds over layers and steps.
WHOLE_TOL = {torch.float32: 1e-4, torch.bfloat16: 3e-2}


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_cuda_graph_whole_compiled_step_equals_eager(models, dtype):
    """GraphedStep(compiled="whole"): consecutive steps match lm.step, logits and states, before and after load()."""
    import copy

    from model.cuda_graph import GraphedStep

    lm = copy.deepcopy(models[0]).to(dtype)
    tol = WHOLE_TOL[dtype]
    ids = torch.randint(0, CFG.vocab_size, (2, 50), device="cuda")
    with torch.no_grad():
        _, state = lm(ids)
        _, other = lm(ids.flip(1))
        graphed = GraphedStep(lm, batch_size=2, compiled="whole")
        for start in (state, other):  # the second load() replaces a state the graph has advanced
            graphed.load(start)
            eager = start
            for t in range(6):
                tok = torch.randint(0, CFG.vocab_size, (2,), device="cuda")
                l_eager, eager = lm.step(tok, state=eager)
                l_graph = graphed(tok).clone()
                assert l_graph.shape == l_eager.shape and l_graph.dtype == l_eager.dtype
                assert rel(l_graph, l_eager) < tol, t
            assert rel(graphed.state.ssm, eager.ssm) < tol
            assert rel(graphed.state.conv, eager.conv) < tol
            assert graphed.state.seen == eager.seen == start.seen + 6


# Relative error allowed between a graphed hop and the eager append: replaying the same kernels
# differs only by rounding; the compiled block (fused, reassociated) a little more; bfloat16
# roundings that differ compound over layers and hops, as in the tolerances above.
APPEND_TOL = {(torch.float32, False): 1e-5, (torch.float32, True): 1e-4,
              (torch.bfloat16, False): 5e-3, (torch.bfloat16, True): 3e-2}


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("backend,compiled", [("torch", False), ("kernels", False), ("torch", True)])
def test_cuda_graph_append_equals_eager(models, backend, compiled, dtype):
    """Consecutive hops from the graph match lm.hidden onto the same state, before and after load()."""
    import copy

    from model.cuda_graph import HOP_TOKENS, GraphedAppend

    lm = copy.deepcopy(models[0] if backend == "torch" else models[1]).to(dtype)
    tol = APPEND_TOL[dtype, compiled]
    ids = torch.randint(0, CFG.vocab_size, (2, 50), device="cuda")
    with torch.no_grad():
        _, state = lm(ids)
        _, other = lm(ids.flip(1))
        graphed = GraphedAppend(lm, batch_size=2, length=HOP_TOKENS, compiled=compiled)
        for start in (state, other):  # the second load() replaces a state the graph has advanced
            graphed.load(start)
            eager = start
            for hop in range(3):
                embeds = torch.randn(2, HOP_TOKENS, CFG.d_model, device="cuda")
                h_eager, eager = lm.hidden(inputs_embeds=embeds, state=eager)
                h_graph = graphed(embeds).clone()
                assert h_graph.shape == h_eager.shape and h_graph.dtype == h_eager.dtype
                assert rel(h_graph, h_eager) < tol, hop
            assert rel(graphed.state.ssm, eager.ssm) < tol
            assert rel(graphed.state.conv, eager.conv) < tol
            assert graphed.state.seen == eager.seen == start.seen + 3 * HOP_TOKENS
        with pytest.raises(ValueError, match="batch size"):
            graphed.load(lm.zero_state(1))
        with pytest.raises(ValueError, match="shape"):
            graphed(torch.randn(2, HOP_TOKENS + 1, CFG.d_model, device="cuda"))


def test_sam_streaming_on_gpu_matches_cpu():
    from model.config import SAMConfig
    from model.sam import SAM

    torch.manual_seed(0)
    cpu = SAM(SAMConfig.from_name("sam-tiny").replace(lm=CFG), backend="torch").eval()
    gpu = SAM(cpu.cfg, backend="auto").cuda().eval()
    gpu.load_state_dict(cpu.state_dict())
    audio = torch.randn(16000 * 4) * 0.1
    a = cpu.listen(audio, cpu.new_state(), flush=True)
    b = gpu.listen(audio, gpu.new_state(), flush=True)
    assert rel(b.lm.ssm.cpu(), a.lm.ssm) < 5e-3


def test_the_kernels_keep_their_tuning_on_disk(models):
    """Without the disk cache every process re-tunes for about two minutes before its first step."""
    from mamba_ssm.ops.triton.ssd_chunk_scan import _chunk_scan_fwd_kernel

    assert _chunk_scan_fwd_kernel.cache_results
