# CLI: export the face-api SSD MobileNet V1 detector and 68-point landmark ports to ONNX with detector cards.
"""Example:
    python scripts/export_detector_onnx.py            # writes into models/
    python scripts/export_detector_onnx.py --out-dir /tmp/m --no-parity
Writes detector-ssd-mobilenetv1.{onnx,json} and landmarks-68.{onnx,json} (schema irface.detector-card/1)
after checking onnxruntime against PyTorch on random input; unless --no-parity, also runs face-api itself
(scripts/faceapi_detect_reference.mjs, needs node) and records the exported graphs' end-to-end parity.
The pipeline helpers here (`detect_faces`, `compare_faces`) are the Python reference of what the
TypeScript adapter must do; tests/test_detector_parity.py uses them too."""
from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch

from irface_ml import landmark68 as lm
from irface_ml import ssd_mobilenet as ssd
from irface_ml.model_card import sha256_file, write_json

SCHEMA = "irface.detector-card/1"
OPSET = 17
DETECTOR_ID = "detector-ssd-mobilenetv1"
LANDMARKS_ID = "landmarks-68"
ORT_TOLERANCE = 1e-4  # max |ort - torch| on boxes, scores and relative landmarks
PARITY_MIN_CONFIDENCE = 0.3
REPO_ROOT = Path(__file__).resolve().parents[1]


def export_graph(model: torch.nn.Module, size: int, outputs: list[str], path: Path) -> None:
    with torch.no_grad(), warnings.catch_warnings():
        # 'same' padding reads spatial sizes, fixed by the card's input size, so constants are right.
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)  # legacy exporter on purpose
        torch.onnx.export(model, (torch.zeros(1, 3, size, size),), str(path), dynamo=False,
                          opset_version=OPSET, input_names=["image"], output_names=outputs,
                          dynamic_axes={n: {0: "batch"} for n in ["image", *outputs]},
                          do_constant_folding=True)


def session(path: Path, threads: int = 0) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def verify_onnx(model: torch.nn.Module, path: Path, size: int) -> dict:
    """check_model, then ort vs torch on random normalised input, batches 1 and 3."""
    onnx.checker.check_model(onnx.load(str(path)))
    sess, rng, worst = session(path), np.random.default_rng(0), 0.0
    for batch in (1, 3):
        x = rng.uniform(-1.0, 1.0, (batch, 3, size, size)).astype(np.float32)
        with torch.no_grad():
            expected = model(torch.from_numpy(x))
        expected = expected if isinstance(expected, tuple) else (expected,)
        for e, g in zip(expected, sess.run(None, {"image": x})):
            if g.shape != tuple(e.shape):
                raise RuntimeError(f"{path}: batch {batch} gave shape {g.shape}, expected {tuple(e.shape)}")
            worst = max(worst, float(np.abs(e.numpy() - g).max()))
    if worst >= ORT_TOLERANCE:
        raise RuntimeError(f"{path}: onnxruntime differs from torch by {worst} (limit {ORT_TOLERANCE})")
    return {"batches": [1, 3], "max_abs_diff": worst}


def detect_faces(image: np.ndarray, detector, landmarker, min_confidence: float,
                 max_results: int = ssd.DEFAULT_MAX_RESULTS) -> list[dict]:
    """face-api's detectAllFaces(...).withFaceLandmarks() on (H, W, 3) uint8 RGB.
    detector: (1, 3, 512, 512) -> (boxes (1, 5118, 4), scores (1, 5118)); landmarker: (K, 3, 112, 112) -> (K, 136)."""
    h, w = image.shape[:2]
    boxes, scores = detector(ssd.preprocess(image)[None])
    keep = ssd.nms(boxes[0], scores[0], min_confidence, max_results)
    faces = [{"score": float(scores[0][i]), "box": b.tolist()}
             for i, b in zip(keep, ssd.to_image_boxes(boxes[0][keep], w, h))]
    faces = [f for f in faces if min(lm.crop_box(f["box"], w, h)[2:]) > 0]  # as extractFaceTensors
    if faces:
        out = landmarker(np.stack([lm.crop_face(image, f["box"]) for f in faces]))  # (K, 136)
        for f, o in zip(faces, out):
            f["landmarks"] = lm.to_image_landmarks(o, f["box"], w, h).tolist()
    return faces


