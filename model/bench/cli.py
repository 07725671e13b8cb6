"""sam-bench: run a benchmark, print its numbers, optionally write them as JSON."""
from __future__ import annotations

import argparse
from pathlib import Path

SUITES = {
    "core": "Mamba-2 LM on this CPU: step latency, chunk-append throughput (mamba2-small)",
    "sam": "sam-small on this CPU: listen cost per audio second, ask latency; parameter counts",
    "gpu": "CUDA: our paths vs mamba_ssm, decode vs the bandwidth floor, CUDA graphs, training MFU",
    "session": "CPU: SAM's LM vs a Transformer with a KV cache over 1, 10, 60 min of streamed audio (+ plots)",
    "peers": "CPU: our PyTorch Mamba-2 vs transformers' Mamba2 on the same weights: step, chunk-append",
    "layouts": "CPU: compact vs long token layouts of sam-small: tokens/s, listen cost, first token, train step",
}


def main(argv: list[str] | None = None) -> int:
    """Parse the suite name and run it."""
    p = argparse.ArgumentParser(prog="sam-bench", description="SAM benchmarks. They print numbers; they never "
                                "pass or fail on timing.",
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="suites:\n" + "\n".join(f"  {k:<8}{v}" for k, v in SUITES.items()))
    p.add_argument("suite", choices=sorted(SUITES), help="which benchmark to run")
    p.add_argument("--out", type=Path, help="folder for the JSON results (and the session suite's plots)")
    p.add_argument("--threads", type=int, help="CPU threads for PyTorch (default: its own choice)")
    p.add_argument("--minutes", type=float, nargs="+", default=[1, 10, 60],
                   help="session suite: minutes of audio at which to ask (default 1 10 60)")
    args = p.parse_args(argv)
    if args.threads is not None:
        if args.threads < 1:
            p.error("--threads must be at least 1")
        import torch

        torch.set_num_threads(args.threads)
    if args.suite in ("core", "sam"):
        from .core import main as run
        run(args.suite, args.out)
    elif args.suite == "gpu":
        import torch

        if not torch.cuda.is_available():
            p.error("the gpu suite needs a CUDA device")
        from .gpu import main as run_gpu
        run_gpu(args.out)
    elif args.suite == "session":
        from .session import main as run_session
        run_session(args.out, tuple(args.minutes))
    elif args.suite == "peers":
        from .peers import main as run_peers
        run_peers(args.out)
    elif args.suite == "layouts":
        from .layouts import main as run_layouts
        run_layouts(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
