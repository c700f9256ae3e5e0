"""TrainConfig: every knob of scripts/train.py with its default, JSON/--set overrides, and validation."""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Iterable, get_type_hints

from .augment import AugmentConfig
from .centers import RULES
from .dlib_resnet import BLOCK_NAMES
from .heads import HEADS, parse_config

TRAIN_FROM_CHOICES = ("all", *BLOCK_NAMES, "fc")
DEVICES = ("auto", "cpu", "cuda")
SCHEDULES = ("cosine", "constant")
CENTER_REFRESH = ("none", "epoch")
AMP_DTYPES = ("bfloat16", "float16")


@dataclass
class TrainConfig:
    # --- data ---
    data_dir: str = ".cache/lfw-aligned"  # folder per identity of aligned 150x150 crops (npm run align-dataset)
    # People list files (LFW people*.txt or one name per line); [] = every identity in data_dir.
    train_people: list[str] = field(default_factory=list)
    # People that must never be trained on (the evaluation people); training stops if any is included.
    holdout_people: list[str] = field(default_factory=list)
    min_images: int = 1  # drop identities with fewer crops than this
    hflip: bool = True  # random horizontal flip (the served model embeds crop + mirror, so both views matter)
    # Face-training augmentations (scripts/irface_ml/augment.py) on crops decoded once into memory; image
    # path only (cache_features=false). Flip probability 0.5 when hflip, else 0, unless augment_config sets it.
    augment: bool = False
    augment_config: dict = field(default_factory=dict)  # AugmentConfig overrides, e.g. {"jpeg": 0.5}
    # --- head (scripts/irface_ml/heads.py) ---
    head: str = "ir_am"  # softmax | am | a | arc | ir_am | ir_a
    head_config: dict = field(default_factory=dict)  # margin knobs of the head, e.g. {"s": 30, "m": 0.35}
    center_rule: str = "center"  # IR heads: "center" (Wen et al. step) or "ema"
    center_alpha: float = 0.5  # IR heads: step size of the center update (probe: 0.5 center, 0.1 ema)
    # IR heads: "epoch" sets every center to the exact normalised class mean of the current network's features
    # (all training samples and views, one no-grad pass) after each epoch. The per-step rule alone lets
    # centers of classes seen once an epoch lag behind the moving features (first run: 39 deg for 1-image classes).
    center_refresh: str = "none"  # none | epoch
    center_refresh_every: int = 0  # IR heads: also refresh every this many steps; 0 = off
    init_class_weights: bool = True  # learned-W heads start at the class means too, so every head starts alike
    # --- backbone ---
    train_from: str = "conv256_down_out"  # "all" | a block name (that block onward is trained) | "fc"
    cache_features: bool = True  # precompute the frozen activations entering `train_from` once (no grad)
    fold_scales: bool = True  # fold trained blocks' per-channel scales into their convs (same function)
    # After folding every Scale is (1, 0) and redundant with its conv's weight and bias; false freezes the
    # Scale vectors so exactly the convs (weights, biases) and fc train: a plain conv net without
    # normalisation, as a BN net fine-tuned with frozen statistics. true also trains them (per-channel gains).
    train_scales: bool = True
    freeze: list[str] = field(default_factory=list)  # parameter-name prefixes kept frozen, e.g. ["conv32_"]
    # Weight of the distillation term lambda * mean(1 - cos(embedding, frozen base network's embedding)) on
    # the same input (scripts/irface_ml/distill.py); 0 = off. Image path only: costs one more forward.
    distill: float = 0.0
    cache_dir: str = ".cache/activations"  # where cached activations are kept between runs ("" = memory only)
    # --- optimisation: SGD with momentum ---
    lr: float = 1e-4  # probe: 1e-2 and 1e-3 collapse IR heads on this net; 1e-4 and 1e-5 train
    layer_lr: dict = field(default_factory=dict)  # lr multiplier by name prefix, e.g. {"fc.": 0.1, "head.": 10}
    momentum: float = 0.9
    weight_decay: float = 5e-4  # on conv/fc weights only; biases and the folded-BN scales are left alone
    schedule: str = "cosine"  # cosine decay to 0 over all steps, or constant
    warmup_steps: int = 100  # linear warm-up: a large first step is how IR collapses
    epochs: int = 10
    batch_size: int = 64
    grad_clip: float = 0.0  # max gradient norm of the trainable backbone part; 0 = off
    seed: int = 0
    # --- system ---
    device: str = "auto"  # auto | cpu | cuda
    amp: bool = True  # autocast on CUDA (ignored on CPU)
    amp_dtype: str = "bfloat16"  # bfloat16 needs no loss scaling; float16 uses a GradScaler
    num_workers: int = 2  # DataLoader workers for image batches (cached activations use none)
    threads: int = 0  # torch CPU threads; 0 = torch's default
    # --- output ---
    out_dir: str = "runs/ir_am"  # ckpt.pt, config.json, log.csv
    log_every: int = 20  # steps between progress-bar updates of loss/acc/spread
    resume: str = ""  # checkpoint to continue from (epoch, step, optimizer, centers restored)
    collapse_threshold: float = 0.99  # stop when the mean pairwise cosine of the class weights reaches this
    # ... or when a batch's embeddings reach this (all equal, or all 0: a step killed the ReLUs, which the
    # class weights do not show). Kept near 1: a batch of few classes can legitimately sit in a narrow cone.
    feature_collapse_threshold: float = 0.9999

    def __post_init__(self) -> None:
        def choice(key: str, value: Any, valid: Iterable[str]) -> None:
            valid = tuple(valid)
            if value not in valid:
                raise ValueError(f'Unsupported {key} "{value}". Should be one of: {", ".join(valid)}')

        choice("head", self.head, HEADS)
        choice("center_rule", self.center_rule, RULES)
        choice("center_refresh", self.center_refresh, CENTER_REFRESH)
        choice("train_from", self.train_from, TRAIN_FROM_CHOICES)
        choice("device", self.device, DEVICES)
        choice("schedule", self.schedule, SCHEDULES)
        choice("amp_dtype", self.amp_dtype, AMP_DTYPES)
        if "centers" in self.head_config:
            raise ValueError("head_config must not hold 'centers'; use center_rule and center_alpha")
        if self.train_from == "all" and self.cache_features:
            raise ValueError("cache_features needs a frozen front: set train_from to a block or 'fc', "
                             "or cache_features=false")
        if (self.augment or self.distill) and self.cache_features:
            raise ValueError("augment and distill work on images: set cache_features=false")
        if self.distill < 0:
            raise ValueError(f"distill must be >= 0, got {self.distill}")
        if self.augment:
            self.augment_settings()  # validates the keys and ranges now, not at the first batch
        if (self.center_refresh != "none" or self.center_refresh_every) and not self.head.startswith("ir_"):
            raise ValueError(f'center_refresh/center_refresh_every need an IR head (weights = centers), got head '
                             f'"{self.head}"; learned-W heads keep their gradient-learned weights')
        if self.center_refresh_every < 0:
            raise ValueError(f"center_refresh_every must be >= 0, got {self.center_refresh_every}")
        positive = {"lr": self.lr, "epochs": self.epochs, "batch_size": self.batch_size,
                    "log_every": self.log_every, "min_images": self.min_images}
        bad = {k: v for k, v in positive.items() if v <= 0}
        if bad:
            raise ValueError(f"must be positive: {bad}")
        for key in ("collapse_threshold", "feature_collapse_threshold"):
            if not 0.0 < getattr(self, key) <= 1.0:
                raise ValueError(f"{key} must be in (0, 1], got {getattr(self, key)}")
        for key, mult in self.layer_lr.items():
            if not isinstance(mult, (int, float)) or isinstance(mult, bool) or mult < 0:
                raise ValueError(f"layer_lr[{key!r}] must be a number >= 0, got {mult!r}")

    def head_kwargs(self) -> dict:
        """The head's config dict for build_head; IR heads get the center rule and alpha."""
        cfg = dict(self.head_config)
        if self.head.startswith("ir_"):
            cfg["centers"] = {"rule": self.center_rule, "alpha": self.center_alpha, "init_seed": self.seed}
        return cfg

    def augment_settings(self) -> AugmentConfig:
        """The AugmentConfig this run uses (flip follows hflip unless augment_config sets it)."""
        return parse_config(AugmentConfig, {"flip": 0.5 if self.hflip else 0.0, **self.augment_config})

    def to_dict(self) -> dict:
        """Plain dict (str/int/float/bool/list/dict only): safe for torch.load(weights_only=True) and JSON."""
        return json.loads(json.dumps(asdict(self)))


