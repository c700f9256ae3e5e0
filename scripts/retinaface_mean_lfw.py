# CLI: LFW View 2 verification through RetinaFace's 5 points with each candidate pixel mean (the end-task view).
"""Example:
    python scripts/retinaface_mean_lfw.py                       # all 10 folds (7,701 images per mean)
    python scripts/retinaface_mean_lfw.py --folds 9,10          # a quicker look
    python scripts/retinaface_mean_lfw.py > /tmp/mean-lfw.json  # then: export_retinaface_onnx.py --mean-lfw /tmp/mean-lfw.json
Per mean: every pair image is detected at native size (the face covering the image centre with the highest
score at min score 0.5; a pair missing a face is decided "different" in the fold accuracy, and counted
wrong in the paired comparison), aligned by a least-squares similarity transform of
its 5 points to the embedder card's template (Umeyama 1991, bilinear warp), embedded with
models/dlib-resnet-port.onnx, and scored by cosine; accuracy is 10-fold with each fold's threshold chosen on
the other folds (irface_ml.metrics). Pairs decided differently by the two means are counted both ways."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

import retinaface_mean_eval as mean_eval
from irface_ml import retinaface_post as post
from irface_ml.metrics import verification_accuracy
from irface_ml.model_card import sha256_file
from irface_ml.splits import read_pairs

REPO_ROOT = Path(__file__).resolve().parents[1]
EMBEDDER = REPO_ROOT / "models" / "dlib-resnet-port"


def similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """(2, 3) least-squares similarity transform taking src (K, 2) onto dst (K, 2) (Umeyama 1991, eq. 40-42)."""
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    u, sig, vt = np.linalg.svd(d.T @ s / len(src))
    flip = np.diag([1.0, np.sign(np.linalg.det(u @ vt))])
    rot = u @ flip @ vt
    scale = np.trace(np.diag(sig) @ flip) / s.var(0).sum()
    return np.hstack([scale * rot, (mu_d - scale * rot @ mu_s)[:, None]])


def centred_face(image: np.ndarray, run, mean) -> dict | None:
    h, w = image.shape[:2]
    faces = [f for f in post.detect(image, run, mean) if f["box"][0] <= w / 2 <= f["box"][2] and f["box"][1] <= h / 2 <= f["box"][3]]
    return faces[0] if faces else None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folds", default="1,2,3,4,5,6,7,8,9,10", help="1-based LFW View 2 folds")
    parser.add_argument("--model", default=str(REPO_ROOT / "models" / "detector-retinaface-mnet025.onnx"))
    args = parser.parse_args(argv)
    folds = [int(f) for f in args.folds.split(",")]
    pairs = [(k, p) for k, fold in enumerate(read_pairs(mean_eval.LFW_DIR / "protocol" / "pairs.txt"), 1)
             if k in folds for p in fold]
    card = json.loads(EMBEDDER.with_suffix(".json").read_text())
    template, size = np.asarray(card["alignment"]["template"]), tuple(card["alignment"]["size"])
    norm = card["input"]["normalization"]
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    det = ort.InferenceSession(args.model, opts, providers=["CPUExecutionProvider"])
    emb = ort.InferenceSession(str(EMBEDDER.with_suffix(".onnx")), opts, providers=["CPUExecutionProvider"])
    run = lambda x: det.run(None, {"image": x})  # noqa: E731
    paths = sorted({path for _, p in pairs for path in p.paths()})
    out, correct = {}, {}
    for label, mean in mean_eval.CANDIDATES.items():
        vectors = {}
        for path in paths:
            image = mean_eval.load_rgb(mean_eval.LFW_DIR / path)
            face = centred_face(image, run, mean)
            if face is None:
                continue
            crop = cv2.warpAffine(image, similarity(np.asarray(face["landmarks"]), template), size, flags=cv2.INTER_LINEAR)
            x = ((crop.astype(np.float32) - norm["mean"]) / norm["std"]).transpose(2, 0, 1)[None]
            v = emb.run(None, {card["input"]["name"]: x.astype(np.float32)})[0][0]
            vectors[path] = v / np.linalg.norm(v)
        found = [(a in vectors and b in vectors) for a, b in (p.paths() for _, p in pairs)]
        # A pair with a missing face scores below any cosine (decided "different") and is counted wrong below.
        scores = np.array([float(vectors[a] @ vectors[b]) if ok else -2.0 for ok, (a, b) in
                           zip(found, (p.paths() for _, p in pairs))])
        issame = np.array([p.same for _, p in pairs])
        fold_ids = np.array([k for k, _ in pairs])
        res = verification_accuracy(scores, issame, fold_ids)
        thr = dict(zip(np.unique(fold_ids), res.thresholds))
        correct[label] = np.array([ok and ((s > thr[k]) == y) for ok, s, y, k in zip(found, scores, issame, fold_ids)])
        out[label] = {"images_without_centred_face": len(paths) - len(vectors), "pairs": len(pairs),
                      "accuracy_mean": round(res.mean, 5), "accuracy_std": round(res.std, 5),
                      "fold_accuracies": [round(a, 5) for a in res.fold_accuracies]}
    a, b = correct.values()
    out["pairs_right_only_with"] = {label: int((x & ~y).sum()) for label, x, y in
                                    ((list(correct)[0], a, b), (list(correct)[1], b, a))}
    out["command"] = "python scripts/retinaface_mean_lfw.py --folds " + args.folds
    out["detector_sha256"] = sha256_file(args.model)  # lets the export script check the figures are for its model
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
