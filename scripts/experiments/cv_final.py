# The shipped model of a recipe: one row trained on every LFW person, exported, its card told what CV measured.
"""run_cv.py final --rows <row> --seeds <seed> [--name <id>]: trains base.json + <row>.json on every
identity of the row's data_dir (no one held out) into <runs>/final-<row>-s<seed>/ (resumable: train.py
checkpoints each epoch), exports it with scripts/export_onnx.py to <models>/<id>.onnx + card, then adds
to the card what export_onnx.py cannot know: provenance.training (recipe row and config, data, seed, git
commit, commands), evaluation.cross_validation (the row's person-fold results, both halves) and
similarity.thresholds calibrated on those cross-validation runs; the row's other finished seeds are listed
beside it (evaluation.cross_validation.other_seeds). git_commit is HEAD when the call started, dirty only
for changes outside the model files it writes. A card already made by this run means the work is done; a
card of the same name made by anything else is never overwritten."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np

from cv_common import (DRIVER_KEYS, HALVES, PY, ROOT, Layout, git_commit, row_config, run_name, sh,
                       train_config_files, trained_epochs)
from cv_results import load, rows_seeds
from irface_ml.model_card import check_card, sha256_file, write_json

CV_NOTE = ("Cross-validated on unseen people: two models of this recipe and seed, each trained on half of LFW's "
           "people (people.txt folds 1-5 or 6-10) and evaluated on the pairs.txt folds of the other half, whose "
           "people it never saw; each fold's threshold chosen on the other 4 evaluated folds of its half. These "
           "figures describe the recipe. The shipped file was trained on every LFW person, so it has seen every "
           "person in LFW's pairs: an LFW figure measured on it is not a held-out result.")


def cv_summary(lay: Layout, row: str, seed: int) -> dict:
    """The row's cross-validation at this seed, both halves (accuracies are fractions, thresholds cosines).

    Raises SystemExit naming the command to run when a half has no result."""
    results = {h: load(lay, run_name(row, h, seed)) for h in HALVES}
    missing = [run_name(row, h, seed) for h, r in results.items() if r is None]
    if missing:
        raise SystemExit(f"final {row}: no cross-validation result for {missing}; run "
                         f"`run_cv.py run --rows {row} --halves 1,2 --seeds {seed}` first")
    halves, folds, api = {}, {}, []
    for h, r in results.items():
        v = r["verification"]
        t3 = next(t for t in v["tar_at_far"] if t["far_target"] == 1e-3)
        halves[f"half_{h}"] = {
            "trained_on_people_folds": HALVES[h][0], "evaluated_pair_folds": HALVES[h][1], "pairs": v["pairs"],
            "accuracy_mean": v["accuracy"], "accuracy_std": v["accuracy_std"], "fold_ids": v["fold_ids"],
            "fold_accuracies": v["fold_accuracies"], "thresholds": v["thresholds"],
            "api_view_accuracy": v["api_view"]["accuracy"], "tar_at_far_1e3": t3["tar"],
            "threshold_far_1e3": t3["threshold"], "different_pairs": t3["n_negatives"], "auc": v["auc"],
            "crops": r.get("data"), "crops_detector": (r.get("alignment") or {}).get("detector"),
            "commands": r.get("commands", [])}
        folds.update(zip(v["fold_ids"], v["fold_accuracies"]))
        api += v["api_view"]["fold_accuracies"]
    acc = np.array([folds[k] for k in sorted(folds)])
    return {"note": CV_NOTE, "row": row, "seed": seed, "folds": len(acc), "accuracy_mean": float(acc.mean()),
            "accuracy_std": float(acc.std(ddof=1)), "fold_accuracies": acc.tolist(),
            "api_view_accuracy_mean": float(np.mean(api)), "halves": halves,
            "command": f"python scripts/experiments/run_cv.py run --rows {row} --halves 1,2 --seeds {seed}"}


def other_seeds(lay: Layout, row: str, seed: int) -> list[dict]:
    """The row's cross-validation at every other seed with both halves finished, one compact dict each
    (10-fold accuracy mean and std, API view, TAR at FAR 1e-3 per half, all fractions): a recipe's seed-to-seed
    spread belongs on the card of the model trained at one of them."""
    seeds = sorted(s for r, s in rows_seeds(lay) if r == row and s != seed
                   and all(load(lay, run_name(row, h, s)) is not None for h in HALVES))
    out = []
    for s in seeds:
        cv = cv_summary(lay, row, s)
        out.append({"seed": s, "folds": cv["folds"], "accuracy_mean": cv["accuracy_mean"],
                    "accuracy_std": cv["accuracy_std"], "api_view_accuracy_mean": cv["api_view_accuracy_mean"],
                    "tar_at_far_1e3": [h["tar_at_far_1e3"] for h in cv["halves"].values()],
                    "command": cv["command"]})
    return out


def cv_thresholds(cv: dict) -> dict:
    """similarity.thresholds for the card from cv_summary: `default` (what the server's verify and search
    use) and `far_1e-3` when both halves have one. evaluate.py keeps per-fold thresholds, not per-pair
    scores, so these are means of the cross-validation's own thresholds."""
    halves = list(cv["halves"].values())
    per_fold = [t for h in halves for t in h["thresholds"]]
    out = {"default": {"value": round(float(np.mean(per_fold)), 5), "method": (
        f"mean of the {len(per_fold)} accuracy-optimal thresholds of the person-fold cross-validation of "
        f"recipe {cv['row']} (seed {cv['seed']}); each chosen on the other evaluated folds of its half by a model "
        "that never saw that half's people. Calibrated on those two half-LFW models, not on this file's network, "
        "which has seen every LFW person")}}
    far = [h["threshold_far_1e3"] for h in halves]
    if all(t is not None for t in far):
        out["far_1e-3"] = {"value": round(float(np.mean(far)), 5), "method": (
            "mean over the two cross-validation halves of the lowest threshold accepting at most 0.1% of the "
            f"half's {' and '.join(str(h['different_pairs']) for h in halves)} different-person pairs (unseen "
            f"people; recipe {cv['row']}, seed {cv['seed']}); not measured on this file's network")}
    return out


