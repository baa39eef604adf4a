"""Stacked optimizers against torch.optim, stepped with identical gradients (lock-step)."""

import pytest
import torch

from workbench import schedules
from workbench.optim import SGD, AdamW, StackedAdamW, StackedSGD, sgd_reference_step

N, P, STEPS = 3, 37, 20


def _hyper(tables_per_run, names, t):
    return {
        h: torch.tensor([[tab[h][t]] for tab in tables_per_run], dtype=torch.float32) for h in names
    }


@pytest.mark.parametrize("nesterov", [False, True])
def test_stacked_sgd_matches_torch_sgd_every_step(nesterov):
    specs = [
        SGD(lr=0.1, momentum=0.9, weight_decay=0.01, nesterov=nesterov),
        SGD(lr=schedules.cosine(peak=0.3, steps=STEPS, warmup=4), momentum=0.5, nesterov=nesterov),
        SGD(
            lr=schedules.linear(start=0.05, end=0.0, steps=STEPS),
            momentum=0.99,
            weight_decay=0.1,
            nesterov=nesterov,
        ),
    ]
    tables = [s.tables(STEPS) for s in specs]
    init = torch.randn(N, P)
    flat = init.clone()
    opt = StackedSGD(flat, nesterov=nesterov)
    refs = [init[i].clone().requires_grad_() for i in range(N)]
    ref_opts = [
        torch.optim.SGD([refs[i]], lr=1.0, momentum=specs[i].momentum, nesterov=nesterov)
        for i in range(N)
    ]
    alive = torch.ones(N, 1, dtype=torch.bool)
    for t in range(STEPS):
        g = torch.randn(N, P)
        opt.step(flat, g, _hyper(tables, specs[0].hyperparameters, t), alive)
        for i in range(N):
            refs[i].grad = g[i].clone()
            sgd_reference_step(
                [refs[i]],
                ref_opts[i],
                lr=tables[i]["lr"][t].item(),
                weight_decay=tables[i]["weight_decay"][t].item(),
            )
            torch.testing.assert_close(flat[i], refs[i].detach(), rtol=0, atol=1e-5)


def test_stacked_adamw_matches_torch_adamw_every_step():
    specs = [
        AdamW(lr=1e-2, weight_decay=0.1),
        AdamW(lr=schedules.wsd(peak=3e-2, steps=STEPS, warmup=3, decay=0.3), beta1=0.8),
        AdamW(lr=schedules.cosine(peak=1e-3, steps=STEPS), beta2=0.95, eps=1e-6, weight_decay=0.0),
    ]
    tables = [s.tables(STEPS) for s in specs]
    init = torch.randn(N, P)
    flat = init.clone()
    opt = StackedAdamW(flat)
    refs = [init[i].clone().requires_grad_() for i in range(N)]
    ref_opts = [
        torch.optim.AdamW(
            [refs[i]], lr=1.0, betas=(s.beta1, s.beta2), eps=s.eps, weight_decay=s.weight_decay
        )
        for i, s in enumerate(specs)
    ]
    alive = torch.ones(N, 1, dtype=torch.bool)
    for t in range(STEPS):
        g = torch.randn(N, P)
        delta = opt.step(flat, g, _hyper(tables, specs[0].hyperparameters, t), alive)
        for i in range(N):
            before = refs[i].detach().clone()
            refs[i].grad = g[i].clone()
            ref_opts[i].param_groups[0]["lr"] = tables[i]["lr"][t].item()
            ref_opts[i].step()
            torch.testing.assert_close(flat[i], refs[i].detach(), rtol=0, atol=1e-5)
            torch.testing.assert_close(delta[i], refs[i].detach() - before, rtol=0, atol=1e-6)


@pytest.mark.parametrize("make", [lambda f: StackedAdamW(f), lambda f: StackedSGD(f)])
def test_frozen_run_does_not_move_and_nan_does_not_spread(make):
    flat = torch.randn(2, 5)
    opt = make(flat)
    names = ("lr", "beta1", "beta2", "eps", "weight_decay", "momentum")
    h = {
        k: torch.full((2, 1), v)
        for k, v in zip(names, (0.1, 0.9, 0.999, 1e-8, 0.1, 0.9), strict=False)
    }
    before = flat.clone()
    g = torch.randn(2, 5)
    g[0] = float("nan")
    alive = torch.tensor([[False], [True]])
    opt.step(flat, g, h, alive)
    assert torch.equal(flat[0], before[0])
    assert torch.isfinite(flat[1]).all() and not torch.equal(flat[1], before[1])


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: AdamW(lr=-1e-3), "AdamW: lr=-0.001 must be >= 0.0"),
        (lambda: AdamW(beta1=1.5), "beta1=1.5 must be"),
        (lambda: AdamW(lr=float("nan")), "must be finite"),
        (lambda: SGD(momentum=-0.1), "momentum"),
        (lambda: SGD(nesterov="yes"), "nesterov"),
        (lambda: SGD(lr="fast"), "must be a number or a Schedule"),
    ],
)
def test_bad_hyperparameters_are_named(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_schedule_checked_on_every_step():
    opt = SGD(lr=schedules.linear(start=0.1, end=-0.1, steps=10))
    with pytest.raises(ValueError, match=r"SGD: lr at step 6 is -0.02"):
        opt.tables(10)
