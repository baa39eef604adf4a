"""The workbench command: presets, runs, and exit code 2 with a clear message on bad input."""

import subprocess
import sys

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
    assert "plotly" in html and "lr=wsd" in html
    assert "final test accuracy" in capsys.readouterr().out


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
