"""Stacked Muon against its per-run reference loop (nn.Linear orientation), stepped in lock-step."""

import pytest
import torch

import workbench
from workbench import schedules
from workbench.models import MLP, StackedModel
from workbench.optim import (
    Muon,
    StackedMuon,
    muon_reference_step,
    orthogonalize,
    orthogonalize_reference,
)
from workbench.spec import RunSpec

N, STEPS = 3, 20
IN, OUT, HIDDEN = 7, 5, (12, 9)  # weights [7, 12] (out > in: scale sqrt(12/7)) and [12, 9]
# The quintic's band for singular values not tiny after normalization (p^5 on x in [0.01, 1]).
BAND = (0.68, 1.14)


def _coefficients(specs, steps):
    """(T, C, N, 1) float32 coefficients, as the engine builds them from the specs' tables."""
    tables = [s.tables(steps) for s in specs]
    h = {k: torch.stack([t[k] for t in tables], 1) for k in specs[0].hyperparameters}  # (T, N)
    return specs[0].coefficients(h)[..., None].float()


def _specs(nesterov):
    return [
        Muon(lr=0.02, weight_decay=0.1, adam_weight_decay=0.01, nesterov=nesterov),
        Muon(
            lr=schedules.cosine(peak=0.05, steps=STEPS, warmup=3),
            momentum=0.9,
            adam_lr=schedules.wsd(peak=1e-2, steps=STEPS, warmup=2, decay=0.3),
            adam_beta1=0.8,
            nesterov=nesterov,
        ),
        Muon(
            lr=schedules.wsd(peak=0.01, steps=STEPS, warmup=4, decay=0.5),
            momentum=0.5,
            weight_decay=0.01,
            adam_beta2=0.99,
            adam_eps=1e-6,
            nesterov=nesterov,
        ),
    ]


@pytest.mark.parametrize("nesterov", [True, False])
def test_stacked_muon_matches_the_reference_loop_every_step(nesterov):
    # Tolerance: both sides are float32 and differ only in rounding (baddbmm vs b*A + c*A@A,
    # batched vs single matmuls, AdamW's folded bias corrections). NS can amplify a relative
    # perturbation of a small singular direction by up to p'(0)^5 ~ 490, so a few ulps in the
    # momentum could grow; measured over these 20 steps the worst |difference| is 3.9e-7 (a few
    # ulps of parameters ~0.5; 1.7e-7 against this reference in float64). atol 2e-6 leaves 5x
    # room and still catches a wrong scale or momentum (differences ~1e-3).
    specs = _specs(nesterov)
    tables = [s.tables(STEPS) for s in specs]
    coef = _coefficients(specs, STEPS)
    seeds = [0, 1, 2]
    model = StackedModel(MLP(hidden=HIDDEN), in_dim=IN, out_dim=OUT, seeds=seeds)
    layout, flat = model.layout, model.flat
    roles = [p.role for p in layout.params]
    assert roles.count("weight") == 2 and roles.count("head") == 1
    opt = specs[0].build(flat, layout, kernels="torch")
    assert isinstance(opt, StackedMuon)
    # per-run twins: nn.Linear models with [out, in] weights, drawn exactly like the stack's rows
    nets = [MLP(hidden=HIDDEN).reference(IN, OUT, seed=s) for s in seeds]
    refs = [list(net.parameters()) for net in nets]
    states = [{} for _ in range(N)]

    def as_stored(ref_params):  # nn.Linear [out, in] -> our [in, out], flattened into a row
        return torch.cat([(q.T if q.dim() == 2 else q).reshape(-1) for q in ref_params])

    for i in range(N):
        torch.testing.assert_close(flat[i], as_stored(refs[i]).detach(), rtol=0, atol=0)
    alive = torch.ones(N, 1, dtype=torch.bool)
    for t in range(STEPS):
        g = torch.randn_like(flat)
        unorm, pnorm = opt.step(flat, g, coef[t], alive)
        g_views = layout.views(g)
        for i, s in enumerate(specs):
            before = as_stored(refs[i]).detach()
            for q, gv in zip(refs[i], g_views, strict=True):
                q.grad = (gv[i].T if q.dim() == 2 else gv[i]).clone()
            hyper = {h: tables[i][h][t].item() for h in s.hyperparameters}
            muon_reference_step(
                refs[i], roles, states[i], **hyper, nesterov=nesterov, ns_steps=s.ns_steps
            )
            after = as_stored(refs[i]).detach()
            torch.testing.assert_close(flat[i], after, rtol=0, atol=2e-6)
            torch.testing.assert_close(unorm[i], (after - before).norm(), rtol=1e-4, atol=1e-7)
            torch.testing.assert_close(pnorm[i], after.norm(), rtol=1e-5, atol=0)


def test_weights_move_by_lr_times_the_scaled_orthogonal_update():
    # One step from zero momentum, no decay: each Muon matrix moves by exactly
    # lr * sqrt(max(1, out / in)) * NS(g), the head and biases by AdamW's first step.
    model = StackedModel(MLP(hidden=HIDDEN), in_dim=IN, out_dim=OUT, seeds=[0])
    flat, layout = model.flat, model.layout
    spec = Muon(lr=0.1, adam_lr=1e-3)
    opt = spec.build(flat, layout)
    before = [v.clone() for v in layout.views(flat)]
    g = torch.randn_like(flat)
    opt.step(flat, g, _coefficients([spec], 1)[0], torch.ones(1, 1, dtype=torch.bool))
    after, grads = layout.views(flat), layout.views(g)
    for info, b, a, gv in zip(layout.params, before, after, grads, strict=True):
        if info.role == "weight":
            fan_in, fan_out = info.shape
            scale = max(1.0, fan_out / fan_in) ** 0.5
            # Nesterov on the first step: u = g + mu * g, same direction as g
            expected = -0.1 * scale * orthogonalize((1 + 0.95) * gv)
            torch.testing.assert_close(a - b, expected, rtol=0, atol=1e-6)
        else:  # AdamW's first step is lr * g / (|g| + eps), about lr * sign(g)
            torch.testing.assert_close(a - b, -1e-3 * gv.sign(), rtol=0, atol=1e-7)


