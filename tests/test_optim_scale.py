"""The stacked optimizers' per-column LR scale against plain optimizers with two param groups.

``step(p, g, c, alive, scale=(backbone, ratio))`` must do, per run, what a plain optimizer does
with the backbone columns in a param group of LR ``ratio * lr`` and the others at ``lr``: the
update and the decoupled decay scaled, the optimizer state not.
"""

import pytest
import torch

from workbench import schedules
from workbench.models import MLP, StackedModel
from workbench.optim import (
    SGD,
    AdamW,
    Lion,
    Muon,
    StackedAdamW,
    StackedLion,
    StackedMuon,
    StackedSGD,
    lion_reference_step,
    muon_reference_step,
    sgd_reference_step,
)

N, P, STEPS = 3, 37, 12
RATIOS = [1.0, 0.1, 0.0]  # the head's LR, a slow backbone, a frozen backbone
PATHS = ["torch", "triton"]  # the fused kernels run interpreted on CPU, compiled on CUDA
ON = torch.arange(P) % 4 != 3  # the backbone columns, interleaved with the head's


def _device(kernels):
    """Where the stacked side runs: compiled Triton kernels need CUDA tensors."""
    return "cuda" if kernels == "triton" and torch.cuda.is_available() else "cpu"


def _coefficients(specs, steps):
    """(T, C, N, 1) float32 coefficients, as the engine builds them from the specs' tables."""
    tables = [s.tables(steps) for s in specs]
    h = {k: torch.stack([t[k] for t in tables], 1) for k in specs[0].hyperparameters}  # (T, N)
    return specs[0].coefficients(h)[..., None].float()


def _scale(dev, on=ON, ratios=RATIOS):
    """The step's ``scale``: backbone ``[P]`` and ratio ``[N, 1]``."""
    return on.float().to(dev), torch.tensor(ratios, device=dev)[:, None]


def _split(row):
    """A run's leaf tensors for its two param groups: (backbone, head)."""
    return [row[ON].clone().requires_grad_(), row[~ON].clone().requires_grad_()]


def _joined(pair):
    """The run's flat row from its (backbone, head) tensors."""
    row = torch.empty(P, dtype=pair[0].dtype)
    row[ON], row[~ON] = pair[0].detach(), pair[1].detach()
    return row


def _lockstep(opt, flat, coef, scale, ref_step, ref_row, *, atol=1e-5, on=ON):
    """Step ``opt`` with ``scale`` and every run's reference (``ref_step(i, t, g_i)``) on the
    same random gradients; after each step compare every row (``ref_row(i)``) and both norms."""
    init = flat.cpu().clone()  # .cpu() of a CPU tensor is the tensor itself
    alive = torch.ones(N, 1, dtype=torch.bool, device=flat.device)
    for t in range(STEPS):
        g = torch.randn(N, flat.shape[1])
        before = flat.cpu().clone()
        unorm, pnorm = opt.step(flat, g.to(flat.device), coef[t], alive, scale=scale)
        got, unorm, pnorm = flat.cpu(), unorm.cpu(), pnorm.cpu()
        for i in range(N):
            ref_step(i, t, g[i])
            torch.testing.assert_close(got[i], ref_row(i), rtol=0, atol=atol, msg=f"run {i}")
        # the norms are those of the scaled update and of the new parameters
        torch.testing.assert_close(unorm, (got - before).norm(dim=1), rtol=1e-4, atol=1e-7)
        torch.testing.assert_close(pnorm, got.norm(dim=1), rtol=1e-5, atol=0)
    got = flat.cpu()
    assert torch.equal(got[2, on], init[2, on]), "a ratio-0 backbone moved"
    assert not torch.equal(got[2, ~on], init[2, ~on]), "the ratio-0 run's head did not move"
    assert not torch.equal(got[1, on], init[1, on]), "a ratio-0.1 backbone did not move"


