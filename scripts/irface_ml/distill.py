"""Embedding distillation: a term that keeps the fine-tuned embedding near the frozen base network's."""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def cosine_distillation(student: Tensor, teacher: Tensor) -> Tensor:
    """Mean over the batch of 1 - cos(student_i, teacher_i); (B, d), (B, d) -> scalar in [0, 2].

    Directions only, because the served model compares L2-normalised embeddings; the teacher gets no
    gradient. The base was trained on ~3M faces (dlib), LFW has 13k: the term lets a margin loss
    reshape the space without forgetting what the base knew. Same idea as feature distillation in
    incremental learning (e.g. "Learning without Forgetting", Li & Hoiem 2016, on outputs).
    """
    if student.shape != teacher.shape or student.ndim != 2:
        raise ValueError(f"student and teacher must both be (B, d), got {tuple(student.shape)}, "
                         f"{tuple(teacher.shape)}")
    return (1.0 - F.cosine_similarity(student.float(), teacher.detach().float(), dim=1)).mean()


class FrozenTeacher(nn.Module):
    """A frozen copy of the network as it was when training started: (B, 3, 150, 150) -> (B, d), no grad.

    Copied before any training step (and before a resumed checkpoint is loaded into the student), so on
    resume the teacher is still the base network, not the half-tuned one.
    """

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = copy.deepcopy(net).requires_grad_(False).eval()

    @torch.no_grad()
    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)
