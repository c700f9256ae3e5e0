# Person-fold cross-validation on LFW View 2: trains and evaluates each row on both halves, resumably.
"""Usage (repo root, the project venv's python; nice it on a shared machine):
    python scripts/experiments/run_cv.py run --rows base,am,ir_am --halves 1 --seeds 0   # what is missing
    python scripts/experiments/run_cv.py table          # the results table (markdown) from runs/cv/*/result.json
    python scripts/experiments/run_cv.py plot           # docs/img/cv-angles-by-class-size.png
    python scripts/experiments/run_cv.py status         # finished, resumable and failed runs
Half 1 trains on the people of people.txt folds 1-5 and evaluates the pairs of pairs.txt folds 6-10;
half 2 the reverse. A row is scripts/experiments/cv/base.json + scripts/experiments/cv/<row>.json
(+ --set seed=<seed>); "base" is the un-tuned network (evaluation only). Every run lives in
runs/cv/<row>-h<half>-s<seed>/ (--runs): train.py checkpoints each epoch, so an interrupted run resumes from its
last epoch; result.json (written last) marks a finished run and is never recomputed; failed.json records
a run stopped by the collapse guard (a result too). Every command run is listed in the run's result.json."""
from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
from irface_ml.splits import parse_folds, people_of_folds, read_people  # noqa: E402

PY = sys.executable
HALVES = {1: ("1-5", "6-10"), 2: ("6-10", "1-5")}  # half -> (people folds trained on, pair folds evaluated)
BINS = ("1", "2", "3-5", "6-20", ">20")


@dataclass(frozen=True)
class Layout:
    """Where things are, relative to the repo root (the CLI's defaults; tests point them at a temp dir)."""
    exp: Path = Path("scripts/experiments/cv")  # base.json and one <row>.json per row
    runs: Path = Path("runs/cv")
    lfw: Path = Path("../shared/datasets/lfw/protocol")  # people.txt, pairs.txt
    data: Path = Path(".cache/lfw-aligned")  # the base row's crops (trained rows use their config's data_dir)


def people_file(lay: Layout, folds: str) -> Path:
    """<runs>/people-folds<folds>.txt: one name per line, the people of those people.txt folds."""
    path = lay.runs / f"people-folds{folds}.txt"
    if not (ROOT / path).exists():
        names = people_of_folds(read_people(ROOT / lay.lfw / "people.txt"), parse_folds(folds))
        (ROOT / path).parent.mkdir(parents=True, exist_ok=True)
        (ROOT / path).write_text("".join(f"{n}\n" for n in sorted(names)))
    return path


def run_name(row: str, half: int, seed: int) -> str:
    return f"{row}-h{half}-s{seed}"


def sh(cmd: list[str], log: Path, commands: list[str]) -> int:
    """Run cmd from the repo root, appending its output to log; the command line is kept for the record."""
    line = shlex.join(cmd)  # copy-pastable into a shell
    commands.append(line)
    print(f"$ {line}", flush=True)
    with open(ROOT / log, "a") as f:
        return subprocess.run(cmd, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT).returncode


def trained_epochs(out: Path) -> int:
    """Epochs finished by the run's checkpoint (0 when none): read from log.csv, which train.py writes
    just before the checkpoint of the same epoch."""
    log = ROOT / out / "log.csv"
    ckpt = ROOT / out / "ckpt.pt"
    if not (log.exists() and ckpt.exists()):
        return 0
    rows = log.read_text().splitlines()[1:]
    return int(rows[-1].split(",")[0]) if rows else 0


def run_one(lay: Layout, row: str, half: int, seed: int, threads: int) -> None:
    out = lay.runs / run_name(row, half, seed)
    if (ROOT / out / "result.json").exists() or (ROOT / out / "failed.json").exists():
        return
    (ROOT / out).mkdir(parents=True, exist_ok=True)
    train_folds, eval_folds = HALVES[half]
    commands: list[str] = []
    evaluate = [PY, "scripts/evaluate.py", "--pairs", str(lay.lfw / "pairs.txt"), "--eval-folds", eval_folds,
                "--threads", str(threads), "--out", str(out / "eval")]
    if row == "base":
        rc = sh(evaluate + ["--base", "--data", str(lay.data)], out / "eval.log", commands)
    else:
        base, exp = lay.exp / "base.json", lay.exp / f"{row}.json"
        config = json.loads((ROOT / base).read_text()) | json.loads((ROOT / exp).read_text())
        train = [PY, "scripts/train.py", "--config", str(base), "--config", str(exp),
                 "--set", f'train_people=["{people_file(lay, train_folds)}"]',
                 "--set", f'holdout_people=["{people_file(lay, eval_folds)}"]',
                 "--set", f"seed={seed}", "--set", f"out_dir={out}"]
        done = trained_epochs(out)
        if done < config["epochs"]:
            resume = ["--resume", str(out / "ckpt.pt")] if done else []
            rc = sh(train + resume, out / "train.log", commands)
            if rc == 3:  # the collapse guard: record it, never evaluate a collapsed model
                (ROOT / out / "failed.json").write_text(json.dumps({"reason": "collapse guard (exit 3)",
                                                                    "commands": commands}, indent=2) + "\n")
                return
            if rc != 0:
                raise SystemExit(f"{out}: train.py exited {rc}; see {out / 'train.log'}")
        rc = sh(evaluate + ["--checkpoint", str(out / "ckpt.pt")], out / "eval.log", commands)
    if rc != 0:
        raise SystemExit(f"{out}: evaluate.py exited {rc}; see {out / 'eval.log'}")
    result = json.loads((ROOT / out / "eval" / "results.json").read_text())
    result["commands"] = commands
    (ROOT / out / "result.json").write_text(json.dumps(result, indent=2) + "\n")


