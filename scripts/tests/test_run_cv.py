# The person-fold driver on synthetic identities: halves, resume, committed result copies, long-tail rows.
import json
import shutil
import sys

import pytest
import torch

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


def setup_experiment(tmp_path, epochs: int) -> tuple[list[str], "run_cv.Layout"]:
    """Synthetic crops, protocol files and exp/base.json (tail fine-tune on cached activations, cheap) +
    exp/ir_am.json under tmp_path; returns the driver's layout arguments and the same Layout."""
    write_synthetic(tmp_path / "data", seed=7, n_ids=PEOPLE)
    write_protocol(tmp_path)
    (tmp_path / "exp").mkdir()
    (tmp_path / "exp" / "base.json").write_text(json.dumps({
        "data_dir": str(tmp_path / "data"), "train_from": "conv256_down_out", "cache_features": True,
        "cache_dir": str(tmp_path / "acts"), "epochs": epochs, "batch_size": 8, "lr": 1e-4, "warmup_steps": 1,
        "num_workers": 0, "threads": 1}))
    (tmp_path / "exp" / "ir_am.json").write_text(json.dumps({"head": "ir_am"}))
    layout = ["--exp", str(tmp_path / "exp"), "--runs", str(tmp_path / "runs"), "--lfw", str(tmp_path),
              "--data", str(tmp_path / "data"), "--results", str(tmp_path / "results"),
              "--models", str(tmp_path / "models"), "--threads", "1"]
    lay = run_cv.Layout(tmp_path / "exp", tmp_path / "runs", tmp_path, tmp_path / "data", tmp_path / "results",
                        tmp_path / "models")
    return layout, lay


def test_driver_resumes_caches_and_tabulates(tmp_path):
    layout, lay = setup_experiment(tmp_path, epochs=2)
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

    # Every finished run was copied to the committed folder; `save` rewrites a missing copy from runs/.
    copy = json.loads((tmp_path / "results" / "ir_am-h1-s0.json").read_text())
    assert copy["run"] == "ir_am-h1-s0" and copy["commands"] == result["commands"]
    assert copy["verification"] == result["verification"] and copy["diagnostic"] == result["diagnostic"]
    (tmp_path / "results" / "base-h1-s0.json").unlink()
    assert run_cv.main(["save"] + layout) == 0
    assert json.loads((tmp_path / "results" / "base-h1-s0.json").read_text())["verification"]["pairs"] == 10
    # A fresh clone: runs/ is gone, the committed copies print the same table and nothing is retrained.
    before = run_cv.table(lay)
    shutil.rmtree(tmp_path / "runs")
    assert run_cv.table(lay) == before
    assert run_cv.main(["run", "--rows", "base,ir_am", "--halves", "1"] + layout) == 0
    assert not (tmp_path / "runs").exists()
    assert "ir_am-h1-s0: finished (committed copy only)" in run_cv.status(lay)


def test_longtail_row_trains_on_the_long_tail_of_its_half(tmp_path):
    layout, lay = setup_experiment(tmp_path, epochs=1)
    spec = {"head_frac": 0.4, "head_min": 3, "tail_min": 1, "tail_max": 2, "seed": 1}  # 10 people: 4 head, 6 tail
    (tmp_path / "exp" / "ir_am_lt.json").write_text(json.dumps({"head": "ir_am", "longtail": spec}))
    assert run_cv.main(["run", "--rows", "ir_am_lt", "--halves", "1"] + layout) == 0
    (data,) = [d for d in (tmp_path / "runs" / "data").glob("longtail-h1-*") if d.is_dir()]
    subset = json.loads(data.with_name(data.name + ".json").read_text())
    trained, evaluated = [f"id{k}" for k in range(10)], [f"id{k}" for k in range(10, 20)]  # folds 1-5 | 6-10
    assert sorted(subset["head"] + subset["tail"]) == trained and len(subset["head"]) == 4
    crops = {p: sorted(f.name for f in (data / p).iterdir()) for p in trained}
    for p in subset["head"]:
        assert crops[p] == sorted(f.name for f in (tmp_path / "data" / p).iterdir())  # all 4 crops
    for p in subset["tail"]:
        assert 1 <= len(crops[p]) <= 2 and set(crops[p]) < {f"{p}_{i:04d}.png" for i in range(1, 5)}
        assert all((data / p / f).resolve().parent == (tmp_path / "data" / p).resolve() for f in crops[p])
    for p in evaluated:  # linked whole for evaluate.py, never trained on
        assert (data / p).is_symlink() and len(list((data / p).iterdir())) == 4
    out = tmp_path / "runs" / "ir_am_lt-h1-s0"
    ckpt = torch.load(out / "ckpt.pt", weights_only=True)
    assert ckpt["classes"] == trained and ckpt["config"]["data_dir"] == str(data)
    assert ckpt["class_counts"] == [len(crops[p]) for p in trained]  # what train.py saw: the long tail
    assert "longtail" not in json.loads((out / "row.json").read_text())  # train.py rejects unknown keys
    result = json.loads((out / "result.json").read_text())
    assert result["verification"]["pairs"] == 10 and result["verification"]["fold_ids"] == [6, 7, 8, 9, 10]
    assert result["diagnostic"]["classes"] == 10
    # The subset is the half's, whatever the row or training seed: built once, reused; another config, another one.
    assert run_cv.longtail_dir(lay, 1, tmp_path / "data", spec) == data
    other = run_cv.longtail_dir(lay, 1, tmp_path / "data", spec | {"seed": 2})
    assert other != data and other.is_dir()
    with pytest.raises(ValueError, match="unknown keys.*valid keys: head_frac"):
        run_cv.longtail_dir(lay, 1, tmp_path / "data", {"head_fraction": 0.4})
