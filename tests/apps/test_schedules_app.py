"""The schedules app: the object itself, then in Chromium through ``panel serve``."""

from __future__ import annotations

import json
import re
from urllib.parse import urlencode

import numpy as np
import pytest
from browser_fixtures import TINY, app_module, browser, page, server  # noqa: F401 (fixtures)

from workbench.plots.schedules import CLICK_LAYER

# -- the app object (no browser) ---------------------------------------------------------------


def test_create_app_previews_the_knobs(app_module):
    app = app_module.create_app()
    app.__panel__()
    fig = app.preview.object
    assert [t.name for t in fig.data] == ["wsd", "cosine", CLICK_LAYER]
    assert len(fig.data[0].y) == 300
    app.lab.steps = 120
    assert [len(t.y) for t in app.preview.object.data[:2]] == [120, 120]
    np.testing.assert_allclose(app.preview.object.data[1].y, app.lab.preview()["cosine"])


def _click(app, step, lr):
    """What Panel sets when the user clicks the preview's click layer at (step, lr)."""
    n = [t.name for t in app.preview.object.data].index(CLICK_LAYER)
    app.preview.click_data = {"points": [{"curveNumber": n, "x": step, "y": lr}]}


def test_clicking_the_preview_draws_a_schedule(app_module):
    app = app_module.create_app()
    app.__panel__()
    _click(app, 150, 0.005)
    assert app.lab.schedules == ["wsd", "cosine", "drawn"]
    assert [0.5, 0.25] in app.lab.drawn  # half the budget, a quarter of the peak (0.02)
    drawn = app.preview.object.data[2]
    assert drawn.name == "drawn" and drawn.y[150] == pytest.approx(0.005)
    # a click on a schedule's line (not the click layer) draws nothing
    app.preview.click_data = {"points": [{"curveNumber": 0, "x": 10, "y": 0.001}]}
    assert len(app.lab.drawn) == 5


def test_a_finished_sweep_fits_the_law_and_the_preview_predicts_new_schedules(app_module):
    app = app_module.create_app()
    app.__panel__()
    app.lab.param.update(
        schedules=["constant", "cosine"], steps=80, warmup=8, seeds=1, workload="mnist1d"
    )
    app.live.start()
    assert app.live.session.wait(120) == "done"
    app.live.refresh()  # the page's poll: sees "done" and fits the law
    assert app.law is not None and np.isfinite(app.law.r2_fit)
    names = [t.name for t in app.preview.object.data]
    assert "constant (predicted)" in names and "cosine (predicted)" in names
    app.lab.schedules = ["constant", "cosine", "wsd"]  # never trained: predicted at once
    fig = app.preview.object
    wsd = next(t for t in fig.data if t.name == "wsd (predicted)")
    const = next(t for t in fig.data if t.name == "constant (predicted)")
    assert len(wsd.y) == 80 - 8 and wsd.x[0] == 9  # every step after the warmup
    assert wsd.y[-1] < const.y[-1]  # the decay lowers the prediction
    app.lab.decay = 0.5
    wsd2 = next(t for t in app.preview.object.data if t.name == "wsd (predicted)")
    assert not np.allclose(wsd2.y, wsd.y)
    app.lab.workload = "bigram"  # another problem: the fitted law no longer applies
    assert app.law is None
    assert not any("predicted" in (t.name or "") for t in app.preview.object.data)
    app.live.close()


def test_colour_by_and_hover_highlight(app_module):
    app = app_module.create_app()
    app.__panel__()
    app.lab.param.update(steps=30, warmup=3, seeds=2, workload="mnist1d")
    live = app.live
    live.start()
    assert live.session.wait(120) == "done"
    live.refresh()
    legend = [t.name for t in live._plot.object.data if t.showlegend]
    assert legend == ["wsd · 2 seeds", "cosine · 2 seeds"]
    live.colour_by = "seed"
    legend = [t.name for t in live._plot.object.data if t.showlegend]
    assert legend == ["0 · 2 runs", "1 · 2 runs"]
    live.colour_by = "schedule"
    fig = live._plot.object
    # the cosine runs' thin lines are one trace; its points carry their run (customdata)
    n = next(i for i, t in enumerate(fig.data) if t.meta == {"runs": "cosine"})
    assert set(np.unique(fig.data[n].customdata)) == {2.0, 3.0}
    live._plot.hover_data = {"points": [{"curveNumber": n, "x": 5, "y": 2.0, "customdata": 3}]}
    assert live.highlight == 3
    bold = [t for t in live._plot.object.data if t.meta == {"run": 3}]
    assert [t.line.width for t in bold] == [3.5, 3.5, 3.5]
    faded = [t for t in live._plot.object.data if t.meta == {"runs": "wsd"}]
    assert all(t.opacity < 0.1 for t in faded)  # another schedule's runs fade
    # hovering the bold line itself keeps it; a median line changes nothing
    m = next(i for i, t in enumerate(live._plot.object.data) if t.meta == {"run": 3})
    live._plot.hover_data = {"points": [{"curveNumber": m, "x": 5, "y": 2.0}]}
    assert live.highlight == 3
    live._plot.hover_data = None  # the pointer left the line
    assert live.highlight is None
    live.close()


