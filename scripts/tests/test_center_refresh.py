# center_refresh: after a refresh every IR center is the exact normalised class mean (angle ~0); wiring in train.py.
import pytest
import torch
import torch.nn.functional as F

import evaluate
import train
from irface_ml.centers import CenterBank, CenterConfig
from irface_ml.config import build_config
from irface_ml.data import ActivationDataset, dataset_class_sums
from test_train_e2e import N_IDS, write_synthetic

K, D_IN, D = 5, 6, 4
LABELS = [0, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3, 3]  # class 4 has no sample: its center must stay put


def exact_centers(acts, net, labels, views):
    """(K, D) normalised mean of the normalised features of every sample in every view: the true centers."""
    f = F.normalize(net(acts[:views].flatten(0, 1)), dim=1)  # (V*N, D)
    y = torch.tensor(labels).repeat(views)
    return F.normalize(torch.zeros(K, D).index_add_(0, y, f), dim=1)


def angles(a, b):
    return torch.rad2deg(torch.acos((F.normalize(a, dim=1) * F.normalize(b, dim=1)).sum(1).clamp(-1, 1)))


@pytest.mark.parametrize("hflip", [True, False])
def test_refresh_sets_exact_class_means_and_keeps_views(hflip):
    torch.manual_seed(0)
    acts = torch.randn(2, len(LABELS), D_IN)  # (V, N, D_IN): crop and mirror
    net = torch.nn.Linear(D_IN, D)
    data = ActivationDataset(acts, LABELS, hflip=hflip, seed=0)
    data.set_epoch(3)
    views_before = data.views.clone()
    bank = CenterBank(K, D, CenterConfig(rule="center", alpha=0.5))
    bank.update(net(acts[0, :3]).detach(), torch.tensor(LABELS[:3]))  # some per-step updates: lagging centers
    untouched = bank.centers[4].clone()
    truth = exact_centers(acts, net, LABELS, 2 if hflip else 1)
    assert angles(bank.centers[:4], truth[:4]).min() > 1.0  # they do lag before the refresh

    with torch.no_grad():
        sums, counts = dataset_class_sums(net, data, K, D, all_views=True, batch_size=5)
    moved = bank.refresh_from_sums(sums, counts)

    assert torch.equal(data.views, views_before)  # the epoch's flips are restored
    assert counts.tolist() == [c * (2 if hflip else 1) for c in (1, 2, 3, 6, 0)]
    assert angles(bank.centers[:4], truth[:4]).max() < 1e-2  # exact: angle ~0
    assert torch.allclose(bank.centers.norm(dim=1), torch.ones(K))
    assert torch.equal(bank.centers[4], untouched) and moved[4] < 0.1  # no sample: kept
    assert (moved[:4] > 1.0).all()


def test_refresh_needs_an_ir_head_and_valid_values():
    assert build_config({"head": "ir_am", "center_refresh": "epoch"}).center_refresh == "epoch"
    with pytest.raises(ValueError, match="need an IR head"):
        build_config({"head": "am", "center_refresh": "epoch"})
    with pytest.raises(ValueError, match="Should be one of: none, epoch"):
        build_config({"center_refresh": "always"})
    with pytest.raises(ValueError, match=">= 0"):
        build_config({"center_refresh_every": -1})


def test_train_with_refresh_leaves_centers_on_the_true_centers(tmp_path):
    """A short IR-AM run with center_refresh=epoch: evaluate.py's diagnostic then reads ~0 deg in every bin."""
    torch.set_num_threads(1)
    write_synthetic(tmp_path / "data", n_ids=N_IDS)
    sets = {"data_dir": tmp_path / "data", "cache_dir": tmp_path / "acts", "out_dir": tmp_path / "run",
            "head": "ir_am", "lr": 1e-3, "layer_lr": '{"fc.": 0.01}', "batch_size": 8, "epochs": 2,
            "warmup_steps": 2, "center_refresh": "epoch", "center_refresh_every": 2, "num_workers": 0}
    assert train.main([a for k, v in sets.items() for a in ("--set", f"{k}={v}")]) == 0
    ckpt = torch.load(tmp_path / "run" / "ckpt.pt", weights_only=True)
    net = train.DlibResNet.from_faceapi()
    net.load_state_dict(ckpt["model"])
    args = type("Args", (), {"data": tmp_path / "data", "batch_size": 8})()
    result, _ = evaluate.diagnostic(net.eval(), ckpt, args, torch.device("cpu"))
    assert max(b["mean"] for b in result["bins"] if b["mean"] is not None) < 0.1
