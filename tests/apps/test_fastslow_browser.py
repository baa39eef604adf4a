"""The fast/slow app in Chromium, with another process loading a core: a sweep runs to the end
with fast and slow copies overlaid, the Lookahead α slider changes the running session (marked
on the curves), the stability-plasticity plane renders, and the gallery links to the app."""

from __future__ import annotations

import json
import re
from urllib.parse import urlencode

import pytest
from browser_fixtures import browser, cpu_load, page, server  # noqa: F401 (fixtures)

pytestmark = pytest.mark.slow


def _url(server, **knobs) -> str:
    return f"{server}/fastslow?{urlencode({k: json.dumps(v) for k, v in knobs.items()})}"


def test_a_sweep_trains_and_the_alpha_slider_changes_it(server, page, cpu_load, tmp_path):
    # long enough (20,000 steps) that it is still running when the slider moves; stopped then
    page.goto(_url(server, setting="lookahead", steps=20_000, eval_every=200, seeds=1))
    page.get_by_role("button", name="Run", exact=True).click()
    anyway = page.get_by_role("button", name="Run anyway")
    running = page.get_by_text(re.compile(r"running · step"))
    running.or_(anyway).first.wait_for(timeout=60_000)
    if anyway.is_visible():  # the estimate is over the threshold on a slow machine
        anyway.click()
    running.wait_for(timeout=60_000)
    plot = page.locator(".js-plotly-plot", has_text="‖copy − fast‖")  # fast and slow overlaid
    plot.wait_for(timeout=60_000)
    for name in ("α 0.5 · fast", "α 0.5 · slow", "α 1 (inner alone) · fast"):
        plot.locator(".legendtext", has_text=name).first.wait_for()
    handles = page.locator(".noUi-handle >> visible=true")  # the setting's live knobs: α and k
    assert handles.count() == 2
    handles.first.focus()
    for _ in range(5):  # 0.5 -> 0.55 in steps of 0.01
        handles.first.press("ArrowRight")
    page.get_by_text(re.compile(r"Lookahead α, all runs \(live\): ?0\.55$")).wait_for()
    # the next redraw marks the change on the curves
    page.locator(".js-plotly-plot", has_text="α → 0.55").wait_for(timeout=60_000)
    page.screenshot(path=tmp_path / "lookahead.png", full_page=True)
    page.get_by_role("button", name="Stop", exact=True).click()
    page.get_by_text(re.compile(r"stopped · step")).wait_for(timeout=60_000)


def test_the_stability_plasticity_plane_renders(server, page, cpu_load, tmp_path):
    page.goto(_url(server, setting="dual memory", task_steps=30, seeds=1))
    page.get_by_role("button", name="Run", exact=True).click()
    page.get_by_text(re.compile(r"done · step 150 / 150")).wait_for(timeout=180_000)
    page.locator(".bk-tab", has_text="Stability-plasticity").click()
    plane = page.locator(".js-plotly-plot", has_text="Stability and plasticity")
    plane.wait_for(timeout=60_000)
    plane.locator(".legendtext", has_text="consistency 0.1 · stable").wait_for()
    page.screenshot(path=tmp_path / "plane.png", full_page=True)


def test_the_gallery_has_a_card_for_the_fastslow_app(server, page):
    page.goto(f"{server}/")
    card = page.locator("a.lab-card", has_text="Fast and slow learning")
    card.wait_for()
    card.click()
    page.wait_for_url("**/fastslow**")
    page.get_by_text("Live training").first.wait_for()


def test_a_link_with_only_a_preset_applies_it_and_keeps_later_changes(server, page):
    from playwright.sync_api import expect

    page.goto(f"{server}/fastslow?preset=slow-learner")
    setting = page.locator(".bk-input-group", has_text="Setting").locator("select").first
    expect(setting).to_have_value("slow learner")
    page.get_by_text(re.compile(r"Estimated: about .*9 runs")).wait_for(timeout=60_000)
    lr = page.locator(".bk-input-group", has_text="LR").locator("input").first
    lr.fill("0.004")
    lr.press("Enter")
    page.wait_for_url(re.compile(r"preset=slow-learner&lr=0.004$"))
    page.goto(page.url)  # the link: the preset, then the knob changed after it
    expect(setting).to_have_value("slow learner")
    expect(page.locator(".bk-input-group", has_text="LR").locator("input").first).to_have_value(
        "0.004"
    )
