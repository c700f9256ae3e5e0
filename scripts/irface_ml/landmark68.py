# PyTorch port of face-api's 68-point landmark net (faceLandmark68Net), plus face-api's crop geometry in numpy.
"""Layer for layer @vladmandic/face-api's FaceLandmark68Net (src/faceLandmarkNet, src/faceFeatureExtractor):
four dense blocks of depthwise-separable convs, 7x7 average pool, fully connected 256 -> 136.

Graph: (N, 3, 112, 112) RGB normalised as (pixel - NORM_MEAN) / 255 -> (N, 136) interleaved
x0, y0, x1, y1, ... relative to the 112x112 (padded, square) input, so pixel = value * 112.
Crop geometry (face-api's withFaceLandmarks on a tensor input), see `crop_face` / `to_image_landmarks`:
the detection box clipped to the image and floored, zero-padded to a square (centred; the extra odd
column/row goes after), TF-legacy bilinear resize to 112, and landmarks mapped back as
box.x + v * side - (side - crop_w) / 2 (same for y), side = max(crop_w, crop_h), box.x unfloored.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .ssd_mobilenet import FACEAPI_MODEL_DIR, resize_bilinear_tf, tf_same_pad
from .tfjs_weights import load_tfjs_weights, state_from_tfjs

INPUT_SIZE = 112
NUM_POINTS = 68
NORM_MEAN = (122.782, 117.001, 104.298)  # face-api's FaceFeatureExtractor, pixel units 0..255
NORM_STD = (255.0, 255.0, 255.0)
FACEAPI_MANIFEST = "face_landmark_68_model-weights_manifest.json"
BLOCK_CHANNELS = ((3, 32), (32, 64), (64, 128), (128, 256))  # dense0..3: (cin, cout); each halves H, W


class SeparableConv(nn.Module):
    """tf.separableConv2d(x, depthwise 3x3, pointwise 1x1, stride, 'same') + bias, no activation."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.stride = stride
        # Stride 1 'same' is symmetric, so the conv pads itself; stride 2 pads bottom/right explicitly.
        self.depthwise = nn.Conv2d(cin, cin, 3, stride=stride, padding=1 if stride == 1 else 0,
                                   groups=cin, bias=False)
        self.pointwise = nn.Conv2d(cin, cout, 1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride != 1:
            x = tf_same_pad(x, 3, self.stride)
        return self.pointwise(self.depthwise(x))


class FirstConv(nn.Conv2d):
    """dense0's conv0: a full 3x3 conv, stride 2, 'same', + bias."""

    def __init__(self, cin: int, cout: int):
        super().__init__(cin, cout, 3, stride=2, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(tf_same_pad(x, 3, 2))


class DenseBlock4(nn.Module):
    """face-api's denseBlock4: each conv sees the relu of the sum of all earlier outputs; stride 2 first."""

    def __init__(self, cin: int, cout: int, first: bool):
        super().__init__()
        self.conv0 = FirstConv(cin, cout) if first else SeparableConv(cin, cout, 2)
        self.conv1, self.conv2, self.conv3 = (SeparableConv(cout, cout, 1) for _ in range(3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out1 = F.relu(self.conv0(x))  # (N, cout, H/2, W/2)
        out2 = self.conv1(out1)
        out3 = self.conv2(F.relu(out1 + out2))
        out4 = self.conv3(F.relu(out1 + (out2 + out3)))
        return F.relu(out1 + (out2 + (out3 + out4)))


class Landmark68Net(nn.Module):
    """(N, 3, 112, 112) normalised -> (N, 136) landmarks relative to the input square."""

    def __init__(self):
        super().__init__()
        self.dense = nn.ModuleList(DenseBlock4(ci, co, first=(i == 0)) for i, (ci, co) in enumerate(BLOCK_CHANNELS))
        self.fc = nn.Linear(256, 2 * NUM_POINTS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.dense:
            x = block(x)  # 112 -> 56 -> 28 -> 14 -> 7
        x = F.avg_pool2d(x, 7, 2)  # (N, 256, 1, 1), tf 'valid'
        return self.fc(x.flatten(1))  # (N, 136)

    @classmethod
    def from_faceapi(cls, model_dir: str | Path = FACEAPI_MODEL_DIR) -> "Landmark68Net":
        """Build the net with face-api's weights; every manifest tensor sets exactly one parameter."""
        model = cls()

        def layout(tf_name: str, value: torch.Tensor) -> torch.Tensor:
            if tf_name.endswith("depthwise_filter"):
                return value.permute(2, 3, 0, 1)  # (3, 3, C, 1) -> (C, 1, 3, 3)
            if value.ndim == 4:
                return value.permute(3, 2, 0, 1)  # HWIO -> OIHW
            return value.t() if tf_name == "fc/weights" else value  # (in, out) -> Linear's (out, in)

        state = state_from_tfjs(load_tfjs_weights(Path(model_dir) / FACEAPI_MANIFEST),
                                dict(model.named_parameters()), tfjs_to_torch_name, layout)
        model.load_state_dict(state, strict=True)
        return model.eval()


def tfjs_to_torch_name(tf_name: str) -> str:
    """'dense2/conv1/depthwise_filter' -> 'dense.2.conv1.depthwise.weight', 'fc/bias' -> 'fc.bias'."""
    parts = tf_name.split("/")
    if parts[0] == "fc":
        return {"weights": "fc.weight", "bias": "fc.bias"}[parts[1]]
    block, conv, leaf = parts
    prefix = f"dense.{int(block[len('dense'):])}.{conv}"
    if block == "dense0" and conv == "conv0":
        return f"{prefix}.{ {'filters': 'weight', 'bias': 'bias'}[leaf] }"
    return f"{prefix}.{ {'depthwise_filter': 'depthwise.weight', 'pointwise_filter': 'pointwise.weight', 'bias': 'pointwise.bias'}[leaf] }"


def js_round(v: float) -> int:
    """JavaScript's Math.round: halves go up (Python's round goes to even)."""
    return math.floor(v + 0.5)


def crop_box(box_xywh, width: int, height: int) -> tuple[int, int, int, int]:
    """face-api's Box.clipAtImageBorders: clip the detection box to the image, then floor x, y, w, h."""
    x, y, w, h = box_xywh
    cx, cy = max(x, 0.0), max(y, 0.0)
    cw, ch = min(x + w - cx, width - cx), min(y + h - cy, height - cy)
    return math.floor(cx), math.floor(cy), math.floor(cw), math.floor(ch)


def crop_face(image: np.ndarray, box_xywh) -> np.ndarray:
    """(H, W, 3) uint8 + detection box [x, y, w, h] -> (3, 112, 112) float32 network input."""
    x, y, w, h = crop_box(box_xywh, image.shape[1], image.shape[0])
    if w <= 0 or h <= 0:
        raise ValueError(f"detection box {box_xywh} has no pixels inside the image")
    crop = image[y:y + h, x:x + w].astype(np.float32)
    diff = abs(h - w)
    after = js_round(diff * 0.5)  # padToSquare(isCenterImage=true) appends round(diff/2), prepends the rest
    before = diff - after
    pad = ((0, 0), (before, after), (0, 0)) if h > w else ((before, after), (0, 0), (0, 0))
    square = np.pad(crop, pad)
    if square.shape[0] != INPUT_SIZE:
        square = resize_bilinear_tf(square, INPUT_SIZE, INPUT_SIZE)
    mean, std = np.asarray(NORM_MEAN, np.float32), np.asarray(NORM_STD, np.float32)
    return ((square - mean) / std).transpose(2, 0, 1).astype(np.float32)


def to_image_landmarks(output: np.ndarray, box_xywh, width: int, height: int) -> np.ndarray:
    """(136,) net output -> (68, 2) pixel [x, y] in the original image, as face-api's postProcess +
    shiftBy(box.x, box.y). Assumes symmetric padding, as face-api does (half a crop pixel off when
    the padding is odd) and shifts by the unclipped box corner: both kept on purpose for parity."""
    _, _, w, h = crop_box(box_xywh, width, height)
    side = max(w, h)
    pts = output.astype(np.float64).reshape(NUM_POINTS, 2) * side  # crop-square pixels
    pts[:, 0] += box_xywh[0] - (side - w) / 2
    pts[:, 1] += box_xywh[1] - (side - h) / 2
    return pts
