# The SSD MobileNet V1 and 68-point landmark ports (torch and exported ONNX) must reproduce face-api's results.
import json

import numpy as np
import pytest
import torch

import export_detector_onnx as exp
from irface_ml import landmark68 as lm
from irface_ml import ssd_mobilenet as ssd
from irface_ml.tfjs_weights import load_tfjs_weights

# Acceptance thresholds of issue 5 (end to end, on the original image).
MIN_IOU = 0.95
MAX_SCORE_DIFF = 1e-3
MAX_LANDMARK_MEAN_PX = 1.0
RAW_TOLERANCE = 1e-4  # per-anchor boxes (relative units) and scores before NMS


@pytest.fixture(scope="module")
def detect_reference(tmp_path_factory) -> dict:
    """face-api's detections, landmarks and raw outputs on demo/sample1-6.jpg (node, about 8 s)."""
    return exp.run_faceapi_reference(tmp_path_factory.mktemp("faceapi_detect"))


@pytest.fixture(scope="module")
def ports():
    return ssd.SsdMobilenetV1.from_faceapi(), lm.Landmark68Net.from_faceapi()


def torch_runner(net):
    def run(x: np.ndarray):
        with torch.no_grad():
            out = net(torch.from_numpy(x))
        return tuple(o.numpy() for o in out) if isinstance(out, tuple) else out.numpy()
    return run


def check_end_to_end(reference: dict, detector, landmarker, label: str) -> None:
    per_sample = []
    for s in reference["samples"]:
        ours = exp.detect_faces(s["pixels"], detector, landmarker, reference["min_confidence"])
        stats = exp.compare_faces(s["faces"], ours)
        assert stats["faces_port"] == stats["faces_faceapi"], f"{label} {s['name']}: {stats}"
        per_sample.append(stats)
    total = exp.merge_stats(per_sample)
    print(f"{label}: {json.dumps(total)}")
    assert total["faces_faceapi"] >= 15, "face-api found too few faces for a meaningful check"
    assert total["min_iou"] >= MIN_IOU
    assert total["max_score_diff"] <= MAX_SCORE_DIFF
    assert total["max_landmark_mean_px"] <= MAX_LANDMARK_MEAN_PX


def test_raw_detector_outputs_match_faceapi(ports, detect_reference):
    samples = detect_reference["samples"]
    x = np.stack([ssd.preprocess(s["pixels"]) for s in samples])  # (6, 3, 512, 512), one batch
    boxes, scores = torch_runner(ports[0])(x)  # (6, 5118, 4), (6, 5118)
    box_diff = max(float(np.abs(b - s["raw_boxes"]).max()) for b, s in zip(boxes, samples))
    score_diff = max(float(np.abs(p - s["raw_scores"]).max()) for p, s in zip(scores, samples))
    print(f"raw outputs, all 5118 anchors x 6 photos: max |box diff| {box_diff:.2e}, max |score diff| {score_diff:.2e}")
    assert box_diff < RAW_TOLERANCE and score_diff < RAW_TOLERANCE


def test_torch_ports_match_faceapi_end_to_end(ports, detect_reference):
    check_end_to_end(detect_reference, torch_runner(ports[0]), torch_runner(ports[1]), "torch ports")


def test_exported_onnx_matches_faceapi_and_its_card(repo_root, detect_reference):
    sessions = {}
    for model_id, outputs in ((exp.DETECTOR_ID, ["boxes", "scores"]), (exp.LANDMARKS_ID, ["landmarks"])):
        card = json.loads((repo_root / "models" / f"{model_id}.json").read_text())
        onnx_path = repo_root / "models" / card["file"]
        assert card["schema"] == exp.SCHEMA and card["id"] == model_id
        assert card["sha256"] == exp.sha256_file(onnx_path), f"{onnx_path.name} changed since its card was written"
        assert [o["name"] for o in card["outputs"].values()] == outputs
        assert card["parity"]["min_iou"] >= MIN_IOU, "the card must record a passing parity run"
        sessions[model_id] = exp.session(onnx_path)
    det, lmk = sessions[exp.DETECTOR_ID], sessions[exp.LANDMARKS_ID]
    check_end_to_end(detect_reference, lambda x: det.run(None, {"image": x}),
                     lambda x: lmk.run(None, {"image": x})[0], "onnx")


