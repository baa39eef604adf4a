"""The continual app in Chromium, with another process loading a core: a sweep runs to the end
and its accuracy matrix renders, and the replay-ratio slider changes a running session."""

from __future__ import annotations

import json
import re
from urllib.parse import urlencode

import pytest
from browser_fixtures import browser, cpu_load, page, server  # noqa: F401 (fixtures)

pytestmark = pytest.mark.slow

TINY = {
    "tasks": "2",
    "task_steps": "20",
    "seeds": "1",
    "eval_every": "5",
    "replay_ratios": json.dumps([0.0, 0.25]),
}


def test_a_sweep_runs_to_the_end_and_the_matrix_renders(server, page, cpu_load, tmp_path):
    page.goto(f"{server}/continual?{urlencode(TINY)}")
    page.get_by_role("button", name="Run", exact=True).click()
    page.get_by_text(re.compile(r"done · step 40 / 40")).wait_for(timeout=120_000)
    page.locator(".js-plotly-plot", has_text="test accuracy on all tasks").wait_for()
    page.locator(".bk-tab", has_text="Accuracy matrix").click()
    heatmap = page.locator(".js-plotly-plot", has_text="Accuracy matrix: all runs")
    heatmap.wait_for(timeout=60_000)
    heatmap.locator(".heatmaplayer").wait_for()  # the cells, not just the axes
    page.screenshot(path=tmp_path / "matrix.png", full_page=True)


def test_the_replay_slider_changes_a_running_session(server, page, cpu_load, tmp_path):
    # long enough (50,000 steps) that it is still running when the slider moves and the
    # change shows; stopped then
    long = {**TINY, "tasks": "5", "task_steps": "10000", "eval_every": "250"}
    page.goto(f"{server}/continual?{urlencode({**long, 'replay_ratios': '[0.25]'})}")
    page.get_by_role("button", name="Run", exact=True).click()
    anyway = page.get_by_role("button", name="Run anyway")
    running = page.get_by_text(re.compile(r"running · step"))
    running.or_(anyway).first.wait_for(timeout=60_000)
    if anyway.is_visible():  # the estimate is over the threshold on a slow machine
        anyway.click()
    running.wait_for(timeout=60_000)
    handle = page.locator(".noUi-handle >> visible=true")  # the hidden knobs' sliders too exist
    assert handle.count() == 1
    handle.focus()
    for _ in range(5):  # 0.25 -> 0.5 in steps of 0.05
        handle.press("ArrowRight")
    page.get_by_text(re.compile(r"Replay ratio, all runs \(live\): ?0\.50?$")).wait_for()
    # the next redraw marks the change on the curves
    page.locator(".js-plotly-plot", has_text="ratio → 0.5").wait_for(timeout=60_000)
    page.screenshot(path=tmp_path / "slider.png", full_page=True)
    page.get_by_role("button", name="Stop", exact=True).click()
    page.get_by_text(re.compile(r"stopped · step")).wait_for(timeout=60_000)


def test_the_gallery_has_a_card_for_the_continual_app(server, page):
    page.goto(f"{server}/")
    card = page.locator("a.lab-card", has_text="Continual learning")
    card.wait_for()
    card.click()
    page.wait_for_url("**/continual**")
    page.get_by_text("Live training").first.wait_for()
