"""The ``workbench`` command: list presets and run them.

    workbench presets
    workbench run PRESET [--set knob=value ...] [--out DIR] [--device cpu|cuda]
    workbench serve [--port 5006] [--show]

``run`` trains the preset's sweep with a progress bar and writes ``results.nc`` (the Dataset)
and ``figure.html`` (a standalone plotly figure of the curves) into ``--out``. Bad input (unknown
preset or knob, a value of the wrong type or out of range) exits with code 2 and a message that
names it and what is allowed. ``serve`` starts ``panel serve`` on the lab apps with the gallery
as the index page.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np

__all__ = ["main"]


def _parse_value(text: str):
    """``--set`` values are Python literals (``3e-3``, ``[1, 2]``, ``'cosine'``); else strings."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _parse_sets(items: list[str]) -> dict:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--set {item!r} must look like knob=value")
        out[key.strip()] = _parse_value(value.strip())
    return out


def _cmd_presets(_args) -> int:
    from .presets import PRESETS

    width = max(len(n) for n in PRESETS)
    for name, p in PRESETS.items():
        print(f"{name:<{width}}  {p.description}")
        knobs = ", ".join(f"{k}={kn.default!r}" for k, kn in p.knobs.items())
        print(f"{'':<{width}}  knobs: {knobs}")
    return 0


def _cmd_run(args) -> int:
    from .presets import get_preset

    try:
        preset = get_preset(args.preset)
        specs = preset.specs(**_parse_sets(args.set))
        for i, s in enumerate(specs):  # every spec is checked before any training starts
            try:
                s.validate()
            except ValueError as e:
                raise ValueError(f"specs[{i}]: {e}") from None
    except ValueError as e:
        print(f"workbench run: {e}", file=sys.stderr)
        return 2

    from . import engine, plots, results

    out = Path(args.out or f"results/{preset.name}")
    print(f"{preset.name}: {len(specs)} runs in {len(engine.plan(specs))} lockstep bucket(s)")
    ds = engine.run(specs, device=args.device, progress=True, cache=args.cache)
    if preset.group_of is not None:
        groups = np.asarray([preset.group_of(s) for s in specs], dtype=object)
        ds = ds.assign_coords(group=("run", groups))
    out.mkdir(parents=True, exist_ok=True)
    nc = results.save(ds, out / "results.nc")
    fig = plots.training_curves(ds, title=f"{preset.name}: {preset.description}")
    html = out / "figure.html"
    fig.write_html(html, include_plotlyjs=True)
    print(_summary(ds))
    print(f"wrote {nc} and {html}")
    return 0


def _summary(ds) -> str:
    """What the figure of ``workbench run`` shows, in numbers: the final test loss and accuracy
    of each group (median over its seeds, with their range), and a sentence naming the group
    that ended lowest, by how much, against the seed-to-seed spread.

    Examples
    --------
    >>> import xarray as xr
    >>> loss = [[2.0, 0.50], [2.0, 0.52], [2.0, 0.40], [2.0, 0.41]]
    >>> ds = xr.Dataset(
    ...     {"eval_loss": (("run", "eval_step"), loss),
    ...      "eval_acc": (("run", "eval_step"), [[0.1, 0.8], [0.1, 0.8], [0.1, 0.9], [0.1, 0.9]])},
    ...     coords={"group": ("run", ["constant", "constant", "cosine", "cosine"]),
    ...             "eval_step": [0, 100]})
    >>> print(_summary(ds))
    final test loss and accuracy at step 100 (median over seeds [min, max]):
      constant  loss 0.510 [0.500, 0.520]  accuracy 0.800 [0.800, 0.800]
      cosine    loss 0.405 [0.400, 0.410]  accuracy 0.900 [0.900, 0.900]
    In the figure, cosine ends with the lowest test loss at step 100, 0.405 (median of 2 seeds):
    0.105 below constant. The seeds of one group spread by up to 0.020, less than any gap.
    """
    step = int(ds.eval_step.values[-1])
    loss = ds.eval_loss.isel(eval_step=-1).values
    acc = ds.eval_acc.isel(eval_step=-1).values
    labels = [str(g) for g in ds.group.values]
    rows = {}
    for g in dict.fromkeys(labels):
        idx = [i for i, lab in enumerate(labels) if lab == g]
        rows[g] = (loss[idx], acc[idx])
    width = max(len(g) for g in rows)
    lines = [f"final test loss and accuracy at step {step} (median over seeds [min, max]):"]
    for g, (ls, ac) in rows.items():
        lines.append(
            f"  {g:<{width}}  loss {np.median(ls):.3f} [{ls.min():.3f}, {ls.max():.3f}]"
            f"  accuracy {np.median(ac):.3f} [{ac.min():.3f}, {ac.max():.3f}]"
        )
    if len(rows) < 2:
        return "\n".join(lines)
    med = {g: float(np.median(ls)) for g, (ls, _) in rows.items()}
    ranked = sorted(med, key=med.get)
    best, second, worst = ranked[0], ranked[1], ranked[-1]
    gap_next, gap_worst = med[second] - med[best], med[worst] - med[best]
    seeds = sorted({len(ls) for ls, _ in rows.values()})
    n = str(seeds[0]) if len(seeds) == 1 else f"{seeds[0]}-{seeds[-1]}"
    text = (
        f"In the figure, {best} ends with the lowest test loss at step {step}, {med[best]:.3f} "
        f"(median of {n} seed{'s' if n != '1' else ''}): "
    )
    if second == worst:
        text += f"{gap_worst:.3f} below {worst}."
    else:
        text += (
            f"{gap_next:.3f} below the next, {second}, and {gap_worst:.3f} below {worst}, "
            "the highest."
        )
    spread = max(float(ls.max() - ls.min()) for ls, _ in rows.values())
    if seeds[-1] < 2:
        text += " One seed per group: no spread between seeds to weigh the gaps against."
    elif spread < gap_next:
        text += f" The seeds of one group spread by up to {spread:.3f}, less than any gap."
    elif spread < gap_worst:
        text += (
            f" The seeds of one group spread by up to {spread:.3f}: more than the gap to "
            f"{second}, less than the gap to {worst}."
        )
    else:
        text += (
            f" The seeds of one group spread by up to {spread:.3f}, as much as the gaps: "
            "these seeds do not settle the ranking."
        )
    return "\n".join(lines + [textwrap.fill(text, width=100)])