def test_every_weight_tensor_is_used(ports):
    tensors = load_tfjs_weights(ssd.FACEAPI_MODEL_DIR / ssd.FACEAPI_MANIFEST)
    weights = {n: t for n, t in tensors.items() if not n.startswith(ssd.UNUSED_TENSOR_PREFIXES)}
    skipped = [t for n, t in tensors.items() if n not in weights]
    assert len(skipped) == 17 and all(t.size <= 3 for t in skipped), "only tiny graph constants may be skipped"
    n_params = sum(p.numel() for p in ports[0].parameters())
    # Each depthwise layer's 4 batch-norm vectors fold into one bias of the same length.
    folded = sum(t.size for n, t in weights.items() if "/BatchNorm/" in n and not n.endswith("/beta"))
    assert n_params + ports[0].anchors.numel() == sum(t.size for t in weights.values()) - folded
    lm_tensors = load_tfjs_weights(lm.FACEAPI_MODEL_DIR / lm.FACEAPI_MANIFEST)
    assert sum(t.size for t in lm_tensors.values()) == sum(p.numel() for p in ports[1].parameters())


def test_nms_follows_faceapi_rules():
    boxes = np.array([[0, 0, 1, 1], [0, 0, 1, 0.9], [0, 0, 1, 0.5], [0.5, 0.5, 0.6, 0.6]], np.float32)
    scores = np.array([0.9, 0.8, 0.7, 0.5], np.float32)
    # IoU(0, 1) = 0.9 > 0.5 drops 1; IoU(0, 2) = 0.5 is not > 0.5, so 2 stays; 0.5 is not > 0.5.
    assert ssd.nms(boxes, scores, min_confidence=0.5) == [0, 2]
    assert ssd.nms(boxes, scores, min_confidence=0.4) == [0, 2, 3]
    assert ssd.nms(boxes, scores, min_confidence=0.4, max_results=1) == [0]


def test_to_image_boxes_undoes_the_bottom_right_padding():
    # A 1000x500 image fills the top half of the padded square; relative y 0.5 is its bottom edge.
    px = ssd.to_image_boxes(np.array([[0.25, 0.1, 0.5, 0.3]]), 1000, 500)[0]
    np.testing.assert_allclose(px, [100, 250, 200, 250], atol=1e-9)


def test_landmark_crop_geometry_quirks():
    assert [lm.js_round(v) for v in (0.5, 1.5, 2.5, -0.5)] == [1, 2, 3, 0]
    # Clipped at the top-left, then each of x, y, w, h floored on its own.
    assert lm.crop_box([-2.5, 1.2, 5.0, 3.0], 10, 10) == (0, 1, 2, 3)
    image = np.full((10, 10, 3), 255, np.uint8)
    x = lm.crop_face(image, [-2.5, 1.2, 5.0, 3.0])  # 3 high x 2 wide: one zero column, appended right
    assert x.shape == (3, 112, 112)
    np.testing.assert_allclose(x[:, :, 0], ((255 - np.array(lm.NORM_MEAN)) / 255)[:, None].repeat(112, 1), atol=1e-6)
    np.testing.assert_allclose(x[:, :, -1], ((0 - np.array(lm.NORM_MEAN)) / 255)[:, None].repeat(112, 1), atol=1e-6)
    # Landmark (0.5, 0.5) of a 2x3 crop maps to the centre of its 3x3 square, shifted by the raw box corner.
    pt = lm.to_image_landmarks(np.full(136, 0.5), [-2.5, 1.2, 5.0, 3.0], 10, 10)[0]
    np.testing.assert_allclose(pt, [-2.5 + 1.5 - 0.5, 1.2 + 1.5], atol=1e-9)


def test_tf_legacy_resize_samples_without_half_pixel_offset():
    image = np.arange(4, dtype=np.float32).reshape(1, 4, 1).repeat(2, 0)  # columns 0, 1, 2, 3
    out = ssd.resize_bilinear_tf(image, 2, 8)[0, :, 0]
    np.testing.assert_allclose(out, [0, 0.5, 1, 1.5, 2, 2.5, 3, 3])  # src = dst * 4 / 8, clamped at the end
