# PyTorch port of face-api's FaceRecognitionNet (dlib's 150x150 ResNet), loadable from its tfjs weights.
"""Layer for layer the graph of @vladmandic/face-api's recognition net, so that the
pretrained dlib weights give the same descriptors (cosine >= 0.99999, see
tests/test_port_parity.py). Parameter names mirror face-api's tensor names:
tfjs `conv64_1/conv2/scale/weights` is `conv64_1.conv2.scale.weights` here,
`.../conv/filters` is `.../conv.weight`.

Input: (N, 3, 150, 150) float, RGB, already normalised as (pixel - NORM_MEAN) / NORM_STD.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .tfjs_weights import load_tfjs_weights, state_from_tfjs

# The one place the input convention lives; the model card copies these values.
NORM_MEAN = (122.782, 117.001, 104.298)  # per RGB channel, pixel units 0..255
NORM_STD = (255.0, 255.0, 255.0)  # face-api divides by 255 (dlib itself by 256)
INPUT_SIZE = 150
FEATURE_DIM = 256
EMBED_DIM = 128

REPO_ROOT = Path(__file__).resolve().parents[2]
FACEAPI_MODEL_DIR = REPO_ROOT / "node_modules" / "@vladmandic" / "face-api" / "model"
FACEAPI_MANIFEST = "face_recognition_model-weights_manifest.json"

# Blocks in execution order; "max_pool" has no weights. Used by forward_until / forward_from.
BLOCK_NAMES = (
    "conv32_down", "max_pool", "conv32_1", "conv32_2", "conv32_3",
    "conv64_down", "conv64_1", "conv64_2", "conv64_3",
    "conv128_down", "conv128_1", "conv128_2",
    "conv256_down", "conv256_1", "conv256_2", "conv256_down_out",
)

# (C, H, W) of the activation that enters each block, for a 150x150 input (checked by a test);
# lets training code allocate caches of e.g. the conv256_down_out input (256, 4, 4).
BLOCK_INPUT_SHAPES = {
    "conv32_down": (3, 150, 150), "max_pool": (32, 72, 72),
    "conv32_1": (32, 35, 35), "conv32_2": (32, 35, 35), "conv32_3": (32, 35, 35),
    "conv64_down": (32, 35, 35),
    "conv64_1": (64, 17, 17), "conv64_2": (64, 17, 17), "conv64_3": (64, 17, 17),
    "conv128_down": (64, 17, 17), "conv128_1": (128, 8, 8), "conv128_2": (128, 8, 8),
    "conv256_down": (128, 8, 8), "conv256_1": (256, 4, 4), "conv256_2": (256, 4, 4),
    "conv256_down_out": (256, 4, 4),
}


def normalize_pixels(pixels: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) RGB in 0..255 -> the network's input convention."""
    mean = torch.tensor(NORM_MEAN, dtype=torch.float32, device=pixels.device).view(1, 3, 1, 1)
    std = torch.tensor(NORM_STD, dtype=torch.float32, device=pixels.device).view(1, 3, 1, 1)
    return (pixels.float() - mean) / std


class Scale(nn.Module):
    """Per-channel affine x * weights + biases: dlib's batch norm, frozen and folded."""

    def __init__(self, channels: int):
        super().__init__()
        self.weights = nn.Parameter(torch.ones(channels))
        self.biases = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.weights.view(1, -1, 1, 1) + self.biases.view(1, -1, 1, 1)


class ConvLayer(nn.Module):
    """face-api's conv layer: conv + bias, Scale, optional ReLU."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, relu: bool):
        super().__init__()
        # stride 1 is tf 'same' (symmetric pad 1 for 3x3); stride 2 is tf 'valid' (no pad).
        padding = kernel // 2 if stride == 1 else 0
        self.conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding, bias=True)
        self.scale = Scale(cout)
        self.relu = relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.scale(self.conv(x))
        return F.relu(x) if self.relu else x


class Residual(nn.Module):
    """relu(x + conv2(relu(conv1(x)))), shapes unchanged."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = ConvLayer(channels, channels, 3, 1, relu=True)
        self.conv2 = ConvLayer(channels, channels, 3, 1, relu=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.conv2(self.conv1(x)))


