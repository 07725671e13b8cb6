"""Offline command-line tools: `sam-caption` (describe files) and `sam-ask` (questions about files)."""
from __future__ import annotations

import argparse
import contextlib
import json
import sys
import warnings
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from tqdm import tqdm

from .audio import FLOOR_DB, LEVEL_WINDOW, QUIET_DB, SAMPLE_RATE, AudioFile, loudest_dbfs
from .checkpoint import default_checkpoint, load_sam
from .sam import SAM
from .stream import StreamState

NO_MODEL = ("no trained model is installed (assets/sam-small is missing). Pass --checkpoint DIR, or "
            "build the default model as the README's 'Training' section shows (make train).")


@contextlib.contextmanager
def _one_line_warnings(prog: str) -> Iterator[None]:
    """Warnings (a damaged file repaired, a slower path taken) as one line each on stderr, named by the tool."""

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        print(f"{prog}: warning: {' '.join(str(message).split())}", file=sys.stderr, flush=True)

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield


def _add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", type=Path, help="SAM checkpoint directory (default: the model in assets/)")
    p.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default: cpu)")
    p.add_argument("--max-new-tokens", type=int, default=64, help="longest answer in tokens (default: 64)")
    p.add_argument("--json", action="store_true", help="print one JSON object per line")


def _load(args: argparse.Namespace) -> SAM:
    path = args.checkpoint or default_checkpoint()
    if path is None:
        raise SystemExit(f"error: {NO_MODEL}")
    try:
        return load_sam(path, device=args.device)
    except ValueError as e:
        raise SystemExit(f"error: {e}") from e


LONG_FILE_SECONDS = 60  # s: a file longer than this is heard with a progress bar on stderr


def _blocks(f: AudioFile, what: str) -> Iterator[np.ndarray]:
    """The file's 16 kHz blocks, with a progress bar on stderr when it is long."""
    bar = tqdm(total=round(f.seconds * SAMPLE_RATE), unit="s", unit_scale=1 / SAMPLE_RATE, desc=f"{what} {f.path.name}",
               file=sys.stderr, leave=False, disable=None if f.seconds > LONG_FILE_SECONDS else True)
    with bar:
        for block in f.blocks():
            yield block
            bar.update(block.size)


def hear_file(model: SAM, path: str | Path, warn: bool = True) -> StreamState:
    """A file heard block by block through listen(), so memory is bounded by a block whatever its length.

    Equal to model.hear(load_audio(path)) within float tolerance. warn=False: no warning for
    repaired samples (a second pass over a file already measured).
    """
    state = model.new_state()
    with AudioFile(path, warn) as f:
        for block in _blocks(f, "hearing"):
            state = model.listen(torch.from_numpy(block), state)
    if state.samples_seen == 0:
        raise ValueError(f"{path}: the file holds no audio samples")
    return model.listen(torch.zeros(0), state, flush=True)


def file_level(path: str | Path) -> tuple[float, int]:
    """The loudest 100 ms level of a file (dBFS, loudest_dbfs of the whole) and its 16 kHz samples, in blocks."""
    loudest, samples = FLOOR_DB, 0
    with AudioFile(path) as f:
        for block in _blocks(f, "measuring"):
            whole = block.size // LEVEL_WINDOW * LEVEL_WINDOW  # blocks hold whole windows, all but the last
            if whole or samples == 0:
                loudest = max(loudest, loudest_dbfs(block[:whole] if whole else block))
            samples += block.size
    if samples == 0:
        raise ValueError(f"{path}: the file holds no audio samples")
    return loudest, samples


def _answer(model: SAM, path: str, question: str | None, max_new_tokens: int, quiet_db: float | None = None) -> dict:
    """One file heard offline, then described or asked; the result as a dict.

    With `quiet_db`, a file never louder than that (per 100 ms) is described as "quiet" without
    the model, as sam-live's energy gate does.
    """
    gate = question is None and quiet_db is not None
    if gate:
        loudest, samples = file_level(path)
        if loudest < quiet_db:
            return {"audio": path, "seconds": round(samples / SAMPLE_RATE, 3), "answer": "quiet", "gated": True}
    state = hear_file(model, path, warn=not gate)  # the level pass has warned of damaged samples already
    ans = (model.describe(state, max_new_tokens=max_new_tokens) if question is None
           else model.ask(state, question, max_new_tokens=max_new_tokens))
    return {"audio": path, "seconds": round(state.seconds, 3), "answer": ans.text,
            "time_to_first_token": round(ans.time_to_first_token, 4),
            "tokens_per_second": round(ans.tokens_per_second, 1)} | ({"gated": False} if question is None else {})


def _error_text(e: Exception) -> str:
    """One line for a failed item: a ValueError's own message, else the exception's type and message."""
    text = str(e) if isinstance(e, ValueError) else f"{type(e).__name__}: {e}"
    return " ".join(text.split()) or type(e).__name__


