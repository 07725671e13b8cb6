"""The compiled layer step behind the CUDA-graph decoder, checked on the CPU against the eager step.

The graph itself needs CUDA (tests/test_gpu.py); the compiled function it replays does not,
so its agreement with MambaLM.step and its in-place state update are held here on every run.
"""
import torch

from model.config import MambaConfig
from model.cuda_graph import compiled_block_step
from model.lm import MambaLM


def test_compiled_block_step_equals_the_eager_step():
    torch.manual_seed(0)
    lm = MambaLM(MambaConfig(d_model=64, n_layer=3, vocab_size=100, d_state=16, headdim=16, chunk_size=8),
                 backend="torch").eval()
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
