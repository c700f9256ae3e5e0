# Measures whole-network training throughput (images/s) of the dlib ResNet port, and the augmentation rate.
"""Example:
    python scripts/train_throughput.py --batch-size 32 --steps 10 --threads 2            # CPU
    python scripts/train_throughput.py --device cuda --amp-dtype bfloat16 --steps 50      # GPU
Times SGD steps of the recipe's step (forward, IR-AM-Softmax over --classes classes, backward, update; the
distillation teacher's forward too with --distill) on random input after --warmup untimed steps, and
AugmentedCrops' per-sample augmentation on one core. Prints one JSON line; note the machine's load
(/proc/loadavg) beside any figure, since a shared CPU changes it."""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import time

import torch
import torch.nn.functional as F

from irface_ml.augment import AugmentConfig, augment, sample_generator
from irface_ml.distill import FrozenTeacher, cosine_distillation
from irface_ml.dlib_resnet import EMBED_DIM, DlibResNet
from irface_ml.heads import build_head
from irface_ml.optim import fold_scales


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--steps", type=int, default=10, help="timed steps")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    p.add_argument("--classes", type=int, default=2900, help="classes of the head (half of LFW's people)")
    p.add_argument("--distill", action="store_true", help="add the frozen teacher's forward")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--amp-dtype", default="", help="bfloat16 or float16 autocast (CUDA only)")
    p.add_argument("--augment-samples", type=int, default=200, help="samples for the augmentation rate (0: skip)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    net = DlibResNet.from_faceapi()
    fold_scales(net)
    teacher = FrozenTeacher(net).to(device) if args.distill else None
    net.to(device).train()
    head = build_head("ir_am", {}, args.classes, EMBED_DIM).to(device)
    opt = torch.optim.SGD([q for n, q in net.named_parameters() if ".scale." not in n], lr=1e-5, momentum=0.9)
    autocast = (lambda: torch.autocast(device.type, dtype=getattr(torch, args.amp_dtype))) if args.amp_dtype \
        else contextlib.nullcontext
    x = torch.randn(args.batch_size, 3, 150, 150, device=device) * 0.3
    y = torch.randint(0, args.classes, (args.batch_size,), device=device)

    def step() -> None:
        with autocast():
            emb = net(x).float()
            loss = F.cross_entropy(head(emb, y), y)
            if teacher is not None:
                loss = loss + cosine_distillation(emb, teacher(x))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        head.after_step(emb.detach(), y)

    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(args.warmup):
        step()
    sync()
    t0 = time.perf_counter()
    for _ in range(args.steps):
        step()
    sync()
    train_s = time.perf_counter() - t0
    result = {"device": str(device), "threads": torch.get_num_threads(), "batch_size": args.batch_size,
              "steps": args.steps, "distill": args.distill, "amp_dtype": args.amp_dtype or "float32",
              "train_images_per_s": round(args.steps * args.batch_size / train_s, 1),
              "loadavg_during": open("/proc/loadavg").read().split()[:3] if os.path.exists("/proc/loadavg") else None,
              "torch": torch.__version__}
    if args.augment_samples:
        crop = (torch.rand(3, 150, 150) * 255).to(torch.uint8)
        cfg = AugmentConfig()
        t0 = time.perf_counter()
        for i in range(args.augment_samples):
            augment(crop, cfg, sample_generator(0, 0, i))
        result["augment_images_per_s_one_process"] = round(args.augment_samples / (time.perf_counter() - t0), 1)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
