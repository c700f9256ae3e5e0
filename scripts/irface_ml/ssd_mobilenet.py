# PyTorch port of face-api's SSD MobileNet V1 face detector, plus face-api's pre/post-processing in numpy.
"""Layer for layer @vladmandic/face-api's `ssdMobilenetv1` (src/ssdMobilenetv1/*), loaded from its
tfjs weights, so the pretrained detector gives the same boxes and scores (tests/test_detector_parity.py).

Graph: (N, 3, 512, 512) normalised RGB -> boxes (N, 5118, 4) as [ymin, xmin, ymax, xmax] relative to
the 512x512 input (may leave [0, 1]; face-api clamps only when mapping to pixels) and scores (N, 5118),
sigmoid of the face logit. NMS is not in the graph; `nms` below is face-api's, for the TS adapter to copy.
Preprocessing (face-api's toBatchTensor(512, false)): zero-pad bottom/right to a square, TF-legacy
bilinear resize to 512 (no half-pixel centres), then pixel / 127.5 - 1 (NORM_MEAN/NORM_STD below).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .tfjs_weights import load_tfjs_weights

INPUT_SIZE = 512
NUM_ANCHORS = 5118  # 32*32*3 + 16*16*6 + 8*8*6 + 4*4*6 + 2*2*6 + 1*1*6
NORM_MEAN = (127.5, 127.5, 127.5)  # face-api: x / 127.5 - 1 == (x - 127.5) / 127.5 up to 1 ulp
NORM_STD = (127.5, 127.5, 127.5)
BN_EPSILON = 0.0010000000474974513  # face-api's depthwise batch-norm epsilon (float32 of 1e-3)
IOU_THRESHOLD = 0.5  # face-api's locateFaces
DEFAULT_MAX_RESULTS = 100

REPO_ROOT = Path(__file__).resolve().parents[2]
FACEAPI_MODEL_DIR = REPO_ROOT / "node_modules" / "@vladmandic" / "face-api" / "model"
FACEAPI_MANIFEST = "ssd_mobilenetv1_model-weights_manifest.json"

# (cin, cout, depthwise stride) of MobilenetV1 Conv2d_1..13; conv_0 is a full 3x3 conv 3->32, stride 2.
BACKBONE = ((32, 64, 1), (64, 128, 2), (128, 128, 1), (128, 256, 2), (256, 256, 1), (256, 512, 2),
            (512, 512, 1), (512, 512, 1), (512, 512, 1), (512, 512, 1), (512, 512, 1),
            (512, 1024, 2), (1024, 1024, 1))
# (cin, cout, kernel, stride) of Prediction/Conv2d_0..7, the extra feature layers after the backbone.
EXTRA = ((1024, 256, 1, 1), (256, 512, 3, 2), (512, 128, 1, 1), (128, 256, 3, 2),
         (256, 128, 1, 1), (128, 256, 3, 2), (256, 64, 1, 1), (64, 128, 3, 2))
# Input channels and anchors per cell of BoxPredictor_0..5 (fed by conv_11, conv_13, extra 1, 3, 5, 7).
PREDICTORS = ((512, 3), (1024, 6), (512, 6), (256, 6), (256, 6), (128, 6))
# Manifest entries that are graph constants of the original TF model, not weights.
UNUSED_TENSOR_PREFIXES = ("Preprocessor/", "Postprocessor/", "concat_1/", "Prediction/BoxPredictor_0/stack",
                          "Prediction/BoxPredictor_0/strided_slice", "Prediction/BoxPredictor_1/stack",
                          "Prediction/BoxPredictor_2/stack", "Prediction/BoxPredictor_3/stack",
                          "Prediction/BoxPredictor_4/stack", "Prediction/BoxPredictor_5/stack")


def tf_same_pad(x: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    """TensorFlow 'same' padding: the odd pixel goes bottom/right (stride 2 on even sizes pads (0, 1))."""
    pads = []
    for size in (int(x.shape[-1]), int(x.shape[-2])):  # F.pad order: W then H
        out = -(-size // stride)
        total = max((out - 1) * stride + kernel - size, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads) if any(pads) else x


class SameConv(nn.Conv2d):
    """Conv2d with TF 'same' padding and bias; `relu6` clips as face-api's clipByValue(0, 6)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, groups: int = 1, relu6: bool = True):
        # Stride 1 'same' with an odd kernel is symmetric, so the conv pads itself (no Pad node in ONNX).
        super().__init__(cin, cout, kernel, stride=stride, padding=kernel // 2 if stride == 1 else 0,
                         groups=groups, bias=True)
        self.relu6 = relu6

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride[0] != 1:
            x = tf_same_pad(x, self.kernel_size[0], self.stride[0])
        x = super().forward(x)
        return x.clamp(0.0, 6.0) if self.relu6 else x


