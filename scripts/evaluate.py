# Evaluates a checkpoint (or the un-tuned base): verification on unseen people, and weight-to-center angles.
"""Examples:
    python scripts/evaluate.py --checkpoint runs/ir_am/ckpt.pt          # writes runs/ir_am/eval/
    python scripts/evaluate.py --base --out runs/base/eval
(a) Verification on pairs of people the model never saw, by default LFW View 1 DevTest (500 same +
    500 different; its people are disjoint from DevTrain, checked against the checkpoint's classes), or
    --pairs pairs.txt --eval-folds 6-10 (View 2 person folds): k-fold accuracy (threshold from the other
    evaluated folds; DevTest's folds stratified, 50 same + 50 different each), the API's view (a pair
    with an image that gave no face counts as wrong),
    ROC, TAR at FAR, and accuracy on tail pairs (everyone in the pair has <= --tail-max crops) vs head pairs.
(b) The paper's diagnostic on the checkpoint's training classes: angle between each class weight
    (head.class_weights()) and the class's true center after training, binned by the class's image count.
Embeddings follow the served model (flip TTA: embedding of crop + mirror, then L2 norm) unless --no-tta.
Writes results.json, roc.png and angles.png. Pairs with a missing crop (no face found) are dropped and counted."""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from irface_ml.centers import mean_pairwise_cosine  # noqa: E402
from irface_ml.config import build_config  # noqa: E402
from irface_ml.data import cached_activations, index_dataset, load_crop  # noqa: E402
from irface_ml.dlib_resnet import EMBED_DIM, REPO_ROOT, DlibResNet, normalize_pixels  # noqa: E402
from irface_ml.export import EmbeddingGraph  # noqa: E402
from irface_ml.heads import build_head  # noqa: E402
from irface_ml.metrics import (bin_angles_by_count, class_centers, roc_curve, tar_at_far,  # noqa: E402
                               verification_accuracy, weight_center_angles)
from irface_ml.splits import assert_disjoint, pair_people, parse_folds, read_pairs  # noqa: E402

FARS = (1e-3, 1e-2)


def stratified_folds(pair_folds: list[list], n_folds: int) -> np.ndarray:
    """(P,) fold id per pair. A file with its own folds (pairs.txt) keeps them; a one-fold file
    (pairsDevTest.txt: 500 same, then 500 different) is dealt round-robin so each fold is balanced."""
    if len(pair_folds) > 1:
        return np.concatenate([np.full(len(f), k) for k, f in enumerate(pair_folds)])
    pairs = pair_folds[0]
    out, seen = np.empty(len(pairs), dtype=np.int64), {True: 0, False: 0}
    for i, p in enumerate(pairs):
        out[i], seen[p.same] = seen[p.same] % n_folds, seen[p.same] + 1
    return out


@torch.no_grad()
def embed_files(graph: torch.nn.Module, paths: list[Path], batch: int, device: torch.device) -> np.ndarray:
    """(N, 128) L2-normalised embeddings of aligned crops through `graph` (EmbeddingGraph: the served math)."""
    out = []
    for i in range(0, len(paths), batch):
        x = normalize_pixels(torch.stack([load_crop(p) for p in paths[i:i + batch]])).to(device)
        out.append(graph(x).float().cpu())
    return torch.cat(out).numpy()


