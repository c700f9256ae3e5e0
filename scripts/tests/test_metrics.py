"""Metrics on tiny score arrays with hand-derived answers: thresholds, 10-fold accuracy, ROC, TAR@FAR, angles."""
import math

import numpy as np
import pytest

from irface_ml.metrics import (
    best_threshold, bin_angles_by_count, class_centers, roc_curve, tar_at_far, verification_accuracy,
    weight_center_angles,
)


def test_best_threshold_is_midpoint_of_best_split():
    thr, acc = best_threshold(np.array([0.9, 0.1, 0.8, 0.3]), np.array([1, 0, 1, 0]))
    assert (thr, acc) == (pytest.approx(0.55), 1.0)
    # overlap: cutting at 0.65 or at 0.3 both get 4 of 5 right (0.5 gets 3); the tie goes to the lower
    thr, acc = best_threshold(np.array([0.9, 0.7, 0.6, 0.4, 0.2]), np.array([1, 1, 0, 1, 0]))
    assert (thr, acc) == (pytest.approx(0.3), 0.8)
    thr, acc = best_threshold(np.array([0.9, 0.7, 0.6, 0.4, 0.2]), np.array([1, 1, 0, 0, 0]))
    assert (thr, acc) == (pytest.approx(0.65), 1.0)


def test_best_threshold_never_splits_equal_scores():
    thr, acc = best_threshold(np.full(4, 0.5), np.array([1, 0, 1, 0]))
    assert (thr, acc) == (-math.inf, 0.5)  # only "accept all" / "reject all" exist; tie -> lowest


def test_ten_fold_accuracy_threshold_from_other_folds():
    scores = np.tile([0.9, 0.8, 0.3, 0.1], 10)
    issame = np.tile([1, 1, 0, 0], 10)
    issame[1] = 0  # fold 0's 0.8 pair is a different pair: fold 0 scores 3/4 at the shared 0.55
    r = verification_accuracy(scores, issame)
    assert np.allclose(r.thresholds, 0.55)
    assert np.allclose(r.fold_accuracies, [0.75] + [1.0] * 9)
    assert r.mean == pytest.approx(0.975)
    assert r.std == pytest.approx(math.sqrt(0.05625 / 9))  # ddof=1: (9 * 0.025^2 + 0.225^2) / 9
    assert r.sem == pytest.approx(r.std / math.sqrt(10))


def test_explicit_folds_and_bad_sizes():
    scores, issame = np.array([0.9, 0.2, 0.8, 0.1, 0.7, 0.3]), np.array([1, 0, 1, 0, 1, 0])
    r = verification_accuracy(scores, issame, folds=np.array([0, 0, 1, 1, 2, 2]))
    assert r.mean == 1.0 and r.fold_accuracies.shape == (3,)
    with pytest.raises(ValueError, match="do not split into 4 equal folds"):
        verification_accuracy(scores, issame, n_folds=4)
    with pytest.raises(ValueError, match="same length"):
        verification_accuracy(scores, issame[:5])


def test_roc_curve_by_hand():
    far, tar, thr = roc_curve(np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4]), np.array([1, 1, 0, 1, 0, 0]))
    assert np.allclose(thr, [np.inf, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    assert np.allclose(tar, [0, 1 / 3, 2 / 3, 2 / 3, 1, 1, 1])
    assert np.allclose(far, [0, 0, 0, 1 / 3, 1 / 3, 2 / 3, 1])
    # tied scores form one point
    far, tar, thr = roc_curve(np.array([0.5, 0.5, 0.2]), np.array([1, 0, 0]))
    assert np.allclose(thr, [np.inf, 0.5, 0.2]) and np.allclose(far, [0, 0.5, 1]) and np.allclose(tar, [0, 1, 1])


def test_tar_at_far_with_enough_negatives():
    neg = np.arange(1000) / 1000.0  # 0.000 .. 0.999
    pos = np.array([0.9985, 0.5, 0.9995, 0.999])
    s = np.r_[pos, neg]
    y = np.r_[np.ones(4), np.zeros(1000)]
    r = tar_at_far(s, y, 1e-3)  # one false accept allowed: threshold at the 2nd highest negative
    assert r.threshold == pytest.approx(0.998) and r.far_actual == pytest.approx(1e-3)
    assert r.tar == pytest.approx(0.75) and r.n_negatives == 1000 and r.reason is None


def test_tar_at_far_refuses_with_too_few_negatives():
    s = np.r_[np.ones(4), np.linspace(0, 0.5, 1000)]
    y = np.r_[np.ones(4), np.zeros(1000)]
    r = tar_at_far(s, y, 1e-4)
    assert r.tar is None and r.threshold is None
    assert "needs >= 10000 different pairs, have 1000" in r.reason
    assert tar_at_far(s[:1003], y[:1003], 1e-3).tar is None  # 999 negatives < 1000


def test_angles_between_weights_and_true_centers():
    feats = np.array([[2.0, 0.0], [0.0, 1.0], [0.0, 5.0]])  # class 0 center at 45 deg, class 1 at 90 deg
    centers, counts = class_centers(feats, np.array([0, 0, 1]), 3)
    assert np.allclose(centers[:2], [[1 / math.sqrt(2), 1 / math.sqrt(2)], [0.0, 1.0]])
    assert counts.tolist() == [2, 1, 0] and np.isnan(centers[2]).all()
    w = np.array([[3.0, 0.0], [-1.0, 0.0], [1.0, 1.0]])
    ang = weight_center_angles(w, centers)
    assert np.allclose(ang[:2], [45.0, 90.0]) and np.isnan(ang[2])


def test_bin_angles_by_count():
    angles = np.array([10.0, 20.0, 30.0, 40.0, 50.0, 60.0, np.nan])
    counts = np.array([1, 1, 2, 4, 7, 30, 0])
    bins = bin_angles_by_count(angles, counts)
    assert [b.label for b in bins] == ["1", "2", "3-5", "6-20", ">20"]
    assert [b.n_classes for b in bins] == [2, 1, 1, 1, 1]
    assert [b.mean for b in bins] == [15.0, 30.0, 40.0, 50.0, 60.0]
    empty = bin_angles_by_count(np.array([5.0]), np.array([1]), bins=((2, 3),))
    assert empty[0].label == "2-3" and empty[0].n_classes == 0 and empty[0].mean is None