class SsdMobilenetV1(nn.Module):
    """(N, 3, 512, 512) normalised -> (boxes (N, 5118, 4) [ymin, xmin, ymax, xmax], scores (N, 5118))."""

    def __init__(self):
        super().__init__()
        self.conv_0 = SameConv(3, 32, 3, 2)
        # Each backbone pair: depthwise 3x3 (batch norm folded into weight/bias at load) then 1x1.
        self.depthwise = nn.ModuleList(SameConv(ci, ci, 3, s, groups=ci) for ci, _, s in BACKBONE)
        self.pointwise = nn.ModuleList(SameConv(ci, co, 1, 1) for ci, co, _ in BACKBONE)
        self.extra = nn.ModuleList(SameConv(ci, co, k, s) for ci, co, k, s in EXTRA)
        self.box_predictors = nn.ModuleList(SameConv(c, 4 * a, 1, 1, relu6=False) for c, a in PREDICTORS)
        self.class_predictors = nn.ModuleList(SameConv(c, 3 * a, 1, 1, relu6=False) for c, a in PREDICTORS)
        self.register_buffer("anchors", torch.zeros(NUM_ANCHORS, 4))  # [ymin, xmin, ymax, xmax] in [0, 1]

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The six maps the predictors read: 32x32x512, 16x16x1024, 8x8x512, 4x4x256, 2x2x256, 1x1x128."""
        x = self.conv_0(x)  # (N, 32, 256, 256)
        for i, (dw, pw) in enumerate(zip(self.depthwise, self.pointwise)):
            x = pw(dw(x))
            if i == 10:  # face-api's conv11 (1-based layer index 11)
                conv11 = x  # (N, 512, 32, 32)
        maps = [conv11, x]
        for i, layer in enumerate(self.extra):
            x = layer(x)
            if i % 2 == 1:
                maps.append(x)
        return maps

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n = x.shape[0]
        enc, cls = [], []
        for fmap, box_pred, cls_pred in zip(self.features(x), self.box_predictors, self.class_predictors):
            # NHWC flattening as in tfjs: anchors ordered by row, column, then anchor within the cell.
            # An explicit count (not -1) keeps the anchor axis static (5118) in the ONNX output shapes.
            k = int(fmap.shape[2]) * int(fmap.shape[3]) * (box_pred.out_channels // 4)
            enc.append(box_pred(fmap).permute(0, 2, 3, 1).reshape(n, k, 4))
            cls.append(cls_pred(fmap).permute(0, 2, 3, 1).reshape(n, k, 3))
        enc = torch.cat(enc, 1)  # (N, 5118, 4) [ty, tx, th, tw]
        scores = torch.sigmoid(torch.cat(cls, 1)[..., 1])  # (N, 5118); class 0 is background
        return decode_boxes(self.anchors, enc), scores

    @classmethod
    def from_faceapi(cls, model_dir: str | Path = FACEAPI_MODEL_DIR) -> "SsdMobilenetV1":
        """Build the net with face-api's weights; every weight tensor must be used exactly once."""
        model = cls()
        tensors = dict(load_tfjs_weights(Path(model_dir) / FACEAPI_MANIFEST))
        used: set[str] = set()

        def take(name: str) -> torch.Tensor:
            if name not in tensors:
                raise KeyError(f"face-api manifest lacks tensor {name}")
            if name in used:
                raise KeyError(f"tensor {name} used twice")
            used.add(name)
            return torch.from_numpy(tensors[name].copy())

        def set_conv(conv: SameConv, weight: torch.Tensor, bias: torch.Tensor, depthwise: bool = False):
            # tfjs HWIO -> OIHW; depthwise HW(C)(1) -> (C)(1)HW.
            w = weight.permute(2, 3, 0, 1) if depthwise else weight.permute(3, 2, 0, 1)
            if tuple(w.shape) != tuple(conv.weight.shape) or bias.shape != conv.bias.shape:
                raise ValueError(f"shape {tuple(w.shape)}/{tuple(bias.shape)} does not fit "
                                 f"{tuple(conv.weight.shape)}/{tuple(conv.bias.shape)}")
            conv.weight.data.copy_(w)
            conv.bias.data.copy_(bias)

        def pointwise(prefix: str, conv: SameConv):
            set_conv(conv, take(f"{prefix}/weights"), take(f"{prefix}/convolution_bn_offset"))

        pointwise("MobilenetV1/Conv2d_0_pointwise", model.conv_0)
        for i in range(1, 14):
            p = f"MobilenetV1/Conv2d_{i}_depthwise"
            gamma, beta = take(f"{p}/BatchNorm/gamma"), take(f"{p}/BatchNorm/beta")
            mean, var = take(f"{p}/BatchNorm/moving_mean"), take(f"{p}/BatchNorm/moving_variance")
            # Fold (conv - mean) * gamma / sqrt(var + eps) + beta into the conv (no bias of its own).
            scale = gamma / torch.sqrt(var + BN_EPSILON)  # (C,)
            weight = take(f"{p}/depthwise_weights") * scale.view(1, 1, -1, 1)  # (3, 3, C, 1)
            set_conv(model.depthwise[i - 1], weight, beta - mean * scale, depthwise=True)
            pointwise(f"MobilenetV1/Conv2d_{i}_pointwise", model.pointwise[i - 1])
        for i, conv in enumerate(model.extra):
            pointwise(f"Prediction/Conv2d_{i}_pointwise", conv)
        for i in range(len(PREDICTORS)):
            for kind, conv in (("BoxEncodingPredictor", model.box_predictors[i]),
                               ("ClassPredictor", model.class_predictors[i])):
                p = f"Prediction/BoxPredictor_{i}/{kind}"
                set_conv(conv, take(f"{p}/weights"), take(f"{p}/biases"))
        model.anchors.copy_(take("Output/extra_dim").reshape(NUM_ANCHORS, 4))
        left = sorted(n for n in tensors if n not in used and not n.startswith(UNUSED_TENSOR_PREFIXES))
        if left:
            raise KeyError(f"face-api tensors the port does not use: {left}")
        return model.eval()


