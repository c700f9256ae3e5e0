# run_cv.py final on synthetic identities: all-people training, ONNX export, a card the server loads.
import json
import shutil
import subprocess

import numpy as np
import pytest
import torch

from conftest import REPO_ROOT
from irface_ml.model_card import sha256_file
from test_run_cv import run_cv, setup_experiment


def server_default_threshold(card_path) -> dict:
    """The server's own loader (server/model/card.ts: schema check, sha256 of the .onnx, default threshold)."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not on PATH; it is needed to load the card the way the server does")
    code = ("const m = await import('./server/model/card.ts'); "
            "console.log(JSON.stringify(m.defaultThreshold(m.loadModel(process.argv[1]).card)))")
    proc = subprocess.run([node, "--import", "tsx", "--input-type=module", "-e", code, str(card_path)],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_final_trains_everyone_exports_and_calibrates_the_card_from_cv(tmp_path):
    layout, lay = setup_experiment(tmp_path, epochs=1)
    final = ["final", "--rows", "ir_am", "--seeds", "0", "--name", "tiny"] + layout
    (tmp_path / "exp" / "ir_am_lt.json").write_text(json.dumps({"head": "ir_am", "longtail": {"head_min": 3}}))
    with pytest.raises(SystemExit, match="plain row"):  # a long-tail row is not a recipe for the shipped model
        run_cv.main(["final", "--rows", "ir_am_lt"] + layout)
    with pytest.raises(SystemExit, match="run --rows ir_am --halves 1,2 --seeds 0"):  # no CV yet: no thresholds
        run_cv.main(final)
    assert not (tmp_path / "runs" / "final-ir_am-s0").exists()

    assert run_cv.main(["run", "--rows", "ir_am", "--halves", "1,2", "--seeds", "0,1"] + layout) == 0
    assert run_cv.main(["run", "--rows", "ir_am", "--halves", "1", "--seeds", "2"] + layout) == 0  # one half only
    assert run_cv.main(final) == 0
    out, card_path = tmp_path / "runs" / "final-ir_am-s0", tmp_path / "models" / "tiny.json"
    ckpt = torch.load(out / "ckpt.pt", weights_only=True)
    assert ckpt["classes"] == sorted(f"id{k}" for k in range(20)) and ckpt["epoch"] == 0  # everyone, 1 epoch
    card = json.loads(card_path.read_text())
    assert card["id"] == "tiny" and card["sha256"] == sha256_file(tmp_path / "models" / "tiny.onnx")

    t = card["provenance"]["training"]
    assert t["run"] == "final-ir_am-s0" and t["seed"] == 0 and t["recipe"]["row"] == "ir_am"
    assert t["recipe"]["config"]["head"] == "ir_am" and t["config"]["head"] == "ir_am"  # export's own field kept
    assert t["checkpoint_sha256"] == sha256_file(out / "ckpt.pt")
    assert t["data"]["people"] == 20 and t["data"]["crops"] == 80 and len(t["git_commit"]) >= 40
    assert "train_people=[]" in t["commands"][0] and "export_onnx.py" in t["commands"][1]

    halves = [json.loads((tmp_path / "results" / f"ir_am-h{h}-s0.json").read_text())["verification"]
              for h in (1, 2)]
    cv = card["evaluation"]["cross_validation"]
    assert cv["folds"] == 10 and "has seen every person" in cv["note"]
    assert cv["fold_accuracies"] == halves[1]["fold_accuracies"] + halves[0]["fold_accuracies"]  # folds 1-10
    assert cv["halves"]["half_1"]["crops"] == str(lay.data)
    seed1 = [json.loads((tmp_path / "results" / f"ir_am-h{h}-s1.json").read_text())["verification"] for h in (1, 2)]
    [other] = cv["other_seeds"]  # seed 1, not seed 0 (the card's own) nor seed 2 (half 2 missing)
    assert other["seed"] == 1 and other["folds"] == 10
    assert other["accuracy_mean"] == pytest.approx(np.mean(seed1[0]["fold_accuracies"] + seed1[1]["fold_accuracies"]))
    assert other["tar_at_far_1e3"] == [h["tar_at_far"][0]["tar"] for h in seed1]
    thresholds = card["similarity"]["thresholds"]
    expected = np.mean(halves[0]["thresholds"] + halves[1]["thresholds"])
    assert thresholds["default"]["value"] == pytest.approx(expected, abs=1e-5)
    assert "far_1e-3" not in thresholds  # 5 different pairs per half cannot bound a FAR of 1e-3
    assert server_default_threshold(card_path) == thresholds["default"]

    stamp = card_path.stat().st_mtime_ns  # a second call finds the card made by this run: nothing redone
    assert run_cv.main(final) == 0
    assert card_path.stat().st_mtime_ns == stamp
    with pytest.raises(SystemExit, match="choose another --name"):  # never overwrites another model's card
        run_cv.main(["final", "--rows", "ir_am", "--seeds", "1", "--name", "tiny"] + layout)
