"""Cost against session length on this CPU: SAM's Mamba-2 LM against a Transformer with a KV cache.

Both language models hear the same stream of audio-token embeddings, 6.25 tokens per second of
audio in hops of 8 tokens (1.28 s, the streaming hop), from an empty state for up to 60 minutes.
At 1, 10 and 60 minutes each is asked a question about what it heard: a 10-token prompt, then 16
greedy tokens. Measured along the way: time per hop, time to first token, decoding tokens per
second, the bytes of the state or cache, and the process's resident memory (RSS).

  mamba2       sam-small's LM (mamba2-small: d_model 384, 12 layers), our PyTorch path; the stream
               is chunk-appended onto one MambaState, and the question runs on a fork of it
  transformer  transformers' LlamaForCausalLM of the same width and depth (6 heads of 64, MLP
               1536, RoPE, the same vocabulary), SDPA attention; the stream is appended to one
               DynamicCache, the question too, and is cropped off again after the answer

Weights are random: the cost does not depend on them. The Transformer's hops get slower as the
cache grows, so it times every hop of the first minute, then a few hops in every `every`, and
the five before each question; the hops in between are pushed as one chunk each, which leaves
the same cache (attention is causal) at a fraction of the wall time. Ours times every hop.
"""
from __future__ import annotations

import os
import statistics
import time
from pathlib import Path
from typing import Any, Callable, Protocol

import torch
from torch import Tensor

from ..audio import TOKENS_PER_SECOND
from ..config import SAMConfig
from ..lm import MambaLM
from ..plots import pyplot
from .memory import resident
from .timing import report

PRESET = "sam-small"
MINUTES = (1, 10, 60)
PROMPT_TOKENS = 10  # random ids, as long as a short <|question|> ... <|answer|> prompt
NEW_TOKENS = 16  # greedy tokens decoded per answer
BEFORE_MARK = 5  # hops timed just before each question; their median is "time per hop" there
MIB = 2**20
# What is reported at each question, and compared between the last question and the first.
FIGURES = ("hop_ms", "hop_cpu_ms", "ttft_ms", "ttft_cpu_ms", "tokens_per_s", "tokens_per_cpu_s",
           "state_mib", "rss_mib")


class Listener(Protocol):
    """A language model listening to one stream: what the suite needs from each side."""

    def feed(self, embeds: Tensor) -> None: ...
    def ask(self, prompt: Tensor, n_new: int) -> dict[str, float]: ...
    def state_bytes(self) -> int: ...


def hops_for(minutes: float, hop_tokens: int) -> int:
    """Hops that hold `minutes` of audio (rounded to the nearest hop)."""
    return round(minutes * 60 * TOKENS_PER_SECOND / hop_tokens)


def timed_hops(n_hops: int, marks: list[int], every: int, first: int) -> set[int]:
    """Hops to time: all of the first `first`, three of every `every`, the BEFORE_MARK before each mark."""
    out = set(range(min(first, n_hops)))
    out |= {i for i in range(n_hops) if i % every < 3}
    for m in marks:
        out |= set(range(max(0, m - BEFORE_MARK), m))
    return out


def schedule(n_hops: int, timed: set[int], marks: list[int]) -> list[tuple[int, int, bool]]:
    """(first hop, number of hops, timed) in stream order: timed hops alone, untimed ones merged
    into runs that never cross a mark (a question is asked exactly there)."""
    plan: list[tuple[int, int, bool]] = []
    for i in range(n_hops):
        if i in timed:
            plan.append((i, 1, True))
        elif plan and not plan[-1][2] and plan[-1][0] + plan[-1][1] == i and i not in marks:
            plan[-1] = (plan[-1][0], plan[-1][1] + 1, False)
        else:
            plan.append((i, 1, False))
    return plan


def clock() -> tuple[float, float]:
    """(wall-clock, CPU) seconds now. CPU time counts this process only (summed over its threads),
    so on a machine shared with other jobs it shows the cost of the work itself, and wall-clock
    what a user would wait; with one PyTorch thread the two agree on a quiet machine."""
    return time.perf_counter(), time.process_time()


def since(t0: tuple[float, float]) -> tuple[float, float]:
    t1 = clock()
    return t1[0] - t0[0], t1[1] - t0[1]


