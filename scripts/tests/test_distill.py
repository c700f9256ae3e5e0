# Distillation term: zero at the teacher, 1 - cos otherwise, gradient to the student only; a frozen teacher copy.
import pytest
import torch

from irface_ml.distill import FrozenTeacher, cosine_distillation


def test_cosine_distillation_values_and_gradient():
    t = torch.tensor([[1.0, 0.0], [0.0, 2.0]], requires_grad=True)
    s = torch.tensor([[3.0, 0.0], [1.0, 0.0]], requires_grad=True)  # same direction; orthogonal
    loss = cosine_distillation(s, t)
    assert loss.item() == pytest.approx(0.5)  # (0 + 1) / 2
    loss.backward()
    assert t.grad is None and s.grad is not None and s.grad[1].abs().sum() > 0
    assert cosine_distillation(t, t).item() == pytest.approx(0.0, abs=1e-7)
    with pytest.raises(ValueError, match=r"\(B, d\)"):
        cosine_distillation(s, t[:1])


def test_teacher_is_a_frozen_copy():
    net = torch.nn.Linear(3, 2)
    teacher = FrozenTeacher(net)
    x = torch.randn(4, 3)
    before = teacher(x)
    with torch.no_grad():
        net.weight.add_(1.0)  # training the student must not move the teacher
    assert torch.equal(teacher(x), before) and not teacher(x).requires_grad
    assert not any(p.requires_grad for p in teacher.parameters())
