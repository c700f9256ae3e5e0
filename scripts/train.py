# Fine-tunes the dlib ResNet on aligned crops with a margin head (default IR-AM-Softmax): a recipe, top to bottom.
"""Examples:
    python scripts/train.py --config scripts/experiments/lfw-devtrain-tail.json
    python scripts/train.py --config scripts/experiments/lfw-devtrain-tail.json --set head=am --set out_dir=runs/am
    python scripts/train.py --config ... --resume runs/ir_am/ckpt.pt --set epochs=20
    python scripts/train.py --config scripts/experiments/cv/base.json --config scripts/experiments/cv/ir_am.json \
        --set 'train_people=["runs/cv/people-folds1-5.txt"]' --set out_dir=runs/cv/ir_am-h1-s0   # whole network
    torchrun --nproc_per_node=8 scripts/train.py --config ... --set train_from=all --set cache_features=false
Config: TrainConfig defaults (scripts/irface_ml/config.py) < each --config JSON < each --set key=value.
Writes <out_dir>/config.json (resolved), log.csv (one row per epoch) and ckpt.pt (every epoch), which
scripts/export_onnx.py --checkpoint and scripts/evaluate.py --checkpoint read. Exit code 3: collapse guard."""
from __future__ import annotations

import argparse
import contextlib
import csv
import dataclasses
import os
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from irface_ml.augment import AugmentedCrops
from irface_ml.centers import all_reduce_sums, feature_spread, mean_pairwise_cosine
from irface_ml.config import TrainConfig, load_config, save_config
from irface_ml.data import (ActivationDataset, CropDataset, cached_activations, dataset_class_sums, front_fn,
                            index_dataset, read_people_file)
from irface_ml.distill import FrozenTeacher, cosine_distillation
from irface_ml.dlib_resnet import BLOCK_NAMES, EMBED_DIM, DlibResNet
from irface_ml.heads import build_head
from irface_ml.optim import fold_scales, freeze, lr_at, param_groups
from irface_ml.splits import assert_disjoint

EXIT_COLLAPSED = 3
LOG_FIELDS = ("epoch", "step", "loss", "train_acc", "spread", "lr", "epoch_s", "images_per_s", "distill",
              "feature_spread")


class Tail(nn.Module):
    """The trainable part, (B, *activation entering train_from) -> (B, 128) raw descriptor.

    Holds the net's own block objects (not copies), so training it updates net.state_dict(); this is
    what DDP wraps, so only trainable blocks take part in gradient all-reduce.
    """

    def __init__(self, net: DlibResNet, train_from: str):
        super().__init__()
        names = {"all": BLOCK_NAMES, "fc": ()}.get(train_from) or BLOCK_NAMES[BLOCK_NAMES.index(train_from):]
        self.blocks = nn.ModuleList(getattr(net, n) for n in names)
        self.fc = net.fc
        self.pooled_input = train_from == "fc"  # the "fc" cache already holds the (B, 256) pooled feature

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return self.fc(x if self.pooled_input else x.mean(dim=(2, 3)))  # (B, 256) -> (B, 128)