def test_river_valley_tab_animates_the_lab_schedules(app_module):
    app = app_module.create_app()
    app.__panel__()
    assert app.valley_plot.object is None  # computed when its tab is shown
    app.tabs.active = 1
    fig = app.valley_plot.object
    assert len(fig.frames) > 10 and fig.layout.updatemenus[0].buttons[0].label == "▶ Play"
    assert [t.name for t in fig.data if t.showlegend is not False and t.name] == ["wsd", "cosine"]
    app.valley.peak_lr = 0.05
    assert "peak LR 0.05" in app.valley_plot.object.layout.title.text
    app.lab.schedules = ["wsd-s"]
    assert [t.name for t in app.valley_plot.object.data if t.name] == ["wsd-s"]


def test_typed_knobs_accept_their_whole_range(app_module):
    app = app_module.create_app()
    app.__panel__()
    steps = app.page.inputs["steps"].widget
    assert (steps.start, steps.end) == (None, None)  # typed: refused values get a message
    steps.value = 20_000
    assert app.lab.steps == 20_000


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
    app.lab.steps = 500
    app.page.preset = "linear-vs-cosine"
    assert app.lab.schedules == ["linear", "cosine", "constant"]
    assert app.lab.steps == 300  # a preset starts from the defaults
    assert "Defazio" in app.page.explanation.object
    assert [t.name for t in app.preview.object.data][:3] == ["linear", "cosine", "constant"]


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
    live.knobs.weight_decay = 0.25  # a live knob from the page: the runs use it from here on
    held = s.progress[0] // len(s.specs)
    new = live.act(app.lab.actions[0])
    assert new == [2, 3]
    s.resume()
    assert s.wait(120) == "done"
    live.refresh()
    assert live.state == "done"
    ds = s.dataset()
    assert ds.sizes["run"] == 4
    assert (ds.lr.values[2:, -1] < 1e-4).all()  # the branches decayed to ~0
    assert (ds.weight_decay.values[:, held:] == np.float32(0.25)).all()
    assert (ds.weight_decay.values[:2, :held] == 0.0).all()
    assert "decay@" in " ".join(t.name or "" for t in live._plot.object.data)
    live.close()


def test_serve_command_puts_the_gallery_at_the_index():
    from workbench.cli import serve_command

    cmd = serve_command(port=5099)
    files = [c for c in cmd if c.endswith(".py")]
    names = [f.rsplit("/", 1)[-1] for f in files]
    assert names == [
        "gallery.py",
        "continual.py",
        "fastslow.py",
        "landscape.py",
        "schedules.py",
        "gallery.py",
    ]
    assert cmd[cmd.index("--index") + 1].endswith("apps/gallery.py")
    assert cmd[cmd.index("--port") + 1] == "5099"


# -- in the browser ----------------------------------------------------------------------------


def _plot_lengths(page, index: int) -> list[int]:
    """Length of every line's y data in the index-th plotly plot of the page (the preview's
    transparent click layer is not a line)."""
    plot = page.locator(".js-plotly-plot").nth(index)
    return plot.evaluate(
        "el => el.data.filter(t => t.type !== 'heatmap').map(t => t.y ? t.y.length : 0)"
    )


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
    page.get_by_text("SchedulesLab(schedules=['linear'], peak_lr=0.01, steps=120)").wait_for()


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
    # the progress bar's last update may reach the browser just after the status line's
    progress = page.locator("progress")
    bar = _wait_for(page, lambda: progress.evaluate("el => [el.value, el.max]") == [80, 80])
    assert bar, progress.evaluate("el => [el.value, el.max]")  # 2 runs x 40 steps
    # The final redraw reaches the browser just after the status line.
    lengths = _wait_for_plot(page, 1, lambda n: len(n) == 14 and n[0] == 41)
    assert len(lengths) == 14  # 2 schedules x (3 panels x (seeds + median) + LR)
    assert lengths[0] == 41  # the one seed's training loss, every step (+ a NaN separator)
    page.screenshot(path=tmp_path / "run_done.png", full_page=True)