def annotate_card(card: dict, *, training: dict, cv: dict) -> dict:
    """A copy of an exported card with provenance.training extended by `training`, the cross-validation
    under evaluation.cross_validation and the thresholds from it; checked with model_card.check_card."""
    card = copy.deepcopy(card)
    card["provenance"]["training"] = {**(card["provenance"].get("training") or {}), **training}
    card["evaluation"]["cross_validation"] = cv
    card["similarity"]["thresholds"] = cv_thresholds(cv)
    check_card(card)
    return card


def final(lay: Layout, row: str, seed: int, name: str) -> Path:
    """Train (or resume) and export the all-people model of `row`; returns the card's path."""
    config = row_config(lay, row)
    if any(k in config for k in DRIVER_KEYS):
        raise SystemExit(f"final {row}: a row with {DRIVER_KEYS} changes its training data; the all-people "
                         "model is trained from a plain row")
    out = lay.runs / f"final-{row}-s{seed}"
    card_path = ROOT / lay.models / f"{name}.json"
    if card_path.exists():
        made_by = json.loads(card_path.read_text())["provenance"].get("training") or {}
        if made_by.get("run") == out.name and (ROOT / lay.models / f"{name}.onnx").exists():
            print(f"{card_path} already made by {out.name}")
            return card_path
        ckpt = ROOT / out / "ckpt.pt"
        ours = ckpt.exists() and made_by.get("checkpoint_sha256") == sha256_file(ckpt)
        if not ours:  # an interrupted call's own export is redone; anything else is someone's model
            raise SystemExit(f"{card_path} exists and was not made by {out.name}; choose another --name")
    cv = cv_summary(lay, row, seed)  # before hours of training: without it the card has no threshold
    cv["other_seeds"] = other_seeds(lay, row, seed)
    commit = git_commit(ignore=(f"{lay.models}/{name}.*",))  # the model files this call (re)writes aside
    (ROOT / out).mkdir(parents=True, exist_ok=True)
    log = ROOT / out / "commands.json"  # every command of every call, since a resumed run spans several
    commands = json.loads(log.read_text()) if log.exists() else []
    train = [PY, "scripts/train.py", *train_config_files(lay, row, out), "--set", "train_people=[]",
             "--set", "holdout_people=[]", "--set", f"seed={seed}", "--set", f"out_dir={out}"]
    done = trained_epochs(out)
    if done < config["epochs"]:
        rc = sh(train + (["--resume", str(out / "ckpt.pt")] if done else []), out / "train.log", commands)
        log.write_text(json.dumps(commands, indent=2) + "\n")
        if rc != 0:
            raise SystemExit(f"{out}: train.py exited {rc}; see {out / 'train.log'}")
    rc = sh([PY, "scripts/export_onnx.py", "--out", str(lay.models / name), "--checkpoint", str(out / "ckpt.pt")],
            out / "export.log", commands)
    log.write_text(json.dumps(commands, indent=2) + "\n")
    if rc != 0:
        raise SystemExit(f"{out}: export_onnx.py exited {rc}; see {out / 'export.log'}")
    import torch  # only here: the rest of the driver runs without it
    ckpt = torch.load(ROOT / out / "ckpt.pt", map_location="cpu", weights_only=True)
    data = Path(ckpt["config"]["data_dir"])
    alignment = ROOT / data / "ALIGNMENT.json"
    training = {
        "run": out.name, "recipe": {"row": row, "files": [str(lay.exp / "base.json"), str(lay.exp / f"{row}.json")],
                                    "config": config},
        "seed": seed, "git_commit": commit, "commands": commands, "epochs": ckpt["epoch"] + 1,
        "data": {"crops_dir": str(data), "people": len(ckpt["classes"]), "crops": int(sum(ckpt["class_counts"])),
                 "held_out": "no one: every identity with a crop in crops_dir was trained on",
                 "front_end": json.loads(alignment.read_text()) if alignment.exists() else None}}
    card = annotate_card(json.loads(card_path.read_text()), training=training, cv=cv)
    write_json(card_path, card)
    return card_path
