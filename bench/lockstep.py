"""Benchmark: N small runs trained one by one, with vmap, and with the lockstep engine.

Workloads (``--workload``):

W1 (default): an MLP 40-100-100-10 (``MLP(hidden=(100, 100))``, P = 15,210 parameters) on
    mnist1d, batch 128, AdamW (weight decay 0.01) with a per-run cosine learning-rate schedule
    whose peaks are log-spaced over [1e-4, 1e-2] across the runs.
T1: a transformer, ``Transformer(layers=2, width=128, heads=4, context=64)`` (P = 421,376), on
    a markov language (vocab 64, 2048 training sequences of 64 tokens; next-token loss at every
    position), batch 32, AdamW (weight decay 0.01), per-run cosine peaks log-spaced over
    [1e-4, 3e-3]. Matmuls in float32 on both sides (torch's default: no TF32).

Run ``i`` has seed ``i`` and visits the data in ``epoch_order`` (the engine's per-run order), so
all methods train the same runs on the same batches with the same learning rates; after the
warm-up their losses must agree to float rounding (checked; later they drift apart, as rounding
differences grow in training).

The ways of training N runs:

(a) ``sequential`` -- what one writes without the workbench: a loop over N single-run models
    (``arch.reference``: ``nn.Sequential`` for W1, ``TransformerReference`` for T1), each with its
    own ``torch.optim.AdamW`` (torch defaults; the per-step learning rate is set in
    ``param_groups``), trained one after another.
(b) ``vmap`` (W1 only) -- ``torch.func``: the N reference models stacked with
    ``stack_module_state``, the per-run gradients from ``vmap(grad_and_value(functional_call(
    ...)))``, and a hand-written AdamW over the stacked tensors (``torch._foreach_*`` and in-place
    ops, the per-run learning rate broadcast as an ``[N, 1, ...]`` column). Not run for T1: W1
    already measures vmap against lockstep, and the transformer twin's forward stores per-layer
    attention statistics on the module, a side effect that would leak batched tensors out of vmap.
(c) ``lockstep`` -- the engine: ``Bucket(specs).advance(k)``. This includes what the engine always
    does: per-step metrics (loss, grad/update/param norms, T1's attention-logit maxima),
    divergence masks, one host sync per chunk. On CUDA it runs the fused Triton optimizer step
    (recorded as ``fused_optimizer``; ``--kernels torch`` forces the torch passes) and replays the
    step as a CUDA graph after 3 eager steps (recorded as ``cuda_graph``; ``--cuda-graph off``
    runs eagerly). Test-set evaluations are left out of the timed steps (the baselines do none).

Each method takes ``--warmup`` steps first (timed separately and reported as warm-up: allocator,
kernel selection, lazy optimizer state), then ``--repeats`` timed blocks of ``--steps`` steps,
interleaved across the methods so that background load hits all of them alike. Model construction
is setup, reported apart from both. The figure of merit is model-steps per second,
N * steps / seconds, the median over the blocks (all blocks are in the JSON). For large N the
sequential baseline is timed on its first ``--seq-models`` models and scaled (its cost per model
does not depend on N); the output marks such rows. An N that runs out of GPU memory is reported
as such and skipped (the CUDA graph holds its own copy of the step's activations).

On CUDA the clock is read after ``torch.cuda.synchronize()``. The lockstep row then also reports
what it achieves: for W1, a rough lower bound on its memory bandwidth as a fraction of the device's
peak; for T1, its matmul FLOP rate.

Run from the repository root::

    python bench/lockstep.py --quick               # W1 on CPU, N in {1, 8, 64}, ~10 s
    python bench/lockstep.py --workload T1 --quick # T1 on CPU, N in {1, 8}, under a minute
    python bench/lockstep.py [--workload T1]       # CUDA: W1 N up to 4096, T1 N in {64, 512}
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time

import torch
from _common import (
    device_kind,
    device_name,
    ensure_kernels_importable,
    peak_bandwidth,
    provenance,
    table,
    timed,
    write_json,
)
from _trainers import METHODS, WORKLOADS, Workload, make_specs

from workbench.engine import default_device
from workbench.spec import RunSpec

ensure_kernels_importable()


def compare(wl: Workload, specs: list[RunSpec], device: torch.device, args) -> dict[str, dict]:
    """Time every method of ``wl`` on ``specs``: setup, warm-up, then timed blocks.

    The timed blocks are interleaved across methods (block 1 of each, then block 2, ...) so that
    background load on the machine hits every method alike; a method's rate is its median block.
    The sequential baseline trains only the first ``args.seq_models`` runs.
    """
    trainers, rows = {}, {}
    for method in wl.methods:
        sub = specs[: args.seq_models] if method == "sequential" else specs
        t0 = time.perf_counter()
        opts = {"kernels": args.kernels, "cuda_graph": args.cuda_graph}
        trainers[method] = tr = METHODS[method](wl, sub, device, **opts)
        setup_s = time.perf_counter() - t0
        warmup_s = timed(device, lambda tr=tr: tr.train(0, args.warmup))
        rows[method] = {
            "models_timed": len(sub),
            "setup_s": setup_s,
            "warmup_s": warmup_s,
            "warmup_loss": tr.final_loss(),
            "seconds": [],
        }
        if method == "lockstep":
            rows[method].update(fused_optimizer=tr.fused, cuda_graph=tr.graph)
    for r in range(args.repeats):
        t = args.warmup + r * args.steps
        for method, tr in trainers.items():
            secs = timed(device, lambda tr=tr, t=t: tr.train(t, t + args.steps))
            rows[method]["seconds"].append(secs)
    for method, row in rows.items():
        row["model_steps_per_s_all"] = [
            row["models_timed"] * args.steps / s for s in row["seconds"]
        ]
        row["model_steps_per_s"] = statistics.median(row["model_steps_per_s_all"])
        row["final_loss"] = trainers[method].final_loss()
    return rows


def agreement(rows: dict[str, dict], tol: float) -> dict[str, dict[str, float]]:
    """Largest loss difference of each method from sequential on the runs both train.

    After the warm-up the methods must agree to float rounding (``tol``; a wrong learning rate,
    batch or update shows up well above it). After the timed steps they have drifted apart: at
    high learning rates training amplifies rounding differences, so the final difference is
    reported, not checked.
    """
    out = {}
    for method in rows:
        if method == "sequential":
            continue
        out[method] = {}
        for when in ("warmup_loss", "final_loss"):
            ref = rows["sequential"][when].double()
            diff = (rows[method][when][: len(ref)].double() - ref).abs().max().item()
            out[method][when.removesuffix("_loss")] = diff
        if not out[method]["warmup"] <= tol:
            raise SystemExit(
                f"lockstep: {method} disagrees with sequential after the warm-up by "
                f"{out[method]['warmup']:.3g} (allowed {tol})"
            )
    return out


# -- command line ----------------------------------------------------------------------------

# (workload, cuda, quick) -> steps, warmup, repeats, seq_models, ns
DEFAULTS = {
    ("W1", False, False): (200, 10, 5, 64, "1,8,64"),
    ("W1", False, True): (30, 5, 3, 64, "1,8,64"),
    ("W1", True, False): (200, 10, 5, 16, "1,8,64,512,4096"),
    ("W1", True, True): (30, 5, 3, 16, "1,8,64"),
    ("T1", False, False): (10, 3, 3, 8, "1,8,64"),
    ("T1", False, True): (5, 2, 3, 8, "1,8"),
    ("T1", True, False): (30, 5, 3, 8, "64,512"),
    ("T1", True, True): (10, 3, 3, 8, "64"),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workload", default="W1", choices=sorted(WORKLOADS), help="default W1")
    p.add_argument("--quick", action="store_true", help="short run (W1 ~10 s, T1 < 1 min on CPU)")
    p.add_argument("--steps", type=int, default=None, help="timed steps per block")
    p.add_argument("--warmup", type=int, default=None, help="untimed steps first")
    p.add_argument("--repeats", type=int, default=None, help="timed blocks (median)")
    p.add_argument("--ns", default=None, help="comma-separated N")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    p.add_argument("--seq-models", type=int, default=None, help="time sequential on <= this many")
    p.add_argument("--kernels", default="auto", choices=("auto", "triton", "torch"))
    p.add_argument("--cuda-graph", default="auto", choices=("auto", "on", "off"))
    p.add_argument("--peak-gbs", type=float, default=None, help="device peak bandwidth, GB/s")
    p.add_argument("--out", default=None, help="JSON path (bench/results/lockstep-...json)")
    args = p.parse_args(argv)
    args.device = torch.device(args.device) if args.device else default_device()
    # Sequential is host-bound on a GPU (~1-2 ms per model-step whatever N is): few models do.
    d = DEFAULTS[args.workload, args.device.type == "cuda", args.quick]
    for name, value in zip(("steps", "warmup", "repeats", "seq_models", "ns"), d, strict=True):
        if getattr(args, name) is None:
            setattr(args, name, value)
    args.ns = [int(n) for n in args.ns.split(",")]
    args.cuda_graph = {"auto": "auto", "on": True, "off": False}[args.cuda_graph]
    for name in ("steps", "warmup", "repeats", "seq_models"):
        if getattr(args, name) < 1:
            raise SystemExit(f"lockstep: --{name.replace('_', '-')}={getattr(args, name)} < 1")
    if min(args.ns) < 1:
        raise SystemExit(f"lockstep: --ns={args.ns} must be >= 1")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.manual_seed(0)
    dev, wl = args.device, WORKLOADS[args.workload]
    print(
        f"{wl.name}: {wl.model} (P = {wl.params:,}) on {wl.data.name}, batch {wl.batch}, AdamW; "
        f"{args.warmup} warm-up + {args.repeats} x {args.steps} timed steps; device "
        f"{device_name(dev)} ({dev.type}), {torch.get_num_threads()} threads, "
        f"torch {torch.__version__}"
    )
    if "vmap" not in wl.methods:
        print(f"vmap not run for {wl.name} (see the module docstring)")
    rows: list[dict] = []
    agree: dict[int, dict] = {}
    failed: dict[int, str] = {}
    for n in args.ns:
        specs = make_specs(wl, n, args.warmup + args.repeats * args.steps)
        try:
            by_method = compare(wl, specs, dev, args)
        except torch.OutOfMemoryError as e:
            failed[n] = f"out of memory: {str(e).splitlines()[0]}"
            by_method = None
        if by_method is None:  # outside the handler, so the failed trainers can be freed
            print(f"N={n}: {failed[n]}")
            gc.collect()
            torch.cuda.empty_cache()
            continue
        agree[n] = agreement(by_method, wl.tol)
        for r in by_method.values():
            del r["warmup_loss"], r["final_loss"]
        rows += [{"n": n, "method": m, **r} for m, r in by_method.items()]

    seq = {r["n"]: r["model_steps_per_s"] for r in rows if r["method"] == "sequential"}
    for r in rows:
        r["ratio_vs_sequential"] = r["model_steps_per_s"] / seq[r["n"]]

    peak = None
    if dev.type == "cuda":
        for r in (r for r in rows if r["method"] == "lockstep"):
            steps_per_s = r["model_steps_per_s"] / r["n"]
            work = wl.counted(r["n"])
            if "bytes" in work:
                if peak is None:
                    gbs, source = peak_bandwidth(dev, args.peak_gbs)
                    peak = {"gbs": gbs, "source": source}
                gbs = work["bytes"] * steps_per_s / 1e9
                r["bandwidth"] = {"counted_gbs": gbs, "fraction_of_peak": gbs / peak["gbs"]}
            else:
                r["compute"] = {"counted_tflops": work["flops"] * steps_per_s / 1e12}

    def note(r: dict) -> str:
        parts = []
        if r["models_timed"] < r["n"]:
            parts.append(f"timed on {r['models_timed']} models, scaled (per-model cost)")
        if "fused_optimizer" in r:
            parts.append("fused optimizer kernel" if r["fused_optimizer"] else "torch optimizer")
            parts[-1] += ", CUDA graph" if r["cuda_graph"] else ""
        if "bandwidth" in r:
            b = r["bandwidth"]
            parts.append(
                f"{b['counted_gbs']:.0f} GB/s = {100 * b['fraction_of_peak']:.1f}% of peak"
            )
        if "compute" in r:
            parts.append(f"{r['compute']['counted_tflops']:.1f} TFLOP/s counted")
        return "; ".join(parts)

    def rate(v: float) -> str:
        return f"{v:,.0f}" if v >= 100 else f"{v:.1f}"

    cells = [
        [
            r["n"],
            r["method"],
            rate(r["model_steps_per_s"]),
            f"{rate(min(r['model_steps_per_s_all']))}..{rate(max(r['model_steps_per_s_all']))}",
            f"{r['ratio_vs_sequential']:.1f}x",
            f"{r['warmup_s']:.3f}",
            note(r),
        ]
        for r in rows
    ]
    heads = ["N", "method", "model-steps/s", "min..max", "vs seq", "warm-up s", "note"]
    print("\n" + table(heads, cells, "><>>>><"))
    for n, why in failed.items():
        print(f"N={n}: not timed, {why}")
    print("loss difference from sequential (max abs, shared runs), after warm-up / at the end:")
    for n, a in agree.items():
        print(
            f"  N={n}: "
            + ", ".join(f"{m} {d['warmup']:.1e} / {d['final']:.1e}" for m, d in a.items())
        )
    if peak is not None:
        acts = sum(wl.arch.widths(*wl.dims))
        print(
            "lockstep GB/s counts a lower bound on the bytes of a step: AdamW state traffic "
            "(7 x 4 B x N x P), weights read twice and grads written once (3 x 4 B x N x P), "
            f"activations and their grads (3 x 4 B x N x B x {acts}). "
            f"Peak {peak['gbs']:.0f} GB/s ({peak['source']})"
        )
    if any("compute" in r for r in rows):
        print(
            "lockstep TFLOP/s counts the matmul FLOPs of forward and backward (weights and "
            "attention, fp32); the rest of the step (norms, softmax, optimizer) is not counted"
        )

    suffix = "" if wl.name == "W1" else f"-{wl.name.lower()}"
    write_json(
        args.out or f"bench/results/lockstep{suffix}-{device_kind(dev)}.json",
        {
            "workload": {
                "name": wl.name,
                "model": wl.model,
                "params_per_model": wl.params,
                "data": wl.data.to_dict(),
                "batch_size": wl.batch,
                "optimizer": f"AdamW, weight_decay={wl.weight_decay}, cosine lr, peaks "
                f"log-spaced in [{wl.lr_peaks[0]}, {wl.lr_peaks[1]}], warmup 10%",
                "methods": list(wl.methods),
                "warmup_steps": args.warmup,
                "timed_steps_per_block": args.steps,
                "timed_blocks": args.repeats,
            },
            "results": rows,
            "loss_diff_from_sequential": {str(n): a for n, a in agree.items()},
            "failed": {str(n): why for n, why in failed.items()},
            "peak_bandwidth": peak,
            "provenance": provenance(args, dev, seed=0),
        },
    )
    if not seq:
        raise SystemExit(f"lockstep: no N completed ({failed})")
    n_head = 64 if 64 in seq else max(seq)
    ratio = next(
        r["ratio_vs_sequential"] for r in rows if r["n"] == n_head and r["method"] == "lockstep"
    )
    print(f"speedup N={n_head}: {ratio:.1f}x (lockstep vs sequential)")


if __name__ == "__main__":
    main()