def _print(result: dict, as_json: bool, key: str) -> None:
    if as_json:
        out = {k: v for k, v in result.items() if k != "answer"} | {key: result.get("answer")}
        print(json.dumps(out, ensure_ascii=False), flush=True)
    elif "error" in result:
        path, error = result["audio"], result["error"]
        error = error.removeprefix(f"{path}: ")  # the line names the file once
        print(f"{path}: error: {error}", file=sys.stderr, flush=True)
    else:
        print(f"{result['audio']}: {result['answer']}", flush=True)


def _each_file(model: SAM, files: list[str], question: str | None, args: argparse.Namespace, key: str) -> int:
    failures = 0
    quiet_db = None if question is not None or args.no_gate else args.quiet_db
    for path in files:
        try:
            result = _answer(model, path, question, args.max_new_tokens, quiet_db)
        except Exception as e:  # noqa: BLE001 - reported as this file's error; the other files go on
            result, failures = {"audio": path, "error": _error_text(e)}, failures + 1
        _print(result, args.json, key)
    return 1 if failures else 0


def caption_main(argv: list[str] | None = None) -> int:
    """sam-caption AUDIO...: one description per file."""
    p = argparse.ArgumentParser(prog="sam-caption", description="Describe the sound in audio files with SAM.")
    p.add_argument("audio", nargs="+", help="audio files (WAV, FLAC, OGG; any rate and channel count)")
    _add_model_args(p)
    p.add_argument("--quiet-db", metavar="DB", type=float, default=QUIET_DB,
                   help=f"a file never louder than this (dBFS per 100 ms) is described as quiet without "
                        f"running the model, as sam-live does (default: {QUIET_DB:g})")
    p.add_argument("--no-gate", action="store_true", help="always ask the model, however quiet the file")
    args = p.parse_args(argv)
    with _one_line_warnings("sam-caption"):
        return _each_file(_load(args), args.audio, None, args, "description")


def _batch_items(path: Path) -> Iterator[tuple[int, dict | None, str | None]]:
    """(line number, item, error) for each non-empty line of a JSONL file of {id, audio, question}."""
    with open(path, "rb") as f:  # bytes, so one line that is not UTF-8 is that line's error alone
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as e:
                yield n, None, f"line {n}: not JSON ({e.msg})"
                continue
            except UnicodeDecodeError:
                yield n, None, f"line {n}: not UTF-8 text"
                continue
            if not isinstance(item, dict) or not {"id", "audio", "question"} <= set(item):
                yield n, None, f"line {n}: needs the keys id, audio and question"
                continue
            yield n, item, None


def _run_batch(model: SAM, args: argparse.Namespace) -> int:
    if not args.batch.is_file():
        raise SystemExit(f"error: {args.batch}: no such file")
    items = list(_batch_items(args.batch))
    out = open(args.out, "w", encoding="utf-8") if args.out else sys.stdout
    failures = 0
    try:
        for n, item, error in tqdm(items, desc="sam-ask", unit="item", file=sys.stderr, disable=None):
            row: dict = {"id": item["id"] if item else None, "line": n}
            if error is None:
                try:
                    answer = _answer(model, str(item["audio"]), str(item["question"]), args.max_new_tokens)
                    row["answer"] = answer["answer"]
                except Exception as e:  # noqa: BLE001 - recorded as this item's error; the batch goes on
                    error = _error_text(e)
            if error is not None:
                failures += 1
                row["error"] = error
                print(f"sam-ask: {args.batch}:{n}: {error}", file=sys.stderr)
            row.pop("line")
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
            out.flush()
    finally:
        if out is not sys.stdout:
            out.close()
    return 1 if failures else 0


def ask_main(argv: list[str] | None = None) -> int:
    """sam-ask AUDIO... --question TEXT, or sam-ask --batch ITEMS.jsonl [--out ANSWERS.jsonl]."""
    p = argparse.ArgumentParser(
        prog="sam-ask", description="Ask SAM a question about audio files.",
        epilog='Batch input: one JSON object per line, {"id": ..., "audio": PATH, "question": TEXT}; '
               'output: {"id": ..., "answer": TEXT}, or {"id": ..., "error": ...} for an item that failed.')
    p.add_argument("audio", nargs="*", help="audio files (WAV, FLAC, OGG)")
    p.add_argument("--question", "-q", help="the question to ask about each file")
    p.add_argument("--batch", type=Path, help="JSONL file of items to answer with one model load")
    p.add_argument("--out", type=Path, help="with --batch: write answers here (default: stdout)")
    _add_model_args(p)
    args = p.parse_args(argv)
    if args.batch is None and (not args.audio or not args.question):
        p.error("give AUDIO files and --question, or --batch ITEMS.jsonl")
    if args.batch is not None and (args.audio or args.question):
        p.error("--batch takes its files and questions from the JSONL file; drop AUDIO and --question")
    with _one_line_warnings("sam-ask"):
        model = _load(args)
        if args.batch is not None:
            return _run_batch(model, args)
        return _each_file(model, args.audio, args.question, args, "answer")