def greedy(next_logits: Callable[[Tensor], Tensor], prompt: Tensor, n_new: int) -> dict[str, float]:
    """Time to first token (s) and decoding tokens/s of greedy decoding, wall-clock and CPU.

    next_logits takes ids (1, n) and returns the logits (1, vocab) after the last of them.
    """
    start = clock()
    tok = next_logits(prompt).argmax(-1, keepdim=True)
    first = since(start)
    decode = clock()
    for _ in range(n_new - 1):
        tok = next_logits(tok).argmax(-1, keepdim=True)
    wall, cpu = since(decode)
    return {"ttft_ms": 1e3 * first[0], "ttft_cpu_ms": 1e3 * first[1],
            "tokens_per_s": (n_new - 1) / max(wall, 1e-9), "tokens_per_cpu_s": (n_new - 1) / max(cpu, 1e-9)}


class MambaListener:
    """Our LM: the stream is chunk-appended onto one MambaState; questions run on a fork."""

    def __init__(self, lm: MambaLM):
        self.lm = lm
        self.state = lm.zero_state(1)

    def feed(self, embeds: Tensor) -> None:
        _, self.state = self.lm.hidden(inputs_embeds=embeds, state=self.state)

    def ask(self, prompt: Tensor, n_new: int) -> dict[str, float]:
        state = None

        def next_logits(ids: Tensor) -> Tensor:
            nonlocal state
            if state is None:  # the prompt, pushed onto a fork of the listening state
                h, state = self.lm.hidden(ids, state=self.state.fork())
                return self.lm.lm_head(h[:, -1])
            logits, state = self.lm.step(ids[:, 0], state=state)
            return logits

        return greedy(next_logits, prompt, n_new)

    def state_bytes(self) -> int:
        return self.state.nbytes


class TransformerListener:
    """transformers' Llama: the stream is appended to one DynamicCache; a question is cropped off after."""

    def __init__(self, model):
        from transformers import DynamicCache

        self.model = model
        self.cache = DynamicCache(config=model.config)

    def feed(self, embeds: Tensor) -> None:
        self.model.model(inputs_embeds=embeds, cache=self.cache, use_cache=True)

    def ask(self, prompt: Tensor, n_new: int) -> dict[str, float]:
        heard = self.cache.get_seq_length()

        def next_logits(ids: Tensor) -> Tensor:
            out = self.model(input_ids=ids, cache=self.cache, use_cache=True, logits_to_keep=1)
            return out.logits[:, -1]

        result = greedy(next_logits, prompt, n_new)
        self.cache.crop(heard - self.cache.get_seq_length())  # a negative count: drop the question and answer
        assert self.cache.get_seq_length() == heard
        return result

    def state_bytes(self) -> int:
        return sum(layer.keys.nbytes + layer.values.nbytes for layer in self.cache.layers if layer.is_initialized)


