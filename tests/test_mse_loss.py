"""``MLP(loss="mse")``: the squared-error loss everywhere the workbench computes a loss (the
engine against the plain per-run reference, the EWC Fisher, Hessian-vector products and the top
eigenvalue against the dense Hessian, the landscape's first-layer shortcut), its validation, and
the cache keys of specs at the default loss (unchanged by the new field)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import workbench as wb
from workbench import schedules
from workbench.bucket import Bucket
from workbench.data import data_spec
from workbench.landscape import hvp, layout_of, loss_of, probe_data, top_eigenvalues
from workbench.landscape.evaluate import SliceEvaluator
from workbench.models import MLP, StackedModel, example_losses, mean_loss
from workbench.penalty import Penalty
from workbench.reference import train_reference

STEPS = 20
MSE = MLP(hidden=(32, 16), loss="mse")


def _spec(optimizer, seed=0, **kw) -> wb.RunSpec:
    return wb.RunSpec(
        data="mnist1d",
        model=MSE,
        optimizer=optimizer,
        steps=STEPS,
        batch_size=64,
        seed=seed,
        eval_every=10,
        **kw,
    )


def _mse_by_hand(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-example ``0.5 * sum_c (logit_c - [c == y])^2`` of ``logits [B, C]``."""
    return 0.5 * ((logits - torch.eye(logits.shape[1])[y]) ** 2).sum(1)


def test_the_loss_is_half_the_squared_distance_to_the_one_hot_target():
    logits = torch.randn(2, 7, 4, generator=torch.Generator().manual_seed(0))  # (N, B, C)
    y = torch.randint(0, 4, (2, 7), generator=torch.Generator().manual_seed(1))
    per = example_losses(logits.movedim(-1, 1), y, "mse")
    for n in range(2):
        torch.testing.assert_close(per[n], _mse_by_hand(logits[n], y[n]))
    torch.testing.assert_close(mean_loss(logits, y, "mse"), per.mean(1))


@pytest.mark.parametrize(
    "optimizers",
    [
        [wb.SGD(lr=0.05), wb.SGD(lr=schedules.cosine(peak=0.2, steps=STEPS), momentum=0.9)],
        [wb.AdamW(lr=3e-3, weight_decay=0.01), wb.AdamW(lr=1e-3, beta1=0.8, weight_decay=0.0)],
    ],
    ids=["sgd", "adamw"],
)
def test_lockstep_matches_the_plain_reference_run(optimizers):
    specs = [_spec(o, seed=s) for s, o in zip((3, 0), optimizers, strict=True)]
    bucket = Bucket(specs, device="cpu")
    chunk = bucket.advance(STEPS)
    for i, spec in enumerate(specs):
        ref = train_reference(spec)
        np.testing.assert_allclose(
            chunk.metrics["train_loss"][i], ref["train_loss"].numpy(), rtol=0, atol=1e-5
        )
        torch.testing.assert_close(bucket.model.flat[i], ref["params"], rtol=0, atol=1e-5)
        # and it is not cross-entropy's run
        ce = train_reference(wb.set_path(spec, "model.loss", "cross_entropy"))
        assert (ce["params"] - ref["params"]).abs().max() > 1e-3


def test_the_evaluated_loss_is_the_squared_error_and_accuracy_the_argmax():
    ds = wb.run([_spec(wb.SGD(lr=0.05))], device="cpu")
    model = StackedModel(MSE, in_dim=40, out_dim=10, seeds=[0])
    d = wb.data.load("mnist1d")
    loss, acc = model.evaluate(d.x_test, d.y_test)
    with torch.no_grad():
        logits = model(d.x_test)[0]
    assert float(loss[0]) == pytest.approx(float(_mse_by_hand(logits, d.y_test).mean()), 1e-5)
    assert float(acc[0]) == pytest.approx(float((logits.argmax(1) == d.y_test).float().mean()))
    assert float(ds.eval_loss.values[0, 0]) == pytest.approx(float(loss[0]), abs=1e-5)


def test_ewc_fisher_of_the_squared_error_matches_the_reference():
    """The engine's EWC Fisher (per-example gradients of the model's loss) equals the
    reference's empirical Fisher of the squared error."""
    stream = wb.class_incremental("digits", classes_per_task=2, task_steps=10)
    spec = wb.RunSpec(
        data=stream,
        model=MLP(hidden=(16,), loss="mse"),
        optimizer=wb.SGD(lr=0.1),
        steps=50,
        batch_size=16,
        eval_every=10,
        penalty=Penalty(kind="ewc", strength=50.0, samples=20),
    )
    b = Bucket([spec], device="cpu")
    b.advance(50)
    torch.testing.assert_close(b.model.flat[0], train_reference(spec)["params"], rtol=0, atol=1e-5)


# -- the landscape ---------------------------------------------------------------------------------

TINY = MLP(hidden=(6,), loss="mse")
GAUSS = data_spec("gaussian", classes=3, dim=5)