@pytest.mark.slow
def test_fork_starts_a_decay_branch(server, page, tmp_path):
    # a budget long enough that it is still training whatever the machine's speed; we stop it
    page.goto(f"{server}/schedules?{urlencode({**TINY, 'steps': '20000'})}")
    _start_long(page, 20000)
    page.get_by_role("button", name="Fork: start the decay now").click()
    page.get_by_text(re.compile(r"running · step \d+ / 20000 · 4 runs")).wait_for()
    page.get_by_role("button", name="Stop").click()
    page.get_by_text(re.compile(r"stopped · step \d+ / 20000 · 4 runs")).wait_for()
    # the final redraw reaches the browser a poll or two after the status line
    names = _wait_for(page, lambda: [n for n in _trace_names(page, 1) if "decay@" in n])
    assert names, _trace_names(page, 1)
    page.screenshot(path=tmp_path / "forked.png", full_page=True)


def _start_long(page, total: int) -> None:
    """Press Run on a long sweep; whether it asks first depends on this machine's measured
    speed, so answer "Run anyway" if it does."""
    page.get_by_role("button", name="Run", exact=True).click()
    running = page.get_by_text(re.compile(rf"running · step [1-9]\d* / {total}")).first
    anyway = page.get_by_role("button", name="Run anyway")
    running.or_(anyway).wait_for()
    if anyway.is_visible():
        anyway.click()
    running.wait_for()


def _trace_names(page, index: int) -> list[str]:
    plot = page.locator(".js-plotly-plot").nth(index)
    return plot.evaluate("el => el.data.map(t => t.name || '')")


def _wait_for(page, check, timeout_s: float = 30.0):
    """Poll ``check()`` until it is truthy (returns its last value)."""
    deadline = page.evaluate("Date.now()") + timeout_s * 1000
    while True:
        value = check()
        if value or page.evaluate("Date.now()") > deadline:
            return value
        page.wait_for_timeout(250)


@pytest.mark.slow
def test_clicking_the_preview_draws_a_schedule_in_the_browser(server, page, tmp_path):
    page.goto(f"{server}/schedules?{urlencode(TINY)}")
    assert _wait_for_plot(page, 0, lambda n: n == [40, 40]) == [40, 40]
    box = page.locator(".js-plotly-plot").first.locator(".nsewdrag").first.bounding_box()
    x, y = box["x"] + 0.5 * box["width"], box["y"] + 0.6 * box["height"]
    page.mouse.move(x, y)
    page.mouse.move(x + 2, y)
    page.mouse.click(x + 2, y)
    assert _wait_for(page, lambda: "drawn" in _trace_names(page, 0)), _trace_names(page, 0)
    assert "drawn" in page.url  # the drawing is in the link too
    page.screenshot(path=tmp_path / "drawn.png", full_page=True)


@pytest.mark.slow
def test_pause_holds_resume_continues_and_the_lr_multiplier_acts(server, page, tmp_path):
    page.goto(f"{server}/schedules?{urlencode({**TINY, 'steps': '20000'})}")
    _start_long(page, 20000)
    page.get_by_role("button", name="Pause").click()
    status = page.get_by_text(re.compile(r"paused · step \d+ / 20000")).first
    status.wait_for()
    held = status.inner_text()
    page.wait_for_timeout(1500)
    assert page.get_by_text(re.compile(r"paused · step \d+ / 20000")).first.inner_text() == held
    handle = page.locator('.noUi-handle[aria-valuemax="3.0"]')  # the LR multiplier (0 .. 3)
    handle.focus()
    for _ in range(10):  # +0.05 a press: 1.5x
        handle.press("ArrowRight")
    page.get_by_text("LR multiplier (live): 1.5").wait_for()
    page.get_by_role("button", name="Resume").click()
    step_held = int(re.search(r"step (\d+)", held).group(1))
    running = page.get_by_text(re.compile(r"running · step \d+ / 20000")).first
    _wait_for(
        page, lambda: int(re.search(r"step (\d+)", running.inner_text()).group(1)) > step_held + 20
    )
    page.get_by_role("button", name="Stop").click()
    page.get_by_text(re.compile(r"stopped · step \d+ / 20000")).wait_for()
    plot = page.locator(".js-plotly-plot").nth(1)
    lr_max = "el => Math.max(...el.data.filter(t => t.xaxis === 'x4')[0].y)"
    # the final redraw reaches the browser just after the status line
    _wait_for(page, lambda: plot.evaluate(lr_max) > 0.0101)
    assert plot.evaluate(lr_max) == pytest.approx(0.015, rel=1e-3)  # 1.5 x the peak
    page.screenshot(path=tmp_path / "multiplied.png", full_page=True)


