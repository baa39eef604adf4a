"""The schedules app: the object itself, then in Chromium through ``panel serve``."""

from __future__ import annotations

import json
import re
from urllib.parse import urlencode

import numpy as np
import pytest
from browser_fixtures import app_module, browser, page, server  # noqa: F401 (fixtures)

TINY = {"steps": "40", "seeds": "1", "warmup": "4", "workload": json.dumps("mnist1d")}


# -- the app object (no browser) ---------------------------------------------------------------


def test_create_app_previews_the_knobs(app_module):
    app = app_module.create_app()
    app.__panel__()
    fig = app.preview.object
    assert [t.name for t in fig.data] == ["wsd", "cosine"]
    assert len(fig.data[0].y) == 300
    app.lab.steps = 120
    assert [len(t.y) for t in app.preview.object.data] == [120, 120]
    np.testing.assert_allclose(app.preview.object.data[1].y, app.lab.preview()["cosine"])


def test_bad_knob_combination_warns_and_keeps_the_app(app_module):
    app = app_module.create_app()
    app.lab.param.update(steps=100, warmup=500)
    assert app.preview_alert.visible
    assert "warmup=500" in app.preview_alert.object
    app.lab.warmup = 10
    assert not app.preview_alert.visible
    assert len(app.preview.object.data[0].y) == 100


def test_preset_sets_knobs_and_explains(app_module):
    app = app_module.create_app()
    app.preset = "linear-vs-cosine"
    assert app.lab.schedules == ["linear", "cosine", "constant"]
    assert "Defazio" in app.explanation.object
    assert [t.name for t in app.preview.object.data] == ["linear", "cosine", "constant"]


def test_live_run_rejects_a_bad_knob_and_keeps_training(app_module):
    app = app_module.create_app()
    app.lab.param.update(steps=60, warmup=4, seeds=1, workload="mnist1d")
    live = app.live
    live.chunk_steps = 5
    live.start()
    s = live.session
    s.pause()
    assert s.wait_paused(60)
    assert not live.apply_knob("lr_scale", -1.0)  # refused before it reaches the runs
    assert live._alert.visible and "lr_scale" in live._alert.object
    new = live.fork_decay()
    assert new == [2, 3]
    s.resume()
    assert s.wait(120) == "done"
    live.refresh()
    assert live.state == "done"
    ds = s.dataset()
    assert ds.sizes["run"] == 4
    assert (ds.lr.values[2:, -1] < 1e-4).all()  # the branches decayed to ~0
    assert "decay@" in " ".join(t.name or "" for t in live._plot.object.data)
    live.close()


def test_serve_command_puts_the_gallery_at_the_index():
    from workbench.cli import serve_command

    cmd = serve_command(port=5099)
    files = [c for c in cmd if c.endswith(".py")]
    assert [f.rsplit("/", 1)[-1] for f in files] == ["gallery.py", "schedules.py", "gallery.py"]
    assert cmd[cmd.index("--index") + 1].endswith("apps/gallery.py")
    assert cmd[cmd.index("--port") + 1] == "5099"


# -- in the browser ----------------------------------------------------------------------------


def _plot_lengths(page, index: int) -> list[int]:
    """Length of every trace's y data in the index-th plotly plot of the page."""
    plot = page.locator(".js-plotly-plot").nth(index)
    return plot.evaluate("el => el.data.map(t => t.y ? t.y.length : 0)")


def _wait_for_plot(page, index: int, predicate, timeout_s: float = 30.0) -> list[int]:
    deadline = page.evaluate("Date.now()") + timeout_s * 1000
    while True:
        lengths = (
            _plot_lengths(page, index) if page.locator(".js-plotly-plot").count() > index else []
        )
        if predicate(lengths) or page.evaluate("Date.now()") > deadline:
            return lengths
        page.wait_for_timeout(250)


def _knob_input(page, label: str):
    return page.locator(".bk-input-group", has_text=label).locator("input").first


@pytest.mark.slow
def test_gallery_links_to_the_schedules_app(server, page, tmp_path):
    page.goto(f"{server}/")
    card = page.locator("a.lab-card", has_text="Learning-rate schedules")
    card.wait_for()
    page.screenshot(path=tmp_path / "gallery.png", full_page=True)
    card.click()
    page.wait_for_url("**/schedules**")
    page.get_by_text("LR preview").first.wait_for()
    page.screenshot(path=tmp_path / "schedules.png", full_page=True)


