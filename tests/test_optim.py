"""Stacked optimizers against torch.optim, stepped with identical gradients (lock-step)."""

import pytest
import torch

from workbench import schedules
from workbench.optim import (
    SGD,
    AdamW,
    Lion,
    StackedAdamW,
    StackedLion,
    StackedSGD,
    lion_reference_step,
    sgd_reference_step,
)

N, P, STEPS = 3, 37, 20
# the torch path everywhere, and the fused Triton kernels (interpreted on CPU, compiled on CUDA)
PATHS = ["torch", "triton"]


def _device(kernels):
    """Where the stacked side runs: compiled Triton kernels need CUDA tensors."""
    return "cuda" if kernels == "triton" and torch.cuda.is_available() else "cpu"


def _coefficients(specs, steps):
    """(T, C, N, 1) float32 coefficients, as the engine builds them from the specs' tables."""
    tables = [s.tables(steps) for s in specs]
    h = {k: torch.stack([t[k] for t in tables], 1) for k in specs[0].hyperparameters}  # (T, N)
    return specs[0].coefficients(h)[..., None].float()


@pytest.mark.parametrize("kernels", PATHS)
@pytest.mark.parametrize("nesterov", [False, True])
def test_stacked_sgd_matches_torch_sgd_every_step(nesterov, kernels):
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
    coef = _coefficients(specs, STEPS)
    init = torch.randn(N, P)
    dev = _device(kernels)
    flat = init.clone().to(dev)
    coef = coef.to(dev)
    opt = StackedSGD(flat, nesterov=nesterov, kernels=kernels)
    refs = [init[i].clone().requires_grad_() for i in range(N)]
    ref_opts = [
        torch.optim.SGD([refs[i]], lr=1.0, momentum=specs[i].momentum, nesterov=nesterov)
        for i in range(N)
    ]
    alive = torch.ones(N, 1, dtype=torch.bool)
    for t in range(STEPS):
        g = torch.randn(N, P)
        opt.step(flat, g.to(dev), coef[t], alive.to(dev))
        for i in range(N):
            refs[i].grad = g[i].clone()
            sgd_reference_step(
                [refs[i]],
                ref_opts[i],
                lr=tables[i]["lr"][t].item(),
                weight_decay=tables[i]["weight_decay"][t].item(),
            )
            torch.testing.assert_close(flat[i].cpu(), refs[i].detach(), rtol=0, atol=1e-5)


@pytest.mark.parametrize("kernels", PATHS)
def test_stacked_adamw_matches_torch_adamw_every_step(kernels):
    specs = [
        AdamW(lr=1e-2, weight_decay=0.1),
        AdamW(lr=schedules.wsd(peak=3e-2, steps=STEPS, warmup=3, decay=0.3), beta1=0.8),
        AdamW(lr=schedules.cosine(peak=1e-3, steps=STEPS), beta2=0.95, eps=1e-6, weight_decay=0.0),
    ]
    tables = [s.tables(STEPS) for s in specs]
    coef = _coefficients(specs, STEPS)
    init = torch.randn(N, P)
    dev = _device(kernels)
    flat = init.clone().to(dev)
    coef = coef.to(dev)
    opt = StackedAdamW(flat, kernels=kernels)
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
        unorm, pnorm = opt.step(flat, g.to(dev), coef[t], alive.to(dev))
        unorm, pnorm = unorm.cpu(), pnorm.cpu()
        for i in range(N):
            before = refs[i].detach().clone()
            refs[i].grad = g[i].clone()
            ref_opts[i].param_groups[0]["lr"] = tables[i]["lr"][t].item()
            ref_opts[i].step()
            torch.testing.assert_close(flat[i].cpu(), refs[i].detach(), rtol=0, atol=1e-5)
            moved = (refs[i].detach() - before).norm()
            torch.testing.assert_close(unorm[i], moved, rtol=1e-4, atol=1e-7)
            torch.testing.assert_close(pnorm[i], refs[i].detach().norm(), rtol=1e-5, atol=0)


