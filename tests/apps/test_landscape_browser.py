"""The landscape app in Chromium, with another process loading a core: a sweep runs to the
end, Draw fills in a contour with every run's path on it, and the gallery links to the app."""

from __future__ import annotations

import json
import re
from urllib.parse import urlencode

import pytest
from browser_fixtures import browser, cpu_load, page, server  # noqa: F401 (fixtures)

pytestmark = pytest.mark.slow

TINY = {
    "data": json.dumps("digits"),
    "width": "16",
    "depth": "1",
    "lrs": json.dumps([0.05, 0.2]),
    "seeds": "1",
    "steps": "40",
    "snapshot_every": "10",
    "sharpness_every": "10",
    "probe": "64",
    "resolution": "9",
    "directions": json.dumps("pca"),
}


def test_a_sweep_trains_and_its_landscape_is_drawn(server, page, cpu_load):
    page.goto(f"{server}/landscape?{urlencode(TINY)}")
    page.get_by_role("button", name="Run", exact=True).click()
    page.get_by_text(re.compile(r"done · step 40 / 40")).wait_for(timeout=120_000)
    page.locator(".js-plotly-plot", has_text="stability threshold").wait_for(timeout=60_000)
    page.locator(".bk-tab", has_text="Landscape").click()
    page.get_by_role("button", name="Draw", exact=True).click()
    page.get_by_text("81 / 81 points · done").wait_for(timeout=120_000)
    plot = page.locator(".js-plotly-plot", has_text="pca plane around lr 0.05 · seed 0")
    plot.wait_for(timeout=60_000)
    plot.locator(".contourlayer path").first.wait_for()  # the filled contour
    for run in ("lr 0.05 · seed 0", "lr 0.2 · seed 0"):  # a path per run, in the legend
        plot.locator(".legendtext", has_text=run).wait_for()
    lines = plot.locator(".scatterlayer .trace .js-line")
    assert lines.count() >= 2  # the paths themselves
    page.screenshot(path="/tmp/landscape_browser.png", full_page=True)


def test_the_gallery_has_a_card_for_the_landscape_app(server, page):
    page.goto(f"{server}/")
    card = page.locator("a.lab-card", has_text="Loss landscapes")
    card.wait_for()
    card.click()
    page.wait_for_url("**/landscape**")
    page.get_by_text("Live training").first.wait_for()
