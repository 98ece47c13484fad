import dataclasses

import pytest
import torch

from harness.config.specs import TrainSpec
from harness.train import recipes

TRAIN = TrainSpec(epochs=10, seed=0, lr_g=1.0, objective="bce")


@pytest.mark.parametrize("schedule,end", [("none", 1.0), ("cosine", 0.0), ("exponential", recipes.EXPONENTIAL_END)])
def test_lr_schedules_start_at_the_lr_and_reach_their_end_value(schedule, end):
    train = dataclasses.replace(TRAIN, lr_schedule=schedule)
    opt = recipes.optimizer(train, [torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = recipes.scheduler(train, opt)
    lrs = []
    for _ in range(train.epochs):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[0] == 1.0
    assert opt.param_groups[0]["lr"] == pytest.approx(end, abs=1e-12)
    assert lrs == sorted(lrs, reverse=True)


def test_ema_update_is_the_exponential_average():
    G = torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        G.weight.fill_(0.0)
    ema = recipes.ema(G, decay=0.9)
    with torch.no_grad():
        G.weight.fill_(1.0)
    ema.update_parameters(G)  # the first update copies
    assert ema.module.weight.item() == pytest.approx(1.0)
    with torch.no_grad():
        G.weight.fill_(2.0)
    ema.update_parameters(G)
    assert ema.module.weight.item() == pytest.approx(0.9 * 1.0 + 0.1 * 2.0)
    assert recipes.ema(G, decay=0.0) is None


@pytest.mark.parametrize("name,kind", [("adam", torch.optim.Adam), ("rmsprop", torch.optim.RMSprop)])
def test_optimizers_by_name(name, kind):
    train = dataclasses.replace(TRAIN, optimizer=name, beta1=0.0, beta2=0.9)
    opt = recipes.optimizer(train, [torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    assert isinstance(opt, kind) and opt.param_groups[0]["lr"] == 0.1
    if name == "adam":
        assert opt.param_groups[0]["betas"] == (0.0, 0.9)
