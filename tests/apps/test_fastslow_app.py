"""The fast/slow app (apps/fastslow.py) without a browser: every preset makes a valid sweep,
only the knobs (and live knobs) of the setting show, a live ratio reaches a running session,
and every view follows the sweep."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import workbench as wb
from workbench.labs.fastslow import SETTINGS, FastSlowLab

REPO_APPS = str(__import__("pathlib").Path(__file__).resolve().parents[2] / "apps")
TINY = {
    "lookahead": dict(steps=60, alphas=[0.5, 1.0]),
    "ema": dict(steps=60, betas=[0.9]),
    "slow learner": dict(pretrain_steps=30, task_steps=20, ratios=[1.0, 0.1]),
    "dual memory": dict(task_steps=20),
    "error memory": dict(segment_steps=40),
    "horizon": dict(steps=60, horizons=[10, 50]),
}


@pytest.fixture
def app():
    sys.path.insert(0, REPO_APPS)
    try:
        import fastslow

        made = fastslow.create_app()
        yield made
        made.close()
        made.live.close(final=True)
    finally:
        sys.path.remove(REPO_APPS)


@pytest.mark.parametrize("preset", list(FastSlowLab.presets))
def test_every_preset_makes_a_valid_sweep(preset):
    lab = FastSlowLab()
    text = lab.apply_preset(preset)
    specs = lab.specs()
    for spec in specs:
        spec.validate()
    buckets = len({s.bucket_key() for s in specs})
    assert buckets == (2 if lab.setting == "horizon" else 1)  # EMAs and Lookaheads
    assert len(text) > 100 and len(specs) >= 6


@pytest.mark.parametrize("setting", SETTINGS)
def test_every_setting_trains_and_names_its_runs(setting):
    lab = FastSlowLab(setting=setting, seeds=1, eval_every=10, **TINY[setting])
    specs = lab.specs()
    ds = wb.run(specs)
    names = lab.names(specs)
    assert len(set(names)) == len(names)  # one run per value: distinct names
    fig = lab.curves(ds.assign_coords(name=("run", names)), by=["name"])
    assert len(fig.data) > 0


def test_only_the_knobs_and_live_knobs_of_the_setting_show(app):
    app.lab.setting = "lookahead"
    shown = {k for k, box in app.page.inputs.items() if box.visible}
    assert {"alphas", "k", "momentum"} <= shown and "betas" not in shown
    live = {
        k.name
        for k, box in zip(app.lab.live_knobs, app.live._knob_inputs, strict=True)
        if box.visible
    }
    assert live == {"lookahead_alpha", "lookahead_k"}
    app.lab.setting = "error memory"
    shown = {k for k, box in app.page.inputs.items() if box.visible}
    assert {"memory_weights", "drift"} <= shown and "alphas" not in shown
    live = {
        k.name
        for k, box in zip(app.lab.live_knobs, app.live._knob_inputs, strict=True)
        if box.visible
    }
    assert live == {"memory_weight"}


def test_a_live_alpha_reaches_the_runs(app):
    app.lab.param.update(setting="lookahead", seeds=1, **TINY["lookahead"])
    live = app.live
    live.chunk_steps = 10
    assert live.start()
    s = live.session
    s.pause(at_step=20)
    assert s.wait_paused(120)
    live.knobs.lookahead_alpha = 0.25  # the slider
    s.resume()
    assert s.wait(120) == "done"
    live.refresh()
    ds = s.dataset()
    assert np.allclose(ds.lookahead_alpha.values[:, 20:], 0.25)
    assert np.allclose(ds.lookahead_alpha.values[:, :20], [[0.5], [1.0]])
    assert not live._alert.visible


def test_every_view_follows_the_sweep(app):
    names = app.tabs._names
    app.lab.param.update(setting="dual memory", seeds=1, **TINY["dual memory"])
    assert app.live.start() and app.live.session.wait(120) == "done"
    app.live.refresh()
    app.tabs.active = names.index("Stability-plasticity")
    fig = app.figures["plane"].object
    assert {t.meta.get("copy") for t in fig.data if isinstance(t.meta, dict)} >= {"fast", "stable"}
    assert len(app.tables["plane"].value) == 6  # 2 consistency weights x 3 copies
    app.lab.param.update(setting="error memory", **TINY["error memory"])
    assert app.live.start() and app.live.session.wait(120) == "done"
    app.live.refresh()
    app.tabs.active = names.index("Drift recovery")
    assert len(app.tables["drift"].value) == 2 and app.figures["drift"].object.data
    app.lab.param.update(setting="ema", **TINY["ema"])
    assert app.live.start() and app.live.session.wait(120) == "done"
    app.live.refresh()
    app.tabs.active = names.index("Trajectories")
    assert app.copy.options == ["ema"] and app.run.value == 0
    app.draw().result(timeout=120)
    assert "Could not draw" not in app.view.note.object
    assert app.view.grid is not None and set(app.view.plane.points) == {"ema end", "fast end"}
    legend = {t.name for t in app.view.contour.object.data if t.name}
    assert any("fast" in n for n in legend) and any("ema" in n for n in legend)
    app.lab.param.update(setting="horizon", **TINY["horizon"])
    assert app.live.start() and app.live.session.wait(120) == "done"
    app.live.refresh()
    app.tabs.active = names.index("Horizon")
    fig = app.figures["horizon"].object
    assert {t.meta["mechanism"] for t in fig.data} == {"EMA", "Lookahead"}
    assert all(not note.object for k, note in app.notes.items() if k != "path")