@pytest.mark.slow
def test_moving_a_knob_updates_the_preview(server, page, tmp_path):
    page.goto(f"{server}/schedules")
    assert _wait_for_plot(page, 0, lambda n: n == [300, 300]) == [300, 300]
    steps = _knob_input(page, "Steps")
    steps.fill("150")
    steps.press("Enter")
    assert _wait_for_plot(page, 0, lambda n: n == [150, 150]) == [150, 150]
    assert "steps=150" in page.url  # the address bar follows the knobs
    page.screenshot(path=tmp_path / "steps150.png", full_page=True)


@pytest.mark.slow
def test_url_restores_knobs(server, page):
    query = {"steps": "120", "peak_lr": "0.01", "schedules": json.dumps(["linear"])}
    page.goto(f"{server}/schedules?{urlencode(query)}")
    assert _wait_for_plot(page, 0, lambda n: n == [120]) == [120]
    assert _knob_input(page, "Steps").input_value() == "120"
    assert _knob_input(page, "Peak LR").input_value() == "0.01"
    peak = page.locator(".js-plotly-plot").first.evaluate("el => Math.max(...el.data[0].y)")
    assert peak == pytest.approx(0.01)
    page.get_by_role("button", name="Export as Python").click()
    page.get_by_text("SchedulesLab(workload='bigram', schedules=['linear']").wait_for()


@pytest.mark.slow
def test_invalid_url_shows_alert_and_app_works(server, page, tmp_path):
    page.goto(f"{server}/schedules?{urlencode({'steps': '5', 'warmup': '2'})}")
    page.get_by_text("The link's settings were not applied").wait_for()
    page.get_by_text("knob steps='5'").wait_for()  # names the knob and the value
    assert _knob_input(page, "Steps").input_value() == "300"  # defaults kept
    page.screenshot(path=tmp_path / "invalid_url.png", full_page=True)
    steps = _knob_input(page, "Steps")
    steps.fill("200")
    steps.press("Enter")
    assert _wait_for_plot(page, 0, lambda n: n == [200, 200]) == [200, 200]


@pytest.mark.slow
def test_run_streams_curves_to_completion(server, page, tmp_path):
    page.goto(f"{server}/schedules?{urlencode(TINY)}")
    assert _wait_for_plot(page, 0, lambda n: n == [40, 40]) == [40, 40]
    page.get_by_role("button", name="Run", exact=True).click()
    page.get_by_text(re.compile(r"running · step \d+ / 40")).first.wait_for()
    page.get_by_text(re.compile(r"done · step 40 / 40")).wait_for(timeout=120_000)
    value, maximum = page.locator("progress").evaluate("el => [el.value, el.max]")
    assert value == maximum == 80  # 2 runs x 40 steps
    # The final redraw reaches the browser just after the status line.
    lengths = _wait_for_plot(page, 1, lambda n: len(n) == 14 and n[0] == 40)
    assert len(lengths) == 14  # 2 schedules x (3 panels x (seed + median) + LR)
    assert lengths[0] == 40  # the first seed's training loss, every step
    page.screenshot(path=tmp_path / "run_done.png", full_page=True)


@pytest.mark.slow
def test_fork_starts_a_decay_branch(server, page, tmp_path):
    page.goto(f"{server}/schedules?{urlencode({**TINY, 'steps': '300'})}")
    page.get_by_role("button", name="Run", exact=True).click()
    page.get_by_text(re.compile(r"running · step [1-9]\d* / 300")).first.wait_for()
    page.get_by_role("button", name="Fork: start the decay now").click()
    page.get_by_text(re.compile(r"done · step 300 / 300 · 4 runs")).wait_for(timeout=180_000)
    names = (
        page.locator(".js-plotly-plot")
        .nth(1)
        .evaluate("el => el.data.map(t => t.name).filter(n => n)")
    )
    assert any("decay@" in n for n in names), names
    page.screenshot(path=tmp_path / "forked.png", full_page=True)
