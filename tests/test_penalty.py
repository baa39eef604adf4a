"""L2/EWC penalties: the spec, lock-step equivalence with the per-run reference, strength 0 as
no penalty, forks, and what they do to forgetting on real runs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import workbench as wb
from workbench import continual
from workbench.bucket import Bucket
from workbench.penalty import Penalty, fisher_indices
from workbench.reference import train_reference

STREAM = wb.class_incremental("digits", classes_per_task=2, task_steps=15)


def _spec(**penalty) -> wb.RunSpec:
    return wb.RunSpec(
        data=STREAM,
        model=wb.MLP(hidden=(16,)),
        optimizer=wb.SGD(lr=0.05),
        steps=75,
        batch_size=16,
        eval_every=25,
        penalty=Penalty(**{"samples": 20, **penalty}),
    )


@pytest.mark.parametrize(
    "kw, message",
    [
        ({"kind": "l1"}, "Penalty: kind='l1' is not a penalty; allowed: l2, ewc"),
        ({"strength": -1.0}, "Penalty: strength=-1.0 must be a finite number >= 0"),
        ({"strength": float("inf")}, "Penalty: strength=inf must be a finite number >= 0"),
        ({"samples": 0}, "Penalty: samples=0 must be an int >= 1"),
    ],
)
def test_bad_fields_name_field_value_and_allowed(kw, message):
    with pytest.raises(ValueError) as e:
        Penalty(**kw)
    assert str(e.value) == message


def test_spec_round_trips_and_kinds_and_strengths_share_a_bucket():
    specs = wb.grid(_spec(), {"penalty.kind": ["l2", "ewc"], "penalty.strength": [0.0, 5.0]})
    assert len({s.bucket_key() for s in specs}) == 1
    for s in specs:
        assert wb.RunSpec.from_dict(s.to_dict()) == s
        assert eval(wb.spec_code(s), {"wb": wb}) == s
    assert "penalty" not in wb.RunSpec(data="digits").to_dict()


def test_lockstep_matches_the_per_run_reference():
    """EWC (Fisher from per-example gradients), L2, and strength 0, one bucket, each equal to
    the plain per-run loop with the penalty added to the loss's gradient."""
    specs = [
        wb.set_path(_spec(kind=k, strength=s), "seed", i)
        for i, (k, s) in enumerate([("ewc", 0.0), ("ewc", 50.0), ("l2", 0.5)])
    ]
    b = Bucket(specs, device="cpu")
    b.advance(75)
    for i, spec in enumerate(specs):
        ref = train_reference(spec)["params"]
        assert torch.allclose(b.model.flat[i], ref, atol=1e-5), i
        if spec.penalty.strength:  # and the penalty changed what was trained
            plain = train_reference(wb.set_path(spec, "penalty", None))["params"]
            assert (ref - plain).abs().max() > 1e-2


def test_strength_zero_trains_as_no_penalty():
    with_zero = wb.run([_spec(strength=0.0)])
    plain = wb.run([wb.set_path(_spec(), "penalty", None)])
    np.testing.assert_array_equal(with_zero.train_loss.values, plain.train_loss.values)


def test_fisher_examples_are_fixed_and_seed_independent():
    a, b = fisher_indices(300, 50, 2), fisher_indices(300, 50, 2)
    assert torch.equal(a, b) and len(set(a.tolist())) == 50
    assert not torch.equal(a, fisher_indices(300, 50, 3))


def test_a_fork_keeps_its_parents_penalty():
    s = wb.Session([_spec(strength=50.0)], chunk_steps=5)
    s.pause(at_step=40)  # after two task ends
    s.start()
    assert s.wait_paused(120)
    (branch,) = s.fork([0])
    s.resume()
    assert s.wait(120) == "done"
    ds = s.dataset()
    np.testing.assert_allclose(ds.train_loss.values[0], ds.train_loss.values[branch], rtol=1e-6)


def test_ewc_reduces_forgetting_and_l2_costs_plasticity():
    """Three permuted-digits tasks of 100 steps, SGD 0.05, 3 seeds (medians): EWC at strength
    100 forgets less than fine-tuning (by > 0.1; measured 0.06 vs 0.31) and ends with a higher
    average accuracy; L2 at strength 1 forgets little too but learns the later tasks worse, so
    its average accuracy is lower than fine-tuning's (measured 0.47 vs 0.60)."""
    stream = wb.permuted("digits", tasks=3, fraction=1.0, task_steps=100)
    base = wb.RunSpec(
        data=stream,
        model=wb.MLP(hidden=(100,)),
        optimizer=wb.SGD(lr=0.05),
        steps=300,
        batch_size=32,
        eval_every=50,
        penalty=Penalty(),
    )
    settings = [("ewc", 0.0), ("ewc", 100.0), ("l2", 1.0)]
    specs = [
        wb.set_path(
            wb.set_path(wb.set_path(base, "penalty.kind", k), "penalty.strength", s), "seed", seed
        )
        for k, s in settings
        for seed in range(3)
    ]
    R = continual.accuracy_matrix(wb.run(specs))
    forget = np.median(continual.forgetting(R).average.values.reshape(3, 3), 1)
    acc = np.median(continual.acc(R).values.reshape(3, 3), 1)
    assert forget[0] - forget[1] > 0.1 and acc[1] > acc[0], (forget, acc)
    assert forget[2] < forget[0] and acc[2] < acc[0] - 0.05, (forget, acc)
