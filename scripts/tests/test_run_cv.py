# The person-fold driver on synthetic identities: halves from people.txt folds, resume of an unfinished run, cache.
import json
import sys

import train
from test_train_e2e import write_synthetic

sys.path.insert(0, str(__import__("conftest").SCRIPTS_DIR / "experiments"))
import run_cv  # noqa: E402

PEOPLE = 20  # 10 folds of 2 people, 4 crops each


def write_protocol(root):
    """people.txt (10 folds x 2 people) and pairs.txt (per fold: 1 same pair, 1 different pair)."""
    people = "10\n" + "".join(f"2\nid{2 * k}\t4\nid{2 * k + 1}\t4\n" for k in range(10))
    pairs = "10\t1\n" + "".join(f"id{2 * k}\t1\t2\nid{2 * k}\t3\tid{2 * k + 1}\t4\n" for k in range(10))
    (root / "people.txt").write_text(people)
    (root / "pairs.txt").write_text(pairs)


def test_driver_resumes_caches_and_tabulates(tmp_path):
    write_synthetic(tmp_path / "data", seed=7, n_ids=PEOPLE)
    write_protocol(tmp_path)
    (tmp_path / "exp").mkdir()
    (tmp_path / "exp" / "base.json").write_text(json.dumps({
        "data_dir": str(tmp_path / "data"), "train_from": "conv256_down_out", "cache_features": True,
        "cache_dir": str(tmp_path / "acts"), "epochs": 2, "batch_size": 8, "lr": 1e-4, "warmup_steps": 1,
        "num_workers": 0, "threads": 1}))
    (tmp_path / "exp" / "ir_am.json").write_text(json.dumps({"head": "ir_am"}))
    layout = ["--exp", str(tmp_path / "exp"), "--runs", str(tmp_path / "runs"), "--lfw", str(tmp_path),
              "--data", str(tmp_path / "data"), "--threads", "1"]
    lay = run_cv.Layout(tmp_path / "exp", tmp_path / "runs", tmp_path, tmp_path / "data")
    out = tmp_path / "runs" / "ir_am-h1-s0"
    # An interrupted run: one of two epochs trained on half 1's people (folds 1-5), with the driver's settings.
    assert train.main(["--config", str(tmp_path / "exp" / "base.json"), "--config", str(tmp_path / "exp" / "ir_am.json"),
                       "--set", f'train_people=["{run_cv.people_file(lay, "1-5")}"]',
                       "--set", f"out_dir={out}", "--set", "epochs=1"]) == 0
    assert (tmp_path / "runs" / "people-folds1-5.txt").read_text().split() == [f"id{k}" for k in range(10)]
    assert run_cv.main(["run", "--rows", "base,ir_am", "--halves", "1"] + layout) == 0
    result = json.loads((out / "result.json").read_text())
    assert "--resume" in result["commands"][0] and "resume: " in (out / "train.log").read_text()
    assert len((out / "log.csv").read_text().splitlines()) == 3  # header + epochs 1 (before) and 2 (resumed)
    v = result["verification"]
    assert v["fold_ids"] == [6, 7, 8, 9, 10] and v["pairs"] == 10 and v["api_view"]["images_without_crop"] == 0
    assert result["diagnostic"]["classes"] == 10  # trained on folds 1-5's people only
    # A second call finds both runs finished and runs nothing.
    stamp = (out / "result.json").stat().st_mtime_ns
    assert run_cv.main(["run", "--rows", "base,ir_am", "--halves", "1"] + layout) == 0
    assert (out / "result.json").stat().st_mtime_ns == stamp
    rows = run_cv.table(lay).splitlines()
    assert rows[2].startswith("| base | 0 | ") and rows[3].startswith("| ir_am | 0 | ")
    assert all("not run" in r and "needs both halves" in r for r in rows[2:4])
    assert "finished" in run_cv.status(lay)