def build_models(preset: str = PRESET, seed: int = 0) -> tuple[MambaLM, Any]:
    """Our LM of `preset` and a Llama of the same width, depth and vocabulary (random weights)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = SAMConfig.from_name(preset).lm
    lm = MambaLM(cfg, backend="torch").eval()
    heads = max(1, cfg.d_model // 64)
    llama_cfg = LlamaConfig(hidden_size=cfg.d_model, num_hidden_layers=cfg.n_layer, num_attention_heads=heads,
                            num_key_value_heads=heads, intermediate_size=4 * cfg.d_model,
                            vocab_size=cfg.padded_vocab_size, max_position_embeddings=32_768,
                            tie_word_embeddings=True, attn_implementation="sdpa")
    return lm, LlamaForCausalLM(llama_cfg).eval()


def rss() -> int:
    """Resident bytes of this process (memory.resident)."""
    return round(resident().rss * MIB)


@torch.inference_mode()
def listen(make: Callable[[], Listener], stream: Tensor, hop: int, marks: list[int], every: int | None,
           prompt: Tensor, repeats: int) -> tuple[dict[str, Any], Listener]:
    """Feed `stream` (1, n_hops * hop, d) to a fresh listener, timing hops and asking at each mark.

    Returns the measurements and the listener, which holds everything it heard."""
    n_hops = stream.shape[1] // hop
    warm = make()  # one-time costs (allocator, kernels, masks) off the clock
    for _ in range(3):
        warm.feed(stream[:, :hop])
    warm.ask(prompt, 2)
    del warm
    timed = set(range(n_hops)) if every is None else timed_hops(n_hops, marks, every, first=marks[0])
    session, base, start = make(), rss(), time.perf_counter()
    hops: list[tuple[int, float, float, float, float]] = []  # (hop, wall ms, CPU ms, state MiB, RSS MiB)
    out: list[dict[str, Any]] = []
    for first, n, is_timed in schedule(n_hops, timed, marks):
        t0 = clock()
        session.feed(stream[:, first * hop:(first + n) * hop])
        if is_timed:
            wall, cpu = since(t0)
            figures = (1e3 * wall, 1e3 * cpu, session.state_bytes() / MIB, rss() / MIB)
            hops.append((first, *(round(v, 3) for v in figures)))
        if first + n in marks:
            out.append(_question(session, first + n, hop, hops, prompt, repeats, base))
    return {"marks": out, "hops": hops, "rss_before_mib": base / MIB, "wall_s": time.perf_counter() - start}, session


def _question(session: Listener, heard: int, hop: int, hops: list, prompt: Tensor, repeats: int,
              base: int) -> dict[str, Any]:
    """Ask `repeats` times at a mark: medians of the answers' figures, the hops just before it, memory."""
    answers = [session.ask(prompt, NEW_TOKENS) for _ in range(repeats)]
    recent = [h for h in hops if heard - BEFORE_MARK <= h[0] < heard]
    now = rss()
    return {"minutes": heard * hop / TOKENS_PER_SECOND / 60, "audio_tokens": heard * hop,
            "hop_ms": statistics.median(h[1] for h in recent), "hop_cpu_ms": statistics.median(h[2] for h in recent),
            **{k: statistics.median(a[k] for a in answers) for k in answers[0]},
            "state_mib": session.state_bytes() / MIB, "rss_mib": now / MIB, "rss_growth_mib": (now - base) / MIB,
            "load_average_1min": os.getloadavg()[0]}


def cache_copy_ms(listener: TransformerListener, hop: int) -> float:
    """What DynamicCache's growth alone costs per hop now: concatenating `hop` tokens onto every K and V."""
    layers = [layer for layer in listener.cache.layers if layer.is_initialized]
    start = time.perf_counter()
    for layer in layers:
        torch.cat([layer.keys, layer.keys[..., :hop, :]], dim=-2)
        torch.cat([layer.values, layer.values[..., :hop, :]], dim=-2)
    return 1e3 * (time.perf_counter() - start)


def bench_session(minutes: tuple[float, ...] = MINUTES, every: int = 32, repeats: int = 5,
                  preset: str = PRESET, seed: int = 0) -> dict[str, Any]:
    """Both models over the same stream; marks, hop series and the 'last mark vs first' ratios."""
    lm, llama = build_models(preset, seed)
    hop = SAMConfig.from_name(preset).encoder.block_columns
    marks = [hops_for(m, hop) for m in minutes]
    if sorted(set(marks)) != marks or marks[0] < 1:
        raise ValueError(f"minutes {minutes} must increase, at least one hop ({hop / TOKENS_PER_SECOND} s) apart")
    g = torch.Generator().manual_seed(seed)
    stream = torch.randn(1, marks[-1] * hop, lm.cfg.d_model, generator=g)
    prompt = torch.randint(3, lm.cfg.vocab_size, (1, PROMPT_TOKENS), generator=g)
    res: dict[str, Any] = {"preset": preset, "hop_tokens": hop, "tokens_per_second": TOKENS_PER_SECOND,
                           "prompt_tokens": PROMPT_TOKENS, "new_tokens": NEW_TOKENS, "minutes": list(minutes),
                           "threads": torch.get_num_threads(), "load_average_1min_start": os.getloadavg()[0]}
    res["mamba2"], _ = listen(lambda: MambaListener(lm), stream, hop, marks, None, prompt, repeats)
    res["mamba2"]["parameters"] = lm.num_parameters()
    res["transformer"], heard = listen(lambda: TransformerListener(llama), stream, hop, marks, every, prompt, repeats)
    res["transformer"]["parameters"] = sum(p.numel() for p in llama.parameters())
    res["transformer"]["cache_copy_ms_at_end"] = cache_copy_ms(heard, hop)
    res["load_average_1min_end"] = os.getloadavg()[0]
    res["ratios"] = ratios(res)
    return res


