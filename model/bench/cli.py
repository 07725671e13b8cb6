"""sam-bench: run a benchmark, print its numbers, optionally write them as JSON."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

SUITES = {
    "core": "Mamba-2 LM on this CPU: step latency, chunk-append throughput (mamba2-small)",
    "sam": "sam-small on this CPU: listen cost per audio second, ask latency; parameter counts",
    "gpu": "CUDA: our paths vs mamba_ssm, decode vs the bandwidth floor, CUDA graphs (step, hop), training MFU",
    "session": "CPU: SAM's LM vs a Transformer with a KV cache over 1, 10, 60 min of streamed audio (+ plots)",
    "peers": "CPU: our PyTorch Mamba-2 vs transformers' Mamba2 on the same weights: step, chunk-append",
    "layouts": "CPU: compact vs long token layouts of sam-small: tokens/s, listen cost, first token, train step",
    "memory": "resident memory after each start-up step, then over a long `sam-live --headless` replay",
    "decode": "CPU: the decode step against its floor (weight bytes per token over measured bandwidth), fp32 and bf16",
    "precision": "CPU: fp32 against bf16 weights on validation questions: same answers, accuracy, logit drift",
    "scaling": "training under torchrun on 1, 2, 4, 8 GPUs: scenes/s per GPU, efficiency, data wait, NCCL, MFU, "
               "memory (own options: sam-bench scaling --help)",
}


def main(argv: list[str] | None = None) -> int:
    """Parse the suite name and run it."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["scaling"]:  # launches torchrun runs of its own, with its own options
        from .scaling import main as run_scaling
        return run_scaling(argv[1:])
    p = argparse.ArgumentParser(prog="sam-bench", description="SAM benchmarks. They print numbers; they never "
                                "pass or fail on timing.",
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="suites:\n" + "\n".join(f"  {k:<10}{v}" for k, v in SUITES.items()))
    p.add_argument("suite", choices=sorted(SUITES), help="which benchmark to run")
    p.add_argument("--out", type=Path, help="folder for the JSON results (and the session suite's plots)")
    p.add_argument("--threads", type=int, help="CPU threads for PyTorch (default: its own choice)")
    p.add_argument("--minutes", type=float, nargs="+", default=None,
                   help="session suite: minutes of audio at which to ask (default 1 10 60); memory suite: "
                        "minutes to replay (default 60)")
    p.add_argument("--checkpoint", type=Path, help="memory, decode, precision: the model (default: assets/sam-small)")
    p.add_argument("--dtype", choices=("auto", "float32", "bfloat16"), default="auto",
                   help="memory suite: the weights' dtype (default auto: sam-live's choice on this CPU)")
    p.add_argument("--every", type=float, default=10.0, help="memory suite: minutes of stream per row (default 10)")
    p.add_argument("--input", type=Path, help="memory suite: replay this recording instead of the looped demo")
    p.add_argument("--skip-replay", action="store_true", help="memory suite: only the start-up rows")
    p.add_argument("--valset", type=Path, default=Path("data/val"), help="precision suite: validation set folder")
    p.add_argument("--items", type=int, default=300, help="precision suite: how many of its items (default 300)")
    p.add_argument("--only", choices=("hop", "decode"), help="gpu suite: only the streaming hop (8 tokens appended, "
                   "eager and from a CUDA graph, against the graphed decode step), into gpu_hop.json; or only the "
                   "graphed decode step (eager layers, one compiled block per layer, the whole step compiled; each "
                   "against the bandwidth floor, with its compile time), into gpu_decode.json, in about 5 minutes")
    p.add_argument("--compiled", action="store_true", help="gpu --only hop: also the torch.compile'd graphed step "
                   "and append (adds their compile time; the whole gpu suite always measures them)")
    p.add_argument("--autotuned", action="store_true", help="gpu --only decode: also the whole step compiled in "
                   "torch.compile's max-autotune-no-cudagraphs mode (adds minutes of autotuning)")
    args = p.parse_args(argv)
    if args.only is not None and args.suite != "gpu":
        p.error("--only applies to the gpu suite")
    if args.compiled and args.only != "hop":
        p.error("--compiled applies to `gpu --only hop` (the whole gpu suite always measures the compiled variants)")
    if args.autotuned and args.only != "decode":
        p.error("--autotuned applies to `gpu --only decode`")
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
        run_gpu(args.out, only=args.only, compiled=args.compiled, autotuned=args.autotuned)
    elif args.suite == "session":
        from .session import main as run_session
        run_session(args.out, tuple(args.minutes or (1, 10, 60)))
    elif args.suite == "memory":
        from .memory import main as run_memory
        minutes = args.minutes or [60.0]
        if len(minutes) != 1 or minutes[0] <= 0:
            p.error("the memory suite replays one length: --minutes M, above 0")
        run_memory(args.checkpoint, args.dtype, minutes[0], args.every, args.input, args.skip_replay, args.out)
    elif args.suite == "decode":
        from .decode import main as run_decode
        run_decode(args.checkpoint, args.out)
    elif args.suite == "precision":
        from .precision import main as run_precision
        run_precision(args.checkpoint, args.valset, args.items, 32, args.out)
    elif args.suite == "peers":
        from .peers import main as run_peers
        run_peers(args.out)
    elif args.suite == "layouts":
        from .layouts import main as run_layouts
        run_layouts(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
