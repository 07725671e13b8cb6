"""Training on several GPUs of one host: what each GPU adds, and where a step's time goes.

    sam-bench scaling --presets sam-small sam-130m --gpus 1 2 4 8 --out runs/scaling

For each preset and GPU count, one `torchrun --standalone --nproc-per-node N` (at N = 1, one process
alone) trains the preset from fresh weights on the real data path (the corpus mixed into scenes by
data workers, augmented on the device, the instruct stage's questions), as `sam-train` does under
torchrun: DDP for the small presets, FSDP (block by block) for sam-780m and sam-2.7b. Every GPU gets the same batch of
scenes per step (weak scaling), so scenes per second per GPU at N GPUs over the same at one GPU
is the scaling efficiency.

Per run, after warm-up steps: the median step time and each rank's time waiting for the data
workers, the NCCL kernels' time in a profiled window of steps (communication, overlapped with
compute or not), peak memory per GPU, and model FLOPs utilisation against the bf16 matrix-product
rate measured on the same GPU. Without CUDA the runs use gloo on CPU processes: the numbers then
say only that the path works.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

import torch

from ..audio import FREQ_PATCHES, SAMPLES_PER_TOKEN

PHASES = ("inputs", "forward", "backward", "optimizer")  # a step's parts after the data: augmentation and
# tokenising, the loss, its gradients (with DDP's all-reduce, FSDP's gathers and reductions), clipping and AdamW
BATCH = {"sam-tiny": 4, "sam-small": 64, "sam-130m": 32, "sam-780m": 16, "sam-2.7b": 8}  # scenes per GPU per step


# -- one rank ------------------------------------------------------------------------------------
def bench_spec(batch: int, seconds: float, block_samples: int, cuda: bool):
    """The batches every run draws: the instruct stage's questions about scenes all `seconds` long, augmented (on
    the GPU where there is one), no long streams."""
    from ..batches import BatchSpec, TASK_KINDS

    return BatchSpec(kinds=TASK_KINDS, batch_size=batch, seconds=(seconds, seconds), long_fraction=0.0,
                     long_seconds=(30.0, 120.0), augment=True, hold_out=(), block_samples=block_samples,
                     augment_on="device" if cuda else "cpu")


def step_flops(counts: dict[str, int], audio_samples: int, rows: int, text_tokens: int) -> float:
    """Model FLOPs of one training step: 6 x parameters x tokens, the encoder's over its patches
    (8 per 160 ms column), the connector's and LM's over the LM's tokens (columns and text)."""
    columns = audio_samples // SAMPLES_PER_TOKEN
    patches = rows * columns * FREQ_PATCHES
    lm_tokens = rows * (columns + text_tokens)
    return 6.0 * (counts["encoder"] * patches + (counts["connector"] + counts["lm"]) * lm_tokens)


def _nccl_seconds(prof) -> float:
    """Device time of the communication kernels a profiler saw."""
    total = 0.0
    for e in prof.key_averages():
        if "nccl" in e.key.lower():
            total += getattr(e, "self_device_time_total", getattr(e, "self_cuda_time_total", 0.0))
    return total / 1e6


