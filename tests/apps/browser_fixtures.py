"""Fixtures for the app tests (imported by them): a ``panel serve`` of every app, and a headless
Chromium page. Not a conftest.py: several conftest.py files in folders without __init__.py
clash under --doctest-modules."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from workbench.cli import served

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
READY_TIMEOUT_S = 90
# a sweep of the schedules app that trains in seconds (URL query values)
TINY = {
    "steps": "40",
    "seeds": "1",
    "warmup": "4",
    "workload": json.dumps("mnist1d"),
    "peak_lr": "0.01",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The base URL of a ``workbench serve`` (same command line) on a free port."""
    with open(tmp_path_factory.mktemp("serve") / "panel.log", "w+") as log:
        with served(timeout_s=READY_TIMEOUT_S, log=log) as url:
            yield url


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()


@pytest.fixture
def app_module():
    """``apps/schedules.py`` imported as a module (apps/ is not a package)."""
    sys.path.insert(0, str(REPO / "apps"))
    try:
        import schedules

        yield schedules
    finally:
        sys.path.remove(str(REPO / "apps"))


@pytest.fixture
def cpu_load():
    """Another process keeps a core busy while the test runs (a page must not depend on an
    idle machine)."""
    import subprocess

    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        yield busy
    finally:
        busy.kill()
        busy.wait()