class ResidualDown(nn.Module):
    """Stride-2 residual block with face-api's exact shortcut and padding rules."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        if cout not in (cin, 2 * cin):
            raise ValueError(f"face-api pads the shortcut with as many zero channels as it has; "
                             f"expected cout in ({cin}, {2 * cin}), got {cout}")
        self.conv1 = ConvLayer(cin, cout, 3, 2, relu=True)
        self.conv2 = ConvLayer(cout, cout, 3, 1, relu=False)
        self.extra_channels = cout - cin

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        main = self.conv2(self.conv1(x))  # (N, cout, floor((H-3)/2)+1, ...)
        short = F.avg_pool2d(x, 2, 2)  # (N, cin, floor(H/2), floor(W/2))
        if self.extra_channels:
            short = F.pad(short, (0, 0, 0, 0, 0, self.extra_channels))  # zero channels at the end
        if main.shape[-2:] != short.shape[-2:]:
            # face-api appends exactly one zero row (bottom) and one zero column (right).
            main = F.pad(main, (0, 1, 0, 1))
        return F.relu(short + main)


class DlibResNet(nn.Module):
    """(N, 3, 150, 150) normalised RGB -> (N, 128) raw descriptor (not L2-normalised)."""

    def __init__(self):
        super().__init__()
        self.conv32_down = ConvLayer(3, 32, 7, 2, relu=True)
        self.max_pool = nn.MaxPool2d(3, 2)
        self.conv32_1, self.conv32_2, self.conv32_3 = Residual(32), Residual(32), Residual(32)
        self.conv64_down = ResidualDown(32, 64)
        self.conv64_1, self.conv64_2, self.conv64_3 = Residual(64), Residual(64), Residual(64)
        self.conv128_down = ResidualDown(64, 128)
        self.conv128_1, self.conv128_2 = Residual(128), Residual(128)
        self.conv256_down = ResidualDown(128, 256)
        self.conv256_1, self.conv256_2 = Residual(256), Residual(256)
        self.conv256_down_out = ResidualDown(256, 256)
        self.fc = nn.Linear(FEATURE_DIM, EMBED_DIM, bias=False)

    @staticmethod
    def _index(block: str) -> int:
        if block not in BLOCK_NAMES:
            raise ValueError(f"unknown block {block!r}; expected one of {', '.join(BLOCK_NAMES)}")
        return BLOCK_NAMES.index(block)

    def forward_until(self, x: torch.Tensor, block: str) -> torch.Tensor:
        """Run the blocks before `block`; returns the activation that enters it."""
        for name in BLOCK_NAMES[: self._index(block)]:
            x = getattr(self, name)(x)
        return x

    def features_from(self, block: str, x: torch.Tensor) -> torch.Tensor:
        """From the input of `block` to the pooled feature, (N, 256)."""
        for name in BLOCK_NAMES[self._index(block):]:
            x = getattr(self, name)(x)
        return x.mean(dim=(2, 3))  # (N, 256)

    def forward_from(self, block: str, x: torch.Tensor) -> torch.Tensor:
        """From the input of `block` to the raw descriptor, (N, 128)."""
        return self.fc(self.features_from(block, x))

    def tail_parameters(self, block: str):
        """Parameters of `block`, the blocks after it, and fc: what a tail fine-tune trains."""
        for name in BLOCK_NAMES[self._index(block):]:
            yield from getattr(self, name).parameters()
        yield from self.fc.parameters()

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features_from(BLOCK_NAMES[0], x)  # (N, 256)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))  # (N, 128)

    @classmethod
    def from_faceapi(cls, model_dir: str | Path = FACEAPI_MODEL_DIR) -> "DlibResNet":
        """Build the net with face-api's pretrained weights; every tensor must map exactly once."""
        model = cls()

        def layout(tf_name: str, value: torch.Tensor) -> torch.Tensor:
            if tf_name.endswith("/filters"):
                return value.permute(3, 2, 0, 1)  # HWIO -> OIHW
            return value.t() if tf_name == "fc" else value  # (in, out) -> Linear's (out, in)

        state = state_from_tfjs(load_tfjs_weights(Path(model_dir) / FACEAPI_MANIFEST),
                                dict(model.named_parameters()), tfjs_to_torch_name, layout)
        model.load_state_dict(state, strict=True)
        return model.eval()


def tfjs_to_torch_name(tf_name: str) -> str:
    """face-api tensor name -> parameter name in DlibResNet."""
    if tf_name == "fc":
        return "fc.weight"
    name = tf_name.replace("/", ".")
    if name.endswith(".conv.filters"):
        name = name[: -len("filters")] + "weight"
    return name


def count_flops(model: nn.Module, size: int = INPUT_SIZE) -> int:
    """2 x multiply-adds of every Conv2d and Linear for one face (bias, scale, pooling excluded)."""
    total = 0

    def hook(module, inputs, output):
        nonlocal total
        if isinstance(module, nn.Conv2d):
            per_out = module.in_channels // module.groups * module.kernel_size[0] * module.kernel_size[1]
            total += 2 * output.numel() * per_out
        else:
            total += 2 * output.numel() * module.in_features

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, (nn.Conv2d, nn.Linear))]
    try:
        with torch.no_grad():
            model(torch.zeros(1, 3, size, size))
    finally:
        for h in handles:
            h.remove()
    return total
