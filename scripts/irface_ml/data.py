"""Training data: aligned crops in a folder per identity, and cached activations of the frozen front of the net."""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Subset

from .dlib_resnet import BLOCK_INPUT_SHAPES, BLOCK_NAMES, FEATURE_DIM, INPUT_SIZE, DlibResNet, normalize_pixels
from .splits import scan_identity_folder


def read_people_file(path: str | os.PathLike) -> set[str]:
    """Names from an LFW people*.txt (`count` lines, then `name n`) or a plain one-name-per-line file."""
    names = set()
    for line in Path(path).read_text().splitlines():
        tokens = line.split()
        if tokens and not tokens[0].isdigit():  # a bare number is a fold size, not a person
            names.add(tokens[0])
    if not names:
        raise ValueError(f"{path}: no people listed")
    return names


@dataclass
class Index:
    """The training set's table: label j is classes[j]; image i is root/files[i] with label labels[i]."""
    root: Path
    classes: list[str]  # (K,) identity names, sorted, so labels do not depend on directory order
    files: list[str]  # (N,) paths relative to root
    labels: list[int]  # (N,)

    def counts(self) -> np.ndarray:
        return np.bincount(np.asarray(self.labels, dtype=np.int64), minlength=len(self.classes))  # (K,)


def index_dataset(root: str | os.PathLike, people: set[str] | None = None, min_images: int = 1) -> Index:
    """Index a folder-per-identity dataset, keeping only `people` (if given) with >= min_images crops."""
    found = scan_identity_folder(root)
    if people is not None:
        found = {p: imgs for p, imgs in found.items() if p in people}
    found = {p: imgs for p, imgs in found.items() if len(imgs) >= min_images}
    if not found:
        raise ValueError(f"no identity in {root} with >= {min_images} crops"
                         + (f" among the {len(people)} listed people" if people is not None else ""))
    classes = sorted(found)
    files = [f for p in classes for f in found[p]]
    labels = [j for j, p in enumerate(classes) for _ in found[p]]
    return Index(Path(root), classes, files, labels)


def load_crop(path: str | os.PathLike) -> Tensor:
    """(3, 150, 150) uint8 RGB; anything but an aligned 150x150 crop is an error, never silently resized."""
    with Image.open(path) as img:
        if img.size != (INPUT_SIZE, INPUT_SIZE):
            raise ValueError(f"{path}: expected an aligned {INPUT_SIZE}x{INPUT_SIZE} crop, got {img.size}")
        rgb = np.asarray(img.convert("RGB"))  # (H, W, 3)
    return torch.from_numpy(rgb.copy()).permute(2, 0, 1)


def epoch_views(n: int, views: int, seed: int, epoch: int) -> Tensor:
    """(n,) view per sample for one epoch (0 = crop, 1 = mirror): a function of (seed, epoch) only,
    so a resumed run and every DataLoader worker see the same flips as an uninterrupted run."""
    if views == 1:
        return torch.zeros(n, dtype=torch.long)
    g = torch.Generator().manual_seed(seed * 100_003 + epoch)
    return torch.randint(0, views, (n,), generator=g)


class CropDataset(Dataset):
    """Aligned crops -> ((3, 150, 150) normalised float, label); mirrored per epoch_views when hflip."""

    def __init__(self, index: Index, hflip: bool = False, seed: int = 0):
        self.index, self.hflip, self.seed = index, hflip, seed
        self.views = torch.zeros(len(index.files), dtype=torch.long)

    def set_epoch(self, epoch: int) -> None:
        self.views = epoch_views(len(self.index.files), 2 if self.hflip else 1, self.seed, epoch)

    def __len__(self) -> int:
        return len(self.index.files)

    def __getitem__(self, i: int) -> tuple[Tensor, int]:
        x = normalize_pixels(load_crop(self.index.root / self.index.files[i])[None])[0]  # (3, 150, 150)
        if self.views[i]:
            x = x.flip(2)  # mirror along W
        return x, self.index.labels[i]


class ActivationDataset(Dataset):
    """Cached activations (V, N, *shape) of V views -> (activation of this epoch's view, label)."""

    def __init__(self, acts: Tensor, labels: Iterable[int], hflip: bool = False, seed: int = 0):
        self.acts, self.labels = acts, torch.as_tensor(list(labels), dtype=torch.long)
        if acts.shape[1] != self.labels.shape[0]:
            raise ValueError(f"{acts.shape[1]} cached activations for {self.labels.shape[0]} labels")
        self.n_views = acts.shape[0] if hflip else 1
        self.seed = seed
        self.views = torch.zeros(len(self.labels), dtype=torch.long)

    def set_epoch(self, epoch: int) -> None:
        self.views = epoch_views(len(self.labels), self.n_views, self.seed, epoch)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[Tensor, int]:
        return self.acts[self.views[i], i], int(self.labels[i])


