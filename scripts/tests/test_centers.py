"""Class centers: init, exact one-step updates under both rules, all-reduce (no-op and 2-process gloo), spread."""
import math
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F

from irface_ml.centers import (
    CenterBank, CenterConfig, all_reduce_sums, class_sums, is_collapsed, mean_pairwise_cosine, random_unit,
)

R2 = 1 / math.sqrt(2.0)


def bank(rows, **cfg):
    b = CenterBank(len(rows), len(rows[0]), CenterConfig(**cfg))
    b.centers.copy_(torch.tensor(rows))
    return b


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match='Unsupported center rule "mean". Should be one of: center, ema'):
        CenterConfig(rule="mean")
    for alpha in (0.0, 1.5):
        with pytest.raises(ValueError, match="alpha"):
            CenterConfig(alpha=alpha)


def test_centers_are_a_buffer_not_a_parameter():
    b = CenterBank(3, 2)
    assert list(b.parameters()) == [] and "centers" in b.state_dict()
    assert not b.centers.requires_grad and not b.weights().requires_grad
    assert torch.allclose(b.centers.norm(dim=1), torch.ones(3))


def test_init_from_features_means_of_normalised_features():
    b = CenterBank(3, 2, CenterConfig(init_seed=7))
    feats = torch.tensor([[2.0, 0.0], [0.0, 3.0], [-4.0, 0.0]])  # class 0: (1,0),(0,1); class 1: (-1,0)
    b.init_from(feats, torch.tensor([0, 0, 1]))
    assert torch.allclose(b.centers[0], torch.tensor([R2, R2]))
    assert torch.allclose(b.centers[1], torch.tensor([-1.0, 0.0]))
    # class 2 has no samples: the seeded random unit vector, the same on every rank
    assert torch.allclose(b.centers[2], random_unit(3, 2, 7)[2])


def test_center_rule_one_step_exact():
    b = bank([[1.0, 0.0], [0.0, 1.0]], rule="center", alpha=0.5)
    b.update(torch.tensor([[0.0, 1.0], [0.0, 2.0]]), torch.tensor([0, 0]))
    # n=2, f=(0,1) twice: delta = (2 c - (0,2)) / 3 = (2/3, -2/3); c - 0.5 delta = (2/3, 1/3) -> unit
    assert torch.allclose(b.centers[0], torch.tensor([2.0, 1.0]) / math.sqrt(5.0))
    assert torch.equal(b.centers[1], torch.tensor([0.0, 1.0]))  # absent class does not move


def test_ema_rule_one_step_exact():
    b = bank([[1.0, 0.0], [0.0, 1.0]], rule="ema", alpha=0.25)
    b.update(torch.tensor([[0.0, 3.0], [-2.0, 0.0]]), torch.tensor([0, 1]))
    # class 0: 0.75 (1,0) + 0.25 (0,1); class 1: 0.75 (0,1) + 0.25 (-1,0); then unit length
    assert torch.allclose(b.centers[0], torch.tensor([0.75, 0.25]) / math.sqrt(0.625))
    assert torch.allclose(b.centers[1], torch.tensor([-0.25, 0.75]) / math.sqrt(0.625))


@pytest.mark.parametrize("rule", ["center", "ema"])
def test_centers_move_toward_their_class(rule):
    torch.manual_seed(0)
    b = CenterBank(4, 8, CenterConfig(rule=rule, alpha=0.3, init_seed=123))  # start away from target
    target = F.normalize(torch.randn(4, 8), dim=1)
    labels = torch.arange(4).repeat(5)
    feats = target[labels] + 0.05 * torch.randn(20, 8)
    before = (b.centers * target).sum(1)
    b.update(feats, labels)
    after = (b.centers * target).sum(1)
    assert (after > before).all()
    assert torch.allclose(b.centers.norm(dim=1), torch.ones(4))


def test_all_reduce_is_identity_without_process_group():
    assert not dist.is_initialized()
    s, c = class_sums(torch.tensor([[3.0, 4.0]]), torch.tensor([1]), 2)
    s2, c2 = all_reduce_sums(s, c)
    assert s2 is s and c2 is c
    assert torch.allclose(s, torch.tensor([[0.0, 0.0], [0.6, 0.8]])) and torch.equal(c, torch.tensor([0.0, 1.0]))


def test_spread_monitor():
    assert mean_pairwise_cosine(torch.eye(3)) == pytest.approx(0.0)
    assert mean_pairwise_cosine(torch.tensor([[1.0, 0.0], [-2.0, 0.0]])) == pytest.approx(-1.0)
    collapsed = torch.tensor([[1.0, 1.0]]).repeat(5, 1)
    assert mean_pairwise_cosine(collapsed) == pytest.approx(1.0) and is_collapsed(mean_pairwise_cosine(collapsed))
    v = torch.randn(7, 5)
    u = F.normalize(v, dim=1)
    brute = (u @ u.T)[~torch.eye(7, dtype=torch.bool)].mean().item()
    assert mean_pairwise_cosine(v) == pytest.approx(brute, abs=1e-6)
    assert CenterBank(2, 2).spread() == pytest.approx(mean_pairwise_cosine(CenterBank(2, 2).centers))


RANK_BATCHES = [  # each rank sees different samples; class 2 only on rank 1
    (torch.tensor([[0.0, 1.0], [1.0, 1.0]]), torch.tensor([0, 1])),
    (torch.tensor([[0.0, 2.0], [-1.0, 0.0], [1.0, -1.0]]), torch.tensor([0, 2, 1])),
]
START = [[1.0, 0.0], [0.0, 1.0], [R2, R2]]


def _worker(rank, port, out_dir):
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    try:
        b = bank(START, rule="center", alpha=0.5)
        b.update(*RANK_BATCHES[rank])
        torch.save(b.centers.clone(), f"{out_dir}/centers{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_two_process_update_matches_single_process_on_global_batch(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_worker, args=(port, str(tmp_path)), nprocs=2, join=True)
    c0, c1 = (torch.load(tmp_path / f"centers{r}.pt") for r in (0, 1))
    assert torch.equal(c0, c1)
    single = bank(START, rule="center", alpha=0.5)
    (x0, y0), (x1, y1) = RANK_BATCHES
    single.update(torch.cat([x0, x1]), torch.cat([y0, y1]))
    assert torch.allclose(c0, single.centers, atol=1e-6)


def test_feature_spread_sees_dead_and_one_way_features():
    from irface_ml.centers import feature_spread
    assert feature_spread(torch.zeros(5, 8)) == 1.0  # a dead network: every embedding 0
    assert feature_spread(torch.ones(5, 8) * torch.arange(1, 6)[:, None]) == pytest.approx(1.0)
    assert feature_spread(torch.eye(4)) == pytest.approx(0.0)
