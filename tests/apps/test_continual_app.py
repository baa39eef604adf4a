"""The continual app (apps/continual.py) without a browser: it composes the shared lab page,
its presets make valid sweeps, the live replay ratio reaches a running session and is marked
on the curves, and every extra view follows the sweep."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import workbench as wb
from workbench.labs.continual import ContinualLab

REPO_APPS = str(__import__("pathlib").Path(__file__).resolve().parents[2] / "apps")
TINY = dict(tasks=2, task_steps=15, seeds=1, replay_ratios=[0.0, 0.25], eval_every=3)


@pytest.fixture
def app():
    sys.path.insert(0, REPO_APPS)
    try:
        import continual

        yield continual.create_app()
    finally:
        sys.path.remove(REPO_APPS)


@pytest.mark.parametrize("preset", list(ContinualLab.presets))
def test_every_preset_makes_a_valid_sweep(preset):
    lab = ContinualLab()
    text = lab.apply_preset(preset)
    specs = lab.specs()
    for spec in specs:
        spec.validate()
    assert len(set(s.bucket_key() for s in specs)) == 1  # one lockstep bucket
    assert len(text) > 100


def test_knobs_that_do_not_make_a_sweep_are_explained(app):
    app.lab.param.update(tasks=6, classes_per_task=2)
    alert = app.page.knob_alert
    assert alert.visible and "needs 12 digit classes; digits has 10" in alert.object
    app.lab.tasks = 5
    assert not alert.visible


def test_only_the_knobs_that_apply_show(app):
    shown = {k for k, box in app.page.inputs.items() if box.visible}
    assert "shift" not in shown and "revisit_exponent" not in shown and "rewarm" not in shown
    app.lab.stream = "language"
    shown = {k for k, box in app.page.inputs.items() if box.visible}
    assert {"shift", "rewarm"} <= shown and "tasks" not in shown


def test_a_live_ratio_change_reaches_the_runs_and_is_marked(app):
    app.lab.param.update(**TINY)
    live = app.live
    live.chunk_steps = 5
    assert live.start()
    s = live.session
    s.pause(at_step=20)
    assert s.wait_paused(120)
    live.knobs.replay_ratio = 0.5  # the slider
    s.resume()
    assert s.wait(120) == "done"
    live.refresh()
    ds = s.dataset()
    assert np.allclose(ds.replay_ratio.values[:, 20:], 0.5)
    assert np.allclose(ds.replay_ratio.values[:, :20], [[0.0], [0.25]])
    fig = live._plot.object
    assert "ratio → 0.5" in [a.text for a in fig.layout.annotations]
    titles = [a.text for a in fig.layout.annotations]
    assert "replay ratio" in titles and "test accuracy on all tasks (mean)" in titles
    code = app.page.export().split("```python\n")[2].split("```")[0]
    assert "piecewise(boundaries=(20,)" in code  # the export trains what the runs trained


def test_every_view_follows_the_sweep(app):
    app.lab.param.update(**TINY)
    assert app.live.start()
    assert app.live.session.wait(120) == "done"
    app.live.refresh()
    names = app.tabs._names
    for tab in ("Task switch", "Accuracy matrix", "Forgetting curves", "Trade-off"):
        app.tabs.active = names.index(tab)  # showing a tab draws it
    assert app.zoom.object is not None and "stability gap" in app.zoom.object.layout.title.text
    assert len(app.gap.value) == 2  # one row per replay ratio
    assert app.heatmap.object.data[0].z.shape == (2, 2)
    assert app.forgetting.object is not None and app.tradeoff.object is not None
    assert all(not note.object for note in app.notes.values())
    app.tabs.active = names.index("Accuracy matrix")
    app.views.group = "ratio 0.25"
    assert "ratio 0.25" in app.heatmap.object.layout.title.text


def test_a_view_of_a_sweep_without_switches_says_so_and_the_page_stays(app):
    """Views are drawn from whatever the session has; one that cannot be drawn yet says why."""
    app.lab.param.update(**TINY)
    live = app.live
    live.chunk_steps = 5
    assert live.start()
    s = live.session
    s.pause(at_step=5)  # still in the first task: no switch yet, no task ended
    assert s.wait_paused(120)
    ds = s.dataset()
    ds = live.named(ds, [s.specs[r] for r in ds.session_run.values])
    for tab in ("Task switch", "Accuracy matrix", "Forgetting curves", "Trade-off"):
        app.tabs.active = app.tabs._names.index(tab)
        app._update(ds)  # what the page does with each new Dataset
    assert app.zoom.object is not None  # the switch is ahead: an empty window, no error
    assert app.heatmap.object.data[0].z.shape == (2, 2)  # no row filled in yet
    assert "finished" in str(app.tradeoff.object.layout.annotations[0].text)
    assert not app.live._alert.visible
    s.stop()
    assert s.wait(120) == "stopped"


def test_the_sweep_is_one_bucket_and_matches_the_library():
    lab = ContinualLab(**TINY)
    specs = lab.specs()
    ds = wb.run(specs)
    assert ds.sizes["run"] == 2 and "replay_ratio" in ds
    assert lab.names(specs) == ["ratio 0", "ratio 0.25"]


def test_the_mean_panel_is_the_mean_over_tasks():
    """The first accuracy panel is the per-run mean of the task panels (not a transposed mix)."""
    from workbench.plots.continual import task_curves

    lab = ContinualLab(**{**TINY, "tasks": 3, "seeds": 2})
    specs = lab.specs()
    ds = wb.run(specs).assign_coords(name=("run", lab.names(specs)))
    fig = task_curves(ds, by="name")
    medians = {
        (t.meta["group"], t.xaxis): np.asarray(t.y, dtype=float)
        for t in fig.data
        if isinstance(t.meta, dict) and "group" in t.meta and t.xaxis in ("x2", "x3")
    }
    mean = ds.task_acc.mean("task").values  # (run, eval_step)
    for g in ("ratio 0", "ratio 0.25"):
        runs = np.asarray(lab.names(specs)) == g
        np.testing.assert_allclose(medians[(g, "x2")], np.median(mean[runs], 0), atol=1e-6)
        first = ds.task_acc.values[runs, :, 0]
        np.testing.assert_allclose(medians[(g, "x3")], np.median(first, 0), atol=1e-6)


def test_a_token_stream_shows_loss_per_task_with_or_without_replay():
    """Next-token accuracy on a bigram language is capped far below 1: the task panels show
    the loss, whether or not the runs replay (the choice must not hang on replay)."""
    import dataclasses

    from workbench.plots.continual import task_curves

    lab = ContinualLab(
        stream="language",
        optimizer="adamw",
        lr=3e-3,
        task_steps=10,
        replay_ratios=[0.0],
        seeds=1,
        eval_every=5,
    )
    for spec in (lab.specs()[0], dataclasses.replace(lab.specs()[0], replay=None)):
        titles = [a.text for a in task_curves(wb.run([spec])).layout.annotations]
        assert "test loss on language A" in titles, titles