def box_iou_xywh(a, b) -> float:
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def compare_faces(theirs: list[dict], ours: list[dict]) -> dict:
    """Pair each face-api face with our face of highest IoU; worst-case agreement over the pairs."""
    stats = {"faces_faceapi": len(theirs), "faces_port": len(ours), "min_iou": 1.0,
             "max_score_diff": 0.0, "max_landmark_mean_px": 0.0, "max_landmark_px": 0.0}
    for t in theirs:
        if not ours:
            stats["min_iou"] = 0.0
            continue
        o = max(ours, key=lambda f: box_iou_xywh(t["box"], f["box"]))
        err = np.linalg.norm(np.asarray(t["landmarks"]) - np.asarray(o["landmarks"]), axis=1)  # (68,)
        stats["min_iou"] = min(stats["min_iou"], box_iou_xywh(t["box"], o["box"]))
        stats["max_score_diff"] = max(stats["max_score_diff"], abs(t["score"] - o["score"]))
        stats["max_landmark_mean_px"] = max(stats["max_landmark_mean_px"], float(err.mean()))
        stats["max_landmark_px"] = max(stats["max_landmark_px"], float(err.max()))
    return stats


def merge_stats(per_sample: list[dict]) -> dict:
    return {"photos": len(per_sample),
            "faces_faceapi": sum(s["faces_faceapi"] for s in per_sample),
            "faces_port": sum(s["faces_port"] for s in per_sample),
            "same_face_count_every_photo": all(s["faces_faceapi"] == s["faces_port"] for s in per_sample),
            **{k: (min if k == "min_iou" else max)(s[k] for s in per_sample)
               for k in ("min_iou", "max_score_diff", "max_landmark_mean_px", "max_landmark_px")}}


