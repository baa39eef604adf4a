"""The landscape app in Chromium, with another process loading a core: a sweep runs to the
end, Draw fills in a contour with every run's path on it, a box dragged on it is computed
again and a double click brings the drawn window back, and the gallery links to the app."""

from __future__ import annotations

import json
import re
from urllib.parse import urlencode

import pytest
from browser_fixtures import browser, cpu_load, page, server  # noqa: F401 (fixtures)
from playwright.sync_api import expect

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
    page.get_by_text(re.compile(r"81 / 81 points over .* · done")).wait_for(timeout=120_000)
    plot = page.locator(".js-plotly-plot", has_text="pca plane around lr 0.05 · seed 0")
    plot.wait_for(timeout=60_000)
    plot.locator(".contourlayer path").first.wait_for()  # the filled contour
    for run in ("lr 0.05 · seed 0", "lr 0.2 · seed 0"):  # a path per run, in the legend
        plot.locator(".legendtext", has_text=run).wait_for()
    lines = plot.locator(".scatterlayer .trace .js-line")
    assert lines.count() >= 2  # the paths themselves
    page.screenshot(path="/tmp/landscape_browser.png", full_page=True)
    # a box dragged on the contour: that window computed at full resolution
    status = page.get_by_text(re.compile(r"81 / 81 points over"))
    drawn = status.inner_text()
    box = plot.locator(".nsewdrag").first.bounding_box()
    x, y = box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.3
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 150, y + 100, steps=8)
    page.mouse.up()
    expect(status).not_to_have_text(drawn, timeout=60_000)
    expect(status).to_contain_text("· done", timeout=60_000)
    # a double click asks for autorange, never plotly's "reset" to a range it saw first
    assert plot.evaluate("gd => gd._context.doubleClick") == "autosize"
    plot.locator(".nsewdrag").first.dblclick()  # back to the drawn window (from the cache)
    expect(status).to_have_text(drawn, timeout=60_000)


def test_the_gallery_has_a_card_for_the_landscape_app(server, page):
    page.goto(f"{server}/")
    card = page.locator("a.lab-card", has_text="Loss landscapes")
    card.wait_for()
    card.click()
    page.wait_for_url("**/landscape**")
    page.get_by_text("Live training").first.wait_for()
