"""Face-training augmentations of aligned crops held in memory: flip, alignment jitter, colour, blur, JPEG."""
from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset

from .data import Index, load_crop
from .dlib_resnet import normalize_pixels


@dataclass
class AugmentConfig:
    """Each knob is a range or a probability; all zero (AugmentConfig.off()) gives the crop unchanged.

    Sizes stay small on purpose: the served model sees crops from one fixed alignment, so the jitter
    only has to cover the detector's landmark noise (a few pixels, a few percent of scale).
    """
    flip: float = 0.5  # probability of a horizontal mirror (the served model embeds crop + mirror)
    scale: float = 0.05  # zoom factor drawn from [1 - scale, 1 + scale] about the crop centre
    shift: float = 0.03  # translation drawn from [-shift, shift] of the crop side, per axis
    rotate: float = 3.0  # in-plane rotation drawn from [-rotate, rotate] degrees
    brightness: float = 0.2  # pixel gain drawn from [1 - b, 1 + b]
    contrast: float = 0.2  # blend with the crop's mean grey by a factor from [1 - c, 1 + c]
    saturation: float = 0.2  # blend with the crop's greyscale by a factor from [1 - s, 1 + s]
    blur: float = 0.2  # probability of a Gaussian blur ...
    blur_sigma: float = 1.2  # ... with sigma drawn from [0.3, blur_sigma] pixels
    jpeg: float = 0.3  # probability of a JPEG round trip ...
    jpeg_quality: int = 40  # ... at a quality drawn from [jpeg_quality, 95]

    def __post_init__(self) -> None:
        for key in ("flip", "blur", "jpeg"):
            if not 0.0 <= getattr(self, key) <= 1.0:
                raise ValueError(f"augment.{key} is a probability in [0, 1], got {getattr(self, key)}")
        for key in ("scale", "shift", "brightness", "contrast", "saturation"):
            if not 0.0 <= getattr(self, key) < 1.0:
                raise ValueError(f"augment.{key} must be in [0, 1), got {getattr(self, key)}")
        if not 0.0 <= self.rotate <= 45.0 or self.blur_sigma < 0.3 or not 1 <= self.jpeg_quality <= 95:
            raise ValueError(f"augment: need 0 <= rotate <= 45, blur_sigma >= 0.3, 1 <= jpeg_quality <= 95; got "
                             f"{self.rotate}, {self.blur_sigma}, {self.jpeg_quality}")

    @classmethod
    def off(cls) -> "AugmentConfig":
        return cls(flip=0.0, scale=0.0, shift=0.0, rotate=0.0, brightness=0.0, contrast=0.0, saturation=0.0,
                   blur=0.0, jpeg=0.0)


def sample_generator(seed: int, epoch: int, i: int) -> torch.Generator:
    """The random stream of sample i in one epoch: a function of (seed, epoch, i) only, so DataLoader
    workers, a resumed run and an uninterrupted run draw the same augmentations."""
    return torch.Generator().manual_seed((seed * 1_000_003 + epoch) * 10_000_019 + i)


def uniform(g: torch.Generator, lo: float, hi: float) -> float:
    return lo + (hi - lo) * float(torch.rand((), generator=g))


def jitter_alignment(x: Tensor, scale: float, shift: tuple[float, float], angle_deg: float, flip: bool) -> Tensor:
    """(3, H, W) float -> the crop as if the alignment had zoomed by `scale`, moved the face by `shift`
    (fractions of the side, +x right, +y down) and rotated it by angle_deg; bilinear, border pixels repeated."""
    a = math.radians(angle_deg)
    cos, sin = math.cos(a) / scale, math.sin(a) / scale
    # affine_grid maps output coordinates in [-1, 1] to input coordinates: the inverse of the face's motion.
    theta = torch.tensor([[cos, -sin, -2 * shift[0]], [sin, cos, -2 * shift[1]]], dtype=x.dtype)
    if flip:
        theta[:, 0] = -theta[:, 0]  # read column -u: the mirror, composed with the jitter in one resample
    grid = F.affine_grid(theta[None], [1, *x.shape], align_corners=False)
    return F.grid_sample(x[None], grid, mode="bilinear", padding_mode="border", align_corners=False)[0]


