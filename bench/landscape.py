"""Benchmark: loss-landscape grids and Hessian eigenvalues, batched vs one point at a time.

Workloads:

W1 (``bench/lockstep.py``'s): the MLP 40-100-100-10 (relu, P = 15,210) on mnist1d, 8 runs
    (seeds 0-7, AdamW with per-run cosine peaks log-spaced over [1e-4, 1e-2], batch 128) trained
    ``--train-steps`` steps in lockstep; run 0 is the grid's center.
T-tiny: the tiny transformer of the tests, ``Transformer(layers=1, width=32, heads=2,
    context=16)`` (P = 14,304) on a markov language (vocab 16, 1,024 training sequences of 16
    tokens, next-token loss at every position), one run trained ``--train-steps`` steps (AdamW,
    lr 3e-3, batch 32); the heavier grid per point.

1. **A 51 x 51 grid** (``--resolution``) of ``center + α·d1 + β·d2``, ``α, β ∈ [-1, 1]``, ``d1``
   and ``d2`` random filter-normalized directions (seeds 1 and 2), loss and accuracy at every
   point, on W1's full mnist1d test set (1,000 examples; T-tiny: its 128 test sequences):

   - ``batched``: :func:`workbench.landscape.plane` (for W1 the MLP first-layer shortcut of
     :class:`~workbench.landscape.evaluate.SliceEvaluator`: ``X W``, ``X d1``, ``X d2`` once, then
     the other layers batched over the points);
   - ``batched, plain rows`` (W1): ``SliceEvaluator(first_layer=False)``, every point's row
     built and forwarded whole: what the shortcut saves;
   - ``per point``: what the ``loss-landscapes`` package does, a plain ``torch.nn`` model
     (``nn.Sequential``; ``TransformerReference``) whose parameters are overwritten point by
     point (``torch.add(c, d1, alpha=α, out=param)``, then ``param.add_(d2, alpha=β)``; the
     package steps the parameters in place, the same number of small ops), the test set
     forwarded, the loss and accuracy read with ``.item()``;
   - ``per point, class-first loss`` (W1): the same loop with the loss taken of the logits
     moved to ``[1, C, B]``: ``F.cross_entropy`` of ``[B, C]`` spends about 0.2 ms a point in
     ``log_softmax`` over the short class axis on the CPU, four times the class-first cost (the
     engine's own losses use that layout). The loop as a careful user would write it.

   T-tiny's grid is timed on every ``--t-stride``-th row (quick: every 26th, 2 rows of 51;
   full: all), W1's plain rows and class-first loop on every ``--aux-stride``-th row (quick:
   every 10th, 6 rows; full: all), and scaled to the whole grid (a point's cost does not
   depend on where it is). W1's ``batched`` and ``per point`` always run the whole grid.

   Timed ``--repeats`` times, interleaved (every method once, then again), after one untimed
   warm-up pass of every method on a few rows; the figure is each method's median (fastest and
   all in the JSON). Against the CPU's FLOP bound: the counted FLOPs are the forward's matmuls
   (W1 ``2 x examples x Σ in·out`` per point; T-tiny ``2 x tokens x (L (4 + 2 r) d² + d V)``
   plus ``4 L B T² d`` for attention scores and values), achieved GFLOP/s = counted FLOPs /
   time, against the peak of a 2048³ fp32 matmul on the same threads (the fastest of 5, measured
   twice: before training and before the grids). The shortcut executes fewer FLOPs than counted
   (W1: 75%: no first layer, a ``[1, 3] @ [3, B (h + 1)]`` combination instead, the second
   layer's bias as an extra row of its matrix), so its "achieved" rate is an effective one; its
   executed FLOPs are in the JSON too. Every method's grid must agree with ``batched`` (max
   |Δ loss| <= 1e-4, checked).

2. **Top Hessian eigenvalue of the 8 W1 runs** on 512 training examples
   (:func:`~workbench.landscape.probe_data`), ``--iters`` power iterations (plus one for the
   Rayleigh quotient): ``batched`` is :func:`workbench.landscape.top_eigenvalues` on the
   ``[8, P]`` rows (no host sync inside); ``per run`` is the usual loop, one ``nn.Sequential`` per
   run, Hessian-vector products by double backward (``torch.autograd.grad`` with
   ``create_graph=True``), the eigenvalue estimate read with ``.item()`` every iteration (a host
   sync, as a convergence check does), from the same start vectors, so both give the same
   eigenvalues (checked to 1e-3 relative).

Torch runs on ``--threads`` CPU threads (default 1, as ``bench/continual.py``: on a shared 2-core
machine two threads made timings erratic); the peak matmul uses the same.

Run from the repository root::

    python bench/landscape.py --quick   # about 25 s on 2 idle CPU cores, 50 s at load 9
    python bench/landscape.py           # more repeats and training

The last line is ``speedup 51x51: <ratio>x (batched vs per-point)`` (W1, median against
median). Results go to ``bench/results/landscape-<device>.json``.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F
from _common import (
    begin,
    device_kind,
    ensure_kernels_importable,
    provenance,
    table,
    timed,
    write_json,
)
from _trainers import WORKLOADS, make_specs

from workbench import data as wb_data
from workbench.bucket import Bucket
from workbench.landscape import (
    SliceEvaluator,
    layout_of,
    plane,
    probe_data,
    random_direction,
    top_eigenvalues,
)
from workbench.models import MLP, Transformer
from workbench.optim import AdamW
from workbench.spec import RunSpec

ensure_kernels_importable()

W1 = WORKLOADS["W1"]
T_TINY = Transformer(layers=1, width=32, heads=2, context=16)
T_DATA = wb_data.data_spec("markov", vocab=16, context=16, n_train=1024, n_test=128)
AGREE_TOL = 1e-4  # max |loss difference| of any method's grid from batched
EIG_RTOL = 1e-3  # per-run eigenvalues against batched, relative


# -- setup: trained centers, directions, data ---------------------------------------------------


def train(specs: list[RunSpec], device: torch.device) -> torch.Tensor:
    """The runs' parameters ``[N, P]`` after training ``specs`` in one lockstep bucket."""
    b = Bucket(specs, device=device)
    while not b.done:
        b.advance(b.steps)
    return b.model.flat.detach().clone()