def worker(a: argparse.Namespace) -> None:
    """Train the preset under torchrun for warm-up + timed steps; rank 0 writes every rank's numbers."""
    import torch.distributed as dist

    from .. import parallel
    from ..batches import TASK_KINDS, batch_loader, load_corpus
    from ..data.augment_torch import augment_batch
    from ..train import TrainConfig, prepare

    rank, world, device = parallel.setup()
    cuda = device.type == "cuda"
    peak = None
    if cuda:
        from .gpu import matmul_flops

        peak = matmul_flops()
    cfg = TrainConfig(stage="instruct", model=a.preset, corpus=a.corpus, batch_size=a.batch_size,
                      seconds=(a.seconds, a.seconds), long_fraction=0.0, kinds=TASK_KINDS, fsdp=a.fsdp,
                      backend=a.backend, workers=a.workers, tokenizer_texts=a.tokenizer_texts,
                      vocab_size=a.vocab_size, seed=0)
    torch.manual_seed(0)
    corpus = load_corpus(cfg.corpus)
    with tempfile.TemporaryDirectory() as tmp:
        run, _ = prepare(cfg, corpus, rank, world, device, Path(tmp))
    counts = run.model.num_parameters()
    spec = bench_spec(a.batch_size, a.seconds, run.model.block_samples, cuda)
    batches = iter(batch_loader(corpus, spec, seed=rank, workers=a.workers))
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=cuda)

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize(device)

    def one_step(phases: bool = False) -> dict[str, float]:
        """One training step's time; with `phases`, also the time of each part, the device synchronised
        between them (which costs a little overlap)."""
        marks = [time.perf_counter()]

        def mark() -> None:
            if phases:
                sync()
                marks.append(time.perf_counter())

        batch = next(batches)
        marks.append(time.perf_counter())
        if batch.chains:
            batch.audio = augment_batch(batch.audio.to(device, non_blocking=True), batch.chains)
        inputs = run.objective.inputs(batch, device)
        mark()
        with autocast:
            loss = run.wrapped(*inputs)
        mark()
        run.opt.zero_grad(set_to_none=True)
        loss.backward()
        mark()
        torch.nn.utils.clip_grad_norm_(run.params, 1.0)
        run.opt.step()
        sync()
        marks.append(time.perf_counter())
        out = {"step": marks[-1] - marks[0], "data_wait": marks[1] - marks[0],
               "flops": step_flops(counts, inputs[0].shape[-1], inputs[0].shape[0], inputs[1].shape[1])}
        if phases:
            out.update(zip(PHASES, (later - earlier for earlier, later in zip(marks[1:], marks[2:]))))
        return out

    for _ in range(a.warmup):
        one_step()
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    if world > 1:
        dist.barrier()
    timed = [one_step() for _ in range(a.steps)]
    split = [one_step(phases=True) for _ in range(a.phase_steps)]
    nccl = 0.0
    if cuda and world > 1 and a.profile_steps:
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            for _ in range(a.profile_steps):
                one_step()
        nccl = _nccl_seconds(prof) / a.profile_steps
    mine = {"rank": rank, "step_s": [t["step"] for t in timed], "data_wait_s": [t["data_wait"] for t in timed],
            "flops": statistics.median(t["flops"] for t in timed), "nccl_s_per_step": nccl, "peak_flops": peak,
            "phases_s": {k: statistics.median(t[k] for t in split) for k in PHASES} if split else {},
            "max_allocated_gib": torch.cuda.max_memory_allocated(device) / 2**30 if cuda else None,
            "max_reserved_gib": torch.cuda.max_memory_reserved(device) / 2**30 if cuda else None}
    everyone = [mine]
    if world > 1:
        everyone = [None] * world
        dist.all_gather_object(everyone, mine)
    if rank == 0:
        Path(a.result).write_text(json.dumps(summarise(a, world, device, counts, run.sharded, everyone), indent=1))
    parallel.teardown(world)


