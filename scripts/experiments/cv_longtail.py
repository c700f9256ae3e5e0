# Controlled long tail for a person-fold half: the half's training people made long-tailed, as a symlink data dir.
"""A row with "longtail": {LongTailConfig fields} trains on <runs>/data/longtail-h<half>-<tag>/ instead of
its data_dir: make_longtail (scripts/irface_ml/splits.py) over the half's training people who have crops in
data_dir (head people keep every crop, tail people a random tail_min..tail_max of theirs; people with fewer
than head_min crops are left out), plus every evaluated person's folder linked whole beside them, because
evaluate.py reads the pair crops and the training classes from the checkpoint's one data_dir. train.py's
train_people (the half's people file) keeps the evaluated people out of training, and its holdout_people
check refuses any overlap. The subset depends on the longtail seed, not the training seed, so every row and
training seed of a half sees the same subset (a controlled comparison)."""
from __future__ import annotations

import os
import shutil
from dataclasses import asdict, fields
from pathlib import Path

from cv_common import HALVES, ROOT, Layout, people_file
from irface_ml.splits import (LongTailConfig, assert_disjoint, make_longtail, read_subset_json,
                              scan_identity_folder, write_subset_json, write_subset_symlinks)


def longtail_config(spec: dict) -> LongTailConfig:
    """LongTailConfig from a row's "longtail" object; unknown keys are an error listing the valid ones."""
    valid = [f.name for f in fields(LongTailConfig)]
    unknown = sorted(set(spec) - set(valid))
    if unknown:
        raise ValueError(f'"longtail": unknown keys {unknown}; valid keys: {", ".join(valid)}')
    return LongTailConfig(**spec)


def longtail_dir(lay: Layout, half: int, source: str | Path, spec: dict) -> Path:
    """The half's long-tail data dir (relative to the repo root when lay.runs is), built once and reused.

    source: the row's data_dir (folder per identity of aligned crops). The folder name carries every
    LongTailConfig field; the subset's description (irface.longtail/1) lies beside it as <dir>.json, and
    a reused folder must match it. Returns the folder to pass as train.py's data_dir."""
    cfg = longtail_config(spec)
    tag = "-".join(f"{k}{v}" for k, v in asdict(cfg).items())
    out = lay.runs / "data" / f"longtail-h{half}-{tag}"
    described = ROOT / out.parent / f"{out.name}.json"
    if (ROOT / out).is_dir() and described.exists():
        if read_subset_json(described).config != cfg:
            raise ValueError(f"{out} was made with another long-tail config; remove it and {described}")
        return out
    train_folds, eval_folds = HALVES[half]
    train_people = set((ROOT / people_file(lay, train_folds)).read_text().split())  # one name a line
    eval_people = set((ROOT / people_file(lay, eval_folds)).read_text().split())
    src = (ROOT / source).resolve()
    crops = scan_identity_folder(src)
    subset = make_longtail({p: imgs for p, imgs in crops.items() if p in train_people}, cfg)
    assert_disjoint(subset.images, eval_people, f"the evaluated people of half {half}")
    tmp = ROOT / out.parent / f".{out.name}.tmp"  # built aside, renamed when whole
    shutil.rmtree(tmp, ignore_errors=True)
    write_subset_symlinks(subset, src, tmp)
    for person in sorted(eval_people & set(crops)):
        (tmp / person).symlink_to(src / person, target_is_directory=True)
    if (src / "ALIGNMENT.json").exists():  # evaluate.py records how the crops were made
        (tmp / "ALIGNMENT.json").symlink_to(src / "ALIGNMENT.json")
    write_subset_json(subset, described)
    shutil.rmtree(ROOT / out, ignore_errors=True)
    os.replace(tmp, ROOT / out)
    return out