@pytest.mark.parametrize("kernels", PATHS)
def test_scaled_adamw_is_torch_adamw_with_two_param_groups(kernels):
    specs = [
        AdamW(lr=1e-2, weight_decay=0.1),
        AdamW(lr=schedules.cosine(peak=3e-2, steps=STEPS, warmup=3), beta1=0.8, weight_decay=0.5),
        AdamW(lr=3e-3, beta2=0.95, eps=1e-6, weight_decay=1.0),
    ]
    tables = [s.tables(STEPS) for s in specs]
    dev = _device(kernels)
    flat = torch.randn(N, P, device=dev)
    opt = StackedAdamW(flat, kernels=kernels)
    refs = [_split(flat[i].cpu()) for i in range(N)]
    ref_opts = [
        torch.optim.AdamW(
            [{"params": [refs[i][0]]}, {"params": [refs[i][1]]}],
            betas=(s.beta1, s.beta2),
            eps=s.eps,
            weight_decay=s.weight_decay,
        )
        for i, s in enumerate(specs)
    ]

    def ref_step(i, t, g):
        refs[i][0].grad, refs[i][1].grad = g[ON].clone(), g[~ON].clone()
        for group, k in zip(ref_opts[i].param_groups, (RATIOS[i], 1.0), strict=True):
            group["lr"] = tables[i]["lr"][t].item() * k
        ref_opts[i].step()

    coef = _coefficients(specs, STEPS).to(dev)
    _lockstep(opt, flat, coef, _scale(dev), ref_step, lambda i: _joined(refs[i]))


@pytest.mark.parametrize("kernels", PATHS)
@pytest.mark.parametrize("nesterov", [False, True])
def test_scaled_sgd_is_torch_sgd_with_two_param_groups(nesterov, kernels):
    specs = [
        SGD(lr=0.1, momentum=0.9, weight_decay=0.01, nesterov=nesterov),
        SGD(lr=schedules.cosine(peak=0.3, steps=STEPS, warmup=4), momentum=0.9, nesterov=nesterov),
        SGD(lr=0.05, momentum=0.9, weight_decay=0.5, nesterov=nesterov),
    ]
    tables = [s.tables(STEPS) for s in specs]
    dev = _device(kernels)
    flat = torch.randn(N, P, device=dev)
    opt = StackedSGD(flat, nesterov=nesterov, kernels=kernels)
    refs = [_split(flat[i].cpu()) for i in range(N)]
    ref_opts = [
        torch.optim.SGD(
            [{"params": [refs[i][0]]}, {"params": [refs[i][1]]}],
            lr=1.0,
            momentum=0.9,
            nesterov=nesterov,
        )
        for i in range(N)
    ]

    def ref_step(i, t, g):
        refs[i][0].grad, refs[i][1].grad = g[ON].clone(), g[~ON].clone()
        lr, wd = tables[i]["lr"][t].item(), tables[i]["weight_decay"][t].item()
        sgd_reference_step(None, ref_opts[i], lr=lr, weight_decay=wd, lr_scales=[RATIOS[i], 1.0])

    coef = _coefficients(specs, STEPS).to(dev)
    _lockstep(opt, flat, coef, _scale(dev), ref_step, lambda i: _joined(refs[i]))


