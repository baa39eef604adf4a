"""The landscape app (apps/landscape.py) without a browser: a sweep trained through the page's
live session, a grid drawn coarse to fine in the worker thread with every run's path on it, a
new Draw cancelling the old one, zooming through the cache, interpolations, the two-task
evaluation switch, and errors shown in the tab instead of raised."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import workbench as wb
from workbench.labs.landscape import LandscapeLab

REPO_APPS = str(Path(__file__).resolve().parents[2] / "apps")
FAST = dict(
    data="digits",
    width=16,
    depth=1,
    lrs=[0.05, 0.2],
    seeds=1,
    steps=40,
    snapshot_every=10,
    sharpness_every=10,
    probe=64,
    resolution=7,
    span=0.5,
)


def _module():
    sys.path.insert(0, REPO_APPS)
    try:
        import landscape

        return landscape
    finally:
        sys.path.remove(REPO_APPS)


def _trained(**knobs):
    """An app whose sweep of ``knobs`` trained to the end through its live session."""
    app = _module().create_app()
    app.lab.param.update(**{**FAST, **knobs})
    app.live.chunk_steps = 20
    assert app.live.start()
    assert app.live.session.wait(120) == "done"
    app.live.refresh()  # the page's poll: draws the curves and calls the app's on_data
    return app


@pytest.fixture(scope="module")
def app():
    app = _trained()
    yield app
    app.close()


def _show(app, tab):
    app.tabs.active = app.tabs._names.index(tab)


def _window(app):
    return np.round(np.ravel(app.view.window()), 6).tolist()


@pytest.mark.parametrize("preset", list(LandscapeLab.presets))
def test_every_preset_makes_a_valid_sweep(preset):
    lab = LandscapeLab()
    text = lab.apply_preset(preset)
    specs = lab.specs()
    for spec in specs:
        spec.validate()
    assert len({s.bucket_key() for s in specs}) == 1 and len(text) > 100


def test_every_view_follows_the_sweep(app):
    assert list(app.run.options) == ["lr 0.05 · seed 0", "lr 0.2 · seed 0"]
    assert app.run_b.value == 1  # two different runs to interpolate between
    _show(app, "Sharpness")
    assert "2/η" in app.sharp.object.layout.annotations[1].text
    assert app.table.value["name"].tolist() == ["lr 0.05", "lr 0.2"]
    _show(app, "Distance")
    assert app.distance.object.layout.xaxis.type == "log"
    assert not app.evaluate.visible  # one task: nothing to choose
    assert all(not n.object for k, n in app.notes.items() if k in ("sharp", "dist"))


def test_a_drawn_grid_fills_in_coarse_first_with_every_path(app):
    _show(app, "Landscape")
    shown = []
    watcher = app.view.status.param.watch(lambda e: shown.append(e.new), "object")
    try:
        app.draw().result(60)
    finally:
        app.view.status.param.unwatch(watcher)
    assert shown[-1] == "49 / 49 points over α -0.5 to 0.5, β -0.5 to 0.5 · done"
    assert not app.view.progress.visible
    assert any(s.endswith("…") for s in shown)  # the coarse grid was shown first
    fig = app.view.contour.object
    assert [t.type for t in fig.data].count("contour") == 1
    paths = [t.meta["path"] for t in fig.data if "path" in (t.meta or {})]
    assert paths == ["lr 0.05 · seed 0", "lr 0.2 · seed 0"]
    assert app.view.grid.sizes == {"beta": 7, "alpha": 7} and _window(app) == [-0.5, 0.5, -0.5, 0.5]
    assert "filter plane around lr 0.05 · seed 0" == fig.layout.title.text
    app.view.kind.value = "3-D surface"
    assert app.view.contour.object.data[0].type == "surface"
    app.view.kind.value = "contour"


def test_a_new_draw_cancels_the_one_before(app):
    _show(app, "Landscape")
    app.lab.resolution = 101  # 10,201 points: far from done when the next Draw comes
    first = app.draw()
    app.lab.resolution = 7
    second = app.draw()
    second.result(60)
    assert first.done() and first.exception() is None
    assert app.view.grid.sizes == {"beta": 7, "alpha": 7}
    assert app.view.status.object.endswith("done")
    assert all(g.sizes["alpha"] != 101 for g in app.view.cache._items.values())  # never finished


def test_zooming_computes_the_window_once_and_comes_back_from_the_cache(app):
    _show(app, "Landscape")
    app.draw().result(60)
    base = _window(app)
    box = {"xaxis.range[0]": -0.2, "xaxis.range[1]": 0.1, "yaxis.range[0]": 0.0}
    box["yaxis.range[1]"] = 0.3
    misses, hits = app.view.cache.misses, app.view.cache.hits
    app.view.contour.relayout_data = box  # the user drags a box on the contour
    app.view.job.result(60)
    assert _window(app) == [-0.2, 0.1, 0.0, 0.3] and app.view.grid.sizes["alpha"] == 7
    assert app.view.cache.misses == misses + 1
    app.view.contour.relayout_data = {"xaxis.autorange": True, "yaxis.autorange": True}
    app.view.job.result(60)  # a double click: back to the drawn window, from the cache
    assert _window(app) == base and app.view.cache.hits == hits + 1
    app.view.contour.relayout_data = {**box}  # zooming in again: from the cache too
    app.view.job.result(60)
    assert _window(app) == [-0.2, 0.1, 0.0, 0.3] and app.view.cache.hits == hits + 2
    assert app.view.cache.misses == misses + 1
    # the mode bar's reset states both ranges as pairs: back to the drawn window too
    reset = {"xaxis.range": base[:2], "yaxis.range": base[2:]}
    app.view.contour.relayout_data = reset
    app.view.job.result(60)
    assert _window(app) == base and app.view.cache.hits == hits + 3
    app.view.contour.relayout_data = {"xaxis.range": [0.0, None]}  # half a range: nothing to do
    assert _window(app) == base and app.view.contour.config == {"doubleClick": "autosize"}


def test_interpolations_between_the_chosen_points(app):
    _show(app, "Interpolation")
    for pair, ends in (("init", "init"), ("ab", "end of A"), ("middle", "middle")):
        app.pair.value = pair
        assert app.run_b.visible == (pair == "ab")
        app.interpolate().result(60)
        fig = app.line_plot.object
        assert fig.layout.xaxis.ticktext[0] == ends
        loss = next(t for t in fig.data if t.meta["var"] == "loss")
        assert len(loss.x) == 31 and np.isfinite(loss.y).all()
        assert "barrier" in fig.layout.annotations[0].text


def test_errors_are_shown_in_the_tab_and_the_drawing_stays(app, monkeypatch):
    _show(app, "Landscape")
    app.draw().result(60)
    drawn = app.view.contour.object

    def fail(*_a, **_k):
        raise ValueError("plane_of: the three snapshots are on one line; no plane")

    monkeypatch.setattr(LandscapeLab, "plane", fail)
    app.draw().result(60)
    assert "Could not draw:** plane_of: the three snapshots" in app.notes["land"].object
    assert app.view.contour.object is drawn and app.view.grid is not None


def test_nothing_to_draw_and_no_snapshots_are_explained():
    app = _module().create_app()
    assert app.draw() is None and "train a sweep" in app.notes["land"].object
    assert app.interpolate() is None and "train a sweep" in app.notes["line"].object
    spec = wb.RunSpec(data="digits", model=wb.MLP(hidden=(8,)), steps=10, batch_size=32)
    ds = wb.run([spec]).assign_coords(name=("run", np.asarray(["lr 0.1"], dtype=object)))
    _show(app, "Landscape")
    app._on_data(ds)  # what the page does with each new Dataset
    assert "No run has snapshots yet" in app.notes["land"].object and not app.run.options
    _show(app, "Distance")
    app._on_data(ds)
    assert "no parameter snapshots" in app.notes["dist"].object
    app.close()


def test_two_tasks_evaluate_on_either_task():
    app = _trained(data="two tasks", full_batch=False, batch_size=32, replay_ratios=[0.0, 0.5])
    try:
        assert app.evaluate.visible and "end of task 1 → end of task 2" in app.pair.options
        _show(app, "Landscape")
        app.lab.directions = "three points"
        app.draw().result(60)
        traces = app.view.contour.object.data
        points = [t.meta["point"] for t in traces if "point" in (t.meta or {})]
        assert points == ["init", "end of task 1", "end of task 2"]
        on_task_2 = app.view.grid.loss.values
        app.evaluate.value = "task 1"  # the same plane, task 1's loss
        app.view.job.result(60)
        assert app.view.grid.sizes == {"beta": 7, "alpha": 7}
        assert not np.allclose(app.view.grid.loss.values, on_task_2)
        app.pair.value = "middle"
        app.interpolate().result(60)
        names = [t.name for t in app.line_plot.object.data if t.meta["var"] == "loss"]
        assert names == ["on task 1: loss", "on task 2: loss"]
    finally:
        app.close()
