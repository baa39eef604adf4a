"""The schedules lab's knobs, presets, URL state and export (the UI and notebook build on it)."""

import json

import numpy as np
import pytest

from workbench.labs.schedules import PRESETS, SCHEDULE_KINDS, SchedulesLab


def test_specs_are_every_schedule_times_every_seed_in_one_bucket():
    from workbench.engine import plan

    lab = SchedulesLab(schedules=list(SCHEDULE_KINDS), steps=60, warmup=6, seeds=2)
    specs = lab.specs()
    assert len(specs) == 2 * len(SCHEDULE_KINDS) and plan(specs) == [list(range(len(specs)))]
    for spec, kind in zip(specs[::2], SCHEDULE_KINDS, strict=True):
        np.testing.assert_allclose(spec.optimizer.lr.table(60).numpy(), lab.preview()[kind])


@pytest.mark.parametrize("kind", [k for k in SCHEDULE_KINDS if k != "drawn"])
def test_every_schedule_warms_up_to_the_peak_and_respects_the_budget(kind):
    lab = SchedulesLab(steps=100, warmup=10, peak_lr=1e-2, final_lr=1e-4)
    lr = lab.schedule(kind).table(100).numpy()
    assert lr[0] == 0 and lr[10] == pytest.approx(1e-2)
    assert lr.max() == pytest.approx(1e-2)
    if kind != "constant":  # every decay reaches the final LR at the end of the budget
        assert lab.schedule(kind)(100) == pytest.approx(1e-4)


def test_wsd_s_decays_to_the_final_lr_at_each_checkpoint_and_resumes_at_the_peak():
    lab = SchedulesLab(steps=120, warmup=10, peak_lr=1e-2, checkpoints=3, decay=0.25)
    lr = lab.schedule("wsd-s").table(121).numpy()
    for end in (40, 80):
        assert lr[end - 1] < 0.2 * 1e-2 and lr[end] == pytest.approx(1e-2)
    assert lr[120] == 0.0


def test_drawn_schedule_follows_its_knots_and_clicks_add_knots():
    lab = SchedulesLab(steps=200, peak_lr=1e-2, drawn=[[0, 0.5], [0.5, 1.0], [1.0, 0.0]])
    lr = lab.schedule("drawn").table(201).numpy()
    assert lr[0] == pytest.approx(5e-3) and lr[100] == pytest.approx(1e-2)
    assert lr[150] == pytest.approx(5e-3) and lr[200] == 0.0
    lab.add_knot(100, 2e-3)  # replaces the knot at x=0.5
    assert lab.drawn == [[0.0, 0.5], [0.5, 0.2], [1.0, 0.0]]
    lab.add_knot(1000, 1.0)  # clipped to the budget and to 2x the peak
    assert lab.drawn[-1] == [1.0, 2.0]


@pytest.mark.parametrize(
    ("knots", "match"),
    [
        ([[0, 0]], "at least 2 knots"),
        ([[0, 0], [0, 1]], "strictly increasing"),
        ([[0, 0], [1.5, 1]], r"x=1.5 \(fraction of the budget\) must be in \[0, 1\]"),
        ([[0, 0], [1, -1]], r"y=-1.0 \(multiple of the peak LR\) must be in \[0, 2\]"),
        ([[0, 0], [1, "a"]], "must be a pair of numbers"),
        ("0,0", "must be a list"),
    ],
)
def test_bad_drawn_knots_are_refused_with_the_knot_named(knots, match):
    lab = SchedulesLab()
    with pytest.raises(ValueError, match=match):
        lab.drawn = knots
    assert lab.drawn == SchedulesLab().drawn  # the old value stays
    with pytest.raises(ValueError, match=f"knob drawn=.*{match}"):
        SchedulesLab.from_query({"drawn": json.dumps(knots)})


def test_presets_are_valid_knob_sets_with_explanations():
    for name, (knobs, text) in PRESETS.items():
        lab = SchedulesLab(**{**knobs, "steps": 60, "warmup": 6, "seeds": 1})
        assert lab.specs() and len(text) > 80, name