@pytest.mark.parametrize("kernels", PATHS)
def test_scaled_lion_is_the_paper_loop_with_two_learning_rates(kernels):
    specs = [
        Lion(lr=1e-3, weight_decay=0.1),
        Lion(lr=schedules.cosine(peak=3e-3, steps=STEPS, warmup=2), beta1=0.95, weight_decay=1.0),
        Lion(lr=1e-3, beta2=0.9, weight_decay=2.0),
    ]
    tables = [s.tables(STEPS) for s in specs]
    dev = _device(kernels)
    flat = torch.randn(N, P, device=dev)
    opt = StackedLion(flat, kernels=kernels)
    refs = [[x.detach() for x in _split(flat[i].cpu())] for i in range(N)]
    moms = [[torch.zeros_like(x) for x in pair] for pair in refs]

    def ref_step(i, t, g):
        s, lr = specs[i], tables[i]["lr"][t].item()
        for x, gx, m, k in zip(refs[i], (g[ON], g[~ON]), moms[i], (RATIOS[i], 1.0), strict=True):
            lion_reference_step(
                x, gx, m, lr=lr * k, beta1=s.beta1, beta2=s.beta2, weight_decay=s.weight_decay
            )

    coef = _coefficients(specs, STEPS).to(dev)
    _lockstep(opt, flat, coef, _scale(dev), ref_step, lambda i: _joined(refs[i]))


@pytest.mark.parametrize("nesterov", [True, False])
def test_scaled_muon_is_the_reference_loop_with_per_tensor_learning_rates(nesterov):
    # The backbone is everything below the output layer: both Muon weights and the hidden
    # biases (AdamW); the head's weight and bias (AdamW) keep their LR. Tolerance as in
    # tests/test_muon.py.
    hidden, in_dim, out_dim = (12, 9), 7, 5
    specs = [
        Muon(lr=0.02, weight_decay=0.1, adam_weight_decay=0.1, nesterov=nesterov),
        Muon(
            lr=schedules.cosine(peak=0.05, steps=STEPS, warmup=3),
            weight_decay=0.5,
            adam_weight_decay=0.5,
            momentum=0.9,
            nesterov=nesterov,
        ),
        Muon(lr=0.01, momentum=0.5, weight_decay=1.0, adam_weight_decay=1.0, nesterov=nesterov),
    ]
    tables = [s.tables(STEPS) for s in specs]
    seeds = [0, 1, 2]
    model = StackedModel(MLP(hidden=hidden), in_dim=in_dim, out_dim=out_dim, seeds=seeds)
    layout, flat = model.layout, model.flat
    roles = [q.role for q in layout.params]
    head = layout.offsets[roles.index("head")]  # the output layer's weight, then its bias
    on = torch.arange(layout.size) < head
    opt = specs[0].build(flat, layout, kernels="torch")
    assert isinstance(opt, StackedMuon)
    refs = [list(MLP(hidden=hidden).reference(in_dim, out_dim, seed=s).parameters()) for s in seeds]
    states = [{} for _ in range(N)]

    def stored(i):  # nn.Linear [out, in] -> our [in, out], flattened into a row
        return torch.cat([(q.T if q.dim() == 2 else q).detach().reshape(-1) for q in refs[i]])

    def ref_step(i, t, g):
        for q, gv in zip(refs[i], layout.views(g[None]), strict=True):
            q.grad = (gv[0].T if q.dim() == 2 else gv[0]).clone()
        hyper = {h: tables[i][h][t].item() for h in specs[i].hyperparameters}
        scales = [RATIOS[i] if off < head else 1.0 for off in layout.offsets]
        muon_reference_step(refs[i], roles, states[i], **hyper, nesterov=nesterov, lr_scales=scales)

    coef = _coefficients(specs, STEPS)
    _lockstep(opt, flat, coef, _scale("cpu", on), ref_step, stored, atol=2e-6, on=on)


# scale=None is today's step; a ratio of 1 is no scale


def _stacked(name, flat, kernels):
    if name == "muon":
        model = StackedModel(MLP(hidden=(6,)), in_dim=4, out_dim=3, seeds=[0, 1, 2])
        spec = Muon(lr=0.05, weight_decay=0.1, adam_weight_decay=0.1)
        return spec, model.flat.to(flat.device), lambda f: spec.build(f, model.layout)
    spec = {
        "adamw": AdamW(lr=0.01, weight_decay=0.1),
        "sgd": SGD(lr=0.1, momentum=0.9, weight_decay=0.1),
        "sgd_nesterov": SGD(lr=0.1, momentum=0.9, weight_decay=0.1, nesterov=True),
        "lion": Lion(lr=0.01, weight_decay=0.1),
    }[name]
    return spec, flat, lambda f: spec.build(f, kernels=kernels)