@pytest.mark.parametrize("shape", [(9, 41), (41, 9), (12, 7), (64, 16)])
def test_orthogonalize_puts_singular_values_in_the_quintic_band(shape):
    # Rectangular Gaussian matrices are well conditioned, so every singular value lands in the
    # band [0.68, 1.13] that five quintic steps give; exactly orthogonal would be all ones.
    x = torch.randn(4, *shape) * torch.tensor([1e-3, 1.0, 10.0, 1e3])[:, None, None]
    o = orthogonalize(x)
    s = torch.linalg.svdvals(o)
    assert s.min() > BAND[0] and s.max() < BAND[1], (s.min(), s.max())
    # the same left and right singular vectors: o x^T is symmetric positive semi-definite
    # (o = U S' V^T, x = U S V^T, so o x^T = U S' S U^T) in the wide orientation
    w = o if shape[0] <= shape[1] else o.mT
    xw = x if shape[0] <= shape[1] else x.mT
    m = w @ xw.mT / xw.norm(dim=(1, 2), keepdim=True)
    torch.testing.assert_close(m, m.mT, rtol=0, atol=1e-4)
    assert torch.linalg.eigvalsh(m).min() > -1e-4
    for k in range(4):
        torch.testing.assert_close(o[k], orthogonalize_reference(x[k]), rtol=0, atol=1e-5)
    assert torch.equal(orthogonalize(x.mT), o.mT)


def test_frozen_runs_do_not_move_and_nan_does_not_spread():
    # run 0 freezes on NaN gradients, run 1 is frozen with finite ones (alive alone must stop
    # it), run 2 trains on
    model = StackedModel(MLP(hidden=HIDDEN), in_dim=IN, out_dim=OUT, seeds=[0, 1, 2])
    flat = model.flat
    spec = Muon(lr=0.05, weight_decay=0.1, adam_weight_decay=0.1)
    opt = spec.build(flat, model.layout)
    coef = _coefficients([spec] * 3, 3)
    opt.step(flat, torch.randn_like(flat), coef[0], torch.ones(3, 1, dtype=torch.bool))
    before = flat.clone()
    alive = torch.tensor([[False], [False], [True]])
    for t in (1, 2):
        g = torch.randn_like(flat)
        g[0] = float("nan")
        unorm, pnorm = opt.step(flat, g, coef[t], alive)
        assert (unorm[:2] == 0).all() and torch.isfinite(pnorm).all()
    assert torch.equal(flat[:2], before[:2])
    assert torch.isfinite(flat[2]).all() and not torch.equal(flat[2], before[2])


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: Muon(lr=-0.02), "Muon: lr=-0.02 must be >= 0.0"),
        (lambda: Muon(momentum=1.5), r"Muon: momentum=1.5 must be \[0.0, 1.0\]"),
        (lambda: Muon(adam_beta2=-0.1), r"Muon: adam_beta2=-0.1 must be \[0.0, 1.0\]"),
        (lambda: Muon(ns_steps=0), "Muon: ns_steps=0 must be an int >= 1"),
        (lambda: Muon(ns_steps=2.5), "Muon: ns_steps=2.5 must be an int >= 1"),
        (lambda: Muon(ns_steps=True), "Muon: ns_steps=True must be an int >= 1"),
        (lambda: Muon(nesterov="yes"), "Muon: nesterov='yes' must be True or False"),
        (lambda: Muon(nesterov=1), "Muon: nesterov=1 must be True or False"),
        (lambda: Muon().build(torch.zeros(2, 3)), "Muon: build needs the model's Layout"),
    ],
)
def test_bad_settings_are_named(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_schedule_checked_on_every_step():
    opt = Muon(lr=schedules.linear(start=0.02, end=-0.02, steps=10))
    with pytest.raises(ValueError, match=r"Muon: lr at step 6 is -0.004"):
        opt.tables(10)


def test_nesterov_and_ns_steps_split_buckets_and_round_trip():
    assert Muon().structure() != Muon(nesterov=False).structure()
    assert Muon().structure() != Muon(ns_steps=3).structure()
    spec = RunSpec(optimizer=Muon(lr=schedules.cosine(peak=0.02, steps=50), ns_steps=4), steps=50)
    assert RunSpec.from_dict(spec.to_dict()) == spec


def test_muon_trains_digits_end_to_end():
    spec = RunSpec(
        data="digits",
        model=MLP(hidden=(16,)),
        optimizer=Muon(lr=0.05, adam_lr=1e-2),
        steps=30,
        batch_size=32,
        eval_every=30,
    )
    ds = workbench.run([spec, RunSpec(**{**spec.__dict__, "seed": 1})], kernels="torch")
    loss = ds.train_loss.values  # (run, step)
    assert loss.shape == (2, 30)
    assert (loss[:, -5:].mean(1) < 0.6 * loss[:, :5].mean(1)).all(), loss
    assert (ds.eval_loss.values[:, -1] < ds.eval_loss.values[:, 0]).all()
    assert ds.lr.values[:, 0].tolist() == pytest.approx([0.05, 0.05])  # tables were recorded
