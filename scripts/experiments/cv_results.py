# Results of the person-fold runs: committed copies, loading (runs/ first, then the copy), table and plot.
"""A finished run's result lives in runs/cv/<run>/result.json (not in git) and, compacted, in
docs/experiments/cv-results/<run>.json (committed), so a fresh clone prints the table and skips the run.
A run stopped by the collapse guard is kept the same way as <run>.failed.json."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from cv_common import BINS, HALVES, ROOT, Layout, run_name

# evaluate.py's results.json, top-level keys kept in the committed copy (all small: per-fold figures,
# TAR@FAR, AUC, thresholds, angle bins, no per-pair arrays) plus the driver's command lines.
KEPT = ("model", "embedding", "data", "alignment", "verification", "diagnostic", "seconds", "commands")
RUN = re.compile(r"^(?P<row>[^-]+)-h(?P<half>\d+)-s(?P<seed>\d+)$")


def compact(result: dict, run: str) -> dict:
    """The committed copy of a run's result.json: the KEPT keys, in that order, plus the run's name."""
    return {"run": run, **{k: result[k] for k in KEPT if k in result}}


def save_result(lay: Layout, run: str) -> list[Path]:
    """Copy runs/<run>/result.json (compacted) and failed.json into lay.results; returns the files written."""
    written = []
    for src, dst in (("result.json", f"{run}.json"), ("failed.json", f"{run}.failed.json")):
        path = ROOT / lay.runs / run / src
        if path.exists():
            doc = json.loads(path.read_text())
            (ROOT / lay.results).mkdir(parents=True, exist_ok=True)
            (ROOT / lay.results / dst).write_text(json.dumps(compact(doc, run) if src == "result.json"
                                                             else doc, indent=2) + "\n")
            written.append(lay.results / dst)
    return written


def save_all(lay: Layout) -> list[Path]:
    """save_result for every run under lay.runs that has finished or failed (the `save` command)."""
    runs = sorted({p.parent.name for pat in ("*/result.json", "*/failed.json") for p in (ROOT / lay.runs).glob(pat)})
    return [p for run in runs for p in save_result(lay, run)]


def load(lay: Layout, run: str) -> dict | None:
    """The run's result: runs/<run>/result.json, else its committed copy, else None."""
    for path in (ROOT / lay.runs / run / "result.json", ROOT / lay.results / f"{run}.json"):
        if path.exists():
            return json.loads(path.read_text())
    return None


def load_failed(lay: Layout, run: str) -> dict | None:
    for path in (ROOT / lay.runs / run / "failed.json", ROOT / lay.results / f"{run}.failed.json"):
        if path.exists():
            return json.loads(path.read_text())
    return None


def finished(lay: Layout, run: str) -> bool:
    """True when the run has a result or a failure record, here or committed: `run` skips it."""
    return load(lay, run) is not None or load_failed(lay, run) is not None


def _names(lay: Layout, in_runs: str, in_results: str) -> set[str]:
    return ({p.parent.name for p in (ROOT / lay.runs).glob(in_runs)}
            | {p.name.removesuffix(in_results) for p in (ROOT / lay.results).glob("*" + in_results)})


def rows_seeds(lay: Layout) -> list[tuple[str, int]]:
    """(row, seed) of every run with a result (runs/ or committed), in a stable order (base first)."""
    found = {(m["row"], int(m["seed"])) for n in _names(lay, "*/result.json", ".json") if (m := RUN.match(n))}
    return sorted(found, key=lambda t: (t[0] != "base", t))


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
    for run in sorted(_names(lay, "*/failed.json", ".failed.json")):
        lines.append(f"| {run} | | failed: {load_failed(lay, run)['reason']} |" + " |" * (head.count("|") - 4))
    return "\n".join(lines)


def plot(lay: Layout) -> Path:
    """docs/img/cv-angles-by-class-size.png: mean weight-to-center angle per class-size bin, one line per row."""
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
