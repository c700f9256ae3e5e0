"""dlib_lfw's own logic without dlib (an optional dependency CI does not install): which face, pair scores, the
API view's counting. The dlib calls themselves are dlib's documented recipe and are run by the script only."""
import numpy as np
import pytest

import dlib_lfw
from irface_ml.splits import Pair


def test_the_face_nearest_the_image_centre_is_chosen():
    boxes = [(0, 0, 40, 40), (100, 100, 150, 150), (110, 90, 140, 120)]  # centres (20,20), (125,125), (125,105)
    assert dlib_lfw.nearest_centre(boxes, 250, 220) == 2  # image centre (125, 110)
    assert dlib_lfw.nearest_centre(boxes[:2], 250, 220) == 1
    assert dlib_lfw.nearest_centre([], 250, 250) is None


def test_pair_scores_are_negative_euclidean_distances_and_missing_images_are_marked():
    e = np.eye(128)
    desc = {"images/A/A_0001.jpg": list(e[0]), "images/A/A_0002.jpg": list(0.6 * e[0] + 0.8 * e[1]),
            "images/B/B_0001.jpg": None}
    pairs = [Pair("A", 1, "A", 2, True), Pair("A", 1, "B", 1, False)]
    scores, same, missed = dlib_lfw.pair_scores(pairs, desc)
    assert scores[0] == pytest.approx(-np.hypot(0.4, 0.8))
    assert list(same) == [True, False]
    assert list(missed) == [False, True]
    assert scores[1] == 0.0  # distance 0: the standard view would accept it; the API view counts it wrong


def test_api_view_counts_every_pair_with_a_missed_image_as_wrong():
    rng = np.random.default_rng(0)
    folds = np.repeat(np.arange(10), 20)
    issame = np.tile(np.r_[np.ones(10, bool), np.zeros(10, bool)], 10)
    scores = np.where(issame, -0.3, -0.9) + rng.normal(0, 0.01, 200)  # perfectly separable
    none = np.zeros(200, bool)
    assert dlib_lfw.api_view(scores, issame, none, folds) == 1.0
    missed = none.copy()
    missed[[0, 25, 199]] = True  # one pair in each of three folds
    assert dlib_lfw.api_view(scores, issame, missed, folds) == pytest.approx(1 - 3 / 200)