def verification(graph, args, device, trained_on: list[str] | None) -> tuple[dict, tuple]:
    pair_folds = read_pairs(args.pairs)
    pairs = [p for fold in pair_folds for p in fold]
    folds = stratified_folds(pair_folds, args.folds)
    if args.eval_folds:  # only these folds' pairs (person-fold cross-validation: the other half trained)
        chosen = np.isin(folds, parse_folds(args.eval_folds, len(pair_folds)))
        pairs, folds = [p for p, c in zip(pairs, chosen) if c], folds[chosen]
    if trained_on is not None:  # honest evaluation: never on people the model was trained on
        assert_disjoint(trained_on, pair_people(pairs), f"the evaluation pairs ({args.pairs})")
    path = lambda name, num: args.data / name / f"{name}_{num:04d}.png"  # noqa: E731  (align-dataset's naming)
    keep = np.array([path(p.name1, p.num1).is_file() and path(p.name2, p.num2).is_file() for p in pairs])
    missed = {f for p in pairs for f in (path(p.name1, p.num1), path(p.name2, p.num2)) if not f.is_file()}
    all_folds = folds
    pairs, folds = [p for p, k in zip(pairs, keep) if k], folds[keep]
    files = sorted({path(n, i) for p in pairs for n, i in ((p.name1, p.num1), (p.name2, p.num2))})
    emb = embed_files(graph, files, args.batch_size, device)  # (F, 128)
    row = {f: j for j, f in enumerate(files)}
    a = emb[[row[path(p.name1, p.num1)] for p in pairs]]
    b = emb[[row[path(p.name2, p.num2)] for p in pairs]]
    scores, same = (a * b).sum(1), np.array([p.same for p in pairs])  # cosine of unit vectors
    acc = verification_accuracy(scores, same, folds=folds)
    fold_ids = np.unique(folds)
    predicted = scores > acc.thresholds[np.searchsorted(fold_ids, folds)]  # each pair by its fold's threshold
    # The API's view: a pair whose image gave no face is answered wrongly (the API cannot verify it);
    # the thresholds are the standard view's. Per fold: correct kept pairs / all pairs of the fold.
    api = np.array([((predicted == same) & (folds == k)).sum() / (all_folds == k).sum() for k in fold_ids])
    far, tar, _ = roc_curve(scores, same)
    auc = float(np.sum(np.diff(far) * (tar[1:] + tar[:-1]) / 2))  # trapezoid rule
    crops = {n: len(list((args.data / n).glob("*.png"))) for n in pair_people(pairs)}
    tail = np.array([max(crops[p.name1], crops[p.name2]) <= args.tail_max for p in pairs])
    groups = {}
    for name, sel in ((f"tail (all people <= {args.tail_max} crops)", tail), ("head (others)", ~tail)):
        groups[name] = {"pairs": int(sel.sum()), "same": int(same[sel].sum()),
                        "different": int((~same[sel]).sum()),
                        "accuracy": float((predicted[sel] == same[sel]).mean()) if sel.any() else None}
    result = {
        "pairs_file": str(args.pairs), "pairs": len(pairs), "dropped_missing_crop": int((~keep).sum()),
        "images": len(files), "folds": int(fold_ids.size),
        "fold_rule": "file folds" if len(pair_folds) > 1 else "round-robin within same and within different pairs",
        "accuracy": acc.mean, "accuracy_std": acc.std, "accuracy_sem": acc.sem,
        "fold_ids": [int(k) + 1 for k in fold_ids], "fold_accuracies": acc.fold_accuracies.tolist(),
        "thresholds": acc.thresholds.tolist(),
        "api_view": {"accuracy": float(api.mean()), "fold_accuracies": api.tolist(), "images_without_crop":
                     len(missed), "rule": "a pair with an image that gave no face counts as wrong"},
        "auc": auc, "tar_at_far": [asdict(tar_at_far(scores, same, f)) for f in FARS], "by_tail": groups,
        "score_means": {"same": float(scores[same].mean()), "different": float(scores[~same].mean())},
    }
    return result, (far, tar)


class FlipInput(torch.nn.Module):
    """net applied to the mirrored crop (flip=1) or the crop itself (flip=0)."""

    def __init__(self, net: torch.nn.Module, flip: int):
        super().__init__()
        self.net, self.flip = net, flip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flip(3) if self.flip else x)