def summarise(a: argparse.Namespace, world: int, device: torch.device, counts: dict[str, int], sharded: bool,
              ranks: list[dict[str, Any]]) -> dict[str, Any]:
    """One run's row: the slowest rank's median step (every rank waits for it), the means over ranks."""
    step = max(statistics.median(r["step_s"]) for r in ranks)
    wait = statistics.mean(statistics.median(r["data_wait_s"]) for r in ranks)
    flops = statistics.mean(r["flops"] for r in ranks)
    peaks = [r["peak_flops"] for r in ranks if r["peak_flops"]]
    row: dict[str, Any] = {
        "preset": a.preset, "gpus": world, "device": torch.cuda.get_device_name(device) if device.type == "cuda"
        else "cpu", "wrapping": "fsdp" if sharded else ("ddp" if world > 1 else "none"),
        "parameters": counts["total"], "batch_per_gpu": a.batch_size, "scene_seconds": a.seconds,
        "data_workers_per_gpu": a.workers, "steps": a.steps, "step_s": step,
        "scenes_per_s_per_gpu": a.batch_size / step, "scenes_per_s": world * a.batch_size / step,
        "audio_s_per_s": world * a.batch_size * a.seconds / step,
        "data_wait_s": wait, "data_wait_share": wait / step,
        "nccl_s_per_step": statistics.mean(r["nccl_s_per_step"] for r in ranks),
        "model_flops_per_step_per_gpu": flops,
        "mfu": flops / step / statistics.mean(peaks) if peaks else None,
        "matmul_peak_tflops": statistics.mean(peaks) / 1e12 if peaks else None,
        "max_allocated_gib": max((r["max_allocated_gib"] or 0.0) for r in ranks) or None,
        "max_reserved_gib": max((r["max_reserved_gib"] or 0.0) for r in ranks) or None,
        "step_s_per_rank": [statistics.median(r["step_s"]) for r in ranks],
        "phases_s": {k: statistics.mean(r["phases_s"][k] for r in ranks) for k in PHASES} if ranks[0]["phases_s"]
        else {},
    }
    row["nccl_share"] = row["nccl_s_per_step"] / step
    return row


# -- the driver ------------------------------------------------------------------------------------
def loader_rate(corpus_path: str, batch: int, seconds: float, cuda: bool, batches: int = 6) -> dict[str, float]:
    """Scenes per second one data worker mixes on this host, as the training runs draw them.

    The worker's prefetch buffer is filled and drained first, so the batches timed are those it
    makes while they are waited for.
    """
    from ..batches import batch_loader, load_corpus
    from ..config import SAMConfig

    block = SAMConfig.from_name("sam-130m").encoder.block_columns * SAMPLES_PER_TOKEN
    loader = batch_loader(load_corpus(corpus_path), bench_spec(batch, seconds, block, cuda), seed=0, workers=1)
    it = iter(loader)
    start = time.perf_counter()
    next(it)
    time.sleep(5 * (time.perf_counter() - start))  # the buffer fills (the first batch also paid the start-up)
    for _ in range(loader.prefetch_factor):
        next(it)
    start = time.perf_counter()
    for _ in range(batches):
        next(it)
    rate = batches * batch / (time.perf_counter() - start)
    return {"scenes_per_s_per_worker": rate, "audio_s_per_s_per_worker": rate * seconds,
            "host_cores": os.cpu_count() or 0}


def gpus_here() -> int:
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def launch(preset: str, n: int, a: argparse.Namespace, result: Path) -> tuple[int, str]:
    """One run of `n` processes, under torchrun as sam-train's recipes start them (one process alone without it);
    (exit code, the tail of its output)."""
    from ..recipes import default_workers, launcher

    workers = a.workers if a.workers is not None else default_workers(n)
    cmd = [*launcher(n), "-m", "model.bench.scaling", "--worker",
           "--preset", preset, "--batch-size", str(a.batch_size or BATCH.get(preset, 8)), "--steps", str(a.steps),
           "--warmup", str(a.warmup), "--profile-steps", str(a.profile_steps), "--phase-steps", str(a.phase_steps),
           "--seconds", str(a.seconds),
           "--corpus", a.corpus, "--workers", str(workers), "--fsdp", a.fsdp, "--backend", a.backend,
           "--tokenizer-texts", str(a.tokenizer_texts), "--vocab-size", str(a.vocab_size), "--result", str(result)]
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    # A group of its own: at a timeout the ranks go with torchrun, not left holding the GPUs' memory.
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            start_new_session=True)
    try:
        output, _ = proc.communicate(timeout=a.timeout)
    except subprocess.TimeoutExpired:
        output = ""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                output, _ = proc.communicate(timeout=20)
                break
        return 124, f"{output[-3000:]}\ntimed out after {a.timeout:.0f} s"
    return proc.returncode, output[-3000:]