def setup(model, data, theta: torch.Tensor, split: str, size: int, resolution: int) -> dict:
    layout = layout_of(model, data)
    center = theta[0]
    d1, d2 = (random_direction(layout, s, theta=center) for s in (1, 2))
    axis = np.linspace(-1.0, 1.0, resolution)
    return {
        "model": model,
        "data": data,
        "layout": layout,
        "center": center,
        "dirs": (d1, d2),
        "axis": axis,
        "split": split,
        "size": size,
        "batch": probe_data(model, data, split=split, size=size, device=center.device),
    }


# -- 1. the grid, three ways ---------------------------------------------------------------------


def batched(s: dict, rows: np.ndarray | None = None) -> np.ndarray:
    """``workbench.landscape.plane`` over the grid (or only the beta rows ``rows``)."""
    betas = s["axis"] if rows is None else s["axis"][rows]
    ds = plane(
        s["model"],
        s["center"],
        *s["dirs"],
        s["data"],
        alphas=s["axis"],
        betas=betas,
        split=s["split"],
        size=s["size"],
    )
    return ds.loss.values


def per_point_class_first(s: dict, rows: np.ndarray | None = None) -> np.ndarray:
    return per_point(s, rows, class_first=True)


def plain_rows(s: dict, rows: np.ndarray | None = None) -> np.ndarray:
    """The MLP grid without the first-layer shortcut: every point's row forwarded whole."""
    betas = s["axis"] if rows is None else s["axis"][rows]
    bb, aa = np.meshgrid(betas, s["axis"], indexing="ij")
    ev = SliceEvaluator(
        s["model"], s["data"], s["center"], s["dirs"], batch=s["batch"], first_layer=False
    )
    loss, _ = ev(np.stack([aa.ravel(), bb.ravel()], 1))
    return loss.reshape(bb.shape)


def _module_params(model, layout, net: torch.nn.Module, row: torch.Tensor) -> list[tuple]:
    """``(param, value)`` pairs: each ``torch.nn`` parameter and its values in ``row`` as the
    module stores them (``[out, in]`` Linear weights), contiguous."""
    views = [v[0] for v in layout.views(row[None])]
    names = [p.name for p in layout.params]
    if isinstance(model, MLP):
        linears = [m for m in net if isinstance(m, torch.nn.Linear)]
        params = [p for lin in linears for p in (lin.weight, lin.bias)]
    else:
        params = [net.get_parameter("embed.weight" if n == "embed" else n) for n in names]
    out = []
    for name, p, v in zip(names, params, views, strict=True):
        linear = v.dim() == 2 and name not in ("embed", "pos")
        out.append((p, (v.T if linear else v).contiguous()))
    return out


