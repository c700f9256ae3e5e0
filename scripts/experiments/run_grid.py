# Runs the docs/EXPERIMENTS.md grids (train + evaluate each missing run) and prints each table from the results.
"""Usage (from the repo root, with the project venv's python):
    python scripts/experiments/run_grid.py run   main [0,1] # train + evaluate what is missing (seeds), print the table
    python scripts/experiments/run_grid.py table main      # only print the table from runs/grid/*/eval/results.json
    python scripts/experiments/run_grid.py plot            # docs/img/angles-by-class-size.png, docs/img/roc-devtest.png
Grids: lr (lr probe), main (every head on all DevTrain people, 2 epochs), epochs10 (the same, 10 epochs),
w_lr (AM with 100x lr on its class weights), longtail (controlled tail), sphere (A-Softmax).
Every run: scripts/experiments/lfw-devtrain-grid.json (same budget for every head) + the --set values below;
out_dir runs/grid/<name>; evaluation: scripts/evaluate.py --checkpoint <out_dir>/ckpt.pt (DevTest, unseen people)."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from irface_ml.data import read_people_file  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
PY, GRID_JSON, RUNS = sys.executable, "scripts/experiments/lfw-devtrain-grid.json", Path("runs/grid")
LONGTAIL_DIR = "runs/longtail_devtrain"
BINS = ("1", "2", "3-5", "6-20", ">20")
LR = "1e-5"  # chosen from the lr grid (docs/EXPERIMENTS.md, table 1)
HEADS = {  # label -> --set values that differ between heads
    "softmax": ["head=softmax", "head_config={}"],
    "am": ["head=am", 'head_config={"s": 30.0, "m": 0.35}', "init_class_weights=true"],
    "ir_am": ["head=ir_am", 'head_config={"s": 30.0, "m": 0.35}', "center_rule=center", "center_alpha=0.5"],
    "ir_am+refresh": ["head=ir_am", 'head_config={"s": 30.0, "m": 0.35}', "center_rule=center",
                      "center_alpha=0.5", "center_refresh=epoch"],
    "a": ["head=a", "head_config={}", "init_class_weights=true"],
    "ir_a": ["head=ir_a", "head_config={}", "center_rule=center", "center_alpha=0.5"],
    # AM whose class weights get 100x the lr, so they can follow the moving features (an ablation, not the budget)
    "am+w_lr100": ["head=am", 'head_config={"s": 30.0, "m": 0.35}', "init_class_weights=true",
                   'layer_lr={"head.": 100}'],
}
# grid -> runs as (head label, lr, seed, long tail?); seeds outer so every head has seed 0 before seed 1.
GRIDS = {
    "lr": [(h, lr, 0, False) for lr in ("1e-4", "1e-5", "1e-6") for h in ("am", "ir_am+refresh", "ir_am")],
    "main": [(h, LR, s, False) for s in (0, 1, 2) for h in ("am", "ir_am+refresh", "ir_am", "softmax")],
    "sphere": [(h, LR, 0, False) for h in ("a", "ir_a")],
    "longtail": [(h, lr, s, True) for lr in ("1e-4", "1e-5") for s in (0, 1, 2)
                 for h in ("am", "ir_am", "ir_am+refresh")],
    "epochs10": [(h, LR, s, False, 10) for s in (0, 1, 2) for h in ("am", "ir_am+refresh", "ir_am", "softmax")],
    "w_lr": [(h, "1e-4" if lt else LR, s, lt) for lt in (False, True) for s in (0, 1, 2) for h in ("am+w_lr100",)],
}


COLORS = {"am": "tab:blue", "ir_am": "tab:orange", "ir_am+refresh": "tab:green", "softmax": "tab:red",
          "a": "tab:purple", "ir_a": "tab:brown", "am+w_lr100": "tab:cyan"}


def name(head: str, lr: str, seed: int, longtail: bool, epochs: int = 2) -> str:
    tag = f"-e{epochs}" if epochs != 2 else ""
    return f"{'lt-' if longtail else ''}{head.replace('+', '_')}-lr{lr}{tag}-s{seed}"


def sh(cmd: list[str], log: Path) -> int:
    print("$ " + " ".join(cmd), flush=True)
    with open(log, "w") as f:
        return subprocess.run(cmd, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT).returncode


def run_one(head: str, lr: str, seed: int, longtail: bool, epochs: int = 2) -> None:
    out = RUNS / name(head, lr, seed, longtail, epochs)
    if (out / "eval" / "results.json").exists():
        return
    out.mkdir(parents=True, exist_ok=True)
    sets = HEADS[head] + [f"lr={lr}", f"seed={seed}", f"epochs={epochs}", f"out_dir={out}"]
    if longtail:
        if not Path(ROOT / LONGTAIL_DIR).exists():
            sh([PY, "scripts/make_longtail.py", "--src", ".cache/lfw-aligned", "--people",
                "../shared/datasets/lfw/protocol/peopleDevTrain.txt", "--json", f"{LONGTAIL_DIR}.json",
                "--link-dir", LONGTAIL_DIR], RUNS / "make_longtail.log")
            # DevTest people linked whole beside the subset: evaluate.py reads pairs and training classes
            # from one --data folder; train.py's train_people (DevTrain) never includes them.
            for person in read_people_file(ROOT / "../shared/datasets/lfw/protocol/peopleDevTest.txt"):
                if (ROOT / ".cache/lfw-aligned" / person).is_dir():
                    (ROOT / LONGTAIL_DIR / person).symlink_to((ROOT / ".cache/lfw-aligned" / person).resolve())
        sets.append(f"data_dir={LONGTAIL_DIR}")
    rc = sh([PY, "scripts/train.py", "--config", GRID_JSON] + [a for s in sets for a in ("--set", s)],
            out / "train.log")
    if rc != 0:  # a collapsed run is a result too: record it instead of evaluating a half-trained model
        (out / "failed.txt").write_text(f"train.py exit code {rc}\n")
        return
    sh([PY, __file__, "_eval", str(out / "ckpt.pt")], out / "eval.log")


def evaluate_keeping_roc(ckpt: str) -> int:
    """scripts/evaluate.py --checkpoint, also keeping the ROC points (roc.npz) for the combined plot."""
    sys.path.insert(0, str(ROOT / "scripts"))
    import evaluate
    plot_roc = evaluate.plot_roc

    def keep(path, far, tar, label):
        np.savez(Path(path).with_suffix(".npz"), far=far, tar=tar)
        plot_roc(path, far, tar, label)
    evaluate.plot_roc = keep
    if ckpt != "base":
        cfg = json.loads((Path(ckpt).parent / "config.json").read_text())
        if cfg["cache_features"] and cfg["train_from"] != "fc":
            evaluate.embed_files = cached_embed_files(cfg["train_from"], cfg["cache_dir"])
    return evaluate.main(["--checkpoint", ckpt, "--threads", "2"] if ckpt != "base" else
                         ["--base", "--out", str(RUNS / "base" / "eval"), "--threads", "2"])


def cached_embed_files(train_from: str, cache_dir: str):
    """evaluate.embed_files for a tail fine-tune: the frozen front's activations of the pair crops (crop and
    mirror) are computed once and cached like training's, so each model runs only its tail (same math:
    L2norm(net(crop) + net(mirror)); agreement with the full pass is reported in docs/EXPERIMENTS.md)."""
    import torch
    import torch.nn.functional as F
    from irface_ml.data import Index, cached_activations
    from irface_ml.dlib_resnet import DlibResNet
    original = __import__("evaluate").embed_files

    @torch.no_grad()
    def embed(graph, paths, batch, device):
        if not graph.hflip or any(p.parent.parent != paths[0].parent.parent for p in paths):
            return original(graph, paths, batch, device)
        root = paths[0].parent.parent
        index = Index(root, [], [f"{p.parent.name}/{p.name}" for p in paths], [0] * len(paths))
        acts = cached_activations(DlibResNet.from_faceapi(), train_from, index, 2, cache_dir, batch_size=batch)
        out = []
        for i in range(0, len(paths), batch):
            raw = sum(graph.net.forward_from(train_from, acts[v, i:i + batch].to(device)) for v in range(2))
            out.append(F.normalize(raw.float(), dim=1).cpu())  # (B, 128)
        return torch.cat(out).numpy()
    return embed


def load(run: str) -> dict | None:
    path = RUNS / run / "eval" / "results.json"
    return json.loads(path.read_text()) if path.exists() else None


def epoch_seconds(run: str) -> float | None:
    path = RUNS / run / "log.csv"
    if not path.exists():
        return None
    rows = [line.split(",") for line in path.read_text().splitlines()[1:]]
    return float(np.mean([float(r[6]) for r in rows])) if rows else None


def refresh_lag(run: str) -> tuple[float, float] | None:
    """(mean, 1-image-class mean) degrees the centers moved at the last refresh: how far they had lagged."""
    path = RUNS / run / "train.log"
    hits = re.findall(r"centers moved ([\d.]+) deg on average, ([\d.]+) deg for 1-image",
                      path.read_text(errors="replace")) if path.exists() else []
    return (float(hits[-1][0]), float(hits[-1][1])) if hits else None


def ms(values: list[float], pct: bool = True) -> str:
    """mean ± std over seeds (sample std; just the value for one seed)."""
    v = np.asarray(values, dtype=float) * (100 if pct else 1)
    if v.size == 0:
        return "–"
    fmt = "{:.2f}" if pct else "{:.1f}"
    return fmt.format(v.mean()) + (f" ± {fmt.format(v.std(ddof=1))}" if v.size > 1 else "")


def table(grid: str) -> str:
    groups: dict[tuple, list[str]] = {}
    for head, lr, seed, lt, *ep in GRIDS[grid]:
        label = head + (f", {ep[0]} epochs" if ep else "")
        groups.setdefault((label, lr, lt), []).append(name(head, lr, seed, lt, *ep))
    head_row = ("| head | lr | seeds | DevTest acc % | per seed | tail pairs % | head pairs % | AUC | "
                + " | ".join(f"angle {b}" for b in BINS) + " | refresh: lag all / 1-img | s/epoch |")
    lines = [head_row, "|" + "---|" * (head_row.count("|") - 1)]
    base = load("base")
    if base:
        v = base["verification"]
        tail, hd = (g["accuracy"] for g in v["by_tail"].values())
        lines.append(f"| base (un-tuned) | – | – | {100 * v['accuracy']:.2f} | – | {100 * tail:.2f} | "
                     f"{100 * hd:.2f} | {v['auc']:.4f} | " + " | ".join("–" for _ in BINS) + " | – | – |")
    for (head, lr, lt), runs in groups.items():
        done = [(r, load(r)) for r in runs if load(r)]
        failed = [r for r in runs if (RUNS / r / "failed.txt").exists()]
        if not done:
            lines.append(f"| {head} | {lr} | 0 | {'failed: ' + ', '.join(failed) if failed else 'not run'} |")
            continue
        v = [d["verification"] for _, d in done]
        tails = [[g["accuracy"] for g in x["by_tail"].values()] for x in v]
        angles = {b: [next(x["mean"] for x in d["diagnostic"]["bins"] if x["label"] == b) for _, d in done]
                  for b in BINS}
        angles = {b: [a for a in vals if a is not None] for b, vals in angles.items()}
        per_seed = ", ".join("{:.2f}".format(100 * x["accuracy"]) for x in v)
        lags = [x for x in (refresh_lag(r) for r, _ in done) if x]
        lag = f"{ms([x[0] for x in lags], pct=False)}° / {ms([x[1] for x in lags], pct=False)}°" if lags else "–"
        secs = [s for s in (epoch_seconds(r) for r, _ in done) if s]
        lines.append(
            f"| {head} | {lr} | {len(done)}{f' (+{len(failed)} failed)' if failed else ''} | "
            f"{ms([x['accuracy'] for x in v])} | {per_seed} | "
            f"{ms([t[0] for t in tails])} | {ms([t[1] for t in tails])} | "
            f"{np.mean([x['auc'] for x in v]):.4f} | "
            + " | ".join(ms(angles[b], pct=False) + "°" if angles[b] else "–" for b in BINS)
            + f" | {lag} | {np.mean(secs):.0f} |")
    return "\n".join(lines)


def plot() -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    img = ROOT / "docs" / "img"
    img.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    panels = ((axes[0], ("main", "w_lr"), LR, False, f"all DevTrain people, 2 epochs, lr {LR}"),
              (axes[1], ("longtail", "w_lr"), "1e-4", True, "controlled long tail, 2 epochs, lr 1e-4"))
    for ax, grids, panel_lr, panel_lt, title in panels:
        seen = {}
        runs = [r for g in grids for r in GRIDS[g] if r[1] == panel_lr and r[3] == panel_lt]
        for head, lr, seed, lt, *ep in runs:
            d = load(name(head, lr, seed, lt, *ep))
            if d:
                for b in d["diagnostic"]["bins"]:
                    if b["mean"] is not None:
                        seen.setdefault((head, lr), {}).setdefault(b["label"], []).append(b["mean"])
        for (head, lr), bins in seen.items():
            xs = [i for i, b in enumerate(BINS) if b in bins]
            ax.errorbar(xs, [np.mean(bins[BINS[i]]) for i in xs], yerr=[np.std(bins[BINS[i]]) for i in xs],
                        marker="o", capsize=3, label=f"{head} (lr {lr})", color=COLORS[head])
        ax.set(xticks=range(len(BINS)), xticklabels=BINS, xlabel="training images of the class", title=title)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[0].set_ylabel("angle(class weight, true center) [deg]")
    fig.tight_layout()
    fig.savefig(img / "angles-by-class-size.png", dpi=120)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    curves = [("base", "base (un-tuned)")]
    for h in ("softmax", "am", "ir_am", "ir_am+refresh"):  # the first seed whose evaluation kept its ROC points
        seed = next((s for s in (0, 1, 2) if (RUNS / name(h, LR, s, False) / "eval" / "roc.npz").exists()), None)
        if seed is not None:
            curves.append((name(h, LR, seed, False), f"{h} (lr {LR}, seed {seed})"))
    for run, label in curves:
        path = RUNS / run / "eval" / "roc.npz"
        if path.exists():
            r = np.load(path)
            ax.plot(np.maximum(r["far"], 1e-3), r["tar"], label=label, color=COLORS.get(run.split("-")[0].replace(
                "_refresh", "+refresh"), "black"))
    ax.set(xscale="log", xlim=(1e-3, 1), ylim=(0.8, 1.001), xlabel="FAR (FAR 0 drawn at 1e-3)", ylabel="TAR",
           title="ROC on LFW View 1 DevTest (unseen people)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(img / "roc-devtest.png", dpi=120)
    plt.close(fig)


def main(argv: list[str]) -> int:
    cmd, arg, seeds = (argv + [None, None, None])[:3]  # seeds: optional "0,1" to run only those seeds now
    if cmd == "_eval":
        return evaluate_keeping_roc(arg)
    if cmd == "plot":
        plot()
        return 0
    if cmd not in ("run", "table") or arg not in GRIDS:
        print(f"usage: run_grid.py run|table <{'|'.join(GRIDS)}> | plot", file=sys.stderr)
        return 2
    if cmd == "run":
        RUNS.mkdir(parents=True, exist_ok=True)
        if not load("base"):
            (RUNS / "base").mkdir(exist_ok=True)
            sh([PY, __file__, "_eval", "base"], RUNS / "base" / "eval.log")
        for run in GRIDS[arg]:
            if (seeds is None or str(run[2]) in seeds.split(",")):
                run_one(*run)
    print(table(arg))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