CASES = [(o, k) for o in ("adamw", "sgd", "sgd_nesterov", "lion") for k in PATHS] + [
    ("muon", "torch")
]


@pytest.mark.parametrize(("name", "kernels"), CASES)
def test_no_scale_and_ratio_one_are_the_unscaled_step_to_the_bit(name, kernels):
    dev = _device(kernels)
    spec, init, build = _stacked(name, torch.randn(N, P, device=dev), kernels)
    size = init.shape[1]
    coef = _coefficients([spec] * N, 4).to(dev)
    flats = [init.clone() for _ in range(3)]
    opts = [build(f) for f in flats]
    ones = _scale(dev, torch.arange(size) % 2 == 0, [1.0] * N)
    alive = torch.tensor([[True], [False], [True]], device=dev)  # run 1 frozen
    for t in range(4):
        g = torch.randn(N, size, device=dev)
        g[1] = float("nan")
        plain = opts[0].step(flats[0], g, coef[t], alive)
        none = opts[1].step(flats[1], g, coef[t], alive, scale=None)
        one = opts[2].step(flats[2], g, coef[t], alive, scale=ones)
        for f, norms in ((flats[1], none), (flats[2], one)):
            assert torch.equal(f, flats[0])
            for a, b in zip(norms, plain, strict=True):
                # the fused kernels add per-block partials atomically: last bits may vary on GPU
                torch.testing.assert_close(a, b, rtol=1e-6 if dev == "cuda" else 0, atol=0)
    assert torch.equal(flats[0][1], init[1]), "a frozen run moved"
    assert not torch.equal(flats[0][0], init[0])


@pytest.mark.parametrize(("name", "kernels"), CASES)
def test_scaled_frozen_run_does_not_move_and_nan_does_not_spread(name, kernels):
    dev = _device(kernels)
    spec, flat, build = _stacked(name, torch.randn(N, P, device=dev), kernels)
    size = flat.shape[1]
    opt = build(flat)
    coef = _coefficients([spec] * N, 3).to(dev)
    scale = _scale(dev, torch.arange(size) % 3 != 0, [0.5, 0.0, 0.1])
    alive = torch.tensor([[False], [True], [True]], device=dev)
    init = flat.clone()
    for t in range(3):
        g = torch.randn(N, size, device=dev)
        g[0] = float("nan")
        g[1, 1] = float("inf")  # a backbone column of the ratio-0 run: 0 * NaN must stay 0
        opt.step(flat, g, coef[t], alive, scale=scale)
    assert torch.equal(flat[0], init[0])
    assert torch.isfinite(flat).all()
    assert not torch.equal(flat[2], init[2])


@pytest.mark.parametrize(
    ("scale", "match"),
    [
        (lambda: torch.ones(P), r"StackedSGD.step: scale must be None or a pair"),
        (lambda: (torch.ones(P), torch.ones(N)), r"ratio has shape \(3,\); it must be \(3, 1\)"),
        (lambda: (torch.ones(P - 1), torch.ones(N, 1)), r"backbone has shape \(36,\); it must"),
        (lambda: (ON, torch.ones(N, 1)), r"backbone has dtype torch.bool; it must be"),
        (lambda: (None, torch.ones(N, 1)), r"ratio was given without backbone"),
    ],
)
def test_bad_scale_is_named(scale, match):
    flat = torch.zeros(N, P)
    opt = StackedSGD(flat, kernels="torch")
    coef = torch.zeros(3, N, 1)
    with pytest.raises(ValueError, match=match):
        opt.step(flat, torch.ones(N, P), coef, torch.ones(N, 1, dtype=torch.bool), scale=scale())
