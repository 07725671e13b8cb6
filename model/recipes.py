"""Training recipes: the default model's curriculum and the paper's three ablations as one plan of sam-train runs.

    python -m model.recipes default  --minutes 9 --out runs          # the curriculum, stage after stage
    python -m model.recipes ablations --minutes 9 --out runs         # the curriculum and every ablation at once
    python -m model.recipes held_out --minutes 9 --out runs          # the curriculum with and without HELD_OUT
    python -m model.recipes default  --minutes 9 --out runs --resume # go on after a stop (SIGTERM saves)
    python -m model.recipes default  --gpus 8 --minutes 120 --out runs/130m --model sam-130m --batch-size 32
                                     # every run under torchrun, one process per GPU of this host (DDP)
Other options (e.g. --batch-size 32 --backend torch) are passed to every sam-train run.

A plan is a list of runs; a run starts once the run it continues from has finished, so the
ablations branch off the main chain where they differ from it and share everything before:
  frozen      the encoder held fixed after its tagger pretraining (principle 1: joint fine-tuning)
  time_major  all 8 patches of a column as tokens, column after column (principle 2: compact tokens)
  freq_major  all patches as tokens, frequency row after row within each block (principle 2)
  no_instruct the last stage trains on descriptions, tags and open questions only (principle 3)
  held_out    the whole curriculum without some source packages, to measure generalisation
Stage lengths are shares of --minutes, so all branches end together and compare at equal time.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

SHARES = {"tagger": 0.25, "connector": 0.1, "joint": 0.3, "instruct": 0.35}
HELD_OUT = ("sonic-pi-samples", "hedgewars-data", "supertuxkart-data")


@dataclass
class Run:
    name: str
    stage: str
    after: str | None  # the run whose checkpoint this one starts from
    extra: list[str] = field(default_factory=list)
    workers: int = 2


def chain(prefix: str, after: str | None, stages: list[str], extra: list[str] | None = None,
          first_extra: list[str] | None = None, stage_names: list[str] | None = None) -> list[Run]:
    """Stages one after another, each from the previous one's checkpoint; `first_extra` goes to the first only."""
    runs, prev = [], after
    for i, (stage, label) in enumerate(zip(stages, stage_names or stages)):
        runs.append(Run(f"{prefix}.{label}", stage, prev, [*(extra or []), *((first_extra or []) if i == 0 else [])]))
        prev = runs[-1].name
    return runs


def default_plan() -> list[Run]:
    return chain("main", None, ["tagger", "connector", "joint", "instruct"])


def held_out_chain() -> list[Run]:
    return chain("held_out", None, ["tagger", "connector", "joint", "instruct"], ["--hold-out", *HELD_OUT])


def held_out_plan() -> list[Run]:
    """The curriculum twice side by side, the second without HELD_OUT."""
    return default_plan() + held_out_chain()


def ablation_plan() -> list[Run]:
    plan = default_plan()
    plan += chain("frozen", "main.connector", ["joint", "instruct"], ["--freeze", "encoder"])
    for layout in ("time_major", "freq_major"):  # the first run swaps in a fresh connector of that layout
        plan += chain(layout, "main.tagger", ["connector", "joint", "instruct"], first_extra=["--layout", layout])
    plan += chain("no_instruct", "main.joint", ["joint"], stage_names=["instruct_slot"])
    plan += held_out_chain()
    return plan


PLANS = {"default": default_plan, "ablations": ablation_plan, "held_out": held_out_plan}


