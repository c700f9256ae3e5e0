"""Verification metrics (k-fold accuracy, ROC, TAR@FAR) and the weight-vs-center angle diagnostic; pure numpy.

Scores are similarities (higher = more likely the same person, e.g. cosine); pass -distance for distances.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def _check_pairs(scores: np.ndarray, issame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=np.float64).ravel()
    y = np.asarray(issame).astype(bool).ravel()
    if s.shape != y.shape or s.size == 0:
        raise ValueError(f"scores and issame must be non-empty and the same length, got {s.shape} and {y.shape}")
    if not np.all(np.isfinite(s)):
        raise ValueError("scores contain NaN or inf")
    return s, y


def best_threshold(scores: np.ndarray, issame: np.ndarray) -> tuple[float, float]:
    """Threshold with the highest accuracy for the rule `same = score > threshold`, and that accuracy.

    Candidates are the midpoints between consecutive distinct scores plus -inf and +inf, so every
    achievable split is tried exactly once; ties go to the lowest threshold.
    """
    s, y = _check_pairs(scores, issame)
    order = np.argsort(s, kind="stable")
    s, y = s[order], y[order]
    n = s.size
    pos_before = np.concatenate([[0], np.cumsum(y)])  # (n+1,) positives among the i lowest scores
    # Cut i predicts "same" for the n - i highest scores: correct = positives above + negatives below.
    correct = (pos_before[-1] - pos_before) + (np.arange(n + 1) - pos_before)
    valid = np.ones(n + 1, dtype=bool)
    valid[1:n] = s[1:] > s[:-1]  # a cut inside a run of equal scores is not achievable
    i = int(np.argmax(np.where(valid, correct, -1)))
    if i == 0:
        thr = -np.inf
    elif i == n:
        thr = np.inf
    else:
        thr = 0.5 * (s[i - 1] + s[i])
    return float(thr), float(correct[i] / n)


@dataclass
class VerificationResult:
    mean: float  # mean of the per-fold accuracies
    std: float  # sample standard deviation over folds (ddof=1), as on the LFW results page
    sem: float  # standard error of the mean = std / sqrt(folds)
    fold_accuracies: np.ndarray  # (F,) accuracy on fold k with the threshold picked on the others
    thresholds: np.ndarray  # (F,) the threshold picked for fold k (same = score > threshold)


def verification_accuracy(
    scores: np.ndarray, issame: np.ndarray, folds: np.ndarray | None = None, n_folds: int = 10
) -> VerificationResult:
    """k-fold verification accuracy: for each fold, pick the threshold on the other folds, apply it to this one.

    folds: (P,) fold index per pair (e.g. from the LFW pairs file); if None the pairs are cut into
    n_folds contiguous equal parts, which matches the order of pairs.txt.
    """
    s, y = _check_pairs(scores, issame)
    if folds is None:
        if s.size % n_folds:
            raise ValueError(f"{s.size} pairs do not split into {n_folds} equal folds; pass folds explicitly")
        folds = np.repeat(np.arange(n_folds), s.size // n_folds)
    folds = np.asarray(folds).ravel()
    if folds.shape != s.shape:
        raise ValueError(f"folds must have one entry per pair ({s.size}), got {folds.shape}")
    ids = np.unique(folds)
    if ids.size < 2:
        raise ValueError("need at least 2 folds to pick thresholds on held-out data")
    accs, thrs = [], []
    for k in ids:
        test = folds == k
        thr, _ = best_threshold(s[~test], y[~test])
        accs.append(float(np.mean((s[test] > thr) == y[test])))
        thrs.append(thr)
    a = np.array(accs)
    std = float(a.std(ddof=1))
    return VerificationResult(float(a.mean()), std, std / np.sqrt(a.size), a, np.array(thrs))


def roc_curve(scores: np.ndarray, issame: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(far, tar, thresholds), thresholds descending; point i accepts pairs with score >= thresholds[i].

    The first point is (0, 0) at threshold +inf. Needs at least one positive and one negative pair.
    """
    s, y = _check_pairs(scores, issame)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError(f"ROC needs both kinds of pairs, got {n_pos} same and {n_neg} different")
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    last = np.r_[s[1:] < s[:-1], True]  # last index of each run of equal scores
    tp, fp = np.cumsum(y)[last], np.cumsum(~y)[last]
    far = np.r_[0.0, fp / n_neg]
    tar = np.r_[0.0, tp / n_pos]
    return far, tar, np.r_[np.inf, s[last]]