def _apps_dir() -> Path:
    """The repo's ``apps/`` folder: beside the package (editable install) or under the cwd."""
    for base in (Path(__file__).resolve().parent.parent, Path.cwd()):
        if (base / "apps" / "gallery.py").is_file():
            return base / "apps"
    raise ValueError("cannot find apps/gallery.py; run from the repository root")


def serve_command(*, port: int = 5006, show: bool = False) -> list[str]:
    """The ``panel serve`` command line: every app in ``apps/``, the gallery at ``/``."""
    apps = _apps_dir()
    gallery = apps / "gallery.py"
    labs = [p for p in sorted(apps.glob("*.py")) if p != gallery]
    cmd = [sys.executable, "-m", "panel", "serve", str(gallery), *map(str, labs)]
    # --index NAME.py serves the app NAME at the root route as well as at /NAME.
    cmd += ["--index", str(gallery), "--port", str(port)]
    return cmd + (["--show"] if show else [])


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def served(*, port: int | None = None, timeout_s: float = 90.0, log=None) -> Iterator[str]:
    """Run ``workbench serve`` in a subprocess while the block runs; yields its base URL.

    Waits until ``/schedules`` answers (raising with the server's output if it exits or is not
    ready within ``timeout_s``), and stops the server after the block (killing it if it does
    not stop within 20 s). ``log`` is a writable file for the server's output (default: a
    temporary file). Tests and ``bench/latency.py`` use it.
    """
    import subprocess
    import tempfile
    import time
    import urllib.request

    port = port or free_port()
    out = log if log is not None else tempfile.TemporaryFile("w+")
    proc = subprocess.Popen(
        serve_command(port=port), cwd=_apps_dir().parent, stdout=out, stderr=subprocess.STDOUT
    )
    url = f"http://localhost:{port}"

    def output() -> str:
        out.flush()
        out.seek(0)
        return out.read()

    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"panel serve exited ({proc.returncode}):\n{output()}")
            try:
                with urllib.request.urlopen(f"{url}/schedules", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"panel serve not ready in {timeout_s}s:\n{output()}")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _cmd_serve(args) -> int:
    import subprocess

    try:
        cmd = serve_command(port=args.port, show=args.show)
    except ValueError as e:
        print(f"workbench serve: {e}", file=sys.stderr)
        return 2
    return subprocess.call(cmd)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``workbench`` console script."""
    parser = argparse.ArgumentParser(prog="workbench", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("presets", help="list the named sweeps and their knobs")
    r = sub.add_parser("run", help="run a preset sweep and write results + a figure")
    r.add_argument("preset", help="a name from `workbench presets`")
    r.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KNOB=VALUE",
        help="override a knob (repeatable), e.g. --set steps=500",
    )
    r.add_argument("--out", help="output directory (default results/PRESET)")
    r.add_argument(
        "--device", choices=["cpu", "cuda"], default=None, help="default: cuda when available"
    )
    r.add_argument("--cache", default=None, help="results cache directory (default: none)")
    v = sub.add_parser("serve", help="serve the lab apps with the gallery as the index page")
    v.add_argument("--port", type=int, default=5006, help="port (default 5006)")
    v.add_argument("--show", action="store_true", help="open a browser")
    args = parser.parse_args(argv)
    if args.command == "serve":
        return _cmd_serve(args)
    if args.command == "presets":
        return _cmd_presets(args)
    return _cmd_run(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
