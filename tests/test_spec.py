"""RunSpec: sweeps, paths, serialisation, and validation of bad input before training."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import workbench as wb
from workbench import schedules
from workbench.spec import flatten, run_labels, set_path, varying


def test_grid_is_the_cartesian_product_in_axis_order():
    base = wb.RunSpec(optimizer=wb.AdamW(lr=schedules.cosine(peak=3e-3, steps=2000, warmup=100)))
    specs = wb.grid(base, {"optimizer.lr.peak": [1e-3, 3e-3, 1e-2], "seed": range(4)})
    assert len(specs) == 12
    assert [(s.optimizer.lr.peak, s.seed) for s in specs[:5]] == [
        (1e-3, 0),
        (1e-3, 1),
        (1e-3, 2),
        (1e-3, 3),
        (3e-3, 0),
    ]
    assert len({s.key() for s in specs}) == 12


def test_set_path_reaches_every_level_and_revalidates():
    s = wb.RunSpec(optimizer=wb.AdamW(lr=schedules.cosine(peak=1e-3, steps=100)))
    assert set_path(s, "model.hidden", (7,)).model.hidden == (7,)
    assert set_path(s, "data.name", "digits").data.name == "digits"
    assert set_path(s, "optimizer.lr.warmup", 10).optimizer.lr.warmup == 10
    with pytest.raises(ValueError, match="cosine: warmup=200"):
        set_path(s, "optimizer.lr.warmup", 200)
    with pytest.raises(ValueError, match="'bogus' is not a field of RunSpec; allowed: data"):
        set_path(s, "bogus", 1)
    plain = wb.RunSpec(optimizer=wb.AdamW(lr=1e-3))
    with pytest.raises(ValueError, match="optimizer.lr is 0.001, which has no field 'peak'"):
        set_path(plain, "optimizer.lr.peak", 1e-2)


def test_join_segments_are_reachable_by_index():
    lr = schedules.join([schedules.warmup(peak=1e-3, steps=10), 1e-3], [10])
    s = set_path(wb.RunSpec(optimizer=wb.AdamW(lr=lr)), "optimizer.lr.schedules.0.peak", 2e-3)
    assert s.optimizer.lr.schedules[0].peak == 2e-3


def test_spec_round_trips_through_json_and_keys_are_stable():
    s = wb.RunSpec(
        data=wb.data_spec("gaussian", classes=4, overlap=0.3),
        model=wb.MLP(hidden=(8, 8), activation="tanh"),
        optimizer=wb.SGD(
            lr=schedules.wsd(peak=0.1, steps=50, decay=0.1), nesterov=True, momentum=0.9
        ),
        steps=50,
    )
    back = wb.RunSpec.from_dict(json.loads(json.dumps(s.to_dict())))
    assert back == s and hash(back) == hash(s) and back.key() == s.key()
    assert wb.set_path(s, "seed", 1).key() != s.key()


def test_varying_and_labels():
    specs = wb.grid(wb.RunSpec(), {"optimizer.weight_decay": [0.0, 0.1], "seed": [0, 1]})
    v = varying(specs)
    assert v == {"optimizer.weight_decay": [0.0, 0.0, 0.1, 0.1], "seed": [0, 1, 0, 1]}
    assert run_labels(specs)[1] == "weight_decay=0, seed=1"
    assert run_labels(specs, exclude=("seed",)) == ["weight_decay=0"] * 2 + ["weight_decay=0.1"] * 2
    assert flatten(specs[0])["data.name"] == "mnist1d"


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: wb.RunSpec(data="imagenet"), "imagenet"),
        (lambda: wb.RunSpec(steps=0), "RunSpec: steps=0 must be an int >= 1"),
        (lambda: wb.RunSpec(seed=-1), "seed=-1"),
        (lambda: wb.RunSpec(batch_size=2.5), "batch_size=2.5"),
        (lambda: wb.RunSpec(model="resnet"), "model='resnet'"),
        (lambda: wb.RunSpec(optimizer="adam"), "optimizer='adam'"),
        (lambda: wb.RunSpec(optimizer=wb.AdamW(lr=-1.0)), "AdamW: lr=-1.0 must be >= 0.0"),
        (lambda: wb.RunSpec(model=wb.MLP(activation="swish")), "activation='swish'"),
    ],
)
def test_bad_specs_raise_named_errors_at_construction(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        (wb.RunSpec(data="digits", batch_size=5000), "batch_size=5000 is larger than the training"),
        (
            wb.RunSpec(
                steps=50, optimizer=wb.AdamW(lr=schedules.cosine(peak=1e-3, steps=100, warmup=80))
            ),
            r"optimizer.lr.warmup=80 is longer than the run \(steps=50\)",
        ),
        (wb.RunSpec(model=wb.MLP(in_dim=64)), "in_dim=64 does not match the dataset's 40"),
        (wb.RunSpec(data="markov"), "tokens dataset"),
        (
            wb.RunSpec(
                steps=20, optimizer=wb.SGD(lr=schedules.linear(start=0.1, end=-0.1, steps=20))
            ),
            "SGD: lr at step 11",
        ),
    ],
)
def test_bad_specs_raise_named_errors_before_training(spec, match):
    with pytest.raises(ValueError, match=match):
        spec.validate()
    with pytest.raises(ValueError, match=match):
        wb.run([spec])


_lr = st.one_of(
    st.floats(min_value=-1.0, max_value=10.0),
    st.sampled_from([float("nan"), float("inf"), 1e30]),
    st.builds(
        lambda p, w: schedules.cosine(peak=p, steps=8, warmup=w), st.floats(0, 1), st.integers(0, 8)
    ),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.sampled_from(["digits", "gaussian", "mnist1d", "markov", "cifar"]),
    hidden=st.lists(st.integers(-1, 12), max_size=3),
    activation=st.sampled_from(["relu", "tanh", "swish"]),
    opt=st.sampled_from(["AdamW", "SGD"]),
    lr=_lr,
    momentum=st.floats(-0.5, 1.5),
    steps=st.integers(-1, 6),
    batch_size=st.integers(-1, 3000),
    seed=st.integers(-1, 3),
)
def test_any_spec_either_runs_or_raises_a_named_value_error(
    data, hidden, activation, opt, lr, momentum, steps, batch_size, seed
):
    try:
        optimizer = wb.AdamW(lr=lr) if opt == "AdamW" else wb.SGD(lr=lr, momentum=momentum)
        spec = wb.RunSpec(
            data=data,
            model=wb.MLP(hidden=tuple(hidden), activation=activation),
            optimizer=optimizer,
            steps=steps,
            batch_size=batch_size,
            seed=seed,
            eval_every=3,
        )
        ds = wb.run([spec])
    except ValueError as e:
        msg = str(e)
        assert "=" in msg or "is a tokens dataset" in msg, msg  # names the field and value
        return
    assert ds.sizes["step"] == steps
