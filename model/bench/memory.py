"""Resident memory of SAM on this machine: after each start-up step, and over a long replay of sam-live.

  start-up  in this process, step by step: Python alone, torch imported, the model's modules
            imported, load_sam, the first hop heard, ten more, a description, an answer. Each row
            is the resident set (RSS) with its anonymous part (heap, Python objects, weights) and
            its file part (code and data of the shared libraries), and the growth since the row
            before. The model's share is what load_sam adds, against the bytes of its weights.
  replay    `sam-live --headless --fast` run as its own process on a recording (by default
            assets/demo.ogg looped to --minutes, written to a temporary WAV), its resident memory
            read from /proc each time the stream passes a mark: the app as a user runs it.

Linux only (it reads /proc). It prints numbers, never a verdict. torch is imported by the
start-up itself, so that its cost is a row of its own.
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

MIB = 2**20
STATUS_FIELDS = {"VmRSS": "rss", "RssAnon": "anon", "RssFile": "file", "VmHWM": "peak"}  # kB in /proc
DEMO = Path(__file__).resolve().parents[2] / "assets" / "demo.ogg"


@dataclass(frozen=True)
class Resident:
    """A process's memory at one moment, MiB: resident, its anonymous and file-backed parts, the peak so far."""

    rss: float
    anon: float
    file: float
    peak: float
    threads: int


def resident(pid: int | str = "self") -> Resident:
    """The resident memory of a process (this one by default), from /proc/PID/status."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError as e:
        raise RuntimeError(f"cannot read /proc/{pid}/status ({e}): the memory suite needs Linux") from e
    fields: dict[str, Any] = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key in STATUS_FIELDS:
            fields[STATUS_FIELDS[key]] = int(value.split()[0]) * 1024 / MIB
        elif key == "Threads":
            fields["threads"] = int(value)
    if "rss" not in fields:  # a process that has exited and not yet been reaped keeps only its status line
        raise RuntimeError(f"process {pid} has exited")
    return Resident(**fields)


class Table:
    """Rows of resident memory, printed as they are taken."""

    def __init__(self, title: str, first_column: str):
        self.rows: dict[str, Resident] = {}
        print(f"\n== {title} ==\n{first_column:<24} {'RSS MiB':>8} {'growth':>7} {'anon':>7} {'file':>7} "
              f"{'peak':>7} {'threads':>7}", flush=True)

    def add(self, name: str, now: Resident) -> None:
        last = list(self.rows.values())[-1] if self.rows else None
        grew = f"{now.rss - last.rss:+7.1f}" if last else ""
        print(f"{name:<24} {now.rss:8.1f} {grew:>7} {now.anon:7.1f} {now.file:7.1f} {now.peak:7.1f} "
              f"{now.threads:7d}", flush=True)
        self.rows[name] = now


def weight_bytes(model: Any) -> int:
    """Bytes of the model's parameters and buffers, each storage counted once (a tied layer is one)."""
    storages = {t.untyped_storage().data_ptr(): t.untyped_storage().nbytes()
                for t in [*model.parameters(), *model.buffers()]}
    return sum(storages.values())


# --- start-up, in this process -------------------------------------------------------------------

