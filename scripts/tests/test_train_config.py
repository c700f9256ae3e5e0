# TrainConfig overrides and validation, and train.py's small helpers (scale folding, lr groups, schedule).
import json
from pathlib import Path

import pytest
import torch

import train
from irface_ml.config import TrainConfig, build_config, load_config, merge_set, save_config
from irface_ml.dlib_resnet import DlibResNet

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"


def test_defaults_are_valid_and_plain():
    cfg = TrainConfig()
    d = cfg.to_dict()
    assert json.loads(json.dumps(d)) == d  # JSON-safe, so also safe for torch.load(weights_only=True)
    assert build_config(d) == cfg  # the saved dict rebuilds the same config
    assert cfg.head == "ir_am" and cfg.train_from == "conv256_down_out" and cfg.cache_features


def test_set_values_are_typed():
    cfg = load_config(sets=["lr=1e-3", "epochs=3", "hflip=false", "out_dir=runs/x", 'train_people=["a.txt"]',
                            "head_config.m=0.4", "head_config.s=64", "center_alpha=1"])
    assert cfg.lr == 1e-3 and cfg.epochs == 3 and cfg.hflip is False and cfg.out_dir == "runs/x"
    assert cfg.train_people == ["a.txt"] and cfg.head_config == {"m": 0.4, "s": 64}
    assert isinstance(cfg.center_alpha, float)  # an int literal is accepted for a float field


def test_unknown_key_rejected_with_valid_keys():
    with pytest.raises(ValueError, match=r"unknown config keys \['learning_rate'\]\. Valid keys: data_dir, .*lr"):
        load_config(sets=["learning_rate=0.1"])
    with pytest.raises(ValueError, match="unknown config keys"):
        build_config({"epoch": 3})


def test_unknown_key_in_json_file_rejected(tmp_path):
    (tmp_path / "x.json").write_text(json.dumps({"lr": 1e-3, "momentun": 0.9}))
    with pytest.raises(ValueError, match=r"\['momentun'\].*momentum"):
        load_config([tmp_path / "x.json"])
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="JSON object"):
        load_config([tmp_path / "list.json"])


def test_bad_types_and_choices_named():
    with pytest.raises(TypeError, match="epochs: expected int"):
        load_config(sets=["epochs=1.5"])
    with pytest.raises(TypeError, match="lr: expected float"):
        load_config(sets=["lr=true"])
    with pytest.raises(TypeError, match="train_people"):
        load_config(sets=["train_people=a.txt"])  # a bare string is not a list of files
    with pytest.raises(ValueError, match='Unsupported train_from "conv999".*conv256_down_out, fc'):
        load_config(sets=["train_from=conv999"])
    with pytest.raises(ValueError, match='Unsupported head "cos"'):
        load_config(sets=["head=cos"])
    with pytest.raises(ValueError, match="must be positive"):
        load_config(sets=["lr=0"])
    with pytest.raises(ValueError, match="cache_features needs a frozen front"):
        load_config(sets=["train_from=all"])
    with pytest.raises(ValueError, match="center_rule and center_alpha"):
        load_config(sets=['head_config={"centers": {"alpha": 0.1}}'])
    with pytest.raises(ValueError, match="key=value"):
        merge_set({}, "lr")


def test_files_then_sets_last_wins(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps({"lr": 1e-3, "epochs": 5, "head_config": {"m": 0.3}}))
    (tmp_path / "b.json").write_text(json.dumps({"epochs": 7}))
    cfg = load_config([tmp_path / "a.json", tmp_path / "b.json"], ["lr=1e-5", "head_config.s=20"])
    assert (cfg.lr, cfg.epochs, cfg.head_config) == (1e-5, 7, {"m": 0.3, "s": 20})


def test_head_kwargs_carry_center_rule_only_for_ir():
    ir = load_config(sets=["center_rule=ema", "center_alpha=0.1", "seed=3", "head_config.m=0.4"])
    assert ir.head_kwargs() == {"m": 0.4, "centers": {"rule": "ema", "alpha": 0.1, "init_seed": 3}}
    assert load_config(sets=["head=am"]).head_kwargs() == {}


def test_save_config_roundtrip(tmp_path):
    cfg = load_config(sets=["lr=3e-4", 'layer_lr={"fc.": 0.1}'])
    save_config(cfg, tmp_path / "config.json")
    assert build_config(json.loads((tmp_path / "config.json").read_text())) == cfg


def test_experiment_files_load():
    files = sorted(EXPERIMENTS.glob("*.json"))
    assert files
    for f in files:
        load_config([f])


# ---- train.py helpers -------------------------------------------------------------------------------


def test_fold_scales_keeps_the_function_and_shrinks_gradient_ratios():
    torch.manual_seed(0)
    net = DlibResNet.from_faceapi()
    x = torch.randn(2, 256, 4, 4).relu()
    with torch.no_grad():
        before = net.forward_from("conv256_down_out", x)
    train.fold_scales(net.conv256_down_out)
    with torch.no_grad():
        after = net.forward_from("conv256_down_out", x)
    assert torch.allclose(before, after, rtol=1e-4, atol=1e-4)
    layer = net.conv256_down_out.conv1
    assert torch.equal(layer.scale.weights, torch.ones(256)) and not layer.scale.biases.any()
    assert net.conv256_down_out.conv1.conv.weight.pow(2).mean().sqrt() > 5e-3  # ~1.3e-2, was ~2e-3
    base = DlibResNet.from_faceapi()
    assert torch.equal(net.conv256_2.conv1.scale.weights, base.conv256_2.conv1.scale.weights)  # others untouched


def test_param_groups_longest_prefix_and_no_decay_on_vectors():
    net = DlibResNet()
    named = [(n, p) for n, p in net.named_parameters() if n.startswith(("conv256_down_out", "fc"))]
    cfg = build_config({"lr": 0.1, "weight_decay": 1e-4,
                        "layer_lr": {"conv256_down_out.": 2.0, "conv256_down_out.conv2.": 0.5, "fc.": 0.01}})
    groups = {(g["lr_mult"], g["weight_decay"]): g for g in train.param_groups(named, cfg)}
    ids = {id(p): n for n, p in named}
    names = {k: sorted(ids[id(p)] for p in g["params"]) for k, g in groups.items()}
    assert names[(0.01, 1e-4)] == ["fc.weight"]
    assert names[(2.0, 1e-4)] == ["conv256_down_out.conv1.conv.weight"]
    assert "conv256_down_out.conv2.conv.bias" in names[(0.5, 0.0)]
    assert all(groups[k]["lr"] == pytest.approx(0.1 * k[0]) for k in groups)
    assert sum(len(g["params"]) for g in groups.values()) == len(named)


def test_lr_schedule_warmup_and_cosine():
    cfg = build_config({"lr": 1.0, "warmup_steps": 10})
    assert train.lr_at(0, 100, cfg) == pytest.approx(0.1 * 0.5 * (1 + 1.0))
    assert train.lr_at(50, 100, cfg) == pytest.approx(0.5)
    assert train.lr_at(100, 100, cfg) == pytest.approx(0.0)
    const = build_config({"lr": 1.0, "warmup_steps": 0, "schedule": "constant"})
    assert train.lr_at(0, 100, const) == train.lr_at(99, 100, const) == 1.0
