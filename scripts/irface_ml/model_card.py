# Builds, checks and writes the irface.model-card/1 JSON that sits beside every exported .onnx.
"""The card is the server's only source of preprocessing facts (models/README.md).
This module is pure apart from `sha256_file` and `write_json`."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

SCHEMA = "irface.model-card/1"
TTA_CHOICES = {"hflip": "hflip-sum", "none": "none"}

# dlib's 150x150 face chip (get_face_chip_details(shape, 150, 0.25)) expressed as 5 points:
# eye centres (mean of 68-pt 36-41 / 42-47), nose tip 30, mouth corners 48 and 54.
# Derivation in shared/notes/dlib-resnet.md; left/right as seen in the image.
ALIGNMENT = {
    "method": "similarity-5pt",
    "points": ["left_eye", "right_eye", "nose_tip", "mouth_left", "mouth_right"],
    "size": [150, 150],
    "template": [[47.549, 46.599], [100.476, 46.599], [74.013, 76.562],
                 [50.415, 103.023], [97.610, 103.023]],
}


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def build_card(*, model_id: str, onnx_file: str, sha256: str, input_name: str, output_name: str,
               size: int, mean, std, dim: int, tta: str, provenance: dict,
               flops_per_face: int) -> dict:
    """Assemble a card; every key of models/README.md is present, thresholds/evaluation empty
    until the LFW evaluation fills them."""
    if tta not in TTA_CHOICES:
        raise ValueError(f"unsupported tta {tta!r}; expected one of {sorted(TTA_CHOICES)}")
    card = {
        "schema": SCHEMA,
        "id": model_id,
        "file": onnx_file,
        "sha256": sha256,
        "input": {
            "name": input_name, "layout": "NCHW", "color": "RGB", "height": size, "width": size,
            "normalization": {"mean": [float(m) for m in mean], "std": [float(s) for s in std]},
        },
        "output": {"name": output_name, "dim": dim, "l2_normalized": True},
        "alignment": json.loads(json.dumps(ALIGNMENT)),  # a copy the caller may edit
        "test_time_augmentation": TTA_CHOICES[tta],
        "similarity": {"metric": "cosine", "thresholds": {}},
        "provenance": provenance,
        "evaluation": {},
        "flops_per_face": int(flops_per_face),
    }
    check_card(card)
    return card


def check_card(card: dict) -> None:
    """Raise ValueError naming every field that breaks the card contract."""
    problems = []

    def need(cond: bool, what: str):
        if not cond:
            problems.append(what)

    need(card.get("schema") == SCHEMA, f"schema must be {SCHEMA!r}")
    need(isinstance(card.get("id"), str) and card["id"] != "", "id must be a non-empty string")
    need(str(card.get("file", "")).endswith(".onnx"), "file must name an .onnx file")
    need(len(str(card.get("sha256", ""))) == 64, "sha256 must be 64 hex characters")
    inp = card.get("input", {})
    need(inp.get("layout") == "NCHW" and inp.get("color") == "RGB", "input must be NCHW RGB")
    norm = inp.get("normalization", {})
    need(len(norm.get("mean", [])) == 3 and len(norm.get("std", [])) == 3,
         "input.normalization needs 3 means and 3 stds")
    need(all(s > 0 for s in norm.get("std", [0])), "input.normalization.std must be positive")
    out = card.get("output", {})
    need(isinstance(out.get("dim"), int) and out["dim"] > 0, "output.dim must be a positive int")
    need(out.get("l2_normalized") is True, "output.l2_normalized must be true for this exporter")
    align = card.get("alignment", {})
    need(len(align.get("template", [])) == len(align.get("points", [])) == 5,
         "alignment needs 5 points and 5 template entries")
    need(card.get("test_time_augmentation") in TTA_CHOICES.values(),
         f"test_time_augmentation must be one of {sorted(TTA_CHOICES.values())}")
    need(card.get("similarity", {}).get("metric") == "cosine", "similarity.metric must be cosine")
    need(isinstance(card.get("flops_per_face"), int) and card["flops_per_face"] > 0,
         "flops_per_face must be a positive int")
    if problems:
        raise ValueError("invalid model card: " + "; ".join(problems))


def write_json(path: str | Path, data: dict, indent: int | None = 2) -> None:
    """indent=None keeps number-heavy files (reference embeddings) small."""
    Path(path).write_text(json.dumps(data, indent=indent) + "\n")