@pytest.mark.parametrize("kernels", PATHS)
def test_stacked_lion_matches_the_paper_loop_every_step(kernels):
    specs = [
        Lion(lr=1e-3, weight_decay=0.1),
        Lion(lr=schedules.cosine(peak=3e-4, steps=STEPS, warmup=2), beta1=0.95, beta2=0.98),
        Lion(lr=1e-4, beta2=0.9),
    ]
    tables = [s.tables(STEPS) for s in specs]
    coef = _coefficients(specs, STEPS)
    init = torch.randn(N, P)
    dev = _device(kernels)
    flat = init.clone().to(dev)
    coef = coef.to(dev)
    opt = StackedLion(flat, kernels=kernels)
    refs = [init[i].clone() for i in range(N)]
    moms = [torch.zeros(P) for _ in range(N)]
    alive = torch.ones(N, 1, dtype=torch.bool)
    for t in range(STEPS):
        g = torch.randn(N, P)
        opt.step(flat, g.to(dev), coef[t], alive.to(dev))
        for i, s in enumerate(specs):
            lion_reference_step(
                refs[i],
                g[i],
                moms[i],
                lr=tables[i]["lr"][t].item(),
                beta1=s.beta1,
                beta2=s.beta2,
                weight_decay=s.weight_decay,
            )
            torch.testing.assert_close(flat[i].cpu(), refs[i], rtol=0, atol=1e-5)


def test_stacked_adamw_stays_with_float64_torch_adamw_over_a_long_run():
    # float64 coefficients keep the drift at float32 rounding of the parameters: 1 - float32(0.999)
    # alone is off by 1.3e-5 relative. Measured here: 1.4e-6 from torch.optim.AdamW in float64
    # after 300 steps, where torch.optim.AdamW in float32 drifts 1.3e-5.
    steps = 300
    specs = [AdamW(lr=3e-3, beta2=0.999, weight_decay=0.01), AdamW(lr=1e-2, beta1=0.95)]
    coef = _coefficients(specs, steps)
    init = torch.randn(2, P)
    flat = init.clone()
    opt = StackedAdamW(flat)
    refs = [init[i].double().requires_grad_() for i in range(2)]
    ref_opts = [
        torch.optim.AdamW([r], lr=s.lr, betas=(s.beta1, s.beta2), weight_decay=s.weight_decay)
        for r, s in zip(refs, specs, strict=True)
    ]
    alive = torch.ones(2, 1, dtype=torch.bool)
    for t in range(steps):
        g = torch.randn(2, P)
        opt.step(flat, g, coef[t], alive)
        for i in range(2):
            refs[i].grad = g[i].double()
            ref_opts[i].step()
    for i in range(2):
        torch.testing.assert_close(flat[i].double(), refs[i].detach(), rtol=0, atol=4e-6)


@pytest.mark.parametrize("kernels", PATHS)
@pytest.mark.parametrize(
    "spec",
    [AdamW(lr=0.1, weight_decay=0.1), SGD(lr=0.1, momentum=0.9), Lion(lr=0.1, weight_decay=0.1)],
)
def test_frozen_run_does_not_move_and_nan_does_not_spread(spec, kernels):
    dev = _device(kernels)
    flat = torch.randn(2, 5, device=dev)
    opt = spec.build(flat, kernels=kernels)
    coef = _coefficients([spec, spec], 3).to(dev)
    alive = torch.tensor([[True], [True]], device=dev)
    opt.step(flat, torch.randn(2, 5, device=dev), coef[0], alive)
    before = flat.clone()
    g = torch.randn(2, 5, device=dev)
    g[0] = float("nan")
    alive = torch.tensor([[False], [True]], device=dev)
    for t in (1, 2):
        opt.step(flat, g, coef[t], alive)
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