def per_point(s: dict, rows: np.ndarray | None = None, class_first: bool = False) -> np.ndarray:
    """The ``loss-landscapes`` way: one ``torch.nn`` model, its parameters overwritten at every
    point, the probe forwarded, loss and accuracy read back with ``.item()``. ``class_first``:
    the loss of the logits moved to ``[1, C, B]`` (4x faster than ``[B, C]`` on the CPU)."""
    model, layout = s["model"], s["layout"]
    net = model.reference(*model.dims(wb_data.info(s["data"])), seed=0).to(s["center"].device)
    center = _module_params(model, layout, net, s["center"])
    d1, d2 = (_module_params(model, layout, net, d) for d in s["dirs"])
    triples = [(p, c, a, b) for (p, c), (_, a), (_, b) in zip(center, d1, d2, strict=True)]
    x, y = s["batch"]
    betas = s["axis"] if rows is None else s["axis"][rows]
    loss = np.empty((len(betas), len(s["axis"])))
    with torch.no_grad():
        for j, beta in enumerate(betas.tolist()):
            for i, alpha in enumerate(s["axis"].tolist()):
                for p, c, a, b in triples:
                    torch.add(c, a, alpha=alpha, out=p)
                    p.add_(b, alpha=beta)
                logits = net(x)
                if logits.dim() == y.dim() + 2:  # a sequence model answering at the end
                    logits = logits[:, -1]
                if class_first:
                    ce = F.cross_entropy(logits.movedim(-1, 0)[None], y[None])
                else:
                    ce = F.cross_entropy(logits.flatten(0, -2), y.flatten())
                loss[j, i] = ce.item()
                _ = (logits.argmax(-1) == y).float().mean().item()
    return loss


def forward_flops(model, data, size: int) -> dict[str, int]:
    """Matmul FLOPs of one point's forward over ``size`` examples: ``counted`` (the whole
    forward) and ``shortcut`` (what an MLP's first-layer shortcut executes: the ``[1, 3] @
    [3, B (h + 1)]`` combination, the second layer with its bias row, the others; for the
    transformer the same as counted)."""
    in_dim, out_dim = model.dims(wb_data.info(data))
    if isinstance(model, MLP):
        w = model.widths(in_dim, out_dim)
        layers = [a * b for a, b in zip(w[:-1], w[1:], strict=True)]
        counted = 2 * size * sum(layers)
        if len(layers) == 1:  # a linear model: the combination is all
            return {"counted": counted, "shortcut": 2 * size * 3 * w[1]}
        rest = 3 * (w[1] + 1) + (w[1] + 1) * w[2] + sum(layers[2:])
        return {"counted": counted, "shortcut": 2 * size * rest}
    t, d, n_layers = data.context, model.width, model.layers
    tokens = size * t
    weights = n_layers * (4 + 2 * model.mlp_ratio) * d * d + d * out_dim
    counted = 2 * tokens * weights + 4 * n_layers * size * t * t * d
    return {"counted": counted, "shortcut": counted}


def peak_gflops(device: torch.device, n: int = 2048) -> float:
    """GFLOP/s of the fastest of 5 fp32 ``n x n @ n x n`` matmuls (on the current threads)."""
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    a @ b
    secs = min(timed(device, lambda: a @ b) for _ in range(5))
    return 2 * n**3 / secs / 1e9