def _dense(layout, row, batch):
    x, y = batch

    def f(flat):
        logits = TINY.forward(layout.views(flat[None]), x[None], None)[0]
        return _mse_by_hand(logits, y).mean()

    return torch.autograd.functional.hessian(f, row)


def _tiny_rows(size=64):
    layout = layout_of(TINY, GAUSS)
    theta = torch.stack([TINY.init_row(layout, s) for s in range(3)]).double()
    x, y = probe_data(TINY, GAUSS, size=size)
    return layout, theta, (x.double(), y)


def test_hvp_and_top_eigenvalue_match_the_dense_hessian_of_the_squared_error():
    layout, theta, batch = _tiny_rows(size=128)
    v = torch.randn(theta.shape, dtype=theta.dtype, generator=torch.Generator().manual_seed(1))
    hv = hvp(TINY, layout, theta, batch, v)
    top = top_eigenvalues(TINY, layout, theta, batch, k=1, iters=300, seed=0)
    for i in range(theta.shape[0]):
        H = _dense(layout, theta[i], batch)
        torch.testing.assert_close(hv[i], H @ v[i], rtol=1e-6, atol=1e-9)
        ev = torch.linalg.eigvalsh(H)
        torch.testing.assert_close(top["values"][i, 0], ev[ev.abs().argmax()], rtol=1e-6, atol=0)
    # the cross-entropy Hessian is another matrix
    ce = hvp(MLP(hidden=(6,)), layout, theta, batch, v)
    assert (ce - hv).abs().max() > 1e-3


@pytest.mark.parametrize(
    ("hidden", "max_bytes"),
    [((20, 12), 1 << 30), ((20, 12), 3000), ((), 1 << 30)],  # one pass; many chunks; linear
)
def test_loss_of_and_the_first_layer_shortcut_give_the_squared_error(hidden, max_bytes):
    model = MLP(hidden=hidden, loss="mse")
    layout = layout_of(model, "digits")
    center = model.init_row(layout, 0)
    d1, d2 = (model.init_row(layout, s) - center for s in (1, 2))
    coords = torch.randn(13, 2, generator=torch.Generator().manual_seed(0)) * 2
    kw = dict(size=200, chunk=4, max_bytes=max_bytes)
    default = SliceEvaluator(model, "digits", center, [d1, d2], **kw)
    slow = SliceEvaluator(model, "digits", center, [d1, d2], first_layer=False, **kw)
    # The shortcut's arithmetic, whether or not the evaluator takes it for this loss by default
    fast = SliceEvaluator(model, "digits", center, [d1, d2], first_layer=False, **kw)
    fast._prepare_first_layer()
    fast.uses_first_layer = True
    (lf, af), (ls, as_), (ld, ad) = fast(coords), slow(coords), default(coords)
    np.testing.assert_array_equal(ld, lf if default.uses_first_layer else ls)
    np.testing.assert_array_equal(ad, af if default.uses_first_layer else as_)
    np.testing.assert_allclose(lf, ls, rtol=1e-6, atol=1e-5)  # squared errors reach 5,000 here
    np.testing.assert_allclose(af, as_, rtol=0, atol=1e-6)
    # loss_of (the plain path) is the squared error computed by hand
    x, y = probe_data(model, "digits", size=200)
    rows = center + coords.float() @ torch.stack([d1, d2])
    loss, _ = loss_of(model, rows, "digits", size=200)
    for k in (0, 7):
        with torch.no_grad():
            logits = model.forward(layout.views(rows[k : k + 1]), x, None)[0]
        want = float(_mse_by_hand(logits, y).mean())
        assert float(loss[k]) == pytest.approx(want, rel=1e-6, abs=1e-5)


# -- the field -------------------------------------------------------------------------------------


def test_an_unknown_loss_names_the_field_value_and_allowed():
    with pytest.raises(ValueError) as e:
        MLP(loss="hinge")
    assert str(e.value) == "MLP: loss='hinge' is not one of ['cross_entropy', 'mse']"


def test_the_transformer_has_no_loss_field():
    with pytest.raises(TypeError):
        wb.Transformer(loss="mse")


def test_default_specs_keep_their_cache_keys():
    """Keys measured before ``MLP.loss`` existed: a spec at the default loss serializes as it
    did (no ``loss`` entry); an MSE spec has its own key and round-trips."""
    plain = wb.RunSpec()
    features = wb.RunSpec(
        data=wb.data_spec("features", dim=50),
        model=wb.MLP(hidden=(16,), activation="tanh"),
        optimizer=wb.SGD(lr=0.1),
        steps=30,
        batch_size=10,
        seed=2,
    )
    assert plain.key() == "7d49f6d6cd64cf2d"
    assert features.key() == "a5acf5b76392ecb1"
    assert "loss" not in features.to_dict()["model"]
    mse = wb.set_path(features, "model.loss", "mse")
    assert mse.to_dict()["model"]["loss"] == "mse" and mse.key() != features.key()
    assert wb.RunSpec.from_dict(mse.to_dict()) == mse
    assert eval(wb.spec_code(mse), {"wb": wb}) == mse
    assert mse.bucket_key() != features.bucket_key()  # never trained in one bucket
