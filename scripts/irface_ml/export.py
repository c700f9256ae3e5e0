# Exports the serving graph (net, optional flip TTA, L2 norm) to ONNX, verifies it, writes card + reference.
"""Outputs for `--out models/<id>`: <id>.onnx, <id>.json (model card) and <id>.reference.json
(seeds of generated test images + expected embeddings, for the TypeScript side's own check).
The graph expects input already normalised per the card; normalisation is not in the graph,
so callers that normalise must not feed raw pixels and vice versa."""
from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torch.nn.functional as F
from torch import nn

from . import model_card
from .dlib_resnet import (EMBED_DIM, FACEAPI_MANIFEST, FACEAPI_MODEL_DIR, INPUT_SIZE, NORM_MEAN,
                          NORM_STD, DlibResNet, count_flops, normalize_pixels)

INPUT_NAME = "image"
OUTPUT_NAME = "embedding"
OPSET = 17  # handled well by the legacy TorchScript exporter and every onnxruntime in use
REFERENCE_SEEDS = (1, 2, 3, 4)
PARITY_MAX_ABS = 1e-4  # ort vs torch, on L2-normalised embeddings
PARITY_MIN_COS = 0.99999
LCG_DESCRIPTION = ("state = seed; per value in HWC order: state = (1103515245*state + 12345) mod 2^31, "
                   "value = (state >> 16) & 255; 150x150x3 RGB uint8")


def lcg_pixels(seed: int, size: int = INPUT_SIZE) -> np.ndarray:
    """Deterministic (size, size, 3) uint8 RGB image, identical to faceapi_reference.mjs's lcgPixels."""
    out = np.empty(size * size * 3, dtype=np.uint8)
    state = seed
    for i in range(out.size):
        state = (1103515245 * state + 12345) % 2147483648
        out[i] = (state >> 16) & 255
    return out.reshape(size, size, 3)


class EmbeddingGraph(nn.Module):
    """What the ONNX file computes: (N, 3, 150, 150) normalised -> (N, 128) L2-normalised."""

    def __init__(self, net: nn.Module, hflip: bool):
        super().__init__()
        self.net = net
        self.hflip = hflip

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        if self.hflip:
            # Interleave each crop with its mirror so one batched pass serves both views.
            pair = torch.stack([image, image.flip(3)], dim=1).flatten(0, 1)  # (2N, 3, H, W)
            raw = self.net(pair).reshape(-1, 2, EMBED_DIM).sum(dim=1)  # (N, 128)
        else:
            raw = self.net(image)  # (N, 128)
        return F.normalize(raw, dim=1)


def _json_safe(value):
    return json.loads(json.dumps(value, default=str))


def load_net(checkpoint: str | Path | None = None) -> tuple[DlibResNet, dict | None]:
    """face-api's weights, optionally overwritten by a fine-tuned state_dict (or {"model": ...})."""
    net = DlibResNet.from_faceapi()
    if checkpoint is None:
        return net, None
    try:
        ckpt = torch.load(checkpoint, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ValueError(f"cannot load checkpoint {checkpoint} with weights_only=True; store the "
                         f"config as plain dicts/lists/numbers: {err}") from err
    state = ckpt["model"] if isinstance(ckpt, dict) and "model" in ckpt else ckpt
    net.load_state_dict(state, strict=True)
    info = {"checkpoint": Path(checkpoint).name, "checkpoint_sha256": model_card.sha256_file(checkpoint)}
    if isinstance(ckpt, dict):
        config = ckpt.get("config")
        loss = ckpt.get("loss", config.get("loss") if isinstance(config, dict) else None)
        info.update({"loss": loss, "config": config, "step": ckpt.get("step")})
    return net.eval(), _json_safe(info)


def export_graph(graph: nn.Module, path: Path, opset: int = OPSET) -> None:
    example = torch.zeros(1, 3, INPUT_SIZE, INPUT_SIZE)
    with torch.no_grad(), warnings.catch_warnings():
        # ResidualDown's zero-row test reads spatial sizes, fixed at 150x150 in this graph, so
        # tracing it as a constant is correct; the flip's step -1 Slice just is not constant-folded.
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message="Constant folding - Only steps=1")
        # The legacy exporter is chosen on purpose: the dynamo one needs onnxscript (not installed).
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        torch.onnx.export(graph, (example,), str(path), dynamo=False, opset_version=opset,
                          input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                          dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
                          do_constant_folding=True)