@torch.no_grad()
def diagnostic(net: DlibResNet, ckpt: dict, args, device) -> tuple[dict, tuple]:
    """Angle between each training class's weight and its true center, by class image count."""
    cfg = build_config(ckpt["config"])
    classes = ckpt["classes"]
    index = index_dataset(args.data, set(classes), cfg.min_images)
    if index.classes != classes:
        raise ValueError(f"{args.data} no longer holds the checkpoint's {len(classes)} training classes")
    head = build_head(cfg.head, cfg.head_kwargs(), len(classes), EMBED_DIM)
    head.load_state_dict(ckpt["head"])
    # The features the head was trained on: every crop, and its mirror when training flipped (V views).
    views = 2 if cfg.hflip else 1
    if cfg.cache_features:  # the frozen front is the base's, so a training run's cache file is reused
        acts = cached_activations(net, cfg.train_from, index, views, cfg.cache_dir,
                                  batch_size=args.batch_size, device=device).flatten(0, 1)  # (V*N, ...)
        tail = (lambda a: net.fc(a)) if cfg.train_from == "fc" else (lambda a: net.forward_from(cfg.train_from, a))
        feats = torch.cat([tail(acts[i:i + 256].to(device)).cpu() for i in range(0, len(acts), 256)])
    else:
        files = [index.root / f for f in index.files]
        feats = torch.cat([torch.from_numpy(embed_files(EmbeddingGraph(FlipInput(net, v), hflip=False), files,
                                                        args.batch_size, device)) for v in range(views)])
    labels = np.tile(np.asarray(index.labels), views)  # (V*N,)
    centers, _ = class_centers(feats.numpy(), labels, len(classes))  # (K, d) true centers
    counts = index.counts()  # (K,) images per class (not views)
    weights = head.class_weights().cpu().numpy()  # (K, d)
    angles = weight_center_angles(weights, centers)  # (K,) degrees
    f = F.normalize(feats, dim=1)
    own = (f * torch.from_numpy(centers).float()[labels]).sum(1)  # cos of each sample to its own class center
    result = {
        "classes": len(classes), "images": len(labels), "head": cfg.head, "train_from": cfg.train_from,
        "bins": [asdict(b) for b in bin_angles_by_count(angles, counts)],
        "angle_mean": float(np.nanmean(angles)), "angle_median": float(np.nanmedian(angles)),
        "weight_spread": mean_pairwise_cosine(torch.from_numpy(weights)),
        "center_spread": mean_pairwise_cosine(torch.from_numpy(centers)),
        "mean_cos_to_own_center": float(own.mean()),
        "features": f"training crops{' and their mirrors' if views == 2 else ''}, no TTA: what the head saw",
    }
    return result, (counts, angles)