def load(lay: Layout, run: str) -> dict | None:
    path = ROOT / lay.runs / run / "result.json"
    return json.loads(path.read_text()) if path.exists() else None


def rows_seeds(lay: Layout) -> list[tuple[str, int]]:
    """(row, seed) of every run with a result.json, in a stable order (base first)."""
    found = {tuple(p.parent.name.rsplit("-", 2)[::2]) for p in (ROOT / lay.runs).glob("*/result.json")}
    return sorted(((r, int(s[1:])) for r, s in found), key=lambda t: (t[0] != "base", t))


def combined(lay: Layout, row: str, seed: int) -> dict:
    """Per half and both halves as one 10-fold figure: each fold scored by the model that never saw its people."""
    halves = {h: load(lay, run_name(row, h, seed)) for h in HALVES}
    per_half, folds, api, angle_bins = {}, [], [], {}
    for h, r in halves.items():
        if r is None:
            continue
        v = r["verification"]
        per_half[h] = {"folds": v["fold_accuracies"],
                       "tar": next(t["tar"] for t in v["tar_at_far"] if t["far_target"] == 1e-3)}
        folds += v["fold_accuracies"]
        api += v["api_view"]["fold_accuracies"]
        for b in r["diagnostic"].get("bins", []):
            if b["mean"] is not None:
                angle_bins.setdefault(b["label"], []).append(b["mean"])
    return {"per_half": per_half, "folds": folds, "api": api,
            "angles": {b: float(np.mean(v)) for b, v in angle_bins.items()},
            "missed": sum(r["verification"]["api_view"]["images_without_crop"] for r in halves.values() if r)}


def pct(values: list[float]) -> str:
    """mean ± std (over folds) in percent."""
    a = 100 * np.asarray(values)
    return f"{a.mean():.2f} ± {a.std(ddof=1):.2f}" if a.size > 1 else "–"


def table(lay: Layout) -> str:
    """One line per (row, seed): each half on its own folds (compare rows within a column), then both
    halves as one 10-fold figure once both exist."""
    cols = [f"folds {HALVES[h][1]} (half {h}) %" for h in HALVES] + [f"TAR@FAR=1e-3, half {h} %" for h in HALVES]
    head = ("| row | seed | " + " | ".join(cols) + " | all 10 folds % | API view, all evaluated folds % | "
            + " | ".join(f"angle {b}" for b in BINS) + " |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for row, seed in rows_seeds(lay):
        c = combined(lay, row, seed)
        ph = c["per_half"]
        accs = [pct(ph[h]["folds"]) if h in ph else "not run" for h in HALVES]
        tars = [(f"{100 * ph[h]['tar']:.2f}" if ph[h]["tar"] is not None else "n/a") if h in ph else "not run"
                for h in HALVES]
        both = pct(c["folds"]) if len(ph) == len(HALVES) else "needs both halves"
        lines.append(f"| {row} | {seed} | " + " | ".join(accs + tars) + f" | {both} | {pct(c['api'])} "
                     f"({c['missed']} images without a face) | "
                     + " | ".join(f"{c['angles'][b]:.1f}°" if b in c["angles"] else "–" for b in BINS) + " |")
    for p in sorted((ROOT / lay.runs).glob("*/failed.json")):
        lines.append(f"| {p.parent.name} | | failed: {json.loads(p.read_text())['reason']} |"
                     + " |" * (head.count("|") - 4))
    return "\n".join(lines)


def plot(lay: Layout) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    for row, seed in rows_seeds(lay):
        c = combined(lay, row, seed)
        xs = [i for i, b in enumerate(BINS) if b in c["angles"]]
        if xs:
            ax.plot(xs, [c["angles"][BINS[i]] for i in xs], marker="o",
                    label=f"{row} seed {seed} (halves {','.join(map(str, c['per_half']))})")
    ax.set(xticks=range(len(BINS)), xticklabels=BINS, xlabel="training images of the class",
           ylabel="angle(class weight, true center) [deg]", title="Whole-network fine-tuning, LFW person folds")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = ROOT / "docs" / "img" / "cv-angles-by-class-size.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def status(lay: Layout) -> str:
    lines = []
    for d in sorted(p for p in (ROOT / lay.runs).iterdir() if p.is_dir()):
        state = ("finished" if (d / "result.json").exists() else "failed" if (d / "failed.json").exists()
                 else f"{trained_epochs(d.relative_to(ROOT))} epochs trained, resumable")
        lines.append(f"{d.name}: {state}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", choices=("run", "table", "plot", "status"))
    p.add_argument("--rows", default="base,am,ir_am,ir_am_distill", help="comma-separated row names")
    p.add_argument("--halves", default="1,2")
    p.add_argument("--seeds", default="0")
    p.add_argument("--threads", type=int, default=2, help="torch threads for evaluation")
    for key, value in Layout().__dict__.items():
        p.add_argument(f"--{key}", type=Path, default=value, help=f"default {value}")
    args = p.parse_args(argv)
    lay = Layout(args.exp, args.runs, args.lfw, args.data)
    if args.command == "run":
        for seed in map(int, args.seeds.split(",")):
            for half in map(int, args.halves.split(",")):
                for row in args.rows.split(","):
                    if row != "base" and not (ROOT / lay.exp / f"{row}.json").exists():
                        raise SystemExit(f'unknown row "{row}": no {lay.exp / (row + ".json")}')
                    if row != "base" or seed == 0:  # the base has no seed
                        run_one(lay, row, half, seed, args.threads)
    if args.command == "plot":
        print(plot(lay))
    elif args.command == "status":
        print(status(lay))
    else:
        print(table(lay))
    return 0


if __name__ == "__main__":
    sys.exit(main())
