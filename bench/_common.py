"""What the benchmark scripts share: clocks, device names and peak bandwidth, provenance, output.

Not a benchmark itself; ``bench/lockstep.py`` and ``bench/optim.py`` import it (run them from the
repository root, with the repository on ``PYTHONPATH`` or the package installed).
"""

from __future__ import annotations

import datetime
import importlib.util
import json
import os
import platform
import re
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]

# Spec-sheet HBM bandwidths (GB/s); other devices use a measured copy (see peak_bandwidth).
PEAK_GBS = {"H200": 4800.0, "H100 SXM": 3350.0}


def ensure_kernels_importable() -> None:
    """Make ``workbench.kernels`` importable from a source tree that is not installed.

    ``kernels/`` installs as ``workbench.kernels`` (pyproject's ``package-dir``); with only the
    repository on ``PYTHONPATH`` (as on a bare GPU machine) that name does not resolve, and the
    engine's fused optimizer steps would fail on first use. Register it from ``kernels/``.
    """
    import workbench

    if importlib.util.find_spec("workbench.kernels") is not None:
        return
    init = REPO / "kernels" / "__init__.py"
    spec = importlib.util.spec_from_file_location(
        "workbench.kernels", init, submodule_search_locations=[str(init.parent)]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["workbench.kernels"] = module
    spec.loader.exec_module(module)
    workbench.kernels = module


# -- clocks ----------------------------------------------------------------------------------


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(device: torch.device, fn: Callable[[], object]) -> float:
    """Seconds that ``fn()`` takes, with the device drained before and after."""
    sync(device)
    t0 = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - t0


# -- devices ---------------------------------------------------------------------------------


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return platform.processor() or platform.machine()


def device_kind(device: torch.device) -> str:
    """A file-name-safe name: ``cpu`` or the GPU's name (``nvidia-h100-80gb-hbm3``)."""
    if device.type != "cuda":
        return "cpu"
    return re.sub(r"[^a-z0-9]+", "-", torch.cuda.get_device_name(device).lower()).strip("-")


def copy_bandwidth(device: torch.device, numel: int) -> float:
    """GB/s of the fastest of 10 copies of ``numel`` float32 (bytes read plus bytes written)."""
    x = torch.empty(numel, device=device).fill_(1.0)
    y = torch.empty_like(x)
    y.copy_(x)
    secs = min(timed(device, lambda: y.copy_(x)) for _ in range(10))
    return 2 * numel * 4 / secs / 1e9


def peak_bandwidth(device: torch.device, given: float | None = None) -> tuple[float, str]:
    """The device's peak DRAM bandwidth in GB/s, and where the number comes from.

    The H200 and the H100 SXM (HBM3) by their spec sheets; any other GPU, and the CPU, by a
    measured copy (1 GiB on a GPU, 256 MiB on the CPU), which is below the spec-sheet figure.
    """
    if given is not None:
        return given, "--peak-gbs"
    name = device_name(device)
    if device.type == "cuda":
        if "H200" in name:
            return PEAK_GBS["H200"], f"spec sheet, {name}"
        if "H100" in name and ("HBM3" in name or "SXM" in name):
            return PEAK_GBS["H100 SXM"], f"spec sheet, {name}"
        return copy_bandwidth(device, 2**28), f"measured device-to-device copy on {name}"
    return copy_bandwidth(device, 2**26), f"measured memory copy on the CPU ({name})"


# -- provenance and output -------------------------------------------------------------------


def git_state() -> dict:
    """The commit checked out and whether the tree has uncommitted changes ("unknown": no git)."""

    def git(*args: str) -> str:
        out = subprocess.run(
            ["git", *args], capture_output=True, text=True, check=True, timeout=10, cwd=REPO
        )
        return out.stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain"))
    except (OSError, subprocess.SubprocessError):
        return {"git_commit": "unknown", "git_dirty": "unknown"}
    return {"git_commit": commit, "git_dirty": dirty}


def provenance(args, device: torch.device, **extra) -> dict:
    """Versions, device, git state, arguments and time of a benchmark run (for its JSON)."""
    return {
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "python": sys.version.split()[0],
        "device": device_name(device),
        "device_type": device.type,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        **git_state(),
        "argv": sys.argv[1:],
        "args": {k: str(v) if isinstance(v, torch.device) else v for k, v in vars(args).items()},
        "timestamp": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        **extra,
    }


def write_json(path: str | Path, result: dict) -> Path:
    """Write ``result`` as indented JSON (parent folders made), print and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {path}")
    return path


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], align: str) -> str:
    """Rows of cells as aligned text; ``align`` has one ``<`` or ``>`` per column.

    Examples
    --------
    >>> print(table(["N", "method"], [[1, "seq"], [64, "lockstep"]], "><"))
     N  method
     1  seq
    64  lockstep
    """
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = [
        "  ".join(f"{c:{a}{w}}" for c, a, w in zip(r, align, widths, strict=True)).rstrip()
        for r in cells
    ]
    return "\n".join(lines)


def begin(args) -> torch.device:
    """What every timed bench does first: seed torch, take ``--threads`` (if > 0), and print one
    line naming the machine (device, CPU count, threads, load average, torch); returns the
    device (``args.device``)."""
    import os

    torch.manual_seed(0)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    dev = args.device
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(
        f"machine: {device_name(dev)} ({dev.type}), {os.cpu_count()} CPUs, "
        f"{torch.get_num_threads()} threads, load average {load}, torch {torch.__version__}"
    )
    return dev