@pytest.mark.slow
def test_a_finished_sweep_predicts_a_schedule_not_run(server, page, tmp_path):
    query = {**TINY, "steps": "80", "warmup": "8", "schedules": json.dumps(["constant", "cosine"])}
    page.goto(f"{server}/schedules?{urlencode(query)}")
    page.get_by_role("button", name="Run", exact=True).click()
    page.get_by_text(re.compile(r"done · step 80 / 80")).wait_for(timeout=120_000)
    assert _wait_for(page, lambda: "cosine (predicted)" in _trace_names(page, 0))
    page.get_by_text("wsd", exact=True).first.click()  # tick a schedule never trained
    assert _wait_for(page, lambda: "wsd (predicted)" in _trace_names(page, 0))
    page.screenshot(path=tmp_path / "predicted.png", full_page=True)


@pytest.mark.slow
def test_river_valley_tab_plays_the_path(server, page, tmp_path):
    page.goto(f"{server}/schedules")
    page.locator(".bk-tab", has_text="River valley").click()
    play = page.get_by_text("▶ Play")
    play.wait_for()
    plot = page.locator(".js-plotly-plot", has_text="▶ Play")
    first = plot.evaluate("el => el.data[1].x.length")  # frame 1: the path up to its step
    play.click()
    # the path grows from frame 1 as the animation plays
    assert _wait_for(page, lambda: plot.evaluate("el => el.data[1].x.length") > first)
    page.screenshot(path=tmp_path / "valley.png", full_page=True)


@pytest.mark.slow
def test_hovering_a_run_highlights_it_and_colour_by_regroups(server, page, tmp_path):
    page.goto(f"{server}/schedules?{urlencode({**TINY, 'seeds': '2'})}")
    page.get_by_role("button", name="Run", exact=True).click()
    page.get_by_text(re.compile(r"done · step 40 / 40 · 4 runs")).wait_for(timeout=120_000)
    plot = page.locator(".js-plotly-plot").nth(1)
    runs = "el => el.data.findIndex(t => t.meta && t.meta.runs === 'cosine')"
    assert _wait_for(page, lambda: plot.evaluate(runs) >= 0)
    # move the pointer onto a point of the cosine runs' line (training-loss panel), where it
    # is farther from the median than the other seed
    where = (
        "el => { const n = (" + runs + ")(el); const t = el.data[n]; const med = el.data[n + 1];"
        " let k = 5, best = -1;"
        " for (let i = 5; i < 35; i++) { const d = Math.abs(t.y[i] - med.y[i]);"
        "   if (d > best) { best = d; k = i; } }"
        " const xa = el._fullLayout.xaxis, ya = el._fullLayout.yaxis;"
        " const r = el.getBoundingClientRect();"
        " return [r.left + xa._offset + xa.c2p(t.x[k]), r.top + ya._offset + ya.c2p(t.y[k])]; }"
    )
    plot.scroll_into_view_if_needed()
    x, y = plot.evaluate(where)
    page.mouse.move(x - 3, y)
    page.mouse.move(x, y)
    bold = "el => el.data.filter(t => t.line && t.line.width === 3.5).map(t => t.meta.run)"
    lit = _wait_for(page, lambda: plot.evaluate(bold))
    assert lit in ([2, 2, 2], [3, 3, 3])  # a cosine run, bold in every panel
    page.screenshot(path=tmp_path / "highlight.png", full_page=True)
    page.locator("select").filter(has_text="schedule + branch").select_option("seed")
    legend = "el => el.data.filter(t => t.showlegend).map(t => t.name)"
    assert _wait_for(page, lambda: plot.evaluate(legend) == ["0 · 2 runs", "1 · 2 runs"])
