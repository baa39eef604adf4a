"""Benchmark: how fast the schedules dashboard answers a knob change.

Two measurements, both with the real app (``apps/schedules.py``):

1. **Server side** (no browser): the time from setting a knob on the app's lab to the moment
   the new LR preview *and* the law's predicted loss curves are built and handed to the Plotly
   pane (its Bokeh model updated), i.e. everything the server does before sending the figure.
   The law is fitted first on a real sweep (constant + cosine, mnist1d, ``--steps`` steps), as
   the app does when a sweep ends. Knobs moved in turn: ``decay``, ``decay_shape``,
   ``peak_lr``, ``steps`` (``--changes`` changes in all). Baseline in the same process:
   training the WSD schedule the law just predicted (one run, ``wb.run``), which is what a
   prediction saves. Target (issue 4): median under 50 ms.
2. **Browser** (``workbench serve`` + headless Chromium): the time from a keyboard move of the
   ``decay`` slider to the browser having redrawn the LR preview (plotly's ``plotly_afterplot``
   event on the preview), ``--moves`` moves. Measured twice: idle, and while ``--runs`` runs
   (mnist1d, two schedules x seeds) stream their curves to the same page every 400 ms, with a
   fitted law drawn under the preview. Baseline: the idle page. Target: p95 under 300 ms with
   64 runs streaming.

Run from the repository root: ``python bench/latency.py`` (``--quick`` for a short run). Results
go to ``bench/results/latency-<device>.json``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, provenance, table, write_json  # noqa: E402

CHROMIUM = "/usr/bin/chromium"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="fewer changes and moves (~1 min)")
    p.add_argument("--steps", type=int, default=300, help="budget of the sweep the law fits")
    p.add_argument("--changes", type=int, default=None, help="server-side knob changes")
    p.add_argument("--moves", type=int, default=None, help="browser slider moves per phase")
    p.add_argument("--runs", type=int, default=64, help="runs streaming in the browser phase")
    p.add_argument("--no-browser", action="store_true", help="server-side part only")
    p.add_argument("--out", default=None, help="JSON path (default bench/results/...)")
    args = p.parse_args(argv)
    args.changes = args.changes or (20 if args.quick else 100)
    args.moves = args.moves or (10 if args.quick else 40)
    return args


def percentiles(ms: list[float]) -> dict:
    a = np.asarray(ms)
    return {
        "n": len(ms),
        "median_ms": round(float(np.median(a)), 2),
        "p95_ms": round(float(np.percentile(a, 95)), 2),
        "max_ms": round(float(a.max()), 2),
    }


# -- 1. server side ------------------------------------------------------------------------


def server_side(args) -> dict:
    sys.path.insert(0, str(REPO / "apps"))
    import panel as pn
    import schedules as app_module

    import workbench as wb

    app = app_module.create_app()
    app.lab.param.update(
        workload="mnist1d",
        schedules=["constant", "cosine"],
        steps=args.steps,
        warmup=args.steps // 10,
        seeds=3,
    )
    root = pn.panel(app).get_root()  # Bokeh models exist: updates serialize as when served
    app.live.start()
    app.live.session.wait(600)
    app.live.refresh()  # the page's poll: sees "done", fits the law
    if app.law is None:
        raise RuntimeError(f"no law fitted: {app.preview_alert.object}")
    app.lab.schedules = ["constant", "cosine", "wsd"]  # WSD was never trained: predicted

    cycle = [
        ("decay", [0.1, 0.2, 0.3, 0.15, 0.25]),
        ("decay_shape", ["linear", "cosine", "1-sqrt"]),
        ("peak_lr", [0.005, 0.01, 0.02]),
        ("steps", [args.steps - 50, args.steps + 50, args.steps]),
    ]
    times: dict[str, list[float]] = {name: [] for name, _ in cycle}
    for i in range(args.changes):
        name, values = cycle[i % len(cycle)]
        value = values[(i // len(cycle)) % len(values)]
        if getattr(app.lab, name) == value:
            value = values[(i // len(cycle) + 1) % len(values)]
        t0 = time.perf_counter()
        setattr(app.lab, name, value)
        times[name].append(1e3 * (time.perf_counter() - t0))
        names = [t.name for t in app.preview.object.data]
        assert "wsd (predicted)" in names, names
    everything = [t for ts in times.values() for t in ts]

    # the river-valley tab: the toy re-simulated and its animated figure rebuilt per change
    app.tabs.active = 1
    valley = []
    for i in range(max(5, args.changes // 10)):
        t0 = time.perf_counter()
        app.lab.decay = (0.1, 0.2, 0.3)[i % 3]
        valley.append(1e3 * (time.perf_counter() - t0))

    # baseline: train what the law predicted
    app.lab.param.update(steps=args.steps, decay=0.2, peak_lr=0.02)
    spec = [s for s in app.lab.specs() if app.lab.kind_of(s) == "wsd"][0]
    t0 = time.perf_counter()
    wb.run([spec])
    train_ms = 1e3 * (time.perf_counter() - t0)
    del root
    out = {
        "preview_and_prediction": percentiles(everything),
        "per_knob": {k: percentiles(v) for k, v in times.items()},
        "river_valley_tab": percentiles(valley),
        "train_one_wsd_run_ms": round(train_ms, 1),
        "law": repr(app.law),
    }
    out["prediction_vs_training"] = round(train_ms / out["preview_and_prediction"]["median_ms"], 1)
    return out


# -- 2. in the browser ---------------------------------------------------------------------

# Move the decay slider one step with the keyboard and resolve with the ms until the LR
# preview has been redrawn (or -1 after 5 s).
_MOVE_JS = """
async ([plot, handle, key]) => {
  const redrawn = new Promise(resolve => {
    const t0 = performance.now();
    const done = () => resolve(performance.now() - t0);
    plot.once ? plot.once('plotly_afterplot', done) : plot.on('plotly_afterplot', done);
    setTimeout(() => resolve(-1), 5000);
    handle.dispatchEvent(new KeyboardEvent('keydown', {key, bubbles: true}));
  });
  return await redrawn;
}
"""


def _moves(page, n: int) -> list[float]:
    # Panel draws into shadow roots: find the elements with Playwright (it pierces them)
    plot = page.locator(".js-plotly-plot").first.element_handle()
    decay = page.locator('.noUi-handle[aria-valuemax="1.0"]').first.element_handle()
    out = []
    for i in range(n):
        key = "ArrowRight" if i % 2 == 0 else "ArrowLeft"
        ms = page.evaluate(_MOVE_JS, [plot, decay, key])
        if ms < 0:
            raise RuntimeError(f"move {i}: the preview was not redrawn within 5 s")
        out.append(ms)
        page.wait_for_timeout(150)  # a person's pace, and room for the next poll
    return out


def browser(args) -> dict:
    from playwright.sync_api import sync_playwright

    from workbench.cli import served

    with served() as url:
        seeds = max(1, args.runs // 2)
        knobs = {
            "workload": '"mnist1d"',
            "schedules": json.dumps(["wsd", "cosine"]),
            "seeds": str(seeds),
            "steps": str(args.steps),
            "warmup": str(args.steps // 10),
            "peak_lr": "0.01",
        }
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = b.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(120_000)
            page.goto(f"{url}/schedules?{urlencode(knobs)}")
            page.locator(".js-plotly-plot").first.wait_for()
            page.wait_for_timeout(1000)
            idle = _moves(page, args.moves)
            # a first sweep to the end: the law is fitted and drawn under the preview
            page.get_by_role("button", name="Run", exact=True).click()
            page.get_by_text(re.compile(r"done · step")).wait_for(timeout=600_000)
            page.get_by_text("loss predicted by the law").first.wait_for()
            # then a long sweep that keeps streaming while the slider moves
            steps = page.locator(".bk-input-group", has_text="Steps").locator("input").first
            steps.fill("20000")
            steps.press("Enter")
            page.wait_for_timeout(500)
            page.get_by_role("button", name="Run", exact=True).click()
            running = page.get_by_text(re.compile(r"running · step [1-9]\d* / 20000")).first
            anyway = page.get_by_role("button", name="Run anyway")  # asked: a long sweep
            running.or_(anyway).wait_for()
            if anyway.is_visible():
                anyway.click()
            running.wait_for()
            page.wait_for_timeout(2000)
            streaming = _moves(page, args.moves)
            status = page.get_by_text(re.compile(r"running · step")).first.inner_text()
            page.get_by_role("button", name="Stop").click()
            page.get_by_text(re.compile(r"stopped · step")).first.wait_for()
            b.close()
    return {
        "idle": percentiles(idle),
        "streaming": percentiles(streaming),
        "runs_streaming": 2 * seeds,
        "status_at_end": status,
        "streaming_vs_idle_p95": round(
            float(np.percentile(streaming, 95) / np.percentile(idle, 95)), 2
        ),
    }


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    result = {"server": server_side(args)}
    s = result["server"]
    print(
        table(
            ["what", "median ms", "p95 ms", "n"],
            [
                [
                    "preview + prediction",
                    *(s["preview_and_prediction"][k] for k in ("median_ms", "p95_ms", "n")),
                ],
                *[
                    [f"  {k}", v["median_ms"], v["p95_ms"], v["n"]]
                    for k, v in s["per_knob"].items()
                ],
                [
                    "river-valley tab",
                    *(s["river_valley_tab"][k] for k in ("median_ms", "p95_ms", "n")),
                ],
                ["train one WSD run", s["train_one_wsd_run_ms"], "", 1],
            ],
            "<>>>",
        )
    )
    print(f"prediction is {s['prediction_vs_training']}x faster than training the run")
    if not args.no_browser:
        result["browser"] = br = browser(args)
        print(
            table(
                ["browser: slider -> preview", "median ms", "p95 ms", "n"],
                [
                    ["idle", br["idle"]["median_ms"], br["idle"]["p95_ms"], br["idle"]["n"]],
                    [
                        f"{br['runs_streaming']} runs streaming",
                        br["streaming"]["median_ms"],
                        br["streaming"]["p95_ms"],
                        br["streaming"]["n"],
                    ],
                ],
                "<>>>",
            )
        )
    result["provenance"] = provenance(args, torch.device("cpu"))
    out = args.out or REPO / "bench" / "results" / "latency-cpu.json"
    write_json(out, result)
    return result


if __name__ == "__main__":
    main()
