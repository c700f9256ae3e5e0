# Face-training augmentations: exact geometry, determinism per (seed, epoch, sample), and their effect sizes.
import numpy as np
import pytest
import torch

from irface_ml.augment import (AugmentConfig, AugmentedCrops, augment, gaussian_blur, jitter_alignment,
                               jpeg_round_trip, sample_generator)
from irface_ml.config import build_config
from irface_ml.data import Index, dataset_class_sums
from irface_ml.dlib_resnet import normalize_pixels


def crop(seed=0, size=150):
    """A smooth random RGB crop (3, size, size) uint8: like a face crop, JPEG and blur change it little."""
    g = torch.Generator().manual_seed(seed)
    low = torch.randint(0, 256, (1, 3, 6, 6), generator=g).float()
    return torch.nn.functional.interpolate(low, size=size, mode="bicubic").clamp(0, 255)[0].round().to(torch.uint8)


def test_off_is_the_identity_and_flip_is_the_mirror():
    x = crop()
    g = sample_generator(0, 0, 0)
    assert torch.equal(augment(x, AugmentConfig.off(), g), x.float())
    flip_only = AugmentConfig(**{**AugmentConfig.off().__dict__, "flip": 1.0})
    assert torch.equal(augment(x, flip_only, g), x.float().flip(2))
    # The jitter path with zero jitter resamples on the pixel grid: the same crop (and mirror) to float error.
    assert torch.allclose(jitter_alignment(x.float(), 1.0, (0.0, 0.0), 0.0, False), x.float(), atol=1e-3)
    assert torch.allclose(jitter_alignment(x.float(), 1.0, (0.0, 0.0), 0.0, True), x.float().flip(2), atol=1e-3)


def test_shift_moves_the_face_by_whole_pixels():
    x = crop(1).float()
    moved = jitter_alignment(x, 1.0, (3 / 150, -2 / 150), 0.0, False)  # 3 px right, 2 px up
    assert torch.allclose(moved[:, 10:140, 13:143], x[:, 12:142, 10:140], atol=1e-3)


def test_same_seed_epoch_sample_same_augmentation_else_different():
    x, cfg = crop(2), AugmentConfig(blur=0.5, jpeg=0.5)
    a = augment(x, cfg, sample_generator(3, 1, 7))
    assert torch.equal(a, augment(x, cfg, sample_generator(3, 1, 7)))
    others = [augment(x, cfg, sample_generator(*k)) for k in ((3, 2, 7), (3, 1, 8), (4, 1, 7))]
    assert all((a - o).abs().mean() > 0.1 for o in others)
    assert a.shape == (3, 150, 150) and a.min() >= 0 and a.max() <= 255


def test_default_augmentations_are_small():
    """The crop stays the same face: mean absolute change of a few grey levels, not a different image."""
    x, cfg = crop(3), AugmentConfig()
    diffs = [(augment(x, cfg, sample_generator(0, 0, i)) - x.float()).abs().mean().item() for i in range(20)]
    flipped = [(augment(x, cfg, sample_generator(0, 0, i)) - x.float().flip(2)).abs().mean().item() for i in range(20)]
    closest = np.minimum(diffs, flipped)
    assert 0.5 < np.mean(closest) < 25, closest


def test_blur_and_jpeg():
    x = crop(4).float()
    noisy = (x + torch.randn(x.shape, generator=torch.Generator().manual_seed(0)) * 20).clamp(0, 255)
    blurred = gaussian_blur(noisy, 1.0)
    assert abs(blurred.mean() - noisy.mean()) < 0.5 and (blurred - x).std() < 0.5 * (noisy - x).std()
    j = jpeg_round_trip(x, 40)
    assert j.shape == x.shape and 0 < (j - x).abs().mean() < 5
    assert (jpeg_round_trip(x, 95) - x).abs().mean() < (j - x).abs().mean()


def test_config_validation_and_flip_follows_hflip():
    with pytest.raises(ValueError, match="probability"):
        AugmentConfig(jpeg=1.5)
    with pytest.raises(ValueError, match="unknown keys"):
        build_config({"augment": True, "cache_features": False, "augment_config": {"hue": 0.1}})
    with pytest.raises(ValueError, match="cache_features=false"):
        build_config({"augment": True})
    assert build_config({"augment": True, "cache_features": False, "hflip": False}).augment_settings().flip == 0.0
    assert build_config({"augment": True, "cache_features": False,
                         "augment_config": {"flip": 0.25}}).augment_settings().flip == 0.25


def test_dataset_in_memory_and_plain_views_for_class_means(tmp_path):
    crops = torch.stack([crop(i) for i in range(4)])
    index = Index(tmp_path, ["a", "b"], ["a/1.png", "a/2.png", "b/1.png", "b/2.png"], [0, 0, 1, 1])
    ds = AugmentedCrops(index, AugmentConfig(), seed=0, crops=crops)
    ds.set_epoch(2)
    x, y = ds[1]
    assert y == 0 and torch.equal(x, normalize_pixels(augment(crops[1], ds.cfg, sample_generator(0, 2, 1))[None])[0])
    # Class means see the plain crops and their mirrors, whatever the epoch's augmentation.
    seen = []
    sums, n = dataset_class_sums(lambda b: seen.append(b.clone()) or b.flatten(1)[:, :5], ds, 2, 5, all_views=True)
    plain = normalize_pixels(crops.float())
    assert torch.equal(seen[0], plain) and torch.equal(seen[1], plain.flip(3))
    assert n.tolist() == [4, 4] and ds.views is None