def reason(output: str) -> str:
    """A failed run's cause in one line: the ranks' last exception (an OOM, say) rather than torchrun's report."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if re.match(r"^[\w.]*(?:Error|Exception)\b", line)
              and "ChildFailedError" not in line]
    return (errors or lines or ["no output"])[-1]


def with_efficiency(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each measured row's scenes per second per GPU over the one-GPU row of its preset."""
    alone = {r["preset"]: r["scenes_per_s_per_gpu"] for r in rows if r.get("gpus") == 1 and "step_s" in r}
    for r in rows:
        if "step_s" in r and r["preset"] in alone:
            r["efficiency"] = r["scenes_per_s_per_gpu"] / alone[r["preset"]]
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    head = ("preset", "GPUs", "wrap", "step s", "scenes/s/GPU", "eff.", "data wait", "NCCL", "MFU", "GiB/GPU")
    lines = ["  ".join(f"{h:>12}" for h in head)]
    for r in rows:
        if "step_s" not in r:
            lines.append(f"{r['preset']:>12}  {r['gpus']:>12}  failed: {r['reason'][:90]}")
            continue
        cells = (r["preset"], r["gpus"], r["wrapping"], f"{r['step_s']:.3f}", f"{r['scenes_per_s_per_gpu']:.1f}",
                 f"{r.get('efficiency', float('nan')):.2f}", f"{r['data_wait_share']:.1%}", f"{r['nccl_share']:.1%}",
                 "-" if r["mfu"] is None else f"{r['mfu']:.1%}",
                 "-" if r["max_reserved_gib"] is None else f"{r['max_reserved_gib']:.1f}")
        lines.append("  ".join(f"{c:>12}" for c in cells))
    return "\n".join(lines)


def plot(rows: list[dict[str, Any]], png: Path) -> None:
    """Scenes per second per GPU and efficiency against GPUs, a line per preset (needs matplotlib)."""
    from ..plots import pyplot

    plt = pyplot()
    ok = [r for r in rows if "step_s" in r]
    if plt is None or not ok:
        return
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for preset in dict.fromkeys(r["preset"] for r in ok):
        mine = sorted((r for r in ok if r["preset"] == preset), key=lambda r: r["gpus"])
        n = [r["gpus"] for r in mine]
        left.plot(n, [r["scenes_per_s_per_gpu"] for r in mine], "o-", label=preset)
        if all("efficiency" in r for r in mine):
            right.plot(n, [r["efficiency"] for r in mine], "o-", label=preset)
    left.set(xlabel="GPUs", ylabel="scenes per second per GPU", xscale="log", yscale="log")
    right.set(xlabel="GPUs", ylabel="scaling efficiency", xscale="log", ylim=(0, 1.1))
    right.axhline(0.9, color="grey", ls="--", lw=1)
    for ax in (left, right):
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)


