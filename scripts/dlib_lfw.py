"""dlib's own pipeline on LFW View 2: the reference row beside `npm run eval:lfw` (README, "LFW View 2").

Optional: it needs dlib (the dlib-bin wheel) and face_recognition_models, which nothing else in the project
uses, so they are not in requirements.txt (CI never installs them):

    venv=$(bash scripts/pyenv.sh)
    $venv/bin/pip install -r scripts/requirements-dlib.txt
    $venv/bin/python scripts/dlib_lfw.py            # ~15 min on one core; resumable

Per image (cached in <cache>/dlib-<versions>.jsonl, so an interrupted run continues): dlib's HOG frontal face
detector at the image's own resolution, else upsampled once, else the mmod CNN detector; of the faces found, the
one whose box centre is nearest the image centre; the 5-point shape predictor; dlib's 150 px chip with padding
0.25 (`get_face_chip`); the float ResNet's 128-d descriptor, no jitter. This is dlib's documented recipe
(dlib/python_examples/face_recognition.py), with nothing of irface's in it. A pair scores the negative Euclidean
distance; 10-fold accuracy picks each fold's threshold on the other nine (irface_ml.metrics). Both of
eval:lfw's views are reported: in the API view an image where no detector finds a face makes its pairs wrong.
Also TAR at FAR 1e-3 and the accuracy at dlib's customary fixed distance 0.6.
"""
from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from irface_ml.metrics import tar_at_far, verification_accuracy  # noqa: E402
from irface_ml.splits import read_pairs  # noqa: E402

CHIP = {"size": 150, "padding": 0.25}


def nearest_centre(boxes: list[tuple[float, float, float, float]], width: int, height: int) -> int | None:
    """Index of the box (left, top, right, bottom; pixels) whose centre is nearest the image centre; None if none."""
    if not boxes:
        return None
    d = [((l + r) / 2 - width / 2) ** 2 + ((t + b) / 2 - height / 2) ** 2 for l, t, r, b in boxes]
    return int(np.argmin(d))