def startup(checkpoint: Path | None, dtype: str) -> dict[str, Any]:
    """Take and print a row after each start-up step (the default model without `checkpoint`, in `dtype`:
    "auto" is what sam-live runs on this CPU); the rows and the model's share."""
    table = Table("start-up, in this process", "after")
    table.add("python", resident())
    import torch

    table.add("import torch", resident())
    import safetensors.torch  # noqa: F401  (what load_sam reads with: imported here, not the model's share)
    import tokenizers  # noqa: F401

    from ..checkpoint import DEFAULT_NAME, cpu_dtype, default_checkpoint, load_sam

    table.add("import model", resident())
    path = checkpoint or default_checkpoint()
    if path is None:
        raise ValueError(f"no checkpoint: {DEFAULT_NAME} is not installed; give one with --checkpoint DIR")
    model = load_sam(path, dtype=cpu_dtype() if dtype == "auto" else getattr(torch, dtype))
    table.add("load_sam", resident())
    with torch.inference_mode():
        noise = torch.Generator().manual_seed(0)
        hops = [0.05 * torch.randn(model.block_samples, generator=noise) for _ in range(11)]
        state = model.listen(hops[0], model.new_state())
        table.add("first hop heard", resident())
        for hop in hops[1:]:
            state = model.listen(hop, state)
        table.add("ten more hops", resident())
        model.describe(state, recent=True, max_new_tokens=32)
        table.add("a description", resident())
        model.ask(state, "what do you hear?", max_new_tokens=32)
        table.add("an answer", resident())
    rows = table.rows
    weights = weight_bytes(model) / MIB
    share = rows["load_sam"].rss - rows["import model"].rss
    anon = rows["load_sam"].anon - rows["import model"].anon
    print(f"{path}: weights {weights:.1f} MiB ({next(model.parameters()).dtype}); load_sam added {share:.1f} MiB "
          f"= {share / weights:.2f}x the weights ({anon:.1f} MiB anonymous = {anon / weights:.2f}x)")
    return {"checkpoint": str(path), "rows": {k: asdict(v) for k, v in rows.items()}, "weights_mib": weights,
            "model_share_mib": share, "model_share_x": share / weights, "model_share_anon_x": anon / weights}


# --- a long replay of sam-live, as its own process -----------------------------------------------

def looped_recording(path: Path, minutes: float, source: Path = DEMO) -> Path:
    """Write `source` looped to `minutes` as a 16-bit WAV at `path`, a block at a time."""
    import numpy as np
    import soundfile as sf

    from ..audio import SAMPLE_RATE, load_audio

    clip = load_audio(source).numpy()
    left = int(minutes * 60 * SAMPLE_RATE)
    with sf.SoundFile(str(path), "w", SAMPLE_RATE, 1, "PCM_16") as f:
        while left > 0:
            f.write(np.clip(clip[:left], -1, 1))
            left -= min(left, clip.size)
    return path


def replay(recording: Path, every_minutes: float, checkpoint: Path | None, dtype: str) -> dict[str, Any]:
    """Run sam-live headless on `recording` as fast as it goes; a row each `every_minutes` of stream."""
    table = Table(f"sam-live --headless --fast on {recording.name}, as its own process", "stream")
    marks: list[tuple[float, Resident]] = []  # (stream minutes, memory then)
    with tempfile.TemporaryDirectory() as logs:
        cmd = [sys.executable, "-m", "live.cli", "--headless", "--fast", "--no-audio", "--input", str(recording),
               "--log-dir", logs, "--dtype", dtype, *(["--checkpoint", str(checkpoint)] if checkpoint else [])]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert proc.stdout is not None
        for line in proc.stdout:
            minutes = json.loads(line)["stream_time"] / 60
            if not marks or minutes >= marks[-1][0] + every_minutes:
                try:
                    marks.append((minutes, resident(proc.pid)))
                except RuntimeError:  # its last lines arrive as it exits
                    break
                table.add(f"{minutes:5.1f} min", marks[-1][1])
        code = proc.wait()
    if code != 0:
        raise RuntimeError(f"sam-live exited with status {code}: run `{' '.join(cmd)}` to see why")
    settled = next((r for m, r in marks if m >= every_minutes), marks[-1][1])  # after the first mark's warm-up
    last = marks[-1][1]
    print(f"growth after the first {every_minutes:g} min: {last.rss - settled.rss:+.1f} MiB; "
          f"peak {max(r.peak for _, r in marks):.1f} MiB")
    return {"rows": {f"{m:.1f}": asdict(r) for m, r in marks}, "last_rss_mib": last.rss,
            "growth_after_first_mark_mib": last.rss - settled.rss}


def main(checkpoint: Path | None, dtype: str, minutes: float, every: float, recording: Path | None,
         skip_replay: bool, out: Path | None) -> None:
    """The start-up rows, then the replay's; with `out`, both as OUT/memory.json."""
    results: dict[str, Any] = {"startup": startup(checkpoint, dtype)}
    if not skip_replay:
        with tempfile.TemporaryDirectory() as tmp:
            wav = recording or looped_recording(Path(tmp) / "looped.wav", minutes)
            results["replay"] = replay(wav, every, checkpoint, dtype)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "memory.json").write_text(json.dumps(results, indent=1))