def run_faceapi_reference(out_dir: Path, min_confidence: float = PARITY_MIN_CONFIDENCE) -> dict:
    """Run face-api in node; returns reference.json with each sample's decoded pixels attached."""
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node is not on PATH; it is needed to run face-api for the parity check")
    proc = subprocess.run([node, "scripts/faceapi_detect_reference.mjs", str(out_dir), str(min_confidence)],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"faceapi_detect_reference.mjs exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    ref = json.loads((out_dir / "reference.json").read_text())
    for s in ref["samples"]:
        s["pixels"] = np.fromfile(out_dir / f"{s['name']}.rgb", np.uint8).reshape(s["height"], s["width"], 3)
        s["raw_boxes"] = np.fromfile(out_dir / f"{s['name']}.boxes.f32", "<f4").reshape(-1, 4)
        s["raw_scores"] = np.fromfile(out_dir / f"{s['name']}.scores.f32", "<f4")
    return ref


def onnx_parity(detector_path: Path, landmarks_path: Path) -> dict:
    """End-to-end parity of the exported graphs against face-api on its demo photos."""
    det, lmk = session(detector_path), session(landmarks_path)
    with tempfile.TemporaryDirectory() as tmp:
        ref = run_faceapi_reference(Path(tmp))
    per_sample = []
    for s in ref["samples"]:
        ours = detect_faces(s["pixels"], lambda x: det.run(None, {"image": x}),
                            lambda x: lmk.run(None, {"image": x})[0], ref["min_confidence"])
        per_sample.append(compare_faces(s["faces"], ours))
    return {"reference": f"face-api {ref['faceapi_version']} (tfjs {ref['tfjs_version']}, {ref['backend']}) "
                         f"detectAllFaces(minConfidence {ref['min_confidence']}).withFaceLandmarks() "
                         f"on demo/sample1-6.jpg", **merge_stats(per_sample)}


def provenance(manifest: str, command: str, ort_vs_torch: dict) -> dict:
    package = json.loads((ssd.FACEAPI_MODEL_DIR.parent / "package.json").read_text())
    weights = ssd.FACEAPI_MODEL_DIR / json.loads((ssd.FACEAPI_MODEL_DIR / manifest).read_text())[0]["paths"][0]
    return {"base_weights": f"{weights.name} from @vladmandic/face-api {package['version']} (MIT)",
            "base_weights_sha256": sha256_file(weights),
            "export": {"command": command, "exporter": "torch.onnx (TorchScript, dynamo=False)",
                       "torch": torch.__version__, "onnx": onnx.__version__, "onnxruntime": ort.__version__,
                       "opset": OPSET, "ort_vs_torch": ort_vs_torch}}


def detector_card(path: Path, prov: dict, parity: dict | None) -> dict:
    return {
        "schema": SCHEMA, "id": DETECTOR_ID, "task": "face-detection", "file": path.name, "sha256": sha256_file(path),
        "input": {"name": "image", "layout": "NCHW", "color": "RGB", "height": ssd.INPUT_SIZE, "width": ssd.INPUT_SIZE,
                  "normalization": {"mean": list(ssd.NORM_MEAN), "std": list(ssd.NORM_STD)},
                  "letterbox": {"pad": "zeros appended at the bottom (landscape) or right (portrait) to a square "
                                       "of side max(W, H); the image stays at the top-left",
                                "resize": "bilinear, TF legacy (align_corners=false, half_pixel_centers=false): "
                                          "src = dst * side / 512, neighbours floor(src) and min(floor(src)+1, side-1)"}},
        "outputs": {"boxes": {"name": "boxes", "shape": ["batch", ssd.NUM_ANCHORS, 4], "order": "ymin,xmin,ymax,xmax",
                              "units": "relative to the 512x512 input (= the padded square); not clamped"},
                    "scores": {"name": "scores", "shape": ["batch", ssd.NUM_ANCHORS],
                               "meaning": "sigmoid face probability per anchor"}},
        "anchors": {"count": ssd.NUM_ANCHORS, "source": "face-api Output/extra_dim, baked into the graph",
                    "feature_maps": [[32, 3], [16, 6], [8, 6], [4, 6], [2, 6], [1, 6]],
                    "decoding": "in graph: cy = ty/10*ha + ya, cx = tx/10*wa + xa, h = exp(th/5)*ha, w = exp(tw/5)*wa"},
        "postprocessing": {"score_rule": "keep score > minScore", "nms": "greedy, by descending score, drop IoU > 0.5 "
                           "with any kept box (IoU on the raw relative boxes)", "iou_threshold": ssd.IOU_THRESHOLD,
                           "max_results": ssd.DEFAULT_MAX_RESULTS,
                           "to_pixels": "s = 512 / max(W, H); top = max(0, ymin) * 512 / round(H*s) * H, "
                                        "bottom = min(1, ymax) * 512 / round(H*s) * H; x likewise with W"},
        "provenance": prov, "parity": parity or {},
    }


def landmarks_card(path: Path, prov: dict, parity: dict | None) -> dict:
    return {
        "schema": SCHEMA, "id": LANDMARKS_ID, "task": "face-landmarks-68", "file": path.name, "sha256": sha256_file(path),
        "input": {"name": "image", "layout": "NCHW", "color": "RGB", "height": lm.INPUT_SIZE, "width": lm.INPUT_SIZE,
                  "normalization": {"mean": list(lm.NORM_MEAN), "std": list(lm.NORM_STD)},
                  "crop": {"box": "detector box [x, y, w, h] in pixels; x0 = floor(max(x, 0)), y0 = floor(max(y, 0)), "
                                  "cw = floor(min(x + w - max(x, 0), W - max(x, 0))), ch likewise",
                           "pad": "zeros to a square of side max(cw, ch) on the short axis: d = |cw - ch|, "
                                  "after = Math.round(d / 2) (right/bottom), before = d - after (left/top)",
                           "resize": "bilinear, TF legacy (as the detector), skipped when the square is already 112"}},
        "outputs": {"landmarks": {"name": "landmarks", "shape": ["batch", 2 * lm.NUM_POINTS],
                                  "order": "x0,y0,x1,y1,... iBUG 68 points",
                                  "units": "relative to the 112x112 input square"}},
        "postprocessing": {"to_pixels": "side = max(cw, ch); x = box.x + vx * side - (side - cw) / 2, "
                                        "y = box.y + vy * side - (side - ch) / 2 (box.x, box.y unclipped, unfloored)"},
        "provenance": prov, "parity": parity or {},
    }


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out-dir", default=str(REPO_ROOT / "models"))
    parser.add_argument("--no-parity", action="store_true", help="skip the end-to-end check against face-api")
    args = parser.parse_args(argv)
    command = shlex.join(["python", "scripts/export_detector_onnx.py", *argv])
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    built = {}
    for model_id, model, size, outputs in ((DETECTOR_ID, ssd.SsdMobilenetV1.from_faceapi(), ssd.INPUT_SIZE, ["boxes", "scores"]),
                                           (LANDMARKS_ID, lm.Landmark68Net.from_faceapi(), lm.INPUT_SIZE, ["landmarks"])):
        path = out_dir / f"{model_id}.onnx"
        tmp = path.with_suffix(".onnx.tmp")  # verify before replacing: never leave a plausible bad model
        export_graph(model, size, outputs, tmp)
        built[model_id] = verify_onnx(model, tmp, size)
        os.replace(tmp, path)
        print(f"wrote {path.name}: ort vs torch {json.dumps(built[model_id])}")
    det_path, lmk_path = out_dir / f"{DETECTOR_ID}.onnx", out_dir / f"{LANDMARKS_ID}.onnx"
    parity = None if args.no_parity else onnx_parity(det_path, lmk_path)
    if parity:
        print(f"parity vs face-api: {json.dumps(parity)}")
    write_json(out_dir / f"{DETECTOR_ID}.json",
               detector_card(det_path, provenance(ssd.FACEAPI_MANIFEST, command, built[DETECTOR_ID]), parity))
    write_json(out_dir / f"{LANDMARKS_ID}.json",
               landmarks_card(lmk_path, provenance(lm.FACEAPI_MANIFEST, command, built[LANDMARKS_ID]), parity))
    return 0


if __name__ == "__main__":
    sys.exit(main())
