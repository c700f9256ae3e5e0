# The exported ONNX graph, its model card and its reference file must agree with the PyTorch port.
import json

import numpy as np
import onnxruntime as ort
import pytest
import torch
import torch.nn.functional as F

import export_onnx
from irface_ml import export as ex
from irface_ml import model_card
from irface_ml.dlib_resnet import FACEAPI_MODEL_DIR, NORM_MEAN, NORM_STD, DlibResNet, normalize_pixels


@pytest.fixture(scope="session")
def exported(tmp_path_factory):
    """Both TTA variants, the default through the CLI entry point: {tta: (dir, card)}."""
    out_dir = tmp_path_factory.mktemp("export")
    assert export_onnx.main(["--out", str(out_dir / "port-hflip")]) == 0
    ex.export_model(out_dir / "port-none", tta="none", command="test")
    cards = {tta: json.loads((out_dir / f"port-{tta}.json").read_text()) for tta in ("hflip", "none")}
    return out_dir, cards


def run_ort(path, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["embedding"], {"image": x.astype(np.float32)})[0]


def random_batch(n: int, seed: int) -> torch.Tensor:
    pixels = np.random.default_rng(seed).integers(0, 256, (n, 3, 150, 150))
    return normalize_pixels(torch.from_numpy(pixels))  # (n, 3, 150, 150)


def test_card_fields(exported):
    out_dir, cards = exported
    bin_sha = model_card.sha256_file(FACEAPI_MODEL_DIR / "face_recognition_model.bin")
    for tta, card in cards.items():
        model_card.check_card(card)
        assert card["id"] == f"port-{tta}" and card["file"] == f"port-{tta}.onnx"
        assert card["sha256"] == model_card.sha256_file(out_dir / card["file"])
        assert card["input"]["name"] == "image" and card["output"]["name"] == "embedding"
        assert (card["input"]["height"], card["input"]["width"], card["output"]["dim"]) == (150, 150, 128)
        assert card["input"]["normalization"] == {"mean": list(NORM_MEAN), "std": list(NORM_STD)}
        assert card["alignment"]["template"][0] == [47.549, 46.599]
        assert card["alignment"]["size"] == [150, 150]
        assert card["similarity"] == {"metric": "cosine", "thresholds": {}}
        assert card["provenance"]["base_weights_sha256"] == bin_sha
        assert "@vladmandic/face-api 1.7.15" in card["provenance"]["base_weights"]
        assert card["provenance"]["training"] is None
        assert card["provenance"]["export"]["opset"] == ex.OPSET
    assert cards["hflip"]["test_time_augmentation"] == "hflip-sum"
    assert cards["none"]["test_time_augmentation"] == "none"
    assert cards["hflip"]["flops_per_face"] == 2 * cards["none"]["flops_per_face"] == 2 * 541_708_288


def test_ort_matches_torch_batch_1_and_8(exported, faceapi_net):
    out_dir, _ = exported
    for tta in ("hflip", "none"):
        graph = ex.EmbeddingGraph(faceapi_net, hflip=(tta == "hflip")).eval()
        for n in (1, 8):
            x = random_batch(n, seed=100 + n)
            with torch.no_grad():
                expected = graph(x).numpy()
            got = run_ort(out_dir / f"port-{tta}.onnx", x.numpy())
            stats = ex.compare(expected, got)
            assert stats["max_abs_diff"] < 1e-4 and stats["min_cosine"] > 0.99999, (tta, n, stats)
            assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


def test_hflip_graph_is_sum_of_views_and_mirror_invariant(exported, faceapi_net):
    out_dir, _ = exported
    x = random_batch(2, seed=5)
    got = run_ort(out_dir / "port-hflip.onnx", x.numpy())
    with torch.no_grad():
        expected = F.normalize(faceapi_net(x) + faceapi_net(x.flip(3)), dim=1).numpy()
    assert np.abs(got - expected).max() < 1e-5
    mirrored = run_ort(out_dir / "port-hflip.onnx", x.flip(3).numpy())
    assert np.abs(got - mirrored).max() < 1e-5
    plain = run_ort(out_dir / "port-none.onnx", x.numpy())
    assert np.abs(got - plain).max() > 1e-3  # TTA really changes the output


def test_dynamic_batch(exported):
    out_dir, _ = exported
    x = random_batch(3, seed=9).numpy()
    batched = run_ort(out_dir / "port-hflip.onnx", x)
    assert batched.shape == (3, 128)
    single = np.concatenate([run_ort(out_dir / "port-hflip.onnx", x[i:i + 1]) for i in range(3)])
    assert np.abs(batched - single).max() < 1e-5


def test_reference_reproduces_and_matches_faceapi(exported, faceapi_reference):
    out_dir, cards = exported
    for tta, card in cards.items():
        reference = json.loads((out_dir / f"port-{tta}.reference.json").read_text())
        assert [c["seed"] for c in reference["cases"]] == [1, 2, 3, 4]
        # Regenerate from seeds + card normalisation, exactly what the TypeScript test does.
        stats = ex.check_reference(out_dir / card["file"], card, reference)
        assert stats["min_cosine"] > 0.99999
    # Without TTA the stored embedding is face-api's own descriptor, L2-normalised.
    reference = json.loads((out_dir / "port-none.reference.json").read_text())
    faceapi = {c["seed"]: np.asarray(c["descriptor"]) for c in faceapi_reference["cases"] if c["kind"] == "lcg"}
    for case in reference["cases"]:
        d = faceapi[case["seed"]]
        assert np.abs(np.asarray(case["embedding"]) - d / np.linalg.norm(d)).max() < 1e-5


def test_checkpoint_export_carries_weights_and_training_info(tmp_path, faceapi_net):
    tuned = DlibResNet()
    tuned.load_state_dict(faceapi_net.state_dict())
    with torch.no_grad():
        tuned.fc.weight.mul_(-1.0)[:, :10] = 0.0  # a visible, deterministic "fine-tune"
    config = {"loss": "ir-am-softmax", "margin": 0.35, "lr": 0.01}
    torch.save({"model": tuned.state_dict(), "config": config, "step": 12}, tmp_path / "ckpt.pt")
    result = ex.export_model(tmp_path / "tuned", checkpoint=tmp_path / "ckpt.pt", tta="none", command="test")
    training = result["card"]["provenance"]["training"]
    assert training["loss"] == "ir-am-softmax" and training["config"] == config and training["step"] == 12
    assert training["checkpoint_sha256"] == model_card.sha256_file(tmp_path / "ckpt.pt")
    x = random_batch(2, seed=3)
    with torch.no_grad():
        expected = F.normalize(tuned.eval()(x), dim=1).numpy()
    assert np.abs(run_ort(tmp_path / "tuned.onnx", x.numpy()) - expected).max() < 1e-5


def test_verify_fails_loudly_on_a_mismatched_graph(exported, faceapi_net):
    out_dir, _ = exported
    wrong = ex.EmbeddingGraph(faceapi_net, hflip=True).eval()
    with pytest.raises(RuntimeError, match="onnxruntime disagrees"):
        ex.verify_onnx(wrong, out_dir / "port-none.onnx", batches=(1,))


def test_card_check_names_bad_fields(exported):
    card = json.loads(json.dumps(exported[1]["hflip"]))
    card["input"]["normalization"]["std"] = [255.0, 0.0, 255.0]
    card["test_time_augmentation"] = "flip"
    with pytest.raises(ValueError, match="std must be positive.*test_time_augmentation"):
        model_card.check_card(card)
