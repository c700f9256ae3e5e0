# End to end on synthetic crops: data loader, IR-AM training on cached activations, resume, ONNX export.
import csv
import json
import shutil

import numpy as np
import onnxruntime as ort
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import evaluate
import export_onnx
import train
from irface_ml.data import (ActivationDataset, CropDataset, cached_activations, index_dataset, load_crop,
                            read_people_file)
from irface_ml.dlib_resnet import DlibResNet, normalize_pixels

N_IDS, N_IMGS, SIZE = 6, 4, 150
N_EVAL = 4  # identities held out for evaluate.py
EPOCHS, BATCH = 8, 8  # 3 steps per epoch; a run takes ~1 s after the activations are cached


def write_synthetic(root, seed=0, n_ids=N_IDS):
    """n_ids identities x N_IMGS crops: a smooth random base image per identity plus per-image noise."""
    rng = np.random.default_rng(seed)
    for k in range(n_ids):
        low = rng.integers(0, 256, (5, 5, 3)).astype(np.uint8)
        base = np.asarray(Image.fromarray(low).resize((SIZE, SIZE), Image.BICUBIC), dtype=np.float64)
        (root / f"id{k}").mkdir(parents=True)
        for i in range(N_IMGS):
            img = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
            Image.fromarray(img).save(root / f"id{k}" / f"id{k}_{i + 1:04d}.png")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Run A: EPOCHS straight. Run B: EPOCHS - 2, then resumed to EPOCHS. Same seed and cache.

    lr 1e-3 with fc at 1e-5: on this toy, fc at 1e-3 (or everything at 1e-2) opens the cone and then
    collapses within a few epochs, which the collapse guard stops (see test_collapse_guard_stops).
    """
    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("train")
    write_synthetic(tmp / "data", n_ids=N_IDS + N_EVAL)  # id0..id5 train, id6..id9 only evaluated
    (tmp / "train.txt").write_text("".join(f"id{k}\n" for k in range(N_IDS)))
    (tmp / "eval.txt").write_text(f"{N_EVAL}\n" + "".join(f"id{k} 4\n" for k in range(N_IDS, N_IDS + N_EVAL)))
    common = ["--set", f"data_dir={tmp / 'data'}", "--set", f'train_people=["{tmp / "train.txt"}"]',
              "--set", f'holdout_people=["{tmp / "eval.txt"}"]', "--set", f"cache_dir={tmp / 'acts'}",
              "--set", "train_from=conv256_down_out", "--set", "cache_features=true", "--set", "head=ir_am",
              "--set", "lr=1e-3", "--set", 'layer_lr={"fc.": 0.01}', "--set", f"batch_size={BATCH}",
              "--set", "warmup_steps=2",
              "--set", "schedule=constant", "--set", "log_every=1", "--set", "num_workers=0"]
    assert train.main(common + ["--set", f"epochs={EPOCHS}", "--set", f"out_dir={tmp / 'a'}"]) == 0
    assert train.main(common + ["--set", f"epochs={EPOCHS - 2}", "--set", f"out_dir={tmp / 'b'}"]) == 0
    ckpt_b2 = torch.load(tmp / "b" / "ckpt.pt", weights_only=True)
    assert train.main(common + ["--set", f"epochs={EPOCHS}", "--set", f"out_dir={tmp / 'b'}",
                                "--resume", str(tmp / "b" / "ckpt.pt")]) == 0
    return tmp, common, ckpt_b2


def load(path):
    return torch.load(path, map_location="cpu", weights_only=True)  # what export_onnx accepts


def test_loss_decreases_and_centers_stay_unit_and_spread(runs):
    tmp, _, _ = runs
    rows = list(csv.DictReader(open(tmp / "a" / "log.csv")))
    assert [int(r["epoch"]) for r in rows] == list(range(1, EPOCHS + 1))
    losses = [float(r["loss"]) for r in rows]
    assert losses[-1] < 0.8 * losses[0] and min(losses[-3:]) < min(losses[:3]), losses
    assert float(rows[-1]["spread"]) < 0.99  # not collapsed
    centers = load(tmp / "a" / "ckpt.pt")["head"]["source.centers"]  # (6, 128)
    assert centers.shape == (N_IDS, 128)
    assert torch.allclose(centers.norm(dim=1), torch.ones(N_IDS), atol=1e-5)


def test_centers_move_without_gradient(runs):
    tmp, _, _ = runs
    ckpt = load(tmp / "a" / "ckpt.pt")
    # Every optimised tensor is a backbone tensor of the tail: conv256_down_out's 2 convs
    # (weight, bias, scale weights, scale biases each) + fc; none is the centers buffer.
    n_params = sum(len(g["params"]) for g in ckpt["optimizer"]["param_groups"])
    assert n_params == 2 * 4 + 1
    assert not any(k.startswith("head") for k in ckpt["model"])
    # The centers moved away from the initial class means by the update rule alone.
    net = DlibResNet.from_faceapi()
    index = index_dataset(tmp / "data", people={f"id{k}" for k in range(N_IDS)})
    x = torch.stack([normalize_pixels(load_crop(index.root / f)[None])[0] for f in index.files])
    with torch.no_grad():
        f0 = F.normalize(net(x), dim=1).view(N_IDS, N_IMGS, -1).mean(1)  # (6, 128) initial class means
    moved = 1 - F.cosine_similarity(F.normalize(f0, dim=1), ckpt["head"]["source.centers"]).min()
    assert moved > 1e-4
    # Only the tail was trained: the frozen front is bit-identical to face-api's weights.
    base = net.state_dict()
    assert torch.equal(ckpt["model"]["conv256_2.conv1.conv.weight"], base["conv256_2.conv1.conv.weight"])
    assert not torch.equal(ckpt["model"]["fc.weight"], base["fc.weight"])


def test_checkpoint_and_resolved_config_saved(runs):
    tmp, _, _ = runs
    ckpt = load(tmp / "a" / "ckpt.pt")
    saved = json.loads((tmp / "a" / "config.json").read_text())
    assert saved == ckpt["config"]
    assert saved["head"] == "ir_am" and saved["lr"] == 1e-3 and saved["train_from"] == "conv256_down_out"
    assert ckpt["loss"] == "ir_am" and ckpt["epoch"] == EPOCHS - 1
    assert ckpt["step"] == EPOCHS * (N_IDS * N_IMGS // BATCH)
    assert ckpt["classes"] == [f"id{k}" for k in range(N_IDS)] and ckpt["class_counts"] == [N_IMGS] * N_IDS
    assert list((tmp / "acts").glob("conv256_down_out-*.pt"))  # the activation cache was kept for reuse


def test_resume_continues_exactly(runs):
    tmp, _, ckpt_b2 = runs
    assert ckpt_b2["epoch"] == EPOCHS - 3
    a, b = load(tmp / "a" / "ckpt.pt"), load(tmp / "b" / "ckpt.pt")
    assert b["epoch"] == EPOCHS - 1 and b["step"] == a["step"]
    for part in ("model", "head"):
        for key, value in a[part].items():
            assert torch.allclose(value, b[part][key], atol=1e-6), (part, key)
    assert len(list(csv.DictReader(open(tmp / "b" / "log.csv")))) == EPOCHS


def test_resume_refuses_a_different_head(runs):
    tmp, common, _ = runs
    with pytest.raises(ValueError, match="head"):
        train.main(common + ["--set", "head=am", "--set", f"out_dir={tmp / 'c'}",
                             "--resume", str(tmp / "a" / "ckpt.pt")])


def test_collapse_guard_stops(runs):
    """At lr 1e-2 this toy collapses (features and centers one direction): the guard must stop it."""
    tmp, common, _ = runs
    out = tmp / "collapse"
    rc = train.main(common + ["--set", "lr=1e-2", "--set", "layer_lr={}", "--set", f"epochs={EPOCHS}",
                              "--set", "collapse_threshold=0.98", "--set", f"out_dir={out}"])
    assert rc == train.EXIT_COLLAPSED
    rows = list(csv.DictReader(open(out / "log.csv")))
    assert len(rows) < EPOCHS and float(rows[-1]["spread"]) >= 0.98
    if (out / "ckpt.pt").exists():  # the last checkpoint is from before the collapse
        assert load(out / "ckpt.pt")["epoch"] == len(rows) - 2


def test_export_onnx_from_checkpoint(runs):
    tmp, _, _ = runs
    ckpt_path = tmp / "a" / "ckpt.pt"
    assert export_onnx.main(["--out", str(tmp / "onnx" / "ft"), "--checkpoint", str(ckpt_path)]) == 0
    card = json.loads((tmp / "onnx" / "ft.json").read_text())
    training = card["provenance"]["training"]
    assert training["loss"] == "ir_am" and training["step"] == load(ckpt_path)["step"]
    assert training["config"] == json.loads((tmp / "a" / "config.json").read_text())
    net = DlibResNet()
    net.load_state_dict(load(ckpt_path)["model"])
    x = torch.stack([normalize_pixels(load_crop(p)[None])[0] for p in sorted((tmp / "data").rglob("*.png"))[-5:]])
    with torch.no_grad():
        expected = F.normalize(net(x) + net(x.flip(3)), dim=1)  # the card's hflip-sum convention
        base = DlibResNet.from_faceapi()
        untuned = F.normalize(base(x) + base(x.flip(3)), dim=1)
    session = ort.InferenceSession(str(tmp / "onnx" / "ft.onnx"), providers=["CPUExecutionProvider"])
    got = torch.from_numpy(session.run(["embedding"], {"image": x.numpy()})[0])
    assert F.cosine_similarity(got, expected).min() > 0.9999
    assert (got - untuned).abs().max() > 1e-3  # the export carries the fine-tuned weights


def test_holdout_people_are_refused_for_training(runs):
    tmp, common, _ = runs
    (tmp / "clash.txt").write_text("id2\n")
    with pytest.raises(ValueError, match="holdout_people"):
        train.main(common + ["--set", f'holdout_people=["{tmp / "clash.txt"}"]', "--set", f"out_dir={tmp / 'd'}"])


PAIRS = """4
id6 1 2
id7 1 3
id8 2 4
id9 1 2
id6 1 id7 2
id8 1 id9 2
id6 3 id9 4
id7 4 id8 1
"""


def test_evaluate_unseen_pairs_and_diagnostic(runs):
    tmp, _, _ = runs
    (tmp / "pairs.txt").write_text(PAIRS)
    data = tmp / "data_eval"  # id9 loses a crop (as if no face was found): one pair drops out
    shutil.copytree(tmp / "data", data)
    (data / "id9" / "id9_0004.png").unlink()
    args = ["--pairs", str(tmp / "pairs.txt"), "--data", str(data), "--folds", "2", "--tail-max", "3"]
    assert evaluate.main(args + ["--checkpoint", str(tmp / "a" / "ckpt.pt"), "--out", str(tmp / "eval")]) == 0
    res = json.loads((tmp / "eval" / "results.json").read_text())
    v = res["verification"]
    assert (v["pairs"], v["dropped_missing_crop"], v["folds"]) == (7, 1, 2)
    assert res["embedding"].startswith("hflip-sum")
    tail = v["by_tail"]["tail (all people <= 3 crops)"]
    assert (tail["pairs"], tail["same"]) == (1, 1) and v["by_tail"]["head (others)"]["pairs"] == 6
    assert 0.5 <= v["accuracy"] <= 1.0 and 0.0 <= v["auc"] <= 1.0
    # API view: the pair with the missing crop (fold 0 of the round-robin, 3 of its 4 pairs kept) is wrong.
    api = v["api_view"]
    assert api["images_without_crop"] == 1
    assert api["fold_accuracies"] == pytest.approx([v["fold_accuracies"][0] * 3 / 4, v["fold_accuracies"][1]])
    assert [t["tar"] for t in v["tar_at_far"]] == [None, None] and "needs >= 1000" in v["tar_at_far"][0]["reason"]
    d = res["diagnostic"]
    assert d["classes"] == N_IDS and sum(b["n_classes"] for b in d["bins"]) == N_IDS
    # Recompute the diagnostic by hand: true center = normalised mean of the normalised embeddings of
    # each class's crops and mirrors (hflip training) with the tuned net; weight = the stored center.
    ckpt = load(tmp / "a" / "ckpt.pt")
    net = DlibResNet()
    net.load_state_dict(ckpt["model"])
    index = index_dataset(tmp / "data", people=set(ckpt["classes"]))
    x = torch.stack([normalize_pixels(load_crop(index.root / f)[None])[0] for f in index.files])
    with torch.no_grad():
        f = torch.cat([F.normalize(net(x), dim=1), F.normalize(net(x.flip(3)), dim=1)])  # (2N, 128)
    true = F.normalize(f.view(2, N_IDS, N_IMGS, -1).sum(dim=(0, 2)), dim=1)  # (K, 128)
    cos = F.cosine_similarity(true, ckpt["head"]["source.centers"]).clamp(-1, 1)
    assert abs(d["angle_mean"] - torch.rad2deg(torch.acos(cos)).mean().item()) < 0.05
    assert (tmp / "eval" / "roc.png").stat().st_size > 0 and (tmp / "eval" / "angles.png").stat().st_size > 0
    # The base model: same pairs, no diagnostic (no classifier).
    assert evaluate.main(args + ["--base", "--out", str(tmp / "eval_base"), "--no-tta"]) == 0
    base = json.loads((tmp / "eval_base" / "results.json").read_text())
    assert base["embedding"].startswith("plain") and "skipped" in base["diagnostic"]


PAIRS_3_FOLDS = """3 2
id6 1 2
id7 1 3
id6 1 id7 2
id8 1 id9 2
id8 2 4
id9 1 2
id6 3 id9 4
id7 4 id8 1
id6 2 3
id7 2 4
id6 4 id8 3
id7 1 id9 1
"""


def test_evaluate_only_the_chosen_folds(runs):
    tmp, _, _ = runs
    (tmp / "pairs3.txt").write_text(PAIRS_3_FOLDS)
    out = tmp / "eval_folds"
    assert evaluate.main(["--checkpoint", str(tmp / "a" / "ckpt.pt"), "--pairs", str(tmp / "pairs3.txt"),
                          "--eval-folds", "2-3", "--out", str(out), "--no-diagnostic"]) == 0
    v = json.loads((out / "results.json").read_text())["verification"]
    assert (v["pairs"], v["fold_ids"], v["dropped_missing_crop"]) == (8, [2, 3], 0)
    assert v["api_view"]["fold_accuracies"] == v["fold_accuracies"]  # nothing missing: the two views agree


def test_evaluate_refuses_training_people(runs):
    tmp, _, _ = runs
    (tmp / "leaky.txt").write_text("1\nid0 1 2\nid6 1 id7 2\n")
    with pytest.raises(ValueError, match="training people also in"):
        evaluate.main(["--checkpoint", str(tmp / "a" / "ckpt.pt"), "--pairs", str(tmp / "leaky.txt"),
                       "--folds", "2", "--out", str(tmp / "eval_leak")])


# ---- data loader ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    write_synthetic(root, seed=1)
    (root / "id0" / "id0_0001.png").unlink()  # id0 now has 3 crops
    Image.new("RGB", (100, 100)).save(root / "id5" / "id5_0099.png")  # a crop of the wrong size
    (root / "notes.txt").write_text("not an identity")
    return root


def test_index_labels_filter_and_counts(data_root):
    idx = index_dataset(data_root)
    assert idx.classes == [f"id{k}" for k in range(N_IDS)]
    assert idx.counts().tolist() == [3, 4, 4, 4, 4, 5]
    assert all(f.startswith(idx.classes[y] + "/") for f, y in zip(idx.files, idx.labels))
    sub = index_dataset(data_root, people={"id3", "id0", "nobody"}, min_images=1)
    assert sub.classes == ["id0", "id3"] and sub.labels == [0] * 3 + [1] * 4
    assert index_dataset(data_root, min_images=4).classes == [f"id{k}" for k in range(1, N_IDS)]
    with pytest.raises(ValueError, match="no identity"):
        index_dataset(data_root, people={"nobody"})


def test_people_file_formats(tmp_path):
    (tmp_path / "lfw.txt").write_text("2\nAaron_Eckhart\t1\nAbel_Pacheco 4\n")
    (tmp_path / "plain.txt").write_text("Ann\nBob\n\n")
    assert read_people_file(tmp_path / "lfw.txt") == {"Aaron_Eckhart", "Abel_Pacheco"}
    assert read_people_file(tmp_path / "plain.txt") == {"Ann", "Bob"}


def test_crops_normalised_flipped_and_size_checked(data_root):
    idx = index_dataset(data_root, people={"id1"})
    raw = np.array(Image.open(data_root / idx.files[0]))
    assert torch.equal(load_crop(data_root / idx.files[0]), torch.from_numpy(raw).permute(2, 0, 1))
    ds = CropDataset(idx, hflip=True, seed=0)
    x, y = ds[0]  # before set_epoch: no flips
    assert y == 0 and x.shape == (3, SIZE, SIZE)
    assert torch.allclose(x, normalize_pixels(torch.from_numpy(raw).permute(2, 0, 1)[None])[0])
    ds.set_epoch(0)
    again = CropDataset(idx, hflip=True, seed=0)
    again.set_epoch(0)
    assert torch.equal(ds.views, again.views)  # flips are a function of (seed, epoch) only
    for i, f in enumerate(idx.files):
        plain = normalize_pixels(load_crop(data_root / f)[None])[0]
        assert torch.equal(ds[i][0], plain.flip(2) if ds.views[i] else plain)
    seen = set()
    for epoch in range(8):
        ds.set_epoch(epoch)
        seen.update(ds.views.tolist())
    assert seen == {0, 1}
    assert not CropDataset(idx, hflip=False).views.any()
    with pytest.raises(ValueError, match="150x150"):
        load_crop(data_root / "id5" / "id5_0099.png")


def test_activation_cache_matches_the_net_and_is_reused(tmp_path):
    torch.set_num_threads(1)
    write_synthetic(tmp_path / "data", seed=2)
    idx = index_dataset(tmp_path / "data", people={"id0", "id1"})
    net = DlibResNet.from_faceapi()
    logs = []
    acts = cached_activations(net, "conv256_down_out", idx, 2, str(tmp_path / "c"), log=logs.append)
    assert acts.shape == (2, 8, 256, 4, 4)
    x = normalize_pixels(load_crop(idx.root / idx.files[3])[None])
    with torch.no_grad():
        assert torch.allclose(acts[0, 3], net.forward_until(x, "conv256_down_out")[0], atol=1e-5)
        assert torch.allclose(acts[1, 3], net.forward_until(x.flip(3), "conv256_down_out")[0], atol=1e-5)
    again = cached_activations(net, "conv256_down_out", idx, 2, str(tmp_path / "c"), log=logs.append)
    assert torch.equal(acts, again) and "loading" in logs[-1]
    ds = ActivationDataset(acts, idx.labels, hflip=True)
    ds.set_epoch(3)
    a, y = ds[5]
    assert y == 1 and torch.equal(a, acts[int(ds.views[5]), 5])