def ort_session(path: Path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def compare(expected: np.ndarray, got: np.ndarray) -> dict:
    """Worst-case agreement of two (N, D) embedding batches."""
    e, g = expected.astype(np.float64), got.astype(np.float64)
    cos = (e * g).sum(1) / (np.linalg.norm(e, axis=1) * np.linalg.norm(g, axis=1))
    return {"max_abs_diff": float(np.abs(e - g).max()), "min_cosine": float(cos.min())}


def verify_onnx(graph: nn.Module, path: Path, batches=(1, 8)) -> dict:
    """check_model, then ort vs torch on random pixels; raises unless within tolerance."""
    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    inputs = [i.name for i in model.graph.input]
    outputs = [o.name for o in model.graph.output]
    if inputs != [INPUT_NAME] or outputs != [OUTPUT_NAME]:
        raise RuntimeError(f"{path}: graph io {inputs} -> {outputs}, expected [{INPUT_NAME}] -> [{OUTPUT_NAME}]")
    session = ort_session(path)
    rng = np.random.default_rng(0)
    worst = {"max_abs_diff": 0.0, "min_cosine": 1.0}
    for batch in batches:
        pixels = torch.from_numpy(rng.integers(0, 256, (batch, 3, INPUT_SIZE, INPUT_SIZE)))
        x = normalize_pixels(pixels)  # (B, 3, 150, 150)
        with torch.no_grad():
            expected = graph(x).numpy()  # (B, 128)
        got = session.run([OUTPUT_NAME], {INPUT_NAME: x.numpy()})[0]
        if got.shape != expected.shape:
            raise RuntimeError(f"{path}: batch {batch} gave shape {got.shape}, expected {expected.shape}")
        stats = compare(expected, got)
        worst = {"max_abs_diff": max(worst["max_abs_diff"], stats["max_abs_diff"]),
                 "min_cosine": min(worst["min_cosine"], stats["min_cosine"])}
    if worst["max_abs_diff"] >= PARITY_MAX_ABS or worst["min_cosine"] <= PARITY_MIN_COS:
        raise RuntimeError(f"{path}: onnxruntime disagrees with torch: {worst} (need max |diff| < "
                           f"{PARITY_MAX_ABS}, cosine > {PARITY_MIN_COS})")
    return {"batches": list(batches), **worst}


def reference_inputs(card: dict, seeds=REFERENCE_SEEDS) -> np.ndarray:
    """LCG images normalised with the card's own numbers, as the server would: (S, 3, 150, 150)."""
    norm = card["input"]["normalization"]
    mean = np.asarray(norm["mean"], dtype=np.float32).reshape(1, 3, 1, 1)
    std = np.asarray(norm["std"], dtype=np.float32).reshape(1, 3, 1, 1)
    pixels = np.stack([lcg_pixels(s).transpose(2, 0, 1) for s in seeds]).astype(np.float32)
    return ((pixels - mean) / std).astype(np.float32)


def build_reference(graph: nn.Module, card: dict, seeds=REFERENCE_SEEDS) -> dict:
    with torch.no_grad():
        emb = graph(torch.from_numpy(reference_inputs(card, seeds))).numpy()  # (S, 128)
    return {
        "model_id": card["id"],
        "generator": {"kind": "lcg", "description": LCG_DESCRIPTION, "height": INPUT_SIZE,
                      "width": INPUT_SIZE},
        "input": "raw pixels normalised with the card's input.normalization, NCHW",
        "tolerance": {"max_abs_diff": PARITY_MAX_ABS, "min_cosine": PARITY_MIN_COS},
        "cases": [{"seed": int(s), "embedding": [round(float(v), 7) for v in e]}
                  for s, e in zip(seeds, emb)],
    }


def check_reference(onnx_path: Path, card: dict, reference: dict) -> dict:
    """Run the reference through onnxruntime; raises if the stored embeddings are not reproduced."""
    seeds = [c["seed"] for c in reference["cases"]]
    expected = np.asarray([c["embedding"] for c in reference["cases"]], dtype=np.float32)
    got = ort_session(onnx_path).run([card["output"]["name"]],
                                     {card["input"]["name"]: reference_inputs(card, seeds)})[0]
    stats = compare(expected, got)
    tol = reference["tolerance"]
    if stats["max_abs_diff"] >= tol["max_abs_diff"] or stats["min_cosine"] <= tol["min_cosine"]:
        raise RuntimeError(f"{onnx_path}: reference embeddings not reproduced: {stats}, tolerance {tol}")
    return stats


def export_model(out: str | Path, checkpoint=None, tta: str = "hflip", command: str = "",
                 opset: int = OPSET) -> dict:
    """Write <out>.onnx, <out>.json and <out>.reference.json; returns {card, parity, reference}."""
    if tta not in model_card.TTA_CHOICES:
        raise ValueError(f"unsupported tta {tta!r}; expected one of {sorted(model_card.TTA_CHOICES)}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    model_id = out.name
    onnx_path = out.parent / f"{model_id}.onnx"
    net, training = load_net(checkpoint)
    graph = EmbeddingGraph(net, hflip=(tta == "hflip")).eval()

    # Verify before replacing, so a failed export never leaves a plausible-looking model behind.
    tmp_path = onnx_path.with_suffix(".onnx.tmp")
    export_graph(graph, tmp_path, opset)
    parity = verify_onnx(graph, tmp_path)
    os.replace(tmp_path, onnx_path)

    package = json.loads((FACEAPI_MODEL_DIR.parent / "package.json").read_text())
    weights_bin = FACEAPI_MODEL_DIR / json.loads((FACEAPI_MODEL_DIR / FACEAPI_MANIFEST).read_text())[0]["paths"][0]
    provenance = {
        "base_weights": (f"{weights_bin.name} from @vladmandic/face-api {package['version']} "
                         f"(dlib ResNet, public domain)"),
        "base_weights_sha256": model_card.sha256_file(weights_bin),
        "training": training,
        "export": {"command": command, "exporter": "torch.onnx (TorchScript, dynamo=False)",
                   "torch": torch.__version__, "onnx": onnx.__version__,
                   "onnxruntime": ort.__version__, "opset": opset, "ort_vs_torch": parity},
    }
    card = model_card.build_card(
        model_id=model_id, onnx_file=onnx_path.name, sha256=model_card.sha256_file(onnx_path),
        input_name=INPUT_NAME, output_name=OUTPUT_NAME, size=INPUT_SIZE, mean=NORM_MEAN,
        std=NORM_STD, dim=EMBED_DIM, tta=tta, provenance=provenance,
        flops_per_face=count_flops(graph))
    reference = build_reference(graph, card)
    ref_stats = check_reference(onnx_path, card, reference)
    model_card.write_json(out.parent / f"{model_id}.json", card)
    model_card.write_json(out.parent / f"{model_id}.reference.json", reference, indent=None)
    return {"card": card, "parity": parity, "reference": ref_stats}