def gaussian_blur(x: Tensor, sigma: float) -> Tensor:
    """(3, H, W) -> separable Gaussian blur, kernel radius ceil(3 sigma), reflected edges."""
    r = max(1, math.ceil(3 * sigma))
    k = torch.exp(-0.5 * (torch.arange(-r, r + 1, dtype=x.dtype) / sigma) ** 2)
    k = (k / k.sum()).view(1, 1, -1)
    y = F.pad(x[:, None], (r, r, 0, 0), mode="reflect")  # (3, 1, H, W + 2r)
    y = F.conv2d(y, k.view(1, 1, 1, -1))
    y = F.pad(y, (0, 0, r, r), mode="reflect")
    return F.conv2d(y, k.view(1, 1, -1, 1))[:, 0]


def jpeg_round_trip(x: Tensor, quality: int) -> Tensor:
    """(3, H, W) float 0..255 -> the same image after JPEG encoding at `quality` (PIL, 4:2:0 subsampling)."""
    rgb = x.round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=quality)
    with Image.open(io.BytesIO(buf.getvalue())) as img:
        return torch.from_numpy(np.asarray(img.convert("RGB")).copy()).permute(2, 0, 1).float()


GREY = torch.tensor([0.299, 0.587, 0.114])  # ITU-R BT.601 luma weights


def augment(crop: Tensor, cfg: AugmentConfig, g: torch.Generator) -> Tensor:
    """(3, H, W) uint8 RGB -> (3, H, W) float RGB 0..255, augmented in the order a photo is made:
    geometry (where the face lands), colour (light and camera), blur (focus), then JPEG (the file)."""
    x = crop.float()
    draw = lambda p: bool(torch.rand((), generator=g) < p)  # noqa: E731
    flip = draw(cfg.flip)
    if cfg.scale or cfg.shift or cfg.rotate:
        s = uniform(g, 1 - cfg.scale, 1 + cfg.scale)
        t = (uniform(g, -cfg.shift, cfg.shift), uniform(g, -cfg.shift, cfg.shift))
        x = jitter_alignment(x, s, t, uniform(g, -cfg.rotate, cfg.rotate), flip)
    elif flip:
        x = x.flip(2)
    if cfg.brightness:
        x = x * uniform(g, 1 - cfg.brightness, 1 + cfg.brightness)
    if cfg.contrast:
        mean = (GREY.view(3, 1, 1) * x).sum(0).mean()
        x = mean + (x - mean) * uniform(g, 1 - cfg.contrast, 1 + cfg.contrast)
    if cfg.saturation:
        grey = (GREY.view(3, 1, 1) * x).sum(0, keepdim=True)
        x = grey + (x - grey) * uniform(g, 1 - cfg.saturation, 1 + cfg.saturation)
    x = x.clamp(0, 255)
    if draw(cfg.blur):
        x = gaussian_blur(x, uniform(g, 0.3, cfg.blur_sigma))
    if draw(cfg.jpeg):
        x = jpeg_round_trip(x, int(round(uniform(g, cfg.jpeg_quality, 95))))
    return x


class AugmentedCrops(Dataset):
    """Aligned crops decoded once into one (N, 3, 150, 150) uint8 tensor -> (augmented, normalised crop, label).

    13,000 crops are ~0.9 GB in memory; decoding a PNG per sample per epoch would cost more CPU than
    the augmentations. `views` mirrors CropDataset's attribute for dataset_class_sums: view 0 is the
    crop itself, view 1 its mirror, both without augmentation (the exact class means).
    """

    def __init__(self, index: Index, cfg: AugmentConfig, seed: int = 0, crops: Tensor | None = None):
        self.index, self.cfg, self.seed, self.epoch = index, cfg, seed, 0
        self.crops = crops if crops is not None else torch.stack([load_crop(index.root / f) for f in index.files])
        self.labels = torch.as_tensor(index.labels, dtype=torch.long)
        self.hflip = cfg.flip > 0  # class means then cover the mirrored view the model is trained on
        self.views: Tensor | None = None  # None: augment; a (N,) tensor: that fixed view, no augmentation

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[Tensor, int]:
        if self.views is not None:
            x = self.crops[i].float()
            x = x.flip(2) if self.views[i] else x
        else:
            x = augment(self.crops[i], self.cfg, sample_generator(self.seed, self.epoch, i))
        return normalize_pixels(x[None])[0], int(self.labels[i])