def make_plan(name: str, main_workers: int) -> list[Run]:
    """Plan `name` with `main_workers` data workers for the main chain; held_out's two chains share them equally."""
    plan = PLANS[name]()
    for run in plan:
        if name == "held_out":
            run.workers = max(1, main_workers // 2)
        elif run.name.startswith("main."):
            run.workers = main_workers
    return plan


def launcher(gpus: int) -> list[str]:
    """How a run starts: this Python alone, or torchrun with one process per GPU of this host."""
    if gpus <= 1:
        return [sys.executable]
    torchrun = Path(sys.executable).parent / "torchrun"
    start = [str(torchrun)] if torchrun.is_file() else [sys.executable, "-m", "torch.distributed.run"]
    return [*start, "--standalone", "--nproc-per-node", str(gpus)]


def command(run: Run, out: Path, minutes: float, common: list[str], resume: bool = False, gpus: int = 1) -> list[str]:
    """The run's sam-train command line; with `gpus` over 1, under torchrun (run.workers is then per process)."""
    share = SHARES["instruct" if run.name.endswith("instruct_slot") else run.stage]
    cmd = [*launcher(gpus), "-m", "model.train", "--stage", run.stage, "--out", str(out / run.name),
           "--minutes", f"{minutes * share:.3f}", "--workers", str(run.workers), *common, *run.extra]
    if run.after:
        cmd += ["--init", str(out / run.after / "checkpoint")]
    if resume:
        cmd.append("--resume")
    return cmd


def default_workers(gpus: int, cores: int | None = None) -> int:
    """Data workers per training process: all cores but two alone; under torchrun the cores shared among
    the processes, one kept for each process itself; at most 14."""
    cores = cores or os.cpu_count() or 2
    return max(1, min(14, cores - 2 if gpus <= 1 else cores // gpus - 1))


def finished(out: Path, name: str) -> bool:
    """Whether run `name` spent its whole budget (sam-train writes done.json then, not when stopped)."""
    return (out / name / "done.json").is_file()


def execute(plan: list[Run], out: Path, minutes: float, common: list[str], resume: bool = False,
            gpus: int = 1) -> dict[str, dict]:
    """Start each run when its predecessor has finished; returns each run's status and wall time.

    With `resume`, finished runs are kept and a stopped one goes on from its checkpoint. SIGTERM
    is passed on to the runs, which save a checkpoint and stop; nothing new starts.
    """
    out.mkdir(parents=True, exist_ok=True)
    status: dict[str, dict] = {}
    running: dict[str, tuple[subprocess.Popen, float]] = {}
    waiting = list(plan)
    if resume:
        for run in [r for r in waiting if finished(out, r.name)]:
            waiting.remove(run)
            status[run.name] = {"rc": 0, "finished": True, "seconds": 0.0, "earlier": True}
            print(f"kept  {run.name} (finished earlier)", flush=True)

    def stop(signum, frame) -> None:
        waiting.clear()
        for proc, _ in running.values():
            proc.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    while waiting or running:
        for run in [r for r in waiting if r.after is None or status.get(r.after, {}).get("finished")]:
            waiting.remove(run)
            log = open(out / f"{run.name}.log", "a" if resume else "w")
            # A session of its own: a stop aimed at this runner's process group must not reach the
            # runs' data workers directly, or a run could die before saving its checkpoint.
            proc = subprocess.Popen(command(run, out, minutes, common, resume, gpus), stdout=log,
                                    stderr=subprocess.STDOUT,
                                    env={**os.environ, "TOKENIZERS_PARALLELISM": "false"}, start_new_session=True)
            running[run.name] = (proc, time.perf_counter())
            print(f"start {run.name}", flush=True)
        for name, (proc, started) in list(running.items()):
            if proc.poll() is not None:
                status[name] = {"rc": proc.returncode, "finished": proc.returncode == 0 and finished(out, name),
                                "seconds": round(time.perf_counter() - started, 1)}
                state = "finished" if status[name]["finished"] else "stopped"
                print(f"{state} {name} rc={proc.returncode} in {status[name]['seconds']} s", flush=True)
                del running[name]
        for run in [r for r in waiting if r.after and r.after in status and not status[r.after]["finished"]]:
            waiting.remove(run)
            status[run.name] = {"rc": None, "finished": False, "skipped": f"{run.after} did not finish"}
        time.sleep(0.5)
    (out / "plan_status.json").write_text(json.dumps(status, indent=1))
    return status


def main(argv: list[str] | None = None) -> int:
    """Parse the plan's name and options, then run it."""
    p = argparse.ArgumentParser(prog="python -m model.recipes", description=__doc__.split("\n\n")[0])
    p.add_argument("plan", choices=list(PLANS),
                   help="default: the four-stage curriculum; ablations: it and every variant of docs/RESULTS.md; "
                        "held_out: it and the same without the held-out packages, at equal time and workers")
    p.add_argument("--minutes", type=float, default=9.0,
                   help="wall-clock length of the whole curriculum; stages get shares of it (default: 9)")
    p.add_argument("--out", type=Path, default=Path("runs"), help="one folder per run inside (default: runs)")
    p.add_argument("--corpus", default="data/corpus.tar", help="packed corpus (default: data/corpus.tar)")
    p.add_argument("--gpus", type=int, default=1,
                   help="GPUs of this host each run trains on, one torchrun process per GPU: DDP, or FSDP for "
                        "sam-780m and sam-2.7b (default 1: no torchrun). Runs of a plan that overlap share them")
    p.add_argument("--main-workers", type=int, default=None,
                   help="data workers of the main chain, per process, shared by the two chains of held_out "
                        "(default: alone, all cores but two; under --gpus N, the cores shared among the N processes "
                        "with one kept for each; at most 14); each mixes "
                        "about 4,100 s of audio per second when augmentation runs on the GPU, 1,100 when not")
    p.add_argument("--resume", action="store_true",
                   help="keep finished runs, continue a stopped one from its checkpoint (same --minutes and --out)")
    args, train_args = p.parse_known_args(argv)  # the rest goes to every sam-train run
    if args.gpus < 1:
        p.error(f"--gpus {args.gpus}: at least 1")
    plan = make_plan(args.plan, args.main_workers or default_workers(args.gpus))
    extra = [a for a in train_args if a != "--"]
    status = execute(plan, args.out, args.minutes, ["--corpus", args.corpus, *extra], args.resume, args.gpus)
    from .train import plot_log

    logs = [args.out / r.name / "log.jsonl" for r in plan if r.name.startswith("main.")]
    if any(log.is_file() for log in logs):
        plot_log([log for log in logs if log.is_file()], args.out / "main_loss.png")
    return 0 if len(status) == len(plan) and all(s["finished"] for s in status.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