def set_class_weights(head: nn.Module, weights: torch.Tensor) -> None:
    """Learned-W heads start at the class means, like IR heads (the probes' fair start)."""
    target = head.fc.weight if hasattr(head, "fc") else head.source.weight  # softmax | margin head
    with torch.no_grad():
        target.copy_(weights.to(target))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", action="append", default=[], help="JSON file of overrides (repeatable)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override (repeatable)")
    parser.add_argument("--resume", default=None, help="checkpoint to continue from (same as --set resume=PATH)")
    args = parser.parse_args(argv)
    cfg = load_config(args.config, args.set)
    if args.resume:
        cfg = dataclasses.replace(cfg, resume=args.resume)

    # ---- processes, device, seeds -----------------------------------------------------------------
    ddp = int(os.environ.get("WORLD_SIZE", "1")) > 1
    use_cuda = cfg.device == "cuda" or (cfg.device == "auto" and torch.cuda.is_available())
    if ddp:
        dist.init_process_group("nccl" if use_cuda else "gloo")
    rank, world = (dist.get_rank(), dist.get_world_size()) if ddp else (0, 1)
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = torch.device(f"cuda:{local_rank}" if use_cuda else "cpu")
    if use_cuda:
        torch.cuda.set_device(device)
    master = rank == 0
    log = (lambda msg: tqdm.write(msg)) if master else (lambda msg: None)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    amp, amp_dtype = use_cuda and cfg.amp, getattr(torch, cfg.amp_dtype)
    autocast = (lambda: torch.autocast("cuda", dtype=amp_dtype)) if amp else contextlib.nullcontext
    out = Path(cfg.out_dir)
    if master:
        out.mkdir(parents=True, exist_ok=True)
        save_config(cfg, out / "config.json")

    # ---- data: who is trained on, and the honesty check against the evaluation people ---------------
    people = set().union(*map(read_people_file, cfg.train_people)) if cfg.train_people else None
    index = index_dataset(cfg.data_dir, people, cfg.min_images)
    if cfg.holdout_people:
        assert_disjoint(index.classes, set().union(*map(read_people_file, cfg.holdout_people)), "holdout_people")
    counts = index.counts()  # (K,) images per class
    log(f"data: {len(index.files)} crops of {len(index.classes)} identities from {cfg.data_dir}"
        + (f" ({len(people) - len(index.classes)} listed people have no usable crop)" if people else ""))

    # ---- model: pretrained net, frozen before train_from ---------------------------------------------
    net = DlibResNet.from_faceapi()
    # Distillation's teacher: the base network itself, copied before any checkpoint is loaded into `net`.
    teacher = FrozenTeacher(net).to(device) if cfg.distill else None
    ckpt = torch.load(cfg.resume, map_location="cpu", weights_only=True) if cfg.resume else None
    if ckpt is not None:
        clash = [k for k in ("head", "train_from", "fold_scales") if ckpt["config"][k] != getattr(cfg, k)]
        if clash or ckpt["classes"] != index.classes:
            raise ValueError(f"--resume: the checkpoint differs in {clash or 'its training identities'}")
        net.load_state_dict(ckpt["model"])
    net.requires_grad_(False).eval().to(device)  # no batch-norm or dropout: eval() changes nothing
    tail = Tail(net, cfg.train_from)
    tail.requires_grad_(True)
    if cfg.fold_scales and ckpt is None:  # a resumed net is already folded
        fold_scales(tail)
    frozen = freeze(((n, p) for n, p in net.named_parameters() if p.requires_grad), cfg.freeze,
                    scales=cfg.fold_scales and not cfg.train_scales)
    log(f"model: training {cfg.train_from} onward, {sum(p.numel() for p in tail.parameters() if p.requires_grad):,}"
        f" of {sum(p.numel() for p in net.parameters()):,} parameters ({len(frozen)} tensors frozen in it: "
        f"{'Scale vectors, ' if cfg.fold_scales and not cfg.train_scales else ''}prefixes {cfg.freeze})")

    # Either the frozen front runs once here (cache), or on every batch under no_grad (front).
    front = None
    if cfg.cache_features:
        if ddp and cfg.cache_dir and not master:
            dist.barrier()  # rank 0 writes the cache file first; the others then load it
        acts = cached_activations(net, cfg.train_from, index, 2 if cfg.hflip else 1, cfg.cache_dir, log=log,
                                  batch_size=cfg.batch_size, device=device, num_workers=cfg.num_workers,
                                  progress=lambda it: tqdm(it, desc="cache activations", disable=not master))
        if ddp and cfg.cache_dir and master:
            dist.barrier()
        dataset = ActivationDataset(acts, index.labels, cfg.hflip, cfg.seed)  # (V, N, C, H, W) inside
        workers = 0  # plain tensor indexing: worker processes would only copy the cache
    elif cfg.augment:  # crops decoded once into memory, augmented per sample as a function of (seed, epoch, i)
        t0 = time.time()
        dataset, workers = AugmentedCrops(index, cfg.augment_settings(), cfg.seed), cfg.num_workers
        log(f"data: {tuple(dataset.crops.shape)} uint8 crops in memory in {time.time() - t0:.0f}s; "
            f"augment {cfg.augment_settings()}")
        front = None if cfg.train_from == "all" else front_fn(net, cfg.train_from)
    else:
        dataset, workers = CropDataset(index, cfg.hflip, cfg.seed), cfg.num_workers
        front = None if cfg.train_from == "all" else front_fn(net, cfg.train_from)
    sampler = DistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=True, seed=cfg.seed)
    loader = DataLoader(dataset, batch_size=cfg.batch_size, sampler=sampler, num_workers=workers,
                        drop_last=True, pin_memory=use_cuda)
    if len(loader) == 0:
        raise ValueError(f"batch_size {cfg.batch_size} exceeds this rank's {len(sampler)} samples")

    def embed(x: torch.Tensor) -> torch.Tensor:  # input batch -> (B, 128) float32, gradient only in the tail
        if front is not None:
            with torch.no_grad():
                x = front(x)
        with autocast():
            return model(x).float()

    # ---- head: class weights start at the class means (IR: the centers; one no-grad pass) ------------
    head = build_head(cfg.head, cfg.head_kwargs(), len(index.classes), EMBED_DIM).to(device)
    centers = getattr(head, "centers", None)  # IR heads' CenterBank; None for learned W (softmax has no attribute)
    model = tail

    def class_pass(all_views: bool) -> tuple[torch.Tensor, torch.Tensor]:  # (K, 128) sums, (K,) counts
        return dataset_class_sums(lambda x: embed(x.to(device)), dataset, len(index.classes), EMBED_DIM, all_views, cfg.batch_size,
                                  rank, world, workers, device)

    def refresh_centers(when: str) -> None:  # IR: centers := exact class means of the current network
        t0 = time.time()
        moved = centers.refresh_from_sums(*class_pass(all_views=True)).cpu()  # (K,) degrees
        one = moved[torch.from_numpy(counts) == 1]
        log(f"refresh ({when}): centers moved {moved.mean():.1f} deg on average"
            + (f", {one.mean():.1f} deg for 1-image classes" if len(one) else "") + f", {time.time() - t0:.0f}s")

    if ckpt is not None:
        head.load_state_dict(ckpt["head"])
    elif centers is not None or cfg.init_class_weights:
        t0 = time.time()
        sums, n = class_pass(all_views=False)  # views are all 0 before set_epoch
        if centers is not None:
            centers.init_from_sums(sums, n)  # all-reduces over ranks itself
        else:
            sums, n = all_reduce_sums(sums, n)
            set_class_weights(head, F.normalize(sums, dim=1))
        log(f"init: class weights = class means in {time.time() - t0:.0f}s")
    log(f"init: spread (mean pairwise cosine of class weights) {mean_pairwise_cosine(head.class_weights()):.4f}; "
        f"collapse guard at {cfg.collapse_threshold}")

    # ---- optimiser, AMP, DDP ----------------------------------------------------------------------------
    named = [(n, p) for n, p in net.named_parameters() if p.requires_grad]
    named += [(f"head.{n}", p) for n, p in head.named_parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(param_groups(named, cfg), lr=cfg.lr, momentum=cfg.momentum)
    scaler = torch.amp.GradScaler("cuda", enabled=amp and amp_dtype == torch.float16)
    start_epoch, step = 0, 0
    if ckpt is not None:
        optimizer.load_state_dict(ckpt["optimizer"])
        if ckpt["scaler"]:  # empty when the run was saved without float16 loss scaling
            scaler.load_state_dict(ckpt["scaler"])
        start_epoch, step = ckpt["epoch"] + 1, ckpt["step"]
        log(f"resume: {cfg.resume} at epoch {start_epoch}, step {step}")
    head_train = head
    if ddp:
        ids = [device.index] if use_cuda else None
        model = DDP(tail, device_ids=ids)
        if any(p.requires_grad for p in head.parameters()):  # learned W needs synced gradients; IR has none
            head_train = DDP(head, device_ids=ids)
    total_steps = cfg.epochs * len(loader)
    if master and not (out / "log.csv").exists():
        (out / "log.csv").write_text(",".join(LOG_FIELDS) + "\n")

    # ---- train --------------------------------------------------------------------------------------
    status = 0
    for epoch in range(start_epoch, cfg.epochs):
        sampler.set_epoch(epoch)
        dataset.set_epoch(epoch)  # this epoch's flips
        model.train()
        t0, stats = time.time(), torch.zeros(4, device=device)  # loss sum, correct, seen, distill sum
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{cfg.epochs}", disable=not master)
        for x, y in bar:
            y = y.to(device)
            lr = lr_at(step, total_steps, cfg)
            for g in optimizer.param_groups:
                g["lr"] = lr * g["lr_mult"]
            x = x.to(device, non_blocking=True)  # (B, 3, 150, 150) normalised, or cached activations
            emb = embed(x)  # (B, 128)
            logits = head_train(emb, y)  # (B, K) with the margin on the target class
            loss = F.cross_entropy(logits, y)
            distill = loss.new_zeros(())
            if teacher is not None:  # keep the direction of the base network's embedding of the same input
                with autocast():
                    distill = cosine_distillation(emb, teacher(x))
                loss = loss + cfg.distill * distill
            if not torch.isfinite(loss):
                status = EXIT_COLLAPSED
                log(f"stopped: loss is {loss.item()} at step {step}; lower lr")
                break
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if cfg.grad_clip:
                scaler.unscale_(optimizer)
                nn.utils.clip_grad_norm_(tail.parameters(), cfg.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            head.after_step(emb.detach(), y)  # IR: centers step toward this (all-reduced) batch; no gradient
            step += 1
            if cfg.center_refresh_every and step % cfg.center_refresh_every == 0:
                refresh_centers(f"step {step}")
            with torch.no_grad():
                pred = head(emb.detach(), None).argmax(dim=1)  # margin-free prediction
            stats += torch.stack([loss.detach() * len(y), (pred == y).sum().float(), stats.new_tensor(len(y)),
                                  distill.detach() * len(y)])
            if step % cfg.log_every == 0 or step == total_steps:
                spread, feat = mean_pairwise_cosine(head.class_weights()), feature_spread(emb)
                bar.set_postfix(loss=f"{stats[0] / stats[2]:.3f}", acc=f"{stats[1] / stats[2]:.3f}",
                                spread=f"{spread:.3f}", feat=f"{feat:.3f}", lr=f"{lr:.2e}")
                if spread >= cfg.collapse_threshold or feat >= cfg.feature_collapse_threshold:
                    status = EXIT_COLLAPSED
                    log(f"stopped: collapse guard at step {step}. Mean pairwise cosine of the class weights "
                        f"{spread:.4f} (limit {cfg.collapse_threshold}), of this batch's embeddings {feat:.4f} "
                        f"(limit {cfg.feature_collapse_threshold}; 1.0 when all are 0): features point one way. "
                        f"Lower lr, add warm-up, freeze more, or add distillation. Last good checkpoint kept.")
                    break
        if ddp:
            dist.all_reduce(stats)
        if cfg.center_refresh == "epoch" and not status:
            refresh_centers(f"epoch {epoch + 1}")  # before the checkpoint, so it holds the exact centers
        seconds = time.time() - t0  # includes the refresh: its cost is part of the method's budget
        spread = mean_pairwise_cosine(head.class_weights())
        row = (epoch + 1, step, f"{stats[0] / stats[2]:.5f}", f"{stats[1] / stats[2]:.5f}", f"{spread:.5f}",
               f"{lr:.3e}", f"{seconds:.1f}", f"{stats[2] / seconds:.1f}", f"{stats[3] / stats[2]:.5f}",
               f"{feature_spread(emb):.5f}")  # the epoch's last batch
        if master:
            with open(out / "log.csv", "a", newline="") as f:
                csv.writer(f).writerow(row)
            log(" ".join(f"{k}={v}" for k, v in zip(LOG_FIELDS, row)))
        if status:
            break
        if master:
            torch.save({"model": net.state_dict(), "head": head.state_dict(), "optimizer": optimizer.state_dict(),
                        "scaler": scaler.state_dict(), "config": cfg.to_dict(), "step": step, "epoch": epoch,
                        "loss": cfg.head, "classes": index.classes, "class_counts": counts.tolist()},
                       out / "ckpt.tmp")
            os.replace(out / "ckpt.tmp", out / "ckpt.pt")  # an interrupted save keeps the last good checkpoint
            save_config(cfg, out / "config.json")
    if ddp:
        dist.destroy_process_group()
    log(f"done: {out / 'ckpt.pt'}" if status == 0 else f"stopped with exit code {status}")
    return status


if __name__ == "__main__":
    sys.exit(main())
