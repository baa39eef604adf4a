"""The workbench command: presets, runs, and exit code 2 with a clear message on bad input."""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import workbench as wb
from workbench.cli import main
from workbench.presets import PRESETS


def test_presets_lists_every_preset(capsys):
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    for name, p in PRESETS.items():
        assert name in out and p.description in out


def test_run_writes_results_and_figure(tmp_path, capsys):
    out = tmp_path / "demo"
    code = main(
        [
            "run",
            "lr-schedules",
            "--set",
            "steps=40",
            "--set",
            "warmup=5",
            "--set",
            "seeds=1",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    ds = wb.load(out / "results.nc")
    assert ds.sizes["run"] == 4 and ds.sizes["step"] == 40
    html = (out / "figure.html").read_text()
    assert "plotly" in html and "wsd" in html
    printed = capsys.readouterr().out
    assert "final test loss and accuracy at step 40" in printed
    # the sentence names the schedule with the lowest median final test loss, from the results
    final = ds.eval_loss.isel(eval_step=-1)
    medians = {str(g): float(v) for g, v in zip(ds.group.values, final.values, strict=True)}
    best = min(medians, key=medians.get)
    sentence = (
        f"{best} ends with the lowest test loss at step 40, {medians[best]:.3f} (median of 1 seed)"
    )
    assert sentence in " ".join(printed.split())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "nope"], "unknown preset 'nope'; available: lr-schedules"),
        (["run", "lr-schedules", "--set", "speed=2"], "unknown knob 'speed'; allowed: steps"),
        (["run", "lr-schedules", "--set", "steps=abc"], "steps='abc' must be a int"),
        (["run", "lr-schedules", "--set", "decay=1.5"], r"decay=1.5 must be in \[0.0, 1.0\]"),
        (["run", "lr-schedules", "--set", "steps=50"], "warmup=100 must be <= steps=50"),
        (["run", "lr-sweep", "--set", "peaks=[-1.0]"], "peaks=\\[-1.0\\] must be in"),
        (["run", "lr-schedules", "--set", "batch_size=100000"], "batch_size=100000 is larger"),
        (["run", "lr-schedules", "--set", "steps"], "must look like knob=value"),
    ],
)
def test_bad_input_exits_2_with_a_named_message(args, message, capsys):
    assert main(args) == 2
    assert __import__("re").search(message, capsys.readouterr().err)


def test_console_script_unknown_command_exits_2():
    proc = subprocess.run(
        [sys.executable, "-m", "workbench.cli", "fly"], capture_output=True, text=True
    )
    assert proc.returncode == 2 and "invalid choice" in proc.stderr


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_runs_at_a_tiny_size(name):
    knobs = PRESETS[name].knobs
    small = {"steps": 12, "seeds": 1}
    small.update({k: 2 for k in ("warmup",) if k in knobs})
    specs = PRESETS[name].specs(**small)
    ds = wb.run(specs)
    assert ds.sizes["step"] == 12 and np.isfinite(ds.train_loss.values).all()


def test_lr_schedules_compares_like_with_like():
    """Every schedule warms up over the same steps to the same peak; they differ only after."""
    preset = PRESETS["lr-schedules"]
    specs = preset.specs(steps=200, warmup=20, seeds=1, peak_lr=1e-2)
    names = [preset.group_of(s) for s in specs]
    assert names == ["constant", "cosine", "wsd", "linear"]
    for s in specs:
        lr = s.optimizer.lr
        assert lr(0) == 0.0 and lr(10) == pytest.approx(5e-3), names  # the same warmup
        assert lr(20) == pytest.approx(1e-2) and max(lr(t) for t in range(200)) == lr(20)
    lr = {n: s.optimizer.lr for n, s in zip(names, specs, strict=True)}
    assert lr["constant"](199) == pytest.approx(1e-2) and lr["linear"](110) == pytest.approx(5e-3)
    no_warmup = preset.specs(steps=200, warmup=0, seeds=1, peak_lr=3e-3)
    assert [s.optimizer.lr(0) for s in no_warmup] == [3e-3] * 4


@pytest.mark.slow
def test_demo_shows_every_decay_ending_below_constant(tmp_path, capsys):
    """``make demo`` (the preset's defaults): like for like, each decaying schedule ends with a
    lower median test loss than the constant LR, by more than the seeds of any schedule spread
    (measured: constant 0.644, linear 0.564, cosine 0.542, WSD 0.511; spread at most 0.055)."""
    assert main(["run", "lr-schedules", "--out", str(tmp_path)]) == 0
    ds = wb.load(tmp_path / "results.nc")
    final = ds.eval_loss.isel(eval_step=-1).groupby("group")
    median, spread = final.median(), final.max() - final.min()
    gaps = {
        g: float(median.sel(group="constant") - median.sel(group=g))
        for g in ("cosine", "wsd", "linear")
    }
    assert min(gaps.values()) > float(spread.max()), (gaps, spread.values)
    assert "ends with the lowest test loss" in capsys.readouterr().out


def test_summary_names_the_lowest_final_test_loss_and_the_seed_spread():
    import xarray as xr

    from workbench.cli import _summary

    loss = [[1.0, 0.60], [1.0, 0.64], [1.0, 0.50], [1.0, 0.58], [1.0, 0.70], [1.0, 0.71]]
    ds = xr.Dataset(
        {"eval_loss": (("run", "eval_step"), loss), "eval_acc": (("run", "eval_step"), loss)},
        coords={"group": ("run", ["a", "a", "b", "b", "c", "c"]), "eval_step": [0, 9]},
    )
    text = " ".join(_summary(ds).split())
    assert "b ends with the lowest test loss at step 9, 0.540 (median of 2 seeds)" in text
    assert "0.080 below the next, a, and 0.165 below c, the highest" in text
    assert "spread by up to 0.080: more than the gap to a, less than the gap to c." in text


def test_serve_takes_a_port(monkeypatch):
    calls = []
    monkeypatch.setattr(subprocess, "call", lambda cmd: calls.append(cmd) or 0)
    assert main(["serve", "--port", "5007"]) == 0
    [cmd] = calls
    assert cmd[cmd.index("--port") + 1] == "5007"
    assert main(["serve"]) == 0 and calls[1][calls[1].index("--port") + 1] == "5006"


def test_make_serve_passes_port():
    makefile = (Path(__file__).resolve().parents[1] / "Makefile").read_text()
    assert re.search(r"^PORT \?= 5006$", makefile, re.M)
    assert re.search(r"^\t\$\(BIN\)/workbench serve --port \$\(PORT\)$", makefile, re.M)
    dry = subprocess.run(
        ["make", "-n", "serve", "PORT=5007"],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "workbench serve --port 5007" in dry.stdout
