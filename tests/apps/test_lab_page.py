"""The shared lab page (workbench.ui.LabPage) through the schedules app, without a browser:
what a new user hit (refused inputs with no word, stale errors, a wrong step count, colours
that differ between panels, an export that left out what happened, no cost warning) and what a
workshop expects (history, only the knobs that apply, presets, reset)."""

from __future__ import annotations

import io

import numpy as np
import pytest
import xarray as xr
from browser_fixtures import app_module  # noqa: F401 (fixture)

TINY = dict(steps=40, warmup=4, seeds=1, workload="mnist1d", peak_lr=0.01)


def _app(app_module, **knobs):
    app = app_module.create_app()
    app.lab.param.update(**knobs)
    return app


@pytest.mark.parametrize(
    ("knob", "value", "words"),
    [
        ("peak_lr", -0.01, ["Peak LR", "-0.01", "from 1e-05 to 1"]),
        ("peak_lr", 5.0, ["Peak LR", "5", "from 1e-05 to 1"]),
        ("steps", 10, ["Steps", "10", "from 20 to 100000"]),
        ("steps", 99_999_999, ["Steps", "99999999", "from 20 to 100000"]),
    ],
)
def test_an_out_of_range_number_is_refused_with_a_message_and_run_does_not_train_it(
    app_module, knob, value, words
):
    app = _app(app_module, **TINY)
    page = app.page
    before = getattr(app.lab, knob)
    box = page.inputs[knob]
    box.widget.value = value
    assert getattr(app.lab, knob) == before  # the knob keeps its last good value
    assert box.message.visible and box.invalid
    for w in words:
        assert w in box.message.object, box.message.object
    assert f"Still using {before!r}" in box.message.object
    assert not app.live.start()  # Run refuses rather than train the old value silently
    assert app.live._alert.visible and "fix" in app.live._alert.object
    box.widget.value = before  # typed back: message and refusal go
    assert not box.message.visible and not box.invalid
    assert not app.live._alert.visible


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("[[0,0],[2,1]]", ["Drawn knots", "x=2.0", "must be in [0, 1]"]),
        ("hello", ["Drawn knots", "'hello' is not JSON"]),
    ],
)
def test_invalid_drawn_knots_get_a_message(app_module, text, words):
    app = _app(app_module, schedules=["drawn"])
    box = app.page.inputs["drawn"]
    box.widget.value = text
    assert app.lab.drawn == app.lab.param["drawn"].default
    assert box.message.visible
    for w in words:
        assert w in box.message.object, box.message.object


def test_a_cannot_start_error_goes_once_the_knobs_are_fixed(app_module):
    app = _app(app_module, steps=300, warmup=500)  # wsd: warmup must be <= steps
    assert app.page.knob_alert.visible and "warmup=500" in app.page.knob_alert.object
    assert not app.live.start()
    assert app.live._alert.visible and "Cannot start" in app.live._alert.object
    app.lab.warmup = 30
    assert not app.page.knob_alert.visible
    assert not app.live._alert.visible


def test_status_counts_steps_per_run_when_budgets_differ(app_module):
    app = _app(app_module, **{**TINY, "steps": 90, "budgets": 3, "schedules": ["cosine"]})
    live = app.live
    live.chunk_steps = 5
    assert live.start()
    s = live.session
    s.pause(at_step=45)  # the 30-step run is done, the others are at 45
    assert s.wait_paused(120)
    done = s.steps_done()
    assert sorted(done.tolist()) == [30, 45, 45]
    assert "step 45 / 90" in live.status_text()
    s.resume()
    assert s.wait(120) == "done"
    live.refresh()
    assert "**done** · step 90 / 90" in live._status.object
    assert "steps/s" in live._status.object


def test_one_colour_per_schedule_across_preview_and_live_curves(app_module):
    app = _app(app_module, **{**TINY, "schedules": ["constant", "cosine"]})
    preview = {
        t.name: t.line.color for t in app.preview.object.data if t.name in ("constant", "cosine")
    }
    app.live.start()
    assert app.live.session.wait(120) == "done"
    app.live.refresh()
    live = {
        t.meta["group"]: t.line.color
        for t in app.live._plot.object.data
        if isinstance(t.meta, dict) and t.meta.get("group") in ("constant", "cosine")
    }
    assert preview == live
    assert preview["constant"] != preview["cosine"]