def plot_roc(path: Path, far, tar, label: str) -> None:
    floor = far[far > 0].min() / 2  # FAR 0 drawn half a pair below the smallest measurable FAR (log axis)
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.plot(np.maximum(far, floor), tar, label=label)
    ax.set(xscale="log", xlim=(floor, 1), xlabel="FAR (different pairs accepted)", ylabel="TAR",
           title=f"ROC (FAR 0 drawn at {floor:.1e})")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_angles(path: Path, counts, angles, label: str) -> None:
    fig, ax = plt.subplots(figsize=(5, 4))
    jitter = np.random.default_rng(0).uniform(0.9, 1.1, len(counts))  # separate the integer counts a little
    ax.scatter(counts * jitter, angles, s=4, alpha=0.4)
    ax.set(xscale="log", xlabel="training images of the class", ylabel="angle(weight, true center) [deg]",
           title=label)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--checkpoint", type=Path, help="ckpt.pt written by scripts/train.py")
    which.add_argument("--base", action="store_true", help="face-api's weights, un-tuned")
    p.add_argument("--data", type=Path, help="aligned crops (default: the checkpoint's data_dir, "
                                              "else .cache/lfw-aligned)")
    p.add_argument("--lfw", type=Path, default=REPO_ROOT.parent / "shared" / "datasets" / "lfw")
    p.add_argument("--pairs", type=Path, help="pairs file (default: <lfw>/protocol/pairsDevTest.txt)")
    p.add_argument("--folds", type=int, default=10, help="folds for a one-fold pairs file")
    p.add_argument("--eval-folds", help='only these 1-based folds of the pairs file, e.g. "6-10" (person-fold CV)')
    p.add_argument("--tail-max", type=int, default=2, help="tail pairs: every person has <= this many crops")
    p.add_argument("--no-tta", action="store_true", help="plain embedding instead of the served crop + mirror sum")
    p.add_argument("--no-diagnostic", action="store_true", help="skip (b), the weight-center angles")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--out", type=Path, help="output folder (default: <checkpoint dir>/eval)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.out is None and args.base:
        p.error("--base needs --out")
    t0, device = time.time(), torch.device(args.device)

    net, ckpt = DlibResNet.from_faceapi(), None
    if args.checkpoint:
        ckpt = torch.load(args.checkpoint, map_location="cpu", weights_only=True)
        net.load_state_dict(ckpt["model"])
    net.eval().to(device)
    args.data = args.data or Path(ckpt["config"]["data_dir"] if ckpt else ".cache/lfw-aligned")
    args.pairs = args.pairs or args.lfw / "protocol" / "pairsDevTest.txt"
    args.out = args.out or args.checkpoint.parent / "eval"
    args.out.mkdir(parents=True, exist_ok=True)
    label = f"{ckpt['loss']} epoch {ckpt['epoch'] + 1}" if ckpt else "base (face-api weights)"
    alignment = args.data / "ALIGNMENT.json"

    results = {
        "model": {"checkpoint": str(args.checkpoint) if ckpt else None, "label": label,
                  "epoch": ckpt["epoch"] + 1 if ckpt else None, "step": ckpt["step"] if ckpt else None,
                  "config": ckpt["config"] if ckpt else None},
        "embedding": "hflip-sum: L2norm(net(crop) + net(mirror)), as served" if not args.no_tta
                     else "plain: L2norm(net(crop))",
        "data": str(args.data), "alignment": json.loads(alignment.read_text()) if alignment.exists() else None,
    }
    graph = EmbeddingGraph(net, hflip=not args.no_tta).eval()
    results["verification"], (far, tar) = verification(graph, args, device, ckpt["classes"] if ckpt else None)
    plot_roc(args.out / "roc.png", far, tar, label)
    v = results["verification"]
    print(f"verification: {v['accuracy']:.2%} ± {v['accuracy_std']:.2%} on {v['pairs']} pairs of folds "
          f"{v['fold_ids']} ({v['dropped_missing_crop']} dropped), API view {v['api_view']['accuracy']:.2%}, "
          f"AUC {v['auc']:.4f}; "
          + "; ".join(f"{k}: {g['accuracy']:.2%} of {g['pairs']}" for k, g in v["by_tail"].items()
                      if g["accuracy"] is not None))
    for t in v["tar_at_far"]:
        tar = f"{t['tar']:.2%}" if t["tar"] is not None else f"n/a ({t['reason']})"
        print(f"TAR@FAR={t['far_target']:g}: {tar}")

    if ckpt is None or args.no_diagnostic:
        why = "the base net has no classifier" if ckpt is None else "--no-diagnostic"
        results["diagnostic"] = {"skipped": why}
    else:
        results["diagnostic"], (counts, angles) = diagnostic(net, ckpt, args, device)
        plot_angles(args.out / "angles.png", counts, angles, label)
        print("angle(weight, true center) by class image count: " + ", ".join(
            f"{b['label']}: {b['mean']:.1f}° ({b['n_classes']})" for b in results["diagnostic"]["bins"]
            if b["mean"] is not None))
    results["seconds"] = round(time.time() - t0, 1)
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out / 'results.json'} in {results['seconds']}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