def grid_bench(name: str, s: dict, methods: dict, args, device, peak: float) -> dict:
    """Time every method on the grid (interleaved repeats, after a warm-up on 2 rows), check
    their agreement with ``batched``, and count FLOPs."""
    n = len(s["axis"])
    scaled = {m: rows for m, (_, rows) in methods.items() if rows is not None}
    warm = np.arange(2)
    for fn, _ in methods.values():
        fn(s, warm)
    secs = {m: [] for m in methods}
    losses = {}  # (n, n), NaN on the rows a method skips
    for _ in range(args.repeats):
        for m, (fn, rows) in methods.items():
            out = []
            secs[m].append(timed(device, lambda fn=fn, rows=rows, out=out: out.append(fn(s, rows))))
            losses[m] = np.full((n, n), np.nan)
            losses[m][slice(None) if rows is None else rows] = out[0]
    ref = losses["batched"]
    flops = forward_flops(s["model"], s["data"], s["batch"][1].shape[0])
    points = n * n
    result = {"points": points, "examples": int(s["batch"][1].shape[0]), "methods": {}}
    for m, t in secs.items():
        rows = scaled.get(m)
        timed_points = n * (n if rows is None else len(rows))
        scale = points / timed_points
        med = statistics.median(t) * scale
        both = ~np.isnan(ref) & ~np.isnan(losses[m])
        if not both.any():
            raise SystemExit(f"landscape: {name} {m} shares no point with batched")
        diff = float(np.abs(losses[m] - ref)[both].max())
        if not diff <= AGREE_TOL:
            raise SystemExit(f"landscape: {name} {m} disagrees with batched by {diff:.3g}")
        gflops = flops["counted"] * points / med / 1e9
        result["methods"][m] = {
            "seconds": med,
            "seconds_min": min(t) * scale,
            "seconds_all": [x * scale for x in t],
            "points_timed": timed_points,
            "ms_per_point": 1e3 * med / points,
            "max_abs_loss_diff_from_batched": diff,
            "gflops_counted": gflops,
            "fraction_of_peak": gflops / peak,
        }
    b = result["methods"]["batched"]
    shortcut = isinstance(s["model"], MLP)
    b["gflops_executed"] = (
        flops["shortcut" if shortcut else "counted"] * points / b["seconds"] / 1e9
    )
    result["gflop_counted_per_point"] = flops["counted"] / 1e9
    result["gflop_executed_per_point_batched"] = flops["shortcut" if shortcut else "counted"] / 1e9
    result["flop_bound_seconds"] = flops["counted"] * points / (peak * 1e9)
    loop = result["methods"]["per_point"]["seconds"]
    tuned = result["methods"].get("per_point_class_first", {}).get("seconds")
    for r in result["methods"].values():
        r["vs_per_point"] = loop / r["seconds"]
        if tuned is not None:
            r["vs_per_point_class_first"] = tuned / r["seconds"]
    return result


# -- 2. top eigenvalue, batched vs per run ------------------------------------------------------


def eig_batched(model, layout, theta, batch, iters: int) -> torch.Tensor:
    return top_eigenvalues(model, layout, theta, batch, k=1, iters=iters, seed=0)["values"][:, 0]


def eig_per_run(model, layout, theta, batch, iters: int) -> list[float]:
    """Power iteration run by run on a ``torch.nn`` model, double backward for ``H v``, the
    estimate read with ``.item()`` every iteration; start vectors as ``top_eigenvalues`` draws
    them (one ``[N, P]`` draw from a generator seeded 0)."""
    x, y = batch
    n, p = theta.shape
    start = torch.randn(n, p, generator=torch.Generator().manual_seed(0), dtype=theta.dtype)
    net = model.reference(*model.dims(wb_data.info(W1.data)), seed=0)
    out = []
    for r in range(n):
        pairs = _module_params(model, layout, net, theta[r])
        with torch.no_grad():
            for prm, v in pairs:
                prm.copy_(v)
        params = [prm for prm, _ in pairs]
        v = [u for _, u in _module_params(model, layout, net, start[r])]
        norm = math.sqrt(sum(float((u * u).sum()) for u in v))
        v = [u / norm for u in v]
        lam = 0.0
        for _ in range(iters + 1):
            loss = F.cross_entropy(net(x), y)
            grads = torch.autograd.grad(loss, params, create_graph=True)
            dot = sum((g * u).sum() for g, u in zip(grads, v, strict=True))
            hv = torch.autograd.grad(dot, params)
            lam = sum((h * u).sum() for h, u in zip(hv, v, strict=True)).item()  # host sync
            norm = torch.sqrt(sum((h * h).sum() for h in hv))
            v = [h / norm for h in hv]
        out.append(lam)
    return out