def test_export_reproduces_the_sweep_as_trained_with_live_changes_and_forks(app_module):
    import workbench as wb

    app = _app(app_module, **{**TINY, "schedules": ["constant", "cosine"]})
    live = app.live
    live.chunk_steps = 5
    assert live.start()
    s = live.session
    s.pause(at_step=10)
    assert s.wait_paused(120)
    live.knobs.lr_scale = 1.5  # from step 10 on
    live.act(app.lab.actions[0])  # fork both runs: decay from step 10
    s.resume()
    assert s.wait(120) == "done"
    live.refresh()
    text = app.page.export()
    assert "changed while it trained" in text
    code = text.split("```python\n")[2].split("```")[0]
    assert "lr=join" not in code  # runs are named by schedule, not by a spec field
    namespace: dict = {}
    exec(code.replace("fig.show()\n", ""), namespace)
    ran = s.dataset()
    ds = namespace["ds"]
    assert ds.sizes["run"] == ran.sizes["run"] == 4
    np.testing.assert_allclose(ds.train_loss.values, ran.train_loss.values, rtol=1e-5, atol=1e-6)
    assert namespace["fig"].data, "the snippet draws the figure"
    assert namespace["names"] == [
        "constant",
        "cosine",
        "constant · decay@10",
        "cosine · decay@10",
    ]
    assert wb.specs_of(ds) == namespace["specs"]  # it trained the runs as the page trained them


def test_a_long_sweep_asks_before_it_starts(app_module):
    app = _app(app_module, **TINY)
    live = app.live
    live.confirm_s = 0.0  # anything counts as long
    assert not live.start()
    assert live._confirm_row.visible and "This sweep will take" in live._confirm_text.object
    assert live.session is None
    live._cancel.clicks += 1
    assert not live._confirm_row.visible and live.session is None
    assert not live.start()
    app.lab.steps = 30  # the knobs changed: the question about the old sweep is withdrawn
    assert not live._confirm_row.visible and live.session is None
    assert not live.start()
    live._confirm.clicks += 1  # "Run anyway"
    assert live.session is not None and live.session.wait(120) == "done"
    live.refresh()
    assert "Estimated:" in live._estimate.object


def test_history_keeps_every_sweep_overlays_the_last_and_downloads_it(app_module):
    app = _app(app_module, **{**TINY, "schedules": ["cosine"]})
    page, live = app.page, app.live
    for seeds in (1, 2):
        app.lab.seeds = seeds
        assert live.start()
        assert live.session.wait(120) == "done"
        live.refresh()
    assert [s.number for s in page.sweeps] == [1, 2]
    table = page.table.value
    assert list(table.sweep) == [1, 2, 2] and set(table.schedule) == {"cosine"}
    assert {"train loss", "test loss", "test accuracy"} <= set(table.columns)
    assert live.previous is page.sweeps[0].ds  # the earlier sweep in grey behind the last
    grey = [t for t in live._plot.object.data if (t.meta or {}).get("previous")]
    assert grey
    page.overlay = False
    assert live.previous is None
    page._pick.value = 1
    saved = xr.open_dataset(io.BytesIO(page._netcdf().getvalue()))
    assert saved.sizes["run"] == 1 and list(saved.name.values) == ["cosine"]
    assert b"plotly" in page._figure_html().getvalue()[:200_000]


def test_only_the_knobs_that_apply_are_shown(app_module):
    app = _app(app_module)
    inputs = app.page.inputs
    assert not inputs["checkpoints"].visible and not inputs["drawn"].visible
    assert not inputs["shift"].visible  # no new data
    app.lab.schedules = ["wsd-s", "drawn"]
    assert inputs["checkpoints"].visible and inputs["drawn"].visible
    app.lab.new_data = 0.5
    assert inputs["shift"].visible
    app.lab.param.update(new_data=0.0, workload="mnist1d")
    assert not inputs["new_data"].visible and not inputs["shift"].visible


def test_reset_restores_the_defaults_and_clears_the_preset(app_module):
    app = _app(app_module)
    app.page.preset = "linear-vs-cosine"
    assert "Defazio" in app.page.explanation.object
    app.lab.steps = 500
    app.page._reset.clicks += 1
    assert app.page.preset == "(none)" and app.page.explanation.object == ""
    assert app.lab.knobs() == app.lab.defaults()


def test_the_science_tab_shows_the_repository_guide(app_module):
    app = _app(app_module)
    names = list(app.page.tabs._names)
    assert names[-2:] == ["History", "Science"]
    science = app.page.tabs[-1]
    assert "river valley" in science.object.lower()
    assert "PHENOMENA" not in app_module.INTRO and "docs/science/schedules.md" in app_module.INTRO


def test_actions_are_explained_on_the_page_not_in_a_tooltip_cut_off_at_the_edge(app_module):
    app = _app(app_module)
    (fork,) = app.live._action_buttons
    assert fork.label == "Fork: start the decay now" and not fork.description
    help_text = app.live._action_help.object
    assert "**Fork: start the decay now**" in help_text and "linearly to 0" in help_text
