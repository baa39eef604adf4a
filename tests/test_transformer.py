"""The stacked tiny transformer against its single-run torch.nn twin, and in the engine."""

import numpy as np
import pytest
import torch

import workbench as wb
from workbench import schedules
from workbench.engine import Bucket
from workbench.models import StackedModel, Transformer
from workbench.reference import flat_row, train_reference

SMALL = Transformer(layers=2, width=16, heads=4, context=12)
MARKOV = wb.data_spec("markov", vocab=11, context=12, n_train=64, n_test=16)
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("positions", ["learned", "sinusoidal"])
def test_per_run_init_equals_the_single_run_twin(positions):
    cfg = Transformer(layers=2, width=16, heads=4, context=12, positions=positions)
    seeds = [5, 0, 2]
    stacked = StackedModel(cfg, in_dim=11, out_dim=9, seeds=seeds)
    for i, s in enumerate(seeds):
        assert torch.equal(stacked.flat[i], flat_row(cfg.reference(11, 9, s)))


@pytest.mark.parametrize("positions", ["learned", "sinusoidal"])
def test_forward_gradients_and_attention_logits_match_the_twin(positions):
    cfg = Transformer(layers=2, width=16, heads=4, context=12, positions=positions)
    seeds = [1, 3]
    stacked = StackedModel(cfg, in_dim=11, out_dim=11, seeds=seeds)
    x = torch.randint(0, 11, (2, 5, 12))  # (N, B, T)
    y = torch.randint(0, 11, (2, 5, 12))
    stats: dict = {}
    loss = stacked.loss_and_grad(x, y, stats)
    attn = torch.stack(stats["attn_logit_max"], 1)  # (N, L)
    for i, s in enumerate(seeds):
        ref = cfg.reference(11, 11, s)
        logits = ref(x[i])
        ref_loss = torch.nn.functional.cross_entropy(logits.transpose(1, 2), y[i])
        ref_loss.backward()
        grads = {n: p.grad for n, p in ref.named_parameters()}
        ref_grad = torch.cat(
            [
                (g.t() if g.dim() == 2 and n not in ("embed.weight", "pos") else g).reshape(-1)
                for n, g in ((n, grads[n]) for n in _ref_names(cfg))
            ]
        )
        torch.testing.assert_close(loss[i], ref_loss.detach(), rtol=1e-6, atol=1e-6)
        torch.testing.assert_close(stacked.grad[i], ref_grad, rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(attn[i], torch.stack(ref.attn_logit_max), rtol=1e-5, atol=1e-6)


def _ref_names(cfg):
    return ["embed.weight" if p.name == "embed" else p.name for p in cfg.layout(1, 1).params]


@pytest.mark.parametrize("device", DEVICES)
def test_lockstep_transformer_matches_separate_reference_runs(device):
    steps = 12
    specs = [
        wb.RunSpec(
            data=MARKOV, model=SMALL, optimizer=opt, steps=steps, batch_size=8, seed=s, eval_every=6
        )
        for s, opt in [
            (0, wb.AdamW(lr=schedules.cosine(peak=3e-3, steps=steps, warmup=3))),
            (4, wb.AdamW(lr=schedules.wsd(peak=1e-2, steps=steps, decay=0.25), weight_decay=0.1)),
            (9, wb.AdamW(lr=1e-3, beta2=0.95)),
        ]
    ]
    bucket = Bucket(specs, device=device)
    chunk = bucket.advance(steps)
    # The key bias adds q . b_k to every score of a query, which the softmax ignores: its
    # gradient is zero up to rounding (~1e-12), and Adam normalises that noise to steps of
    # about lr, so those entries are compared only for being tiny movers.
    key_bias = _key_bias_mask(bucket.model.layout)
    for i, spec in enumerate(specs):
        ref = train_reference(spec, device=device)
        np.testing.assert_allclose(
            chunk.metrics["train_loss"][i], ref["train_loss"].numpy(), rtol=0, atol=1e-5
        )
        got = bucket.model.flat[i].cpu()
        torch.testing.assert_close(got[~key_bias], ref["params"][~key_bias], rtol=0, atol=1e-5)
        assert (got[key_bias] - ref["params"][key_bias]).abs().max() < 1e-3


def _key_bias_mask(layout):
    mask = torch.zeros(layout.size, dtype=torch.bool)
    for p, off in zip(layout.params, layout.offsets, strict=True):
        if p.name.endswith("qkv.bias"):
            d = p.shape[0] // 3
            mask[off + d : off + 2 * d] = True  # the k third of [q | k | v]
    return mask


def test_key_bias_gradient_is_rounding_noise():
    stacked = StackedModel(SMALL, in_dim=11, out_dim=11, seeds=[0])
    x, y = torch.randint(0, 11, (1, 4, 12)), torch.randint(0, 11, (1, 4, 12))
    stacked.loss_and_grad(x, y)
    mask = _key_bias_mask(stacked.layout)
    assert stacked.grad[0, mask].abs().max() < 1e-6 < stacked.grad[0, ~mask].abs().max()


def test_transformer_learns_a_bigram_language_and_records_attention_logits():
    data = wb.data_spec("markov", vocab=8, context=16, n_train=256, n_test=64, temperature=0.5)
    spec = wb.RunSpec(
        data=data,
        model=Transformer(layers=1, width=32, heads=2, context=16),
        optimizer=wb.AdamW(lr=3e-3),
        steps=150,
        batch_size=16,
        eval_every=50,
    )
    ds = wb.run(wb.grid(spec, {"seed": [0, 1]}))
    assert ds.attn_logit_max.dims == ("run", "step", "layer") and ds.sizes["layer"] == 1
    assert np.isfinite(ds.attn_logit_max).all()
    entropy = wb.data.load(data).meta["entropy_rate"]
    # from log(8) = 2.08 nats at init to within 0.25 nats of the language's entropy rate
    assert float(ds.eval_loss.isel(eval_step=0).min()) > 1.9
    assert float(ds.eval_loss.isel(eval_step=-1).max()) < entropy + 0.25


def test_transformer_reads_modular_pairs_and_answers_at_the_end():
    data = wb.data_spec("modular", p=7, train_fraction=0.8)
    spec = wb.RunSpec(
        data=data,
        model=Transformer(layers=1, width=32, heads=2, context=4),
        optimizer=wb.AdamW(lr=3e-3, weight_decay=0.1),
        steps=200,
        batch_size=16,
        eval_every=100,
    )
    ds = wb.run(wb.grid(spec, {"seed": [0, 1, 2]}))
    # 39 training pairs of 7 classes: reading "a b =" and answering at "=", the model fits them
    # (median over seeds of the last 20 steps' loss, well under chance's log 7 = 1.95)
    late = ds.train_loss.isel(step=slice(-20, None)).mean("step")
    assert float(late.median()) < 1.2, late.values


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: Transformer(width=10, heads=4), "width=10 must be divisible by heads=4"),
        (lambda: Transformer(positions="rotary"), "positions='rotary'"),
        (lambda: Transformer(layers=0), "layers=0"),
        (
            lambda: wb.RunSpec(data=MARKOV, model=Transformer(context=8)).validate(),
            r"context=8 is shorter than the dataset's sequences \(12 tokens\)",
        ),
        (lambda: wb.RunSpec(data="mnist1d", model=SMALL).validate(), "needs token inputs"),
        (lambda: wb.RunSpec(data=MARKOV, batch_size=8).validate(), "MLP needs a classification"),
    ],
)
def test_bad_transformer_specs_are_named(make, match):
    with pytest.raises(ValueError, match=match):
        make()
