"""Heads: hand-computed logits on 2-d inputs, target-only margins, A-Softmax psi/lambda, IR gradient isolation."""
import math

import pytest
import torch
import torch.nn.functional as F

from irface_ml.heads import HEADS, AMConfig, build_head, sphere_psi

SQ3 = math.sqrt(3.0)


def set_weights(head, rows):
    """Put literal rows into a head's weight source (learned W or IR centers)."""
    w = torch.tensor(rows, dtype=torch.float32)
    if head.centers is not None:
        head.centers.centers.copy_(F.normalize(w, dim=1))
    else:
        head.source.weight.data.copy_(w)


def test_registry_names_and_errors():
    assert set(HEADS) == {"softmax", "am", "a", "arc", "ir_am", "ir_a"}
    with pytest.raises(ValueError, match=r'Unsupported head "cos".*softmax, am, a, arc, ir_am, ir_a'):
        build_head("cos", None, 3, 2)
    with pytest.raises(ValueError, match=r"unknown keys \['margin'\]"):
        build_head("am", {"margin": 0.3}, 3, 2)
    with pytest.raises(ValueError, match=r"unknown keys \['beta'\]"):
        build_head("ir_am", {"centers": {"beta": 1}}, 3, 2)
    with pytest.raises(TypeError, match="expected int"):
        build_head("a", {"m": 4.0}, 3, 2)
    with pytest.raises(ValueError, match="Should be one of: center, ema"):
        build_head("ir_a", {"centers": {"rule": "sgd"}}, 3, 2)
    h = build_head("ir_am", {"s": 10, "centers": {"rule": "ema", "alpha": 0.1}}, 3, 2)
    assert (h.margin.s, h.centers.cfg.rule, h.centers.cfg.alpha) == (10.0, "ema", 0.1)
    assert build_head("am", AMConfig(s=5.0), 3, 2).margin.s == 5.0


@pytest.mark.parametrize("name", sorted(HEADS))
def test_every_head_gives_nk_logits_and_kd_weights(name):
    head = build_head(name, None, 5, 3)
    x = torch.randn(4, 3)
    assert head(x, torch.tensor([0, 1, 2, 4])).shape == (4, 5)
    assert head(x).shape == (4, 5)
    w = head.class_weights()
    assert w.shape == (5, 3) and not w.requires_grad


def test_softmax_logits_are_wx_plus_b():
    head = build_head("softmax", None, 3, 2)
    head.fc.weight.data.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
    head.fc.bias.data.copy_(torch.tensor([0.5, 0.0, -1.0]))
    x = torch.tensor([[1.0, 2.0]])
    assert torch.allclose(head(x, torch.tensor([0])), torch.tensor([[1.5, 2.0, 2.0]]))
    assert torch.equal(head.class_weights(), head.fc.weight.detach())


@pytest.mark.parametrize("name", ["am", "ir_am"])
def test_am_logits_margin_only_on_target(name):
    head = build_head(name, {"s": 10.0, "m": 0.2}, 2, 2)
    set_weights(head, [[2.0, 0.0], [0.0, 1.0]])  # norms differ: weights must be normalised
    x = torch.tensor([[3.0, 4.0], [3.0, 4.0]])  # f = (0.6, 0.8): cos = (0.6, 0.8)
    logits = head(x, torch.tensor([0, 1]))
    expected = torch.tensor([[10 * (0.6 - 0.2), 8.0], [6.0, 10 * (0.8 - 0.2)]])
    assert torch.allclose(logits, expected, atol=1e-5)
    assert torch.allclose(head(x), torch.tensor([[6.0, 8.0], [6.0, 8.0]]), atol=1e-5)


def test_arc_logits_at_hand_angles():
    head = build_head("arc", {"s": 1.0, "m": math.pi / 6}, 2, 2)
    set_weights(head, [[1.0, 0.0], [0.0, 1.0]])
    x = torch.tensor([[1.0, SQ3]])  # 60 deg from class 0, 30 deg from class 1
    # target: cos(60 + 30 deg) = 0; other class untouched: cos 30 deg
    assert torch.allclose(head(x, torch.tensor([0])), torch.tensor([[0.0, SQ3 / 2]]), atol=1e-6)
    # target class 1: cos(30 + 30 deg) = 0.5; class 0 keeps cos 60 deg = 0.5
    assert torch.allclose(head(x, torch.tensor([1])), torch.tensor([[0.5, 0.5]]), atol=1e-6)


@pytest.mark.parametrize("easy, deg, expected", [
    (False, 100.0, -0.6245326000340119),  # theta + m < pi: cos(100 deg + 0.5 rad)
    (True, 100.0, -0.17364817766693028),  # easy margin: cos <= 0 keeps plain cos(100 deg)
    (False, 170.0, -1.2245205223143096),  # theta > pi - m: cos 170 deg - 0.5 sin 0.5
    (True, 170.0, -0.984807753012208),
])
def test_arc_fallback_past_pi(easy, deg, expected):
    head = build_head("arc", {"s": 1.0, "m": 0.5, "easy_margin": easy}, 2, 2)
    set_weights(head, [[1.0, 0.0], [0.0, 1.0]])
    t = math.radians(deg)
    logits = head(torch.tensor([[math.cos(t), math.sin(t)]]), torch.tensor([0]))
    assert logits[0, 0].item() == pytest.approx(expected, abs=1e-5)
    assert logits[0, 1].item() == pytest.approx(math.sin(t), abs=1e-6)