def _check_type(key: str, hint: Any, value: Any) -> Any:
    """Value of field `key` converted to its declared type, or a TypeError naming what was expected."""
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    base = getattr(hint, "__origin__", hint)  # list[str] -> list
    ok = isinstance(value, base) and not (base in (int, float) and isinstance(value, bool))
    if ok and base is list:
        ok = all(isinstance(v, str) for v in value)
    if not ok:
        raise TypeError(f"{key}: expected {getattr(hint, '__name__', str(hint))}, got {value!r}")
    return value


def build_config(overrides: dict | None = None) -> TrainConfig:
    """TrainConfig from a flat {key: value} dict; unknown keys are rejected with the list of valid ones."""
    overrides = overrides or {}
    hints = get_type_hints(TrainConfig)
    valid = [f.name for f in fields(TrainConfig)]
    unknown = sorted(set(overrides) - set(valid))
    if unknown:
        raise ValueError(f"unknown config keys {unknown}. Valid keys: {', '.join(valid)}")
    return TrainConfig(**{k: _check_type(k, hints[k], v) for k, v in overrides.items()})


def parse_value(text: str) -> Any:
    """--set value: JSON when it parses (numbers, true/false, lists, dicts), else the raw string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def merge_set(overrides: dict, assignment: str) -> None:
    """Apply one `key=value` (dotted keys reach into dict fields: head_config.m=0.4) to overrides in place."""
    key, sep, text = assignment.partition("=")
    if not sep or not key:
        raise ValueError(f"--set expects key=value, got {assignment!r}")
    top, _, sub = key.partition(".")
    if sub:
        inner = overrides.setdefault(top, dict(getattr(TrainConfig(), top, None) or {}))
        if not isinstance(inner, dict):
            raise ValueError(f"--set {key}: {top} is not a dict field")
        inner[sub] = parse_value(text)
    else:
        overrides[top] = parse_value(text)


def load_config(files: Iterable[str | os.PathLike] = (), sets: Iterable[str] = ()) -> TrainConfig:
    """Defaults, then each JSON file in order, then each --set key=value; the last word wins."""
    overrides: dict = {}
    for path in files:
        doc = json.loads(Path(path).read_text())
        if not isinstance(doc, dict):
            raise ValueError(f"{path}: expected a JSON object of config keys, got {type(doc).__name__}")
        overrides.update(doc)
    for assignment in sets:
        merge_set(overrides, assignment)
    return build_config(overrides)


def save_config(cfg: TrainConfig, path: str | os.PathLike) -> None:
    Path(path).write_text(json.dumps(cfg.to_dict(), indent=2, sort_keys=True) + "\n")