def test_url_query_round_trips_and_is_parsed_strictly():
    lab = SchedulesLab(schedules=["wsd", "linear"], peak_lr=1e-2, decay=0.3, seeds=2)
    assert SchedulesLab.from_query(lab.to_query()).to_query() == lab.to_query()
    with pytest.raises(ValueError, match="knob steps='-5'"):
        SchedulesLab.from_query({"steps": "-5"})
    with pytest.raises(ValueError, match="unknown knob 'rm'"):
        SchedulesLab.from_query({"rm": "1"})
    with pytest.raises(ValueError, match="not a JSON value"):
        SchedulesLab.from_query({"peak_lr": "__import__('os')"})
    with pytest.raises(ValueError, match="schedules"):
        SchedulesLab.from_query({"schedules": '["wsd", "exponential"]'})


def test_budget_conflicts_are_named_before_training():
    lab = SchedulesLab(steps=50, warmup=40, decay=0.5)
    with pytest.raises(ValueError, match="wsd: warmup=40"):
        lab.specs()


def test_export_snippet_reproduces_the_sweep_and_draws_it():
    import workbench as wb

    lab = SchedulesLab(schedules=["wsd", "constant"], steps=30, warmup=3, seeds=1)
    lab.workload = "mnist1d"
    code = lab.export()
    made = "SchedulesLab(workload='mnist1d', schedules=['wsd', 'constant'], warmup=3, steps=30"
    assert f"{made}, seeds=1)" in code
    namespace: dict = {}
    exec(code.replace("fig.show()\n", ""), namespace)
    assert wb.specs_of(namespace["ds"]) == lab.specs()
    assert namespace["names"] == ["wsd", "constant"]
    legend = [t.name for t in namespace["fig"].data if t.showlegend]
    assert {n.split(" · ")[0] for n in legend} == {"wsd", "constant"}
    assert not any("lr=" in n for n in legend)  # named by schedule, not by a spec field


def test_knob_checks_name_the_knob_the_value_and_the_range():
    lab = SchedulesLab()
    assert lab.check_value("peak_lr", 5.0) == "Peak LR must be a number from 1e-05 to 1, got 5.0"
    assert lab.check_value("steps", 10) == "Steps must be a whole number from 20 to 100000, got 10"
    assert "must be in [0, 1]" in lab.check_value("drawn", [[0, 0], [2, 1]])
    assert "one of 'bigram', 'mnist1d'" in lab.check_value("workload", "cifar")
    assert lab.check_value("peak_lr", 0.01) is None
    assert lab.peak_lr == 0.02  # checking changes nothing


def test_which_knobs_apply():
    lab = SchedulesLab(schedules=["cosine"])
    on = lab.applies()
    assert not on["checkpoints"] and not on["drawn"] and not on["decay"] and not on["shift"]
    assert on["warmup"] and on["peak_lr"]
    lab.schedules = ["wsd-s"]
    assert lab.applies()["checkpoints"] and lab.applies()["decay"]
    lab.new_data = 0.5
    assert lab.applies()["shift"]


def test_new_data_makes_a_two_task_stream_and_rewarm_restarts_there():
    lab = SchedulesLab(schedules=["rewarm", "infinite"], steps=200, warmup=10, new_data=0.4)
    (spec, *_) = lab.specs()
    assert spec.data.starts == (0, 80) and spec.data.names == ("old", "new")
    assert spec.data.tasks[1].distance == lab.shift and spec.data.tasks[1].variant == 1
    lr = lab.schedule("rewarm").table(201).numpy()
    assert lr[79] < 0.01 * lab.peak_lr and lr[90] == pytest.approx(lab.peak_lr)  # re-warmed
    assert lr[200] == 0.0
    inf = lab.schedule("infinite").table(201).numpy()
    assert inf[80] == pytest.approx(lab.peak_lr / 4) and inf[159] == pytest.approx(inf[80])
    assert inf[200] == 0.0  # annealed over the last decay fraction
    with pytest.raises(ValueError, match="new_data=0.4 needs workload='bigram'"):
        SchedulesLab(workload="mnist1d", new_data=0.4).specs()


def test_budgets_train_every_schedule_at_each_budget_and_wsd_s_once():
    lab = SchedulesLab(schedules=["wsd-s", "wsd"], budgets=3, seeds=2)
    specs = lab.specs()
    assert [(lab.name_of(s), s.seed) for s in specs] == [
        ("wsd @ 100", 0), ("wsd @ 100", 1), ("wsd @ 200", 0), ("wsd @ 200", 1),
        ("wsd-s @ 300", 0), ("wsd-s @ 300", 1), ("wsd @ 300", 0), ("wsd @ 300", 1),
    ]  # fmt: skip
    assert lab.budget_steps() == [100, 200, 300]