@dataclass
class TarAtFar:
    far_target: float  # the FAR asked for
    tar: float | None  # fraction of same pairs accepted; None when it cannot be estimated
    threshold: float | None  # same = score > threshold
    far_actual: float | None  # FAR reached at that threshold (<= far_target)
    n_negatives: int
    reason: str | None = None  # why tar is None


def tar_at_far(scores: np.ndarray, issame: np.ndarray, far: float) -> TarAtFar:
    """TAR at the lowest threshold whose FAR does not exceed `far`.

    With fewer than 1/far different pairs no false accept is allowed at all, so the number would only
    restate the sample size: return tar=None with the reason instead of a meaningless estimate.
    """
    if not 0.0 < far < 1.0:
        raise ValueError(f"far must be in (0, 1), got {far}")
    s, y = _check_pairs(scores, issame)
    neg, pos = np.sort(s[~y])[::-1], s[y]  # negatives descending
    if pos.size == 0:
        return TarAtFar(far, None, None, None, neg.size, "no same pairs")
    if neg.size * far < 1.0 - 1e-9:
        need = int(np.ceil(1.0 / far - 1e-9))
        reason = f"FAR {far:g} needs >= {need} different pairs, have {neg.size}"
        return TarAtFar(far, None, None, None, neg.size, reason)
    k = int(np.floor(neg.size * far + 1e-9))  # false accepts allowed
    thr = float(neg[k])  # the (k+1)-th highest negative is rejected (ties: fewer than k accepted)
    far_actual = float(np.mean(neg > thr))
    return TarAtFar(far, float(np.mean(pos > thr)), thr, far_actual, neg.size)


def class_centers(features: np.ndarray, labels: np.ndarray, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """True class centers (K, d): normalised mean of normalised features, NaN rows for empty classes; counts (K,)."""
    x = np.asarray(features, dtype=np.float64)
    lab = np.asarray(labels).ravel()
    f = x / np.linalg.norm(x, axis=1, keepdims=True)  # (N, d) unit rows
    sums = np.zeros((num_classes, x.shape[1]))
    np.add.at(sums, lab, f)
    counts = np.bincount(lab, minlength=num_classes)
    with np.errstate(invalid="ignore", divide="ignore"):
        centers = sums / np.linalg.norm(sums, axis=1, keepdims=True)
    centers[counts == 0] = np.nan
    return centers, counts


def weight_center_angles(weights: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """(K,) angle in degrees between each class's classifier weight (K, d) and its true center (K, d).

    The paper's diagnostic: learned weights drift from their centers, the more so the fewer images.
    """
    w = np.asarray(weights, dtype=np.float64)
    c = np.asarray(centers, dtype=np.float64)
    if w.shape != c.shape:
        raise ValueError(f"weights {w.shape} and centers {c.shape} must both be (K, d)")
    cos = np.sum(w * c, axis=1) / (np.linalg.norm(w, axis=1) * np.linalg.norm(c, axis=1))
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


# (low, high) image-count ranges, inclusive; None = no upper bound.
DEFAULT_BINS: tuple[tuple[int, int | None], ...] = ((1, 1), (2, 2), (3, 5), (6, 20), (21, None))


@dataclass
class AngleBin:
    label: str  # "1", "3-5", ">20"
    n_classes: int
    mean: float | None  # degrees; None for an empty bin
    median: float | None


def bin_angles_by_count(
    angles: np.ndarray, counts: np.ndarray, bins: tuple[tuple[int, int | None], ...] = DEFAULT_BINS
) -> list[AngleBin]:
    """Summarise per-class angles (K,) by per-class training image count (K,); NaN angles are skipped."""
    a = np.asarray(angles, dtype=np.float64).ravel()
    n = np.asarray(counts).ravel()
    if a.shape != n.shape:
        raise ValueError(f"angles {a.shape} and counts {n.shape} must have one entry per class")
    out = []
    for lo, hi in bins:
        label = f">{lo - 1}" if hi is None else (str(lo) if lo == hi else f"{lo}-{hi}")
        sel = (n >= lo) & (True if hi is None else n <= hi) & ~np.isnan(a)
        v = a[sel]
        out.append(AngleBin(label, int(v.size), float(v.mean()) if v.size else None,
                            float(np.median(v)) if v.size else None))
    return out