def drive(a: argparse.Namespace) -> list[dict[str, Any]]:
    """Every preset at every GPU count this host has; rows are written as they are measured."""
    here = gpus_here()
    limit = here if here else a.cpu_processes
    counts = [n for n in a.gpus if n <= limit]
    skipped = [n for n in a.gpus if n > limit]
    if skipped:
        print(f"skipping {skipped} GPUs: this host has {here or 'no'} GPUs"
              + ("" if here else f" (CPU processes: at most --cpu-processes {a.cpu_processes})"), flush=True)
    if not Path(a.corpus).exists():
        raise SystemExit(f"sam-bench scaling: corpus {a.corpus} not found; build it with `make data` "
                         "or pack one with `sam-data pack`, then pass --corpus")
    a.out.mkdir(parents=True, exist_ok=True)
    if a.loader_batches:
        rate = loader_rate(a.corpus, BATCH["sam-130m"], a.seconds, here > 0, a.loader_batches)
        (a.out / "loader.json").write_text(json.dumps(rate, indent=1))
        print(f"one data worker mixes {rate['scenes_per_s_per_worker']:.0f} scenes of {a.seconds} s per second "
              f"on this host ({rate['host_cores']} cores)", flush=True)
    rows: list[dict[str, Any]] = []
    for preset in a.presets:
        for n in counts:
            result = a.out / f"{preset}_{n}.json"
            started = time.perf_counter()
            rc, tail = launch(preset, n, a, result)
            if rc == 0 and result.is_file():
                rows.append(json.loads(result.read_text()))
            else:
                rows.append({"preset": preset, "gpus": n, "error": tail or f"exit code {rc}", "reason": reason(tail)})
            rows[-1]["wall_s"] = round(time.perf_counter() - started, 1)
            with_efficiency(rows)
            (a.out / "scaling.json").write_text(json.dumps(rows, indent=1))
            print(table(rows[-1:]).splitlines()[-1], flush=True)
    print(table(rows), flush=True)
    plot(rows, a.out / "scaling.png")
    return rows


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sam-bench scaling", description=__doc__.split("\n\n")[0],
                                epilog=__doc__.split("\n\n", 1)[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--presets", nargs="+", default=["sam-small", "sam-130m", "sam-780m", "sam-2.7b"],
                   help="model presets, trained from fresh weights (default: all four GPU presets)")
    p.add_argument("--gpus", type=int, nargs="+", default=[1, 2, 4, 8],
                   help="GPU counts to run; those above this host's count are skipped (default: 1 2 4 8)")
    p.add_argument("--batch-size", type=int, default=0,
                   help="scenes per GPU per step (default per preset: " + ", ".join(f"{k} {v}" for k, v in
                                                                                   BATCH.items()) + ")")
    p.add_argument("--seconds", type=float, default=10.24, help="length of every scene (default 10.24)")
    p.add_argument("--steps", type=int, default=20, help="timed steps per run (default 20)")
    p.add_argument("--warmup", type=int, default=5, help="untimed steps first (default 5)")
    p.add_argument("--phase-steps", type=int, default=3,
                   help="steps after the timed ones, synchronised between their parts to time each part (0: none)")
    p.add_argument("--profile-steps", type=int, default=3,
                   help="steps profiled after the timed ones for the NCCL kernels' time (CUDA only; 0: none)")
    p.add_argument("--corpus", default="data/corpus.tar", help="packed corpus the data workers mix scenes from")
    p.add_argument("--workers", type=int, default=None,
                   help="data workers per GPU (default: as model.recipes --gpus N shares the host's cores)")
    p.add_argument("--fsdp", choices=("auto", "yes", "no"), default="auto",
                   help="as sam-train: auto shards sam-780m and sam-2.7b with FSDP, the rest run DDP")
    p.add_argument("--backend", choices=("auto", "torch", "kernels"), default="auto", help="Mamba-2 path, as sam-train")
    p.add_argument("--tokenizer-texts", type=int, default=2000, help="texts the fresh BPE is trained on (default 2000)")
    p.add_argument("--vocab-size", type=int, default=0, help="BPE vocabulary; 0: the preset's")
    p.add_argument("--loader-batches", type=int, default=6,
                   help="batches timed to measure one data worker's rate first (0: not measured)")
    p.add_argument("--cpu-processes", type=int, default=2, help="without CUDA: the most gloo processes to run")
    p.add_argument("--timeout", type=float, default=900, help="seconds one run may take (default 900)")
    p.add_argument("--out", type=Path, default=Path("runs/scaling"),
                   help="folder for scaling.json, each run's row and scaling.png (default runs/scaling)")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--preset", help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> int:
    a = parser().parse_args(argv)
    if a.worker:
        try:
            worker(a)
        except BaseException:  # out of memory, say: said, and the process ends now, not when its data workers,
            traceback.print_exc()  # pinned buffers and process group have wound down (which could hang)
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(1)
        return 0
    rows = drive(a)
    return 0 if rows and all("step_s" in r for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