def test_arc_gradient_finite_when_feature_equals_weight():
    head = build_head("arc", None, 2, 2)
    set_weights(head, [[1.0, 0.0], [0.0, 1.0]])
    x = torch.tensor([[1.0, 0.0]], requires_grad=True)
    F.cross_entropy(head(x, torch.tensor([0])), torch.tensor([0])).backward()
    assert torch.isfinite(x.grad).all() and torch.isfinite(head.source.weight.grad).all()


def test_sphere_psi_at_known_angles():
    theta = torch.tensor([0.0, math.pi / 6, math.pi / 3, math.pi / 2, math.pi], dtype=torch.float64)
    psi = sphere_psi(torch.cos(theta), 4)
    assert torch.allclose(psi, torch.tensor([1.0, -0.5, -1.5, -3.0, -7.0], dtype=torch.float64), atol=1e-9)
    # continuous and decreasing across the interval boundaries k pi / 4
    grid = torch.linspace(0, math.pi, 2001, dtype=torch.float64)
    p = sphere_psi(torch.cos(grid), 4)
    assert (p[1:] - p[:-1] < 1e-12).all() and (p[1:] - p[:-1]).abs().max() < 0.05


def test_sphere_lambda_anneals_per_step():
    head = build_head("a", None, 2, 2)
    x, y = torch.randn(3, 2), torch.tensor([0, 1, 0])
    assert head.margin.lam() == pytest.approx(1000.0)
    head.after_step(x, y)
    assert int(head.margin.iteration) == 1
    assert head.margin.lam() == pytest.approx(1000.0 / 1.12)
    head.margin.iteration.fill_(1658)
    assert head.margin.lam() == pytest.approx(5.001000200040009)
    head.margin.iteration.fill_(1659)  # 1000 / 200.08 < 5: clamped at lambda_min
    assert head.margin.lam() == 5.0
    assert "margin.iteration" in head.state_dict()  # resumes with the checkpoint


@pytest.mark.parametrize("name", ["a", "ir_a"])
def test_sphere_logits_keep_feature_length(name):
    x = torch.tensor([[1.0, SQ3]])  # |x| = 2, 60 deg from class 0: psi = -1.5, cos = 0.5
    pure = build_head(name, {"lambda_base": 0.0, "lambda_min": 0.0}, 2, 2)  # lambda = 0: psi only
    set_weights(pure, [[3.0, 0.0], [0.0, 1.0]])
    assert torch.allclose(pure(x, torch.tensor([0])), torch.tensor([[2 * -1.5, SQ3]]), atol=1e-5)
    assert torch.allclose(pure(x), torch.tensor([[1.0, SQ3]]), atol=1e-5)
    mixed = build_head(name, {"lambda_base": 5.0, "lambda_min": 5.0}, 2, 2)
    set_weights(mixed, [[1.0, 0.0], [0.0, 1.0]])
    # 2 * (psi + 5 cos) / 6 = 2 * (-1.5 + 2.5) / 6
    assert torch.allclose(mixed(x, torch.tensor([0])), torch.tensor([[1.0 / 3.0, SQ3]]), atol=1e-5)


@pytest.mark.parametrize("name", ["ir_am", "ir_a"])
def test_ir_heads_give_no_gradient_to_centers(name):
    head = build_head(name, None, 3, 4)
    assert list(head.parameters()) == []
    buffers = dict(head.named_buffers())
    assert "source.centers" in buffers and not buffers["source.centers"].requires_grad
    x = torch.randn(6, 4, requires_grad=True)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    F.cross_entropy(head(x, y), y).backward()
    assert head.centers.centers.grad is None
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert torch.allclose(head.class_weights(), F.normalize(head.centers.centers, dim=1))


def test_learned_am_weights_do_get_gradient():
    head = build_head("am", None, 3, 4)
    y = torch.tensor([0, 1, 2])
    F.cross_entropy(head(torch.randn(3, 4), y), y).backward()
    assert head.source.weight.grad is not None and head.source.weight.grad.abs().sum() > 0


def test_ir_after_step_moves_centers_and_advances_lambda():
    head = build_head("ir_a", {"centers": {"rule": "ema", "alpha": 1.0}}, 2, 2)
    set_weights(head, [[1.0, 0.0], [0.0, 1.0]])
    head.after_step(torch.tensor([[0.0, 5.0]]), torch.tensor([0]))  # alpha = 1: center := batch mean
    assert torch.allclose(head.class_weights(), torch.tensor([[0.0, 1.0], [0.0, 1.0]]), atol=1e-6)
    assert int(head.margin.iteration) == 1