def pair_scores(pairs, descriptors: dict[str, list[float] | None]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(scores, issame, missed) over the pairs: score = -Euclidean distance of the two descriptors (128-d).

    A pair with an image that has no descriptor gets the score 0 (distance 0: accepted as the same person) and is
    marked in `missed`; each view decides what such a pair counts as (api_view: wrong).
    """
    scores, same, missed = [], [], []
    for p in pairs:
        a, b = (descriptors[k] for k in p.paths())
        if a is None or b is None:
            scores.append(0.0)
            missed.append(True)
        else:
            scores.append(-float(np.linalg.norm(np.asarray(a) - np.asarray(b))))
            missed.append(False)
        same.append(p.same)
    return np.array(scores), np.array(same), np.array(missed)


def api_view(scores: np.ndarray, issame: np.ndarray, missed: np.ndarray, folds: np.ndarray) -> float:
    """Mean 10-fold accuracy where every pair with a missed image counts as wrong; each fold's threshold is the
    one the standard view picks on the other folds."""
    res = verification_accuracy(np.where(missed, 0.0, scores), issame, folds)
    accs = []
    for k, thr in zip(np.unique(folds), res.thresholds):
        test = folds == k
        right = ((scores[test] > thr) == issame[test]) & ~missed[test]
        accs.append(float(right.mean()))
    return float(np.mean(accs))


class DlibPipeline:
    """dlib's detectors, 5-point predictor and ResNet, loaded from face_recognition_models' files."""

    def __init__(self) -> None:
        import dlib  # optional dependency (scripts/requirements-dlib.txt)

        spec = importlib.util.find_spec("face_recognition_models")
        if spec is None or not spec.submodule_search_locations:
            raise SystemExit("dlib_lfw: face_recognition_models is not installed; see scripts/requirements-dlib.txt")
        models = Path(list(spec.submodule_search_locations)[0]) / "models"
        self.dlib = dlib
        self.hog = dlib.get_frontal_face_detector()
        self.mmod = dlib.cnn_face_detection_model_v1(str(models / "mmod_human_face_detector.dat"))
        self.sp5 = dlib.shape_predictor(str(models / "shape_predictor_5_face_landmarks.dat"))
        self.resnet = dlib.face_recognition_model_v1(str(models / "dlib_face_recognition_resnet_model_v1.dat"))

    def describe(self, path: Path) -> dict:
        """{'detector': 'hog'|'hog-up1'|'mmod'|None, 'descriptor': 128 floats or None} for one image."""
        img = self.dlib.load_rgb_image(str(path))
        h, w = img.shape[:2]
        for name, find in (("hog", lambda: self.hog(img, 0)), ("hog-up1", lambda: self.hog(img, 1)),
                           ("mmod", lambda: [d.rect for d in self.mmod(img, 1)])):
            rects = list(find())
            k = nearest_centre([(r.left(), r.top(), r.right(), r.bottom()) for r in rects], w, h)
            if k is not None:
                shape = self.sp5(img, rects[k])
                chip = self.dlib.get_face_chip(img, shape, size=CHIP["size"], padding=CHIP["padding"])
                return {"detector": name, "descriptor": [round(float(x), 7) for x in self.resnet.compute_face_descriptor(chip)]}
        return {"detector": None, "descriptor": None}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lfw", default=str(Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "lfw"))
    ap.add_argument("--cache", default=str(Path.home() / ".cache" / "irface" / "lfw"))
    ap.add_argument("--out", help="also write the summary JSON here")
    args = ap.parse_args(argv)
    lfw = Path(args.lfw)
    folds_of_pairs = read_pairs(lfw / "protocol" / "pairs.txt")
    pairs = [p for fold in folds_of_pairs for p in fold]
    folds = np.repeat(np.arange(len(folds_of_pairs)), [len(f) for f in folds_of_pairs])
    images = sorted({k for p in pairs for k in p.paths()})

    versions = {k: importlib.metadata.version(k) for k in ("dlib-bin", "face_recognition_models")}
    cache = Path(args.cache) / f"dlib-{versions['dlib-bin']}-frm{versions['face_recognition_models']}.jsonl"
    cache.parent.mkdir(parents=True, exist_ok=True)
    done: dict[str, dict] = {}
    if cache.exists():
        for line in cache.read_text().splitlines():
            if line.strip():
                rec = json.loads(line)
                done[rec["image"]] = rec
    todo = [k for k in images if k not in done]
    print(f"dlib_lfw: {len(images) - len(todo)} images cached, {len(todo)} to run ({cache})", file=sys.stderr)
    if todo:
        pipe = DlibPipeline()
        t0 = time.time()
        with cache.open("a") as f:
            for i, k in enumerate(todo, 1):
                rec = {"image": k, **pipe.describe(lfw / k)}
                f.write(json.dumps(rec) + "\n")
                done[k] = rec
                if i % 200 == 0:
                    rate = i / (time.time() - t0)
                    print(f"dlib_lfw: {i}/{len(todo)} ({rate:.1f}/s, eta {(len(todo) - i) / rate:.0f} s)", file=sys.stderr, flush=True)

    descriptors = {k: done[k]["descriptor"] for k in images}
    scores, issame, missed = pair_scores(pairs, descriptors)
    std = verification_accuracy(np.where(missed, 0.0, scores), issame, folds)
    tar = tar_at_far(scores[~missed], issame[~missed], 1e-3)
    by_detector: dict[str, int] = {}
    for k in images:
        name = done[k]["detector"] or "none"
        by_detector[name] = by_detector.get(name, 0) + 1
    summary = {
        "pipeline": "dlib's own: HOG (then HOG upsampled once, then mmod), shape_predictor_5, 150 px chip padding 0.25, "
                    "dlib_face_recognition_resnet_model_v1, Euclidean distance",
        "versions": versions,
        "images": len(images), "faces_by_detector": by_detector, "pairs_with_missed_image": int(missed.sum()),
        "accuracy_standard": round(std.mean, 5), "accuracy_std": round(std.std, 5),
        "fold_accuracies": [round(float(a), 5) for a in std.fold_accuracies],
        "accuracy_api_view": round(api_view(scores, issame, missed, folds), 5),
        "tar_at_far_1e-3": None if tar.tar is None else round(tar.tar, 5),
        "accuracy_at_distance_0.6": round(float(np.mean(((-scores < 0.6) & ~missed) == issame)), 5),
        "command": "python scripts/dlib_lfw.py",
    }
    text = json.dumps(summary, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