def decode_boxes(anchors: torch.Tensor, enc: torch.Tensor) -> torch.Tensor:
    """face-api's decodeBoxesLayer: anchors (A, 4), encodings (N, A, 4) -> (N, A, 4), same op order."""
    size_y, size_x = anchors[:, 2] - anchors[:, 0], anchors[:, 3] - anchors[:, 1]
    center_y, center_x = anchors[:, 0] + size_y / 2, anchors[:, 1] + size_x / 2
    half_h = torch.exp(enc[..., 2] / 5) * size_y / 2
    half_w = torch.exp(enc[..., 3] / 5) * size_x / 2
    cy = enc[..., 0] / 10 * size_y + center_y
    cx = enc[..., 1] / 10 * size_x + center_x
    return torch.stack([cy - half_h, cx - half_w, cy + half_h, cx + half_w], dim=-1)


def resize_bilinear_tf(image: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """tf.image.resizeBilinear(alignCorners=false, halfPixelCenters=false): (H, W, C) -> float32 (out_h, out_w, C).
    Source coordinate = dst * (in / out), neighbours clamped to the last row/column."""
    src = image.astype(np.float32)
    h, w = src.shape[:2]

    def axis(n_in: int, n_out: int):
        pos = np.arange(n_out, dtype=np.float64) * (n_in / n_out)
        lo = np.floor(pos).astype(np.int64)
        return lo, np.minimum(lo + 1, n_in - 1), (pos - lo).astype(np.float32)

    y0, y1, fy = axis(h, out_h)
    x0, x1, fx = axis(w, out_w)
    fx = fx[None, :, None]
    top = src[y0][:, x0] + (src[y0][:, x1] - src[y0][:, x0]) * fx
    bottom = src[y1][:, x0] + (src[y1][:, x1] - src[y1][:, x0]) * fx
    return top + (bottom - top) * fy[:, None, None]


def preprocess(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (3, 512, 512) float32 network input, as face-api's toBatchTensor(512, false)."""
    h, w = image.shape[:2]
    side = max(h, w)
    square = np.zeros((side, side, 3), dtype=np.float32)
    square[:h, :w] = image  # padding appended bottom/right (isCenterImage = false)
    resized = resize_bilinear_tf(square, INPUT_SIZE, INPUT_SIZE)
    mean, std = np.asarray(NORM_MEAN, np.float32), np.asarray(NORM_STD, np.float32)
    return ((resized - mean) / std).transpose(2, 0, 1).astype(np.float32)


def iou_yxyx(a: np.ndarray, b: np.ndarray) -> float:
    """face-api's IOU on [y0, x0, y1, x1] (corners sorted first; 0 for empty boxes)."""
    ay0, ay1 = sorted((a[0], a[2]))
    ax0, ax1 = sorted((a[1], a[3]))
    by0, by1 = sorted((b[0], b[2]))
    bx0, bx1 = sorted((b[1], b[3]))
    area_a, area_b = (ay1 - ay0) * (ax1 - ax0), (by1 - by0) * (bx1 - bx0)
    if area_a <= 0 or area_b <= 0:
        return 0.0
    inter = max(min(ay1, by1) - max(ay0, by0), 0.0) * max(min(ax1, bx1) - max(ax0, bx0), 0.0)
    return float(inter / (area_a + area_b - inter))


def nms(boxes: np.ndarray, scores: np.ndarray, min_confidence: float,
        max_results: int = DEFAULT_MAX_RESULTS, iou_threshold: float = IOU_THRESHOLD) -> list[int]:
    """face-api's greedy NMS: candidates with score > min_confidence by descending score (stable);
    a candidate is dropped if its IoU with any kept box is > iou_threshold. Returns anchor indices."""
    order = [int(i) for i in np.argsort(-scores, kind="stable") if scores[i] > min_confidence]
    keep: list[int] = []
    for i in order:
        if len(keep) >= min(max_results, len(scores)):
            break
        if all(iou_yxyx(boxes[i], boxes[j]) <= iou_threshold for j in keep):
            keep.append(i)
    return keep


def to_image_boxes(boxes: np.ndarray, width: int, height: int) -> np.ndarray:
    """(K, 4) relative [ymin, xmin, ymax, xmax] -> (K, 4) pixel [x, y, w, h] exactly as locateFaces:
    clamp to [0, 1], rescale by 512 / round(side * 512 / max(W, H)), then multiply by the image size."""
    boxes = boxes.astype(np.float64)  # face-api does this arithmetic in JS doubles
    scale = INPUT_SIZE / max(width, height)
    pad_x = INPUT_SIZE / round(width * scale)
    pad_y = INPUT_SIZE / round(height * scale)
    top, bottom = np.maximum(0, boxes[:, 0]) * pad_y, np.minimum(1.0, boxes[:, 2]) * pad_y
    left, right = np.maximum(0, boxes[:, 1]) * pad_x, np.minimum(1.0, boxes[:, 3]) * pad_x
    return np.stack([left * width, top * height, (right - left) * width, (bottom - top) * height], 1)
