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
