# Whole-network fine-tuning on synthetic identities: augmentation, frozen prefix, distillation, resume, collapse guard.
import csv

import pytest
import torch

import train
from irface_ml.dlib_resnet import DlibResNet
from irface_ml.optim import fold_scales
from test_train_e2e import write_synthetic

N_IDS, BATCH = 4, 6  # 4 crops each (write_synthetic): 2 steps per epoch


@pytest.fixture(scope="module")
def whole(tmp_path_factory):
    """A: 2 epochs straight. B: 1 epoch, then resumed to 2. C: as A without distillation, lr x10."""
    torch.set_num_threads(2)
    tmp = tmp_path_factory.mktemp("whole")
    write_synthetic(tmp / "data", seed=5, n_ids=N_IDS)
    sets = {"data_dir": tmp / "data", "train_from": "all", "cache_features": "false", "augment": "true",
            "head": "ir_am", "freeze": '["conv32_down."]', "train_scales": "false", "distill": 1.0,
            "lr": 1e-3, "warmup_steps": 1, "schedule": "constant", "batch_size": BATCH, "log_every": 1,
            "num_workers": 0}
    common = [a for k, v in sets.items() for a in ("--set", f"{k}={v}")]
    assert train.main(common + ["--set", "epochs=2", "--set", f"out_dir={tmp / 'a'}"]) == 0
    assert train.main(common + ["--set", "epochs=1", "--set", f"out_dir={tmp / 'b'}"]) == 0
    assert train.main(common + ["--set", "epochs=2", "--set", f"out_dir={tmp / 'b'}",
                                "--resume", str(tmp / "b" / "ckpt.pt")]) == 0
    return tmp, common


def load(path):
    return torch.load(path, map_location="cpu", weights_only=True)


def test_every_layer_but_the_frozen_prefix_trains(whole):
    tmp, _ = whole
    model = load(tmp / "a" / "ckpt.pt")["model"]
    base = DlibResNet.from_faceapi()
    fold_scales(base)  # training starts from the folded net (same function)
    ref = base.state_dict()
    frozen = [k for k in ref if k.startswith("conv32_down.") or ".scale." in k]
    assert all(torch.equal(model[k], ref[k]) for k in frozen)
    trained = [k for k in ref if k not in frozen]
    assert {k.split(".")[0] for k in trained} == {n for n in train.BLOCK_NAMES if n not in ("max_pool", "conv32_down")} | {"fc"}
    moved = [k for k in trained if not torch.equal(model[k], ref[k])]
    assert moved == trained  # every trainable tensor moved, the first block and the Scale vectors did not


def test_distillation_is_logged_and_resume_is_exact(whole):
    tmp, _ = whole
    rows = list(csv.DictReader(open(tmp / "a" / "log.csv")))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    d = [float(r["distill"]) for r in rows]
    assert all(0 < v < 1 for v in d), d  # 0 at the first step (student = teacher), then the net moves away
    a, b = load(tmp / "a" / "ckpt.pt"), load(tmp / "b" / "ckpt.pt")
    assert b["step"] == a["step"] == 4 and len(list(csv.DictReader(open(tmp / "b" / "log.csv")))) == 2
    for part in ("model", "head"):
        for key, value in a[part].items():
            assert torch.allclose(value, b[part][key], atol=1e-6), (part, key)


def test_distillation_keeps_the_embedding_near_the_base(whole):
    """The same run without the term (lambda 0) ends farther from the base network's embeddings."""
    tmp, common = whole
    assert train.main(common + ["--set", "distill=0", "--set", "epochs=2", "--set", f"out_dir={tmp / 'c'}"]) == 0
    x = torch.randn(6, 3, 150, 150, generator=torch.Generator().manual_seed(0)) * 0.3
    base = DlibResNet.from_faceapi()

    def distance(run):
        net = DlibResNet()
        net.load_state_dict(load(tmp / run / "ckpt.pt")["model"])
        with torch.no_grad():
            return (1 - torch.nn.functional.cosine_similarity(net(x), base(x))).mean().item()
    assert distance("a") < distance("c")


def test_collapse_guard_stops_whole_network_training(whole):
    tmp, common = whole
    out = tmp / "collapse"
    rc = train.main(common + ["--set", "distill=0", "--set", "lr=0.5", "--set", "epochs=3",
                              "--set", f"out_dir={out}"])
    assert rc == train.EXIT_COLLAPSED
    rows = list(csv.DictReader(open(out / "log.csv")))
    # At lr 0.5 the first steps kill the ReLUs: every embedding is 0 (feature spread 1.0) while the centers
    # keep their directions (class-weight spread ~0.96): only the feature guard sees it.
    assert len(rows) < 3 and float(rows[-1]["feature_spread"]) >= 0.99, rows[-1]
