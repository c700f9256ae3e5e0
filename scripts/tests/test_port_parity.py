# The PyTorch port must reproduce face-api's computeFaceDescriptor on the same input tensor.
import base64
import json
import shutil

import numpy as np
import pytest
import torch

from irface_ml.dlib_resnet import (BLOCK_INPUT_SHAPES, BLOCK_NAMES, FACEAPI_MANIFEST,
                                   FACEAPI_MODEL_DIR, DlibResNet, count_flops, normalize_pixels,
                                   tfjs_to_torch_name)
from irface_ml.export import lcg_pixels
from irface_ml.tfjs_weights import load_tfjs_weights

MIN_COSINE = 0.99999


def case_pixels(case: dict) -> np.ndarray:
    """Rebuild a case's (150, 150, 3) uint8 input exactly as node fed it to face-api."""
    if case["kind"] == "lcg":
        return lcg_pixels(case["seed"])
    raw = np.frombuffer(base64.b64decode(case["pixels_b64"]), dtype=np.uint8)
    return raw.reshape(150, 150, 3)


def test_lcg_matches_the_classic_rand_sequence():
    # seed 1 gives rand() = 16838, 5758, 10113, 17515 -> low bytes 198, 126, 129, 107
    assert lcg_pixels(1).reshape(-1)[:4].tolist() == [198, 126, 129, 107]


def test_port_matches_faceapi_on_every_case(faceapi_net, faceapi_reference):
    cases = faceapi_reference["cases"]
    assert sum(c["kind"] == "lcg" for c in cases) == 4
    assert sum(c["kind"] == "face" for c in cases) >= 6, "too few real face crops were detected"
    pixels = np.stack([case_pixels(c) for c in cases])  # (K, 150, 150, 3)
    x = normalize_pixels(torch.from_numpy(pixels).permute(0, 3, 1, 2))  # (K, 3, 150, 150)
    with torch.no_grad():
        ours = faceapi_net(x).double().numpy()  # (K, 128) raw descriptors
    theirs = np.asarray([c["descriptor"] for c in cases], dtype=np.float64)
    cos = (ours * theirs).sum(1) / (np.linalg.norm(ours, axis=1) * np.linalg.norm(theirs, axis=1))
    diff = np.abs(ours - theirs).max(1)
    for kind in ("lcg", "face"):
        idx = [i for i, c in enumerate(cases) if c["kind"] == kind]
        print(f"{kind}: {len(idx)} cases, worst cosine {cos[idx].min():.10f} "
              f"(1 - cos = {1 - cos[idx].min():.1e}), max |diff| {diff[idx].max():.3g}")
    bad = [(cases[i]["name"], float(cos[i])) for i in range(len(cases)) if cos[i] < MIN_COSINE]
    assert not bad, f"cosine below {MIN_COSINE}: {bad}"
    # The descriptor is raw like face-api's (not normalised): magnitudes must agree too.
    assert diff.max() < 1e-4


def test_every_manifest_tensor_sets_one_parameter(faceapi_net):
    tensors = load_tfjs_weights(FACEAPI_MODEL_DIR / FACEAPI_MANIFEST)
    params = dict(faceapi_net.named_parameters())
    mapped = [tfjs_to_torch_name(n) for n in tensors]
    assert len(tensors) == 117
    assert len(set(mapped)) == len(mapped) == len(params)
    assert set(mapped) == set(params)
    assert sum(v.size for v in tensors.values()) == sum(p.numel() for p in params.values()) == 5_614_592
    # Layout spot checks: HWIO filters -> OIHW, fc (in, out) -> (out, in).
    w = tensors["conv64_down/conv1/conv/filters"]  # (3, 3, 32, 64)
    assert torch.equal(params["conv64_down.conv1.conv.weight"][5, 7, 2, 1], torch.tensor(w[2, 1, 7, 5]))
    assert torch.equal(params["fc.weight"][3, 200], torch.tensor(tensors["fc"][200, 3]))


def test_loader_rejects_a_bin_that_is_not_consumed_exactly(tmp_path):
    shutil.copy(FACEAPI_MODEL_DIR / FACEAPI_MANIFEST, tmp_path / FACEAPI_MANIFEST)
    manifest = json.loads((tmp_path / FACEAPI_MANIFEST).read_text())
    data = (FACEAPI_MODEL_DIR / manifest[0]["paths"][0]).read_bytes()
    (tmp_path / manifest[0]["paths"][0]).write_bytes(data + b"\0")
    with pytest.raises(ValueError, match="hold 6444033"):
        load_tfjs_weights(tmp_path / FACEAPI_MANIFEST)
    (tmp_path / manifest[0]["paths"][0]).write_bytes(data[:-4])
    with pytest.raises(ValueError, match="tensor fc needs"):
        DlibResNet.from_faceapi(tmp_path)


def test_block_shapes_and_split_forward(faceapi_net):
    x = normalize_pixels(torch.from_numpy(lcg_pixels(7)).permute(2, 0, 1)[None].repeat(2, 1, 1, 1))
    with torch.no_grad():
        full = faceapi_net(x)  # (2, 128)
        for block in BLOCK_NAMES:
            act = faceapi_net.forward_until(x, block)
            assert tuple(act.shape[1:]) == BLOCK_INPUT_SHAPES[block], block
        cached = faceapi_net.forward_until(x, "conv256_down_out")  # (2, 256, 4, 4)
        assert torch.allclose(faceapi_net.forward_from("conv256_down_out", cached), full, atol=1e-6)
        assert faceapi_net.features(x).shape == (2, 256)
    tail = list(faceapi_net.tail_parameters("conv256_down_out"))
    assert sum(p.numel() for p in tail) == 2 * (3 * 3 * 256 * 256 + 3 * 256) + 256 * 128
    with pytest.raises(ValueError, match="expected one of"):
        faceapi_net.forward_until(x, "conv512")


def test_flops_match_the_architecture(faceapi_net):
    # Hand count from the block table in shared/notes/dlib-resnet.md: MACs = out H*W*C * k*k*cin.
    macs = (72 * 72 * 32 * 7 * 7 * 3  # conv32_down
            + 6 * 35 * 35 * 32 * 9 * 32  # conv32_1..3
            + 17 * 17 * 64 * 9 * (32 + 64) + 6 * 17 * 17 * 64 * 9 * 64  # conv64_down, conv64_1..3
            + 8 * 8 * 128 * 9 * (64 + 128) + 4 * 8 * 8 * 128 * 9 * 128  # conv128_*
            + 3 * 3 * 256 * 9 * (128 + 256) + 4 * 4 * 4 * 256 * 9 * 256  # conv256_down, _1, _2
            + 1 * 1 * 256 * 9 * (256 + 256)  # conv256_down_out (main branch is 1x1)
            + 256 * 128)  # fc
    assert count_flops(faceapi_net) == 2 * macs
