"""Classification heads chosen by name (softmax, am, a, arc, ir_am, ir_a); each returns logits for cross-entropy.

One contract for every head:
  logits = head(features, labels)          # (N, K); labels=None gives margin-free logits (evaluation)
  loss = F.cross_entropy(logits, labels)   # the same for every head
  head.after_step(features, labels)        # once per training step, after optimizer.step()
  head.class_weights()                     # (K, d) detached weights the logits use (for the diagnostic)
A margin head = a margin (AM, A, Arc) applied to a weight source: learned W, or the IR class centers.
IR heads are our reconstruction of Zhu et al., ACCV 2020 (full text unavailable): weights := class centers.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any, Callable, Mapping, get_type_hints

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .centers import CenterBank, CenterConfig


@dataclass
class SoftmaxConfig:
    bias: bool = True  # plain softmax logits W x + b


@dataclass
class AMConfig:
    s: float = 30.0  # scale; AM-Softmax paper value (insightface's CosFace uses 64)
    m: float = 0.35  # additive cosine margin on the target class (insightface: 0.4)


@dataclass
class SphereConfig:
    m: int = 4  # integer angular margin of A-Softmax; psi uses cos(m theta)
    lambda_base: float = 1000.0  # lambda = max(base * (1 + gamma * iter)^-power, lambda_min)
    lambda_gamma: float = 0.12
    lambda_power: float = 1.0
    lambda_min: float = 5.0  # final mix: target = (psi + 5 cos) / 6, SphereFace's setting

    def __post_init__(self) -> None:
        if isinstance(self.m, bool) or not isinstance(self.m, int) or self.m < 1:
            raise ValueError(f"A-Softmax margin m must be an integer >= 1, got {self.m!r}")


@dataclass
class ArcConfig:
    s: float = 64.0  # scale (ArcFace paper)
    m: float = 0.5  # additive angular margin, radians
    # theta + m past pi would make cos(theta + m) increase again, rewarding worse samples. Where that can
    # happen the target falls back to: easy_margin=True -> plain cos(theta) whenever cos(theta) <= 0;
    # easy_margin=False -> cos(theta) - m sin(m) whenever theta > pi - m (keeps the target monotonic).
    easy_margin: bool = False


@dataclass
class IRAMConfig(AMConfig):
    centers: CenterConfig = field(default_factory=CenterConfig)  # update rule and alpha of the centers


@dataclass
class IRSphereConfig(SphereConfig):
    centers: CenterConfig = field(default_factory=CenterConfig)


def parse_config(cls: type, raw: Any) -> Any:
    """Build config dataclass `cls` from None, an instance, or a mapping; unknown keys and bad types rejected."""
    if raw is None:
        return cls()
    if isinstance(raw, cls):
        return raw
    if not isinstance(raw, Mapping):
        raise TypeError(f"{cls.__name__}: expected a mapping or {cls.__name__}, got {type(raw).__name__}")
    hints = get_type_hints(cls)
    valid = [f.name for f in fields(cls)]
    unknown = sorted(set(raw) - set(valid))
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown keys {unknown}. Valid keys: {', '.join(valid)}")
    out = {}
    for key, value in raw.items():
        hint = hints[key]
        if is_dataclass(hint):
            value = parse_config(hint, value)
        elif hint in (int, float, bool, str):
            ok = isinstance(value, hint) and not (hint is not bool and isinstance(value, bool))
            ok = ok or (hint is float and isinstance(value, int) and not isinstance(value, bool))
            if not ok:
                raise TypeError(f"{cls.__name__}.{key}: expected {hint.__name__}, got {value!r}")
            value = hint(value)
        out[key] = value
    return cls(**out)


def cosine(features: Tensor, weights: Tensor) -> Tensor:
    """(N, K) cosines between (N, d) features and (K, d) weights, computed in float32."""
    return F.normalize(features.float(), dim=1) @ F.normalize(weights.float(), dim=1).T


class AMMargin(nn.Module):
    """AM-Softmax / CosFace: s (cos theta_j - m [j = y])."""

    def __init__(self, cfg: AMConfig) -> None:
        super().__init__()
        self.s, self.m = cfg.s, cfg.m

    def forward(self, features: Tensor, weights: Tensor, labels: Tensor | None) -> Tensor:
        cos = cosine(features, weights)  # (N, K)
        if labels is None:
            return self.s * cos
        return self.s * (cos - self.m * F.one_hot(labels, cos.shape[1]).to(cos))


class ArcMargin(nn.Module):
    """ArcFace: s cos(theta_y + m) on the target, s cos(theta_j) elsewhere, with explicit fallback past pi."""

    def __init__(self, cfg: ArcConfig) -> None:
        super().__init__()
        self.s, self.m, self.easy = cfg.s, cfg.m, cfg.easy_margin

    def forward(self, features: Tensor, weights: Tensor, labels: Tensor | None) -> Tensor:
        cos = cosine(features, weights)  # (N, K)
        if labels is None:
            return self.s * cos
        t = cos.gather(1, labels[:, None])  # (N, 1) cos theta_y
        # sqrt of a clamped value: exact sin theta in [0, pi], finite gradient at |cos| = 1
        sin = (1.0 - t * t).clamp_min(1e-12).sqrt()
        phi = t * math.cos(self.m) - sin * math.sin(self.m)  # cos(theta + m)
        if self.easy:
            phi = torch.where(t > 0, phi, t)
        else:
            phi = torch.where(t > math.cos(math.pi - self.m), phi, t - math.sin(math.pi - self.m) * self.m)
        return self.s * cos.scatter(1, labels[:, None], phi)


def sphere_psi(cos: Tensor, m: int) -> Tensor:
    """psi(theta) = (-1)^k cos(m theta) - 2k for theta in [k pi/m, (k+1) pi/m], as a function of cos theta.

    cos(m theta) is the Chebyshev polynomial T_m(cos theta): exact, and no acos in the gradient path.
    """
    with torch.no_grad():
        theta = torch.acos(cos.clamp(-1.0, 1.0))
        k = torch.floor(m * theta / math.pi).clamp(0, m - 1)  # theta = pi belongs to the last interval
    t_prev, t_cur = torch.ones_like(cos), cos
    for _ in range(m - 1):
        t_prev, t_cur = t_cur, 2 * cos * t_cur - t_prev
    sign = 1.0 - 2.0 * torch.remainder(k, 2)
    return sign * t_cur - 2.0 * k


class SphereMargin(nn.Module):
    """A-Softmax / SphereFace: normalised W, raw x; target ||x|| (psi + lambda cos) / (1 + lambda).

    The annealing step counter is a buffer of the head, so it is saved in checkpoints and resumes.
    """

    iteration: Tensor

    def __init__(self, cfg: SphereConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.register_buffer("iteration", torch.zeros((), dtype=torch.long))

    def lam(self) -> float:
        c = self.cfg
        return max(c.lambda_base * (1.0 + c.lambda_gamma * int(self.iteration)) ** -c.lambda_power, c.lambda_min)

    def step(self) -> None:
        self.iteration += 1

    def forward(self, features: Tensor, weights: Tensor, labels: Tensor | None) -> Tensor:
        x = features.float()
        norm = x.norm(dim=1, keepdim=True)  # (N, 1) feature length, kept: A-Softmax does not normalise x
        cos = cosine(x, weights)  # (N, K)
        logits = norm * cos
        if labels is None:
            return logits
        t = cos.gather(1, labels[:, None])  # (N, 1)
        lam = self.lam()
        target = norm * (sphere_psi(t, self.cfg.m) + lam * t) / (1.0 + lam)
        return logits.scatter(1, labels[:, None], target)


class LearnedWeights(nn.Module):
    """Classifier weights learned by gradient: a (K, d) Parameter, used L2-normalised."""

    def __init__(self, num_classes: int, dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num_classes, dim).normal_(0.0, 0.01))

    def weights(self) -> Tensor:
        return F.normalize(self.weight, dim=1)  # (K, d) unit rows, gradient flows to self.weight


class SoftmaxHead(nn.Module):
    """Plain softmax: logits W x + b; the reference point for how far learned weights drift."""

    def __init__(self, cfg: SoftmaxConfig, num_classes: int, dim: int) -> None:
        super().__init__()
        self.fc = nn.Linear(dim, num_classes, bias=cfg.bias)

    def forward(self, features: Tensor, labels: Tensor | None = None) -> Tensor:
        return self.fc(features.float())

    def class_weights(self) -> Tensor:
        return self.fc.weight.detach()  # (K, d) un-normalised; the bias is not part of the direction

    def after_step(self, features: Tensor, labels: Tensor) -> None:
        pass


class MarginHead(nn.Module):
    """A margin applied to a weight source: LearnedWeights (am, a, arc) or a CenterBank (ir_am, ir_a)."""

    def __init__(self, margin: nn.Module, source: LearnedWeights | CenterBank) -> None:
        super().__init__()
        self.margin, self.source = margin, source

    @property
    def centers(self) -> CenterBank | None:
        """The IR center bank (initialise it with centers.init_from), or None for learned weights."""
        return self.source if isinstance(self.source, CenterBank) else None

    def forward(self, features: Tensor, labels: Tensor | None = None) -> Tensor:
        w = self.source.weights()  # (K, d) unit rows; detached for a CenterBank
        if features.ndim != 2 or features.shape[1] != w.shape[1]:
            raise ValueError(f"features must be (N, {w.shape[1]}), got {tuple(features.shape)}")
        return self.margin(features, w, labels)

    def class_weights(self) -> Tensor:
        return self.source.weights().detach()

    def after_step(self, features: Tensor, labels: Tensor) -> None:
        if isinstance(self.margin, SphereMargin):
            self.margin.step()
        if self.centers is not None:
            self.centers.update(features.detach(), labels)


Head = SoftmaxHead | MarginHead
Builder = Callable[[Any, int, int], nn.Module]

# name -> (config class, builder(cfg, num_classes, dim)); add a head by adding a line here.
HEADS: dict[str, tuple[type, Builder]] = {
    "softmax": (SoftmaxConfig, lambda c, k, d: SoftmaxHead(c, k, d)),
    "am": (AMConfig, lambda c, k, d: MarginHead(AMMargin(c), LearnedWeights(k, d))),
    "a": (SphereConfig, lambda c, k, d: MarginHead(SphereMargin(c), LearnedWeights(k, d))),
    "arc": (ArcConfig, lambda c, k, d: MarginHead(ArcMargin(c), LearnedWeights(k, d))),
    "ir_am": (IRAMConfig, lambda c, k, d: MarginHead(AMMargin(c), CenterBank(k, d, c.centers))),
    "ir_a": (IRSphereConfig, lambda c, k, d: MarginHead(SphereMargin(c), CenterBank(k, d, c.centers))),
}


def build_head(name: str, cfg: Any, num_classes: int, dim: int) -> Head:
    """Head `name` for `num_classes` classes on `dim`-d features; cfg: None, its config dataclass, or a dict."""
    if name not in HEADS:
        raise ValueError(f'Unsupported head "{name}". Should be one of: {", ".join(HEADS)}')
    cfg_cls, builder = HEADS[name]
    return builder(parse_config(cfg_cls, cfg), num_classes, dim)