def eig_bench(theta: torch.Tensor, args, device) -> dict:
    model = W1.arch
    layout = layout_of(model, W1.data)
    batch = probe_data(model, W1.data, size=512, device=device)
    eig_batched(model, layout, theta, batch, 2)  # warm-up
    eig_per_run(model, layout, theta[:1], batch, 2)
    secs = {"batched": [], "per_run": []}
    out: dict[str, object] = {}

    def run(method: str) -> None:
        fn = eig_batched if method == "batched" else eig_per_run
        out[method] = fn(model, layout, theta, batch, args.iters)

    for _ in range(args.repeats):
        for method in secs:
            secs[method].append(timed(device, lambda method=method: run(method)))
    vals = out["batched"]
    per_run = torch.tensor(out["per_run"], dtype=vals.dtype)
    rel = float(((per_run - vals).abs() / vals.abs()).max())
    if not rel <= EIG_RTOL:
        raise SystemExit(f"landscape: per-run eigenvalues disagree with batched by {rel:.3g}")
    med = {m: statistics.median(t) for m, t in secs.items()}
    return {
        "runs": theta.shape[0],
        "examples": 512,
        "iters": args.iters,
        "hvps_per_run": args.iters + 1,
        "eigenvalues": vals.tolist(),
        "max_rel_diff_per_run": rel,
        "methods": {
            m: {"seconds": med[m], "seconds_min": min(t), "seconds_all": t} for m, t in secs.items()
        },
        "speedup": med["per_run"] / med["batched"],
    }


# -- command line --------------------------------------------------------------------------------

