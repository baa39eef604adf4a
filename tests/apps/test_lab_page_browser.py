"""The shared lab page in Chromium (through the schedules app), with another process loading a
core: refused inputs are explained, the preset is in the link, long sweeps ask first, history."""

from __future__ import annotations

import json
import re
from urllib.parse import urlencode

import pytest
from browser_fixtures import TINY, browser, cpu_load, page, server  # noqa: F401 (fixtures)

pytestmark = pytest.mark.slow


def _knob_input(page, label: str):
    return page.locator(".bk-input-group", has_text=label).locator("input").first


def _type(page, label: str, text: str) -> None:
    box = _knob_input(page, label)
    box.fill(text)
    box.press("Enter")


def test_a_refused_typed_number_is_explained_and_not_used(server, page, cpu_load, tmp_path):
    page.goto(f"{server}/schedules")
    page.get_by_text("LR preview").first.wait_for()
    _type(page, "Peak LR", "5")
    page.get_by_text("Peak LR must be a number from 1e-05 to 1, got 5").wait_for()
    assert "peak_lr" not in page.url  # nothing changed
    page.screenshot(path=tmp_path / "refused.png", full_page=True)
    page.get_by_role("button", name="Run", exact=True).click()
    page.get_by_text("Cannot start: fix Peak LR first").wait_for()
    _type(page, "Peak LR", "0.01")
    page.wait_for_url(re.compile(r"peak_lr=0.01"))
    assert page.get_by_text("Peak LR must be").count() == 0
    assert page.get_by_text("Cannot start").count() == 0
    _type(page, "Steps", "99999999")
    page.get_by_text("Steps must be a whole number from 20 to 100000, got 99999999").wait_for()


def test_bad_drawn_knots_are_explained(server, page, cpu_load):
    page.goto(f"{server}/schedules?{urlencode({'schedules': json.dumps(['drawn'])})}")
    _type(page, "Drawn knots", "hello")
    page.get_by_text("Drawn knots: 'hello' is not JSON").wait_for()
    _type(page, "Drawn knots", "[[0,0],[2,1]]")
    page.get_by_text(re.compile(r"x=2.0 \(fraction of the budget\) must be in \[0, 1\]")).wait_for()


def test_the_preset_is_in_the_link_and_only_knobs_that_apply_show(server, page, cpu_load):
    page.goto(f"{server}/schedules")
    checkpoints = page.locator(".bk-input-group", has_text="Checkpoints")
    checkpoints.first.wait_for(state="hidden")  # WSD-S is not ticked
    page.locator("select").filter(has_text="(none)").first.select_option("wsd-s-branches")
    page.wait_for_url(re.compile(r"preset=wsd-s-branches"))
    checkpoints.first.wait_for(state="visible")
    url = page.url
    page.goto("about:blank")
    page.goto(url)
    page.get_by_text("WSD-S (Wen et al. 2024) is one run").wait_for()
    page.get_by_role("button", name="Reset knobs").click()
    page.wait_for_url(re.compile(r"/schedules$"))


def test_a_long_sweep_asks_before_it_starts(server, page, cpu_load):
    page.goto(f"{server}/schedules?{urlencode({**TINY, 'steps': '100000', 'seeds': '64'})}")
    page.get_by_text(re.compile(r"Estimated: about .*128 runs")).wait_for(timeout=60_000)
    page.get_by_role("button", name="Run", exact=True).click()
    page.get_by_text("This sweep will take").wait_for()
    page.get_by_role("button", name="Cancel").click()
    page.get_by_text("This sweep will take").wait_for(state="hidden")
    assert page.get_by_text(re.compile(r"running · step")).count() == 0


def test_history_lists_every_sweep(server, page, cpu_load, tmp_path):
    page.goto(f"{server}/schedules?{urlencode(TINY)}")
    run = page.get_by_role("button", name="Run", exact=True)
    run.click()
    page.get_by_text(re.compile(r"done · step 40 / 40")).wait_for(timeout=120_000)
    page.locator(".bk-tab", has_text="History").click()
    page.get_by_text("1 sweep(s) this session").wait_for()
    page.locator(".bk-tab", has_text="Sweep").first.click()
    run.click()
    page.get_by_text(re.compile(r"running · step")).or_(
        page.get_by_text("2 sweep(s) this session")
    ).first.wait_for()
    page.get_by_text(re.compile(r"done · step 40 / 40")).wait_for(timeout=120_000)
    page.locator(".bk-tab", has_text="History").click()
    page.screenshot(path=tmp_path / "history-wait.png", full_page=True)
    page.get_by_text("2 sweep(s) this session").wait_for()
    rows = page.locator(".tabulator-row")
    rows.first.wait_for()
    assert rows.count() == 4  # 2 sweeps x 2 schedules x 1 seed
    page.screenshot(path=tmp_path / "history.png", full_page=True)
