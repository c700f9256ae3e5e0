"""Class-center buffer for IR heads: init, per-step update, exact refresh, all-reduce, collapse monitor."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

RULES = ("center", "ema")


@dataclass
class CenterConfig:
    # "center": Wen et al. 2016 center-loss step; "ema": moving average of the batch class mean.
    # Our reconstruction offers both (the paper's exact rule is not available); record which one ran.
    rule: str = "center"
    # Step size in (0, 1]. 0.5 for "center" and 0.1 for "ema" are what the frozen-feature probe used.
    alpha: float = 0.5
    # Seed of the random unit vectors given to classes with no samples; fixed so every rank agrees.
    init_seed: int = 0

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise ValueError(f'Unsupported center rule "{self.rule}". Should be one of: {", ".join(RULES)}')
        if not 0.0 < self.alpha <= 1.0:
            raise ValueError(f"center alpha must be in (0, 1], got {self.alpha}")


def class_sums(features: Tensor, labels: Tensor, num_classes: int) -> tuple[Tensor, Tensor]:
    """Per-class sums of L2-normalised features and per-class counts: (K, d), (K,)."""
    f = F.normalize(features.detach().float(), dim=1)  # (N, d) unit rows
    sums = f.new_zeros(num_classes, f.shape[1]).index_add_(0, labels, f)
    counts = f.new_zeros(num_classes).index_add_(0, labels, f.new_ones(labels.shape[0]))
    return sums, counts


def all_reduce_sums(sums: Tensor, counts: Tensor) -> tuple[Tensor, Tensor]:
    """Sum (K, d) sums and (K,) counts over ranks; the identity when torch.distributed is not initialised.

    Packed into one (K, d+1) tensor so a step costs a single collective. Dense over all K classes:
    fine up to ~1e5 classes; beyond that the centers would need Partial-FC-style sharding.
    """
    if not (dist.is_available() and dist.is_initialized()):
        return sums, counts
    packed = torch.cat([sums, counts[:, None]], dim=1)  # (K, d+1)
    dist.all_reduce(packed, op=dist.ReduceOp.SUM)
    return packed[:, :-1], packed[:, -1]


def random_unit(num: int, dim: int, seed: int) -> Tensor:
    """(num, dim) random unit vectors from a private generator, identical on every rank for one seed."""
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(num, dim, generator=g), dim=1)


def mean_pairwise_cosine(vectors: Tensor) -> float:
    """Mean cosine over all distinct pairs of rows; 1.0 means everything points one way (collapse).

    Uses sum_{i!=j} u_i.u_j = |sum_i u_i|^2 - K for unit u_i, so it is O(K d) instead of O(K^2 d).
    """
    u = F.normalize(vectors.detach().double(), dim=1)  # (K, d)
    k = u.shape[0]
    if k < 2:
        raise ValueError(f"mean pairwise cosine needs at least 2 vectors, got {k}")
    total = u.sum(dim=0)  # (d,)
    return float(((total @ total) - (u * u).sum()) / (k * (k - 1)))


def feature_spread(features: Tensor, eps: float = 1e-6) -> float:
    """Mean pairwise cosine of a batch's embeddings (B, d); 1.0 when every embedding is ~0 (a dead network).

    The class-weight spread misses one failure of whole-network training: a large step kills the ReLUs,
    every embedding becomes 0, F.normalize maps them to 0 and the centers keep their old directions.
    """
    if features.detach().norm(dim=1).max() < eps:
        return 1.0
    return mean_pairwise_cosine(features)


def is_collapsed(spread: float, threshold: float = 0.99) -> bool:
    """True when the mean pairwise cosine of the centers says they all point one way.

    Compare with the spread at initialisation too: a pretrained network can start in a narrow cone
    (the dlib port's class means have mean cosine ~0.84), so a fixed threshold only catches the end state.
    """
    return spread >= threshold


class CenterBank(nn.Module):
    """K class centers in a registered buffer (never a Parameter), stored L2-normalised.

    Invariant: rows of `centers` are unit vectors after every init/update; `weights()` normalises
    again anyway so a hand-edited or loaded buffer cannot leak a non-unit weight into the logits.
    """

    centers: Tensor

    def __init__(self, num_classes: int, dim: int, cfg: CenterConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg or CenterConfig()
        self.num_classes, self.dim = num_classes, dim
        # Cold-start default; replace with init_from(...) after a no-grad pass over the training set.
        self.register_buffer("centers", random_unit(num_classes, dim, self.cfg.init_seed))

    def weights(self) -> Tensor:
        """(K, d) unit-norm centers, detached: used as classifier weights, no gradient reaches them."""
        return F.normalize(self.centers, dim=1).detach()

    @torch.no_grad()
    def init_from_sums(self, sums: Tensor, counts: Tensor) -> None:
        """Centers = normalised per-class mean of normalised features; unseen classes get random unit vectors.

        Takes sums so a large training set can be accumulated batch by batch with class_sums().
        """
        sums, counts = all_reduce_sums(sums.float().clone(), counts.float().clone())
        fallback = random_unit(self.num_classes, self.dim, self.cfg.init_seed).to(sums)
        seen = counts > 0  # (K,)
        # The mean's norm does not matter after normalising, so normalise the sum directly.
        new = torch.where(seen[:, None], F.normalize(sums, dim=1), fallback)
        self.centers.copy_(new.to(self.centers))

    @torch.no_grad()
    def refresh_from_sums(self, sums: Tensor, counts: Tensor) -> Tensor:
        """Centers := exact normalised class means (sums of a full pass); classes with no sample keep theirs.

        Keeps the paper's definition (weights ARE the centers) while removing the lag of the per-step rule.
        Returns (K,) degrees each center moved, for logging how far they had lagged.
        """
        sums, counts = all_reduce_sums(sums.float().clone(), counts.float().clone())
        old = self.centers.float().clone()  # (K, d); .float() alone would alias the buffer
        new = torch.where((counts > 0)[:, None], F.normalize(sums, dim=1), old)
        self.centers.copy_(new.to(self.centers))
        return torch.rad2deg(torch.acos((F.normalize(old, dim=1) * new).sum(1).clamp(-1.0, 1.0)))

    def init_from(self, features: Tensor, labels: Tensor) -> None:
        """Initialise from all (this rank's) features (N, d) and labels (N,) at once."""
        self.init_from_sums(*class_sums(features, labels, self.num_classes))

    @torch.no_grad()
    def update(self, features: Tensor, labels: Tensor) -> None:
        """One step of the configured rule from a batch's detached features (B, d) and labels (B,).

        Only classes present in the (global) batch move. Call it after optimizer.step(): the logits
        of the step must have used the centers as they were before this update.
        """
        sums, counts = all_reduce_sums(*class_sums(features, labels, self.num_classes))
        present = counts > 0  # (K,)
        c = self.centers[present].float()  # (P, d)
        s, n = sums[present], counts[present, None]  # (P, d), (P, 1)
        a = self.cfg.alpha
        if self.cfg.rule == "center":
            # Wen et al.: delta_j = sum_i (c_j - f_i) / (1 + n_j) = (n_j c_j - sum_j) / (1 + n_j)
            new = c - a * (n * c - s) / (1.0 + n)
        else:
            new = (1.0 - a) * c + a * (s / n)
        # Re-normalise: the logits use directions only, and unit storage keeps alpha's meaning fixed.
        self.centers[present] = F.normalize(new, dim=1).to(self.centers)

    def spread(self) -> float:
        """Collapse monitor: mean pairwise cosine of the centers (1.0 = collapsed)."""
        return mean_pairwise_cosine(self.centers)