@torch.no_grad()
def dataset_class_sums(embed: Callable[[Tensor], Tensor], dataset: Dataset,
                       num_classes: int, dim: int, all_views: bool, batch_size: int = 64, rank: int = 0,
                       world: int = 1, num_workers: int = 0, device: str | torch.device = "cpu"
                       ) -> tuple[Tensor, Tensor]:
    """Per-class sums of normalised embed(x) and counts, (K, d) and (K,), over this rank's share of the set.

    dataset: CropDataset, ActivationDataset or augment.AugmentedCrops (which is shown un-augmented here).
    all_views=False: the views as they are now (all 0 before set_epoch); True: every sample in every view
    it is trained with (crop and mirror under hflip), the set the evaluation's true centers use. The
    dataset's views are restored afterwards. Sum over ranks with centers.all_reduce_sums.
    """
    from .centers import class_sums  # local: centers.py stays free of data code
    saved = dataset.views  # None on an augmenting dataset: it then shows the plain crop (view 0) here
    fixed = torch.zeros(len(dataset), dtype=torch.long) if saved is None else saved
    n_views = (dataset.n_views if isinstance(dataset, ActivationDataset) else 1 + dataset.hflip) if all_views else 1
    sums, n = torch.zeros(num_classes, dim, device=device), torch.zeros(num_classes, device=device)
    shard = Subset(dataset, range(rank, len(dataset), world))
    try:
        for v in range(n_views):
            dataset.views = torch.full_like(fixed, v) if all_views else fixed
            for x, y in DataLoader(shard, batch_size=batch_size, num_workers=num_workers):
                s, c = class_sums(embed(x), y.to(device), num_classes)
                sums, n = sums + s, n + c
    finally:
        dataset.views = saved
    return sums, n


def front_fn(net: DlibResNet, train_from: str) -> Callable[[Tensor], Tensor]:
    """The frozen part before `train_from`: (N, 3, 150, 150) -> the activation entering it."""
    if train_from == "fc":
        return net.features  # (N, 256) pooled feature
    return lambda x: net.forward_until(x, train_from)  # (N, *BLOCK_INPUT_SHAPES[train_from])


def front_blocks(train_from: str) -> tuple[str, ...]:
    """Names of the frozen blocks before `train_from` ("fc": every block; "all": none)."""
    if train_from == "fc":
        return BLOCK_NAMES
    return BLOCK_NAMES[: BLOCK_NAMES.index(train_from)] if train_from != "all" else ()


def activation_shape(train_from: str) -> tuple[int, ...]:
    return (FEATURE_DIM,) if train_from == "fc" else BLOCK_INPUT_SHAPES[train_from]


def cache_key(net: DlibResNet, train_from: str, index: Index, views: int) -> str:
    """Hash of everything the cached activations depend on: files (size, mtime), split point, views, weights."""
    h = hashlib.sha256(json.dumps([str(index.root.resolve()), train_from, views]).encode())
    for f in index.files:
        st = (index.root / f).stat()
        h.update(f"{f}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    front = set(front_blocks(train_from))
    for name, tensor in sorted(net.state_dict().items()):
        if name.split(".")[0] not in front:  # a tuned tail must still find the base front's cache
            continue
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:20]


@torch.no_grad()
def compute_activations(net: DlibResNet, train_from: str, index: Index, views: int = 2,
                        batch_size: int = 64, device: str = "cpu", num_workers: int = 0,
                        progress: Callable[[Iterable], Iterable] = lambda it: it) -> Tensor:
    """(V, N, *shape) float32 activations entering `train_from`, view 1 from the mirrored crop."""
    front = front_fn(net, train_from)
    acts = torch.empty(views, len(index.files), *activation_shape(train_from))
    loader = DataLoader(CropDataset(index), batch_size=batch_size, num_workers=num_workers)
    i = 0
    for x, _ in progress(loader):
        x = x.to(device)  # (B, 3, 150, 150)
        for v in range(views):
            acts[v, i:i + len(x)] = front(x.flip(3) if v else x).float().cpu()
        i += len(x)
    return acts


def cached_activations(net: DlibResNet, train_from: str, index: Index, views: int, cache_dir: str,
                       log: Callable[[str], None] = print, **kwargs) -> Tensor:
    """compute_activations, kept as <cache_dir>/<key>.pt for later runs (recomputed when the key changes)."""
    if not cache_dir:
        return compute_activations(net, train_from, index, views, **kwargs)
    path = Path(cache_dir) / f"{train_from}-{cache_key(net, train_from, index, views)}.pt"
    if path.exists():
        log(f"activations: loading {path}")
        return torch.load(path, map_location="cpu", weights_only=True)["acts"]
    acts = compute_activations(net, train_from, index, views, **kwargs)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save({"acts": acts, "files": index.files, "train_from": train_from}, tmp)
    os.replace(tmp, path)  # a killed run never leaves a truncated cache behind
    log(f"activations: saved {tuple(acts.shape)} to {path}")
    return acts
