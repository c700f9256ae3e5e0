"""What the optimiser trains: scale folding, frozen name prefixes, per-layer lr groups, the lr schedule."""
from __future__ import annotations

import math
from typing import Iterable

import torch
from torch import nn

from .config import TrainConfig
from .dlib_resnet import ConvLayer


@torch.no_grad()
def fold_scales(module: nn.Module) -> None:
    """Fold each ConvLayer's per-channel scale into its conv (scale := 1, shift := 0); same function.

    dlib's filters are tiny (rms ~2e-3) times scales of 6-9, so SGD's step relative to a filter is
    ~15x its gradient ratio at init; folding divides that ratio by scale^2 (probe notes). The export
    is unaffected: the state_dict keeps its keys, with unit scales.
    """
    for layer in module.modules():
        if isinstance(layer, ConvLayer):
            w, b = layer.scale.weights, layer.scale.biases  # (C,), (C,)
            layer.conv.weight.mul_(w.view(-1, 1, 1, 1))
            layer.conv.bias.mul_(w).add_(b)
            w.fill_(1.0)
            b.zero_()


def freeze(named: Iterable[tuple[str, nn.Parameter]], prefixes: Iterable[str], scales: bool) -> list[str]:
    """requires_grad=False for every parameter whose name starts with one of `prefixes`, and for every
    folded-BN Scale vector (`.scale.`) when `scales`; returns the frozen names, sorted.

    A prefix that names no parameter is an error (a typo would otherwise train the layer silently).
    """
    named = list(named)
    prefixes = tuple(prefixes)
    unused = [p for p in prefixes if not any(n.startswith(p) for n, _ in named)]
    if unused:
        blocks = sorted({n.split(".")[0] for n, _ in named})
        raise ValueError(f"freeze prefixes {unused} match no trainable parameter; names start with: "
                         f"{', '.join(blocks)}")
    frozen = []
    for name, p in named:
        if name.startswith(prefixes) or (scales and ".scale." in name):
            p.requires_grad_(False)
            frozen.append(name)
    return sorted(frozen)


def param_groups(named: list[tuple[str, nn.Parameter]], cfg: TrainConfig) -> list[dict]:
    """SGD groups by (lr multiplier, weight decay); layer_lr's longest matching name prefix wins.

    Decay only on matrices/filters: the Scale vectors are a folded batch-norm, biases are offsets.
    """
    groups: dict[tuple[float, float], list] = {}
    for name, p in named:
        prefixes = [k for k in cfg.layer_lr if name.startswith(k)]
        mult = float(cfg.layer_lr[max(prefixes, key=len)]) if prefixes else 1.0
        decay = cfg.weight_decay if p.ndim > 1 else 0.0
        groups.setdefault((mult, decay), []).append(p)
    return [{"params": ps, "lr_mult": m, "weight_decay": d, "lr": cfg.lr * m} for (m, d), ps in groups.items()]


def lr_at(step: int, total: int, cfg: TrainConfig) -> float:
    """Linear warm-up over warmup_steps, then constant or cosine decay to 0 at `total` steps."""
    warm = min(1.0, (step + 1) / cfg.warmup_steps) if cfg.warmup_steps else 1.0
    if cfg.schedule == "constant":
        return cfg.lr * warm
    return cfg.lr * warm * 0.5 * (1.0 + math.cos(math.pi * min(step / max(total, 1), 1.0)))