# quick -> repeats, train_steps, iters, t_stride, aux_stride
DEFAULTS = {True: (3, 100, 10, 26, 10), False: (5, 1000, 30, 1, 1)}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="fewer repeats (< 1 min on 2 cores)")
    p.add_argument("--resolution", type=int, default=51, help="grid points per axis")
    p.add_argument("--repeats", type=int, default=None, help="timed passes per method (median)")
    p.add_argument("--train-steps", type=int, default=None, help="training steps of the centers")
    p.add_argument("--iters", type=int, default=None, help="power iterations (eigenvalue)")
    p.add_argument("--t-stride", type=int, default=None, help="T-tiny: every k-th row")
    p.add_argument(
        "--aux-stride", type=int, default=None, help="W1 plain rows, class-first loop: k-th rows"
    )
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    p.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads (default 1; 0: torch's default)"
    )
    p.add_argument("--out", default=None, help="JSON path (bench/results/landscape-...json)")
    args = p.parse_args(argv)
    args.device = torch.device(args.device)
    keys = ("repeats", "train_steps", "iters", "t_stride", "aux_stride")
    for name, value in zip(keys, DEFAULTS[args.quick], strict=True):
        if getattr(args, name) is None:
            setattr(args, name, value)
    for name in keys:
        if getattr(args, name) < 1:
            raise SystemExit(f"landscape: --{name.replace('_', '-')}={getattr(args, name)} < 1")
    if args.resolution < 2:
        raise SystemExit(f"landscape: --resolution={args.resolution} < 2")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    dev = begin(args)
    t0 = time.perf_counter()
    peak_start = peak_gflops(dev)
    theta = train(make_specs(W1, 8, args.train_steps), dev)
    t_spec = RunSpec(
        data=T_DATA,
        model=T_TINY,
        optimizer=AdamW(lr=3e-3),
        steps=args.train_steps,
        batch_size=32,
        seed=0,
        eval_every=args.train_steps,
    )
    t_theta = train([t_spec], dev)
    t1 = time.perf_counter()
    r = args.resolution
    w1 = setup(W1.arch, W1.data, theta, "test", 1000, r)
    tt = setup(T_TINY, T_DATA, t_theta, "test", 128, r)
    peak = max(peak_start, peak_gflops(dev))  # twice: a neighbour's load only lowers it
    print(
        f"peak {peak:.0f} GFLOP/s (fp32 2048^3 matmul); trained W1 x 8 and T-tiny "
        f"{args.train_steps} steps in {t1 - t0:.1f} s; {r} x {r} grids, {args.repeats} repeats"
    )
    t_rows = None if args.t_stride == 1 else np.arange(0, r, args.t_stride)
    aux_rows = None if args.aux_stride == 1 else np.arange(0, r, args.aux_stride)
    grids = {
        "W1": grid_bench(
            "W1",
            w1,
            {
                "batched": (batched, None),
                "batched_plain_rows": (plain_rows, aux_rows),
                "per_point": (per_point, None),
                "per_point_class_first": (per_point_class_first, aux_rows),
            },
            args,
            dev,
            peak,
        ),
        "T-tiny": grid_bench(
            "T-tiny",
            tt,
            {
                "batched": (batched, t_rows),
                "per_point": (per_point, t_rows),
            },
            args,
            dev,
            peak,
        ),
    }
    t2 = time.perf_counter()
    eig = eig_bench(theta, args, dev)
    t3 = time.perf_counter()

    names = {
        "batched": "batched (plane)",
        "batched_plain_rows": "batched, plain rows",
        "per_point": "per point (loss-landscapes style)",
        "per_point_class_first": "per point, class-first loss",
    }
    cells = []
    for wl, g in grids.items():
        for m, row in g["methods"].items():
            note = ""
            if row["points_timed"] < g["points"]:
                note = f"timed on {row['points_timed']} points, scaled"
            if m == "batched" and wl == "W1":
                note = f"first-layer shortcut: {row['gflops_executed']:.1f} GFLOP/s executed"
            cells.append(
                [
                    wl,
                    names[m],
                    f"{row['seconds']:.2f}",
                    f"{min(row['seconds_all']):.2f}..{max(row['seconds_all']):.2f}",
                    f"{row['ms_per_point']:.3f}",
                    f"{row['gflops_counted']:.1f}",
                    f"{100 * row['fraction_of_peak']:.0f}%",
                    f"{row['vs_per_point']:.2f}x",
                    note,
                ]
            )
    heads = ["grid", "method", "s", "min..max", "ms/point", "GFLOP/s", "of peak", "vs loop", "note"]
    print(
        f"\n1. {r} x {r} grid, loss and accuracy at every point; median of {args.repeats} "
        f"(W1: mnist1d test set, 1,000 examples; T-tiny: 128 test sequences x 16 tokens)"
    )
    print(table(heads, cells, "<<>>>>>><"))
    for wl, g in grids.items():
        print(
            f"{wl}: {g['gflop_counted_per_point'] * 1e3:.1f} MFLOP counted per point; at the "
            f"{peak:.0f} GFLOP/s peak the grid takes {g['flop_bound_seconds']:.2f} s; max |loss "
            "difference| from batched: "
            + ", ".join(
                f"{names[m]} {row['max_abs_loss_diff_from_batched']:.1e}"
                for m, row in g["methods"].items()
                if m != "batched"
            )
        )
    w1 = grids["W1"]["methods"]
    shortcut = w1["batched_plain_rows"]["seconds"] / w1["batched"]["seconds"]
    print(
        f"W1 batched vs the class-first loop: {w1['batched']['vs_per_point_class_first']:.2f}x; "
        f"the first-layer shortcut vs plain rows: {shortcut:.2f}x"
    )
    e = eig["methods"]
    print(
        f"\n2. top Hessian eigenvalue, {eig['runs']} W1 runs, {eig['examples']} examples, "
        f"{eig['hvps_per_run']} Hessian-vector products each: batched "
        f"{e['batched']['seconds']:.2f} s, per run with a host sync per iteration "
        f"{e['per_run']['seconds']:.2f} s ({eig['speedup']:.1f}x); eigenvalues "
        f"{', '.join(f'{v:.3g}' for v in eig['eigenvalues'])} (per run: max rel. diff "
        f"{eig['max_rel_diff_per_run']:.1e})"
    )
    print(f"\ntook {t1 - t0:.1f} s (setup) + {t2 - t1:.1f} s (1.) + {t3 - t2:.1f} s (2.)")
    write_json(
        args.out or f"bench/results/landscape-{device_kind(dev)}.json",
        {
            "workloads": {
                "W1": f"{W1.model} on mnist1d, 8 runs trained {args.train_steps} steps "
                f"(AdamW, cosine peaks log-spaced over {list(W1.lr_peaks)}, batch {W1.batch})",
                "T-tiny": f"{T_TINY} on {T_DATA.to_dict()}, trained {args.train_steps} steps "
                "(AdamW lr 3e-3, batch 32)",
                "grid": f"center + a*d1 + b*d2, a, b in linspace(-1, 1, {r}); d1, d2 "
                "random_direction seeds 1, 2, filter-normalized",
            },
            "peak_gflops": peak,
            "peak_source": "fastest of 2 x 5 fp32 2048^3 matmuls, same threads",
            "grid": grids,
            "eigenvalue": eig,
            "load_average": os.getloadavg(),
            "provenance": provenance(args, dev, seed=0),
        },
    )
    speedup = grids["W1"]["methods"]["batched"]["vs_per_point"]
    print(f"speedup {r}x{r}: {speedup:.2f}x (batched vs per-point)")


if __name__ == "__main__":
    main()
