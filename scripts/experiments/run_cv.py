# Person-fold cross-validation on LFW View 2: trains and evaluates each row on both halves, resumably.
"""Usage (repo root, the project venv's python; nice it on a shared machine):
    python scripts/experiments/run_cv.py run --rows base,am,ir_am --halves 1 --seeds 0   # what is missing
    python scripts/experiments/run_cv.py table          # the results table (markdown)
    python scripts/experiments/run_cv.py plot           # docs/img/cv-angles-by-class-size.png
    python scripts/experiments/run_cv.py status         # finished, resumable and failed runs
    python scripts/experiments/run_cv.py save           # copy runs/cv/*/result.json into docs/experiments/cv-results/
    python scripts/experiments/run_cv.py final --rows ir_am --seeds 0 [--name <id>]   # all-people model + card
Half 1 trains on the people of people.txt folds 1-5 and evaluates the pairs of pairs.txt folds 6-10;
half 2 the reverse. A row is scripts/experiments/cv/base.json + scripts/experiments/cv/<row>.json
(+ --set seed=<seed>); "base" is the un-tuned network (evaluation only). A row with "longtail":
{LongTailConfig fields} trains on a long-tailed copy of the half's people (cv_longtail.py). Every run lives
in runs/cv/<row>-h<half>-s<seed>/ (--runs): train.py checkpoints each epoch, so an interrupted run resumes
from its last epoch; result.json (written last) marks a finished run and is never recomputed; failed.json
records a run stopped by the collapse guard (a result too). Both are also copied, compacted, to
docs/experiments/cv-results/<run>.json / <run>.failed.json (--results, committed): table, plot and run read
runs/ first and that copy otherwise, so a fresh clone prints the table and does not retrain a finished run.
Every command run is listed in the run's result. `final` is described in cv_final.py."""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields
from pathlib import Path

from cv_common import (HALVES, PY, ROOT, Layout, people_file, row_config, run_name, sh,  # noqa: F401
                       train_config_files, trained_epochs)
from cv_final import final
from cv_longtail import longtail_dir
from cv_results import finished, plot, save_all, save_result, table  # noqa: F401  (table: tests, callers)


def run_one(lay: Layout, row: str, half: int, seed: int, threads: int) -> None:
    """Train (or resume) and evaluate one run unless it has a result; write result.json and its committed copy."""
    run = run_name(row, half, seed)
    out = lay.runs / run
    if finished(lay, run):
        return
    (ROOT / out).mkdir(parents=True, exist_ok=True)
    train_folds, eval_folds = HALVES[half]
    commands: list[str] = []
    evaluate = [PY, "scripts/evaluate.py", "--pairs", str(lay.lfw / "pairs.txt"), "--eval-folds", eval_folds,
                "--threads", str(threads), "--out", str(out / "eval")]
    if row == "base":
        rc = sh(evaluate + ["--base", "--data", str(lay.data)], out / "eval.log", commands)
    else:
        config = row_config(lay, row)
        train = [PY, "scripts/train.py", *train_config_files(lay, row, out),
                 "--set", f'train_people=["{people_file(lay, train_folds)}"]',
                 "--set", f'holdout_people=["{people_file(lay, eval_folds)}"]',
                 "--set", f"seed={seed}", "--set", f"out_dir={out}"]
        if "longtail" in config:  # the half's people made long-tailed, evaluated people linked beside them
            source = config.get("data_dir", str(lay.data))
            train += ["--set", f"data_dir={longtail_dir(lay, half, source, config['longtail'])}"]
        done = trained_epochs(out)
        if done < config["epochs"]:
            resume = ["--resume", str(out / "ckpt.pt")] if done else []
            rc = sh(train + resume, out / "train.log", commands)
            if rc == 3:  # the collapse guard: record it, never evaluate a collapsed model
                (ROOT / out / "failed.json").write_text(json.dumps({"reason": "collapse guard (exit 3)",
                                                                    "commands": commands}, indent=2) + "\n")
                save_result(lay, run)
                return
            if rc != 0:
                raise SystemExit(f"{out}: train.py exited {rc}; see {out / 'train.log'}")
        rc = sh(evaluate + ["--checkpoint", str(out / "ckpt.pt")], out / "eval.log", commands)
    if rc != 0:
        raise SystemExit(f"{out}: evaluate.py exited {rc}; see {out / 'eval.log'}")
    result = json.loads((ROOT / out / "eval" / "results.json").read_text())
    result["commands"] = commands
    (ROOT / out / "result.json").write_text(json.dumps(result, indent=2) + "\n")
    print("saved " + ", ".join(map(str, save_result(lay, run))))


def status(lay: Layout) -> str:
    """One line per run folder under lay.runs, then runs known only from their committed copy."""
    lines, seen = [], set()
    folders = (ROOT / lay.runs).iterdir() if (ROOT / lay.runs).is_dir() else ()
    for d in sorted(p for p in folders if p.is_dir() and p.name != "data"):
        seen.add(d.name)
        state = ("finished" if (d / "result.json").exists() else "failed" if (d / "failed.json").exists()
                 else f"{trained_epochs(lay.runs / d.name)} epochs trained, resumable")
        lines.append(f"{d.name}: {state}")
    for p in sorted((ROOT / lay.results).glob("*.json")):
        run = p.name.removesuffix(".failed.json").removesuffix(".json")
        if run not in seen:
            lines.append(f"{run}: {'failed' if p.name.endswith('.failed.json') else 'finished'} (committed copy only)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", choices=("run", "table", "plot", "status", "save", "final"))
    p.add_argument("--rows", default="base,am,ir_am,ir_am_distill", help="comma-separated row names")
    p.add_argument("--halves", default="1,2")
    p.add_argument("--seeds", default="0")
    p.add_argument("--threads", type=int, default=2, help="torch threads for evaluation")
    p.add_argument("--name", help="final: the exported model's id (default irface-<row>-lfw-all-s<seed>)")
    for key, value in Layout().__dict__.items():
        p.add_argument(f"--{key}", type=Path, default=value, help=f"default {value}")
    args = p.parse_args(argv)
    lay = Layout(**{f.name: getattr(args, f.name) for f in fields(Layout)})
    rows, seeds = args.rows.split(","), list(map(int, args.seeds.split(",")))
    if args.command == "run":
        for seed in seeds:
            for half in map(int, args.halves.split(",")):
                for row in rows:
                    if row != "base":
                        row_config(lay, row)  # an unknown row stops here, naming the file it looked for
                    if row != "base" or seed == 0:  # the base has no seed
                        run_one(lay, row, half, seed, args.threads)
    if args.command == "final":
        if "base" in rows:
            p.error("final: base is the un-tuned network, nothing to train; name a trained row with --rows")
        if args.name and len(rows) * len(seeds) > 1:
            p.error("--name names one model: give one row and one seed")
        for seed in seeds:
            for row in rows:
                print(final(lay, row, seed, args.name or f"irface-{row}-lfw-all-s{seed}"))
    elif args.command == "save":
        print("\n".join(map(str, save_all(lay))) or "nothing to save: no finished run under " + str(lay.runs))
    elif args.command == "plot":
        print(plot(lay))
    elif args.command == "status":
        print(status(lay))
    else:
        print(table(lay))
    return 0


if __name__ == "__main__":
    sys.exit(main())
