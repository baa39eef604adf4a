"""Fixtures for the app tests (imported by them): a ``panel serve`` of every app, and a headless
Chromium page. Not a conftest.py: several conftest.py files in folders without __init__.py
clash under --doctest-modules."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from workbench.cli import serve_command

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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The base URL of a ``workbench serve`` (same command line) on a free port."""
    port = _free_port()
    log = tmp_path_factory.mktemp("serve") / "panel.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            serve_command(port=port), cwd=REPO, stdout=out, stderr=subprocess.STDOUT
        )
    url = f"http://localhost:{port}"
    deadline = time.monotonic() + READY_TIMEOUT_S
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"panel serve exited ({proc.returncode}):\n{log.read_text()}")
            try:
                with urllib.request.urlopen(f"{url}/schedules", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"panel serve not ready in {READY_TIMEOUT_S}s:\n{log.read_text()}"
                )
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


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