def ratios(res: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Each figure at the last mark over the first (60 min vs 1 min), per model."""
    out = {}
    for name in ("mamba2", "transformer"):
        first, last = res[name]["marks"][0], res[name]["marks"][-1]
        out[name] = {k: last[k] / first[k] for k in FIGURES}
    return out


def summary(res: dict[str, Any]) -> dict[str, Any]:
    """The flat numbers that get printed: each figure at each mark, and the ratios."""
    flat: dict[str, Any] = {k: res[k] for k in ("preset", "hop_tokens", "threads", "load_average_1min_start",
                                                 "load_average_1min_end")}
    for name in ("mamba2", "transformer"):
        flat[f"{name}.parameters"] = res[name]["parameters"]
        flat[f"{name}.hop_ms_first_hops"] = statistics.median(h[1] for h in res[name]["hops"][:BEFORE_MARK])
        for asked, m in zip(res["minutes"], res[name]["marks"]):
            for k in (*FIGURES, "rss_growth_mib", "load_average_1min"):
                flat[f"{name}.{asked:g}min.{k}"] = m[k]
        flat[f"{name}.wall_s"] = res[name]["wall_s"]
        for k, v in res["ratios"][name].items():
            flat[f"{name}.ratio_last_vs_first.{k}"] = v
    flat["transformer.cache_copy_ms_at_end"] = res["transformer"]["cache_copy_ms_at_end"]
    return flat


# Figures plotted against minutes of audio: from every timed hop, or from the questions.
HOP_FIGURES = {"hop_ms": ("time per 1.28 s hop (ms, wall-clock)", 1),
               "hop_cpu_ms": ("CPU time per 1.28 s hop (ms)", 2),
               "state_mib": ("state / KV cache (MiB)", 3),
               "rss_mib": ("resident memory of the process (MiB)", 4)}  # label, column of the hop series
MARK_FIGURES = {"ttft_ms": "time to first token (ms, wall-clock)",
                "tokens_per_s": "decoding speed (tokens/s, wall-clock)"}
LOG_SCALE = ("hop_ms", "hop_cpu_ms", "state_mib", "ttft_ms", "tokens_per_s")  # ours is flat and small beside theirs
LABELS = {"mamba2": "SAM LM (Mamba-2, mamba2-small)", "transformer": "Transformer + KV cache (Llama, same size)"}


def plot(res: dict[str, Any], out: Path) -> list[Path]:
    """One PNG per figure against minutes of audio heard; returns their paths."""
    plt = pyplot()
    if plt is None:
        raise ImportError("the benchmark's figures need matplotlib: pip install 'sam-live[plots]'")
    hop_minutes = res["hop_tokens"] / TOKENS_PER_SECOND / 60
    paths = []
    for key in (*HOP_FIGURES, *MARK_FIGURES):
        fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=110)
        for name, label in LABELS.items():
            if key in HOP_FIGURES:
                col = HOP_FIGURES[key][1]
                hops = res[name]["hops"]
                ax.plot([(h[0] + 1) * hop_minutes for h in hops], [h[col] for h in hops], ".", ms=2, label=label)
            else:
                marks = res[name]["marks"]
                ax.plot([m["minutes"] for m in marks], [m[key] for m in marks], "o-", label=label)
        ax.set_xlabel("minutes of audio heard")
        ax.set_ylabel(HOP_FIGURES[key][0] if key in HOP_FIGURES else MARK_FIGURES[key])
        if key in LOG_SCALE:
            ax.set_yscale("log")
        else:
            ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8, markerscale=4 if key in HOP_FIGURES else 1)
        fig.tight_layout()
        paths.append(out / f"session_{key}.png")
        fig.savefig(paths[-1])
        plt.close(fig)
    return paths


def main(out: Path | None, minutes: tuple[float, ...] = MINUTES) -> dict[str, Any]:
    """Run the suite, print the numbers; with `out`, write session_cpu.json, the timed hops
    (session_cpu_hops.json) and the plots."""
    import json

    res = bench_session(minutes)
    report(summary(res), None, "session_cpu")
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        marks = {name: {k: v for k, v in res[name].items() if k != "hops"} for name in LABELS}
        (out / "session_cpu.json").write_text(json.dumps({"summary": summary(res), **res, **marks}, indent=1))
        series = {"columns": ["hop", "wall_ms", "cpu_ms", "state_mib", "rss_mib"],
                  **{name: res[name]["hops"] for name in LABELS}}
        (out / "session_cpu_hops.json").write_text(json.dumps(series))
        for p in plot(res, out):
            print(f"wrote {p}")
    return res
