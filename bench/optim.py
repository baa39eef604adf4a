"""Benchmark: one optimizer step over the flat [N, P] parameters of N runs, alone.

No model, no data: random parameters and gradients, and the step that the lockstep engine takes
after every backward pass. For AdamW, SGD with momentum (0.9) and Lion, each step is timed

(i)   ``torch``   -- the engine's torch path: ``Stacked*(flat, kernels="torch").step(p, g, c,
      alive)``, in-place passes over preallocated buffers, per-run coefficients as ``[N, 1]``
      columns, update and parameter norms of every run computed;
(ii)  ``kernel``  -- the fused Triton kernel (``kernels="triton"``), the same step and norms in
      one launch. CUDA only: on the CPU Triton runs in its interpreter, far too slow to time;
(iii) ``torch.optim foreach`` and ``torch.optim fused`` -- torch's own ``AdamW`` / ``SGD`` over
      the same ``[N, P]`` tensor. The yardstick for bandwidth, not a drop-in: they take one
      learning rate for all runs (ours: one per run), compute no norms, and torch's SGD weight
      decay is coupled (added to the gradient). torch has no Lion.

Bytes per step count what a step must move at least, in float32: AdamW reads p, g, m, v and
writes p, m, v (7 x 4 B x N x P); SGD and Lion read p, g and one state and write p and the state
(5 x 4 B x N x P); plus the coefficient rows (4 B x N per row: 5 for AdamW, 3 SGD, 4 Lion) and
the alive flags and two norms (4 B x N each). The achieved bandwidth is these bytes over the time
of a step, so an implementation that makes more passes shows a lower figure; its fraction of the
device's peak (H200 4800 GB/s, H100 SXM 3350 GB/s by spec sheet; otherwise, and on the CPU, a
measured copy) says how close it comes to the memory bound.

Each implementation takes ``--warmup`` steps first (reported as warm-up: Triton's compile and
autotune, lazy state), then ``--repeats`` timed blocks of as many steps as fill ``--block-s``
seconds, synchronized before and after on CUDA; the time per step is the median over the blocks.

Run from the repository root::

    python bench/optim.py --quick      # CPU, N x P in {1e5, 1e6, 4e6}, under 30 s
    python bench/optim.py              # CUDA: N x P in {1e6, 1e7, 1e8, 4e8}, N = 500
"""

from __future__ import annotations

import argparse
import math
import statistics

import torch
from _common import (
    device_kind,
    device_name,
    ensure_kernels_importable,
    peak_bandwidth,
    provenance,
    sync,
    table,
    timed,
    write_json,
)

from workbench.engine import default_device
from workbench.optim import SGD, AdamW, Lion

ensure_kernels_importable()

WEIGHT_DECAY = 0.01
LR_SPREAD = (0.1, 10.0)  # per-run lr: the spec's default times factors log-spaced over this
# name -> (spec, state tensors, torch.optim class and its kwargs or None)
OPTIMIZERS = {
    "adamw": (AdamW(weight_decay=WEIGHT_DECAY), 2, torch.optim.AdamW, {}),
    "sgd": (SGD(lr=0.01, momentum=0.9, weight_decay=WEIGHT_DECAY), 1, torch.optim.SGD, {}),
    "lion": (Lion(weight_decay=WEIGHT_DECAY), 1, None, {}),
}
SIZES = {"cpu": (10**5, 10**6, 4 * 10**6), "cuda": (10**6, 10**7, 10**8, 4 * 10**8)}


def coefficients(spec, n: int, device: torch.device) -> torch.Tensor:
    """``[C, N, 1]`` float32 step-1 coefficients of ``n`` runs with log-spaced learning rates."""
    h = {k: t[:1, None].expand(1, n) for k, t in spec.tables(1).items()}  # (1, N) each
    lo, hi = (math.log10(f * spec.lr) for f in LR_SPREAD)
    h["lr"] = torch.logspace(lo, hi, n, dtype=torch.float64)[None]
    return spec.coefficients(h)[0, :, :, None].to(device, torch.float32).contiguous()


def bytes_per_step(name: str, n: int, p: int) -> int:
    """The float32 bytes a step must move at least (see the module docstring)."""
    spec, states = OPTIMIZERS[name][:2]
    rows = coefficients(spec, 1, torch.device("cpu")).shape[0]
    return 4 * n * p * (3 + 2 * states) + 4 * n * (rows + 3)


def implementations(name: str, p0: torch.Tensor, g: torch.Tensor, kernel: bool):
    """``(label, make)`` pairs; ``make()`` builds fresh state and returns the step function."""
    spec, _, torch_cls, kwargs = OPTIMIZERS[name]
    n = p0.shape[0]
    c = coefficients(spec, n, p0.device)
    alive = torch.ones(n, 1, dtype=torch.bool, device=p0.device)

    def ours(kernels: str):
        def make():
            p = p0.clone()
            st = spec.build(p, None, kernels=kernels)
            return lambda: st.step(p, g, c, alive)

        return make

    def torch_optim(flag: str):
        def make():
            p = p0.clone().requires_grad_()
            p.grad = g
            lr = spec.lr  # the spec's default: the middle run's lr (LR_SPREAD is symmetric)
            extra = {"momentum": spec.momentum} if name == "sgd" else {}
            opt = torch_cls(
                [p], lr=lr, weight_decay=WEIGHT_DECAY, **extra, **kwargs, **{flag: True}
            )
            return opt.step

        return make

    out = [("torch", ours("torch"))]
    if kernel:
        out.append(("kernel", ours("triton")))
    if torch_cls is not None:
        out += [("torch.optim foreach", torch_optim("foreach"))]
        out += [("torch.optim fused", torch_optim("fused"))]
    return out


def time_steps(device, step, *, warmup: int, repeats: int, block_s: float) -> dict:
    """Warm-up seconds and the per-step seconds of ``repeats`` blocks of steps."""

    def steps(k: int) -> None:
        for _ in range(k):
            step()

    warmup_s = timed(device, lambda: steps(warmup))
    one = timed(device, step)
    inner = max(1, min(10_000, math.ceil(block_s / max(one, 1e-7))))
    seconds = [timed(device, lambda: steps(inner)) / inner for _ in range(repeats)]
    return {"warmup_s": warmup_s, "steps_per_block": inner, "step_s_all": seconds}


def check_kernel(name: str, p0: torch.Tensor, g: torch.Tensor) -> float:
    """Largest difference of the parameters after 3 steps of the kernel and the torch path."""
    spec = OPTIMIZERS[name][0]
    c = coefficients(spec, p0.shape[0], p0.device)
    alive = torch.ones(p0.shape[0], 1, dtype=torch.bool, device=p0.device)
    out = []
    for kernels in ("torch", "triton"):
        p = p0.clone()
        st = spec.build(p, None, kernels=kernels)
        for _ in range(3):
            st.step(p, g, c, alive)
        out.append(p)
    return (out[0] - out[1]).abs().max().item()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    a = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    a.add_argument("--quick", action="store_true", help="fewer, shorter blocks (CPU < 30 s)")
    a.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    a.add_argument("--n", type=int, default=500, help="runs N (default 500: N x P exact)")
    a.add_argument("--sizes", default=None, help="comma-separated N x P (default by device)")
    a.add_argument("--optimizers", default="adamw,sgd,lion", help="subset of adamw,sgd,lion")
    a.add_argument("--warmup", type=int, default=None, help="untimed steps first (5, quick 2)")
    a.add_argument("--repeats", type=int, default=None, help="timed blocks, median (7, quick 3)")
    a.add_argument("--block-s", type=float, default=None, help="seconds per block (0.2, q 0.05)")
    a.add_argument("--peak-gbs", type=float, default=None, help="device peak bandwidth, GB/s")
    a.add_argument("--out", default=None, help="JSON path (bench/results/optim-<kind>.json)")
    args = a.parse_args(argv)
    args.device = torch.device(args.device) if args.device else default_device()
    args.warmup = args.warmup if args.warmup is not None else (2 if args.quick else 5)
    args.repeats = args.repeats or (3 if args.quick else 7)
    args.block_s = args.block_s or (0.05 if args.quick else 0.2)
    sizes = (
        args.sizes.split(",")
        if args.sizes
        else SIZES["cuda" if args.device.type == "cuda" else "cpu"]
    )
    args.sizes = [int(float(s)) for s in sizes]
    args.optimizers = args.optimizers.split(",")
    for o in args.optimizers:
        if o not in OPTIMIZERS:
            raise SystemExit(f"optim: --optimizers has {o!r}; choose from {list(OPTIMIZERS)}")
    if args.n < 1 or args.repeats < 1 or args.warmup < 1 or min(args.sizes) < args.n:
        raise SystemExit("optim: --n, --repeats, --warmup must be >= 1 and every size >= N")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.manual_seed(0)
    dev = args.device
    kernel = dev.type == "cuda"
    peak_gbs, peak_src = peak_bandwidth(dev, args.peak_gbs)
    print(
        f"optimizer step over N x P float32 parameters, N = {args.n}; device {device_name(dev)} "
        f"({dev.type}), {torch.get_num_threads()} threads, torch {torch.__version__}; "
        f"{args.warmup} warm-up steps, median of {args.repeats} blocks of ~{args.block_s} s"
    )
    if not kernel:
        print("no GPU: the Triton kernel is not timed (on the CPU it runs in Triton's interpreter)")
    rows, checks = [], {}
    for size in args.sizes:
        p_dim = size // args.n
        p0 = torch.randn(args.n, p_dim, device=dev).mul_(0.02)
        g = torch.randn(args.n, p_dim, device=dev)
        for name in args.optimizers:
            if kernel and size == args.sizes[0]:
                checks[name] = check_kernel(name, p0, g)
            nbytes = bytes_per_step(name, args.n, p_dim)
            for label, make in implementations(name, p0, g, kernel):
                try:
                    step = make()
                    r = time_steps(
                        dev, step, warmup=args.warmup, repeats=args.repeats, block_s=args.block_s
                    )
                except (RuntimeError, ValueError) as e:  # e.g. no fused torch.optim here
                    reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                    print(f"  {name} {label} N*P={args.n * p_dim}: skipped ({reason})")
                    continue
                finally:
                    step = None
                    if dev.type == "cuda":
                        torch.cuda.empty_cache()
                s = statistics.median(r["step_s_all"])
                gbs = nbytes / s / 1e9
                rows.append(
                    {
                        "optimizer": name,
                        "impl": label,
                        "n": args.n,
                        "p": p_dim,
                        "np": args.n * p_dim,
                        "bytes_per_step": nbytes,
                        "step_s": s,
                        **r,
                        "gbs": gbs,
                        "fraction_of_peak": gbs / peak_gbs,
                    }
                )
        del p0, g
        sync(dev)

    print(
        "\n"
        + table(
            ["opt", "impl", "N*P", "P", "ms/step", "GB/s", "of peak", "warm-up s"],
            [
                [
                    r["optimizer"],
                    r["impl"],
                    f"{r['np']:.0e}".replace("e+0", "e"),
                    r["p"],
                    f"{1e3 * r['step_s']:.3f}",
                    f"{r['gbs']:.1f}",
                    f"{100 * r['fraction_of_peak']:.1f}%",
                    f"{r['warmup_s']:.3f}",
                ]
                for r in rows
            ],
            "<<>>>>>>",
        )
    )
    print(
        "bytes per step: AdamW 7 x 4 B x N x P (reads p, g, m, v; writes p, m, v), SGD and Lion "
        "5 x 4 B x N x P, plus 4 B x N per coefficient row (AdamW 5, SGD 3, Lion 4) and for the "
        f"alive flags and two norms; peak {peak_gbs:.0f} GB/s ({peak_src})"
    )
    print(
        "torch.optim rows: one lr for all runs (ours: per run), no norms, SGD weight decay "
        "coupled; they are the bandwidth yardstick. torch has no Lion."
    )
    if dev.type == "cpu":
        print(
            "CPU: the smaller sizes fit in the caches, so a step can beat the measured copy of "
            "256 MiB (fractions over 100%)"
        )
    if checks:
        print(
            "kernel vs torch path, max |p| difference after 3 steps at N*P="
            f"{args.n * (args.sizes[0] // args.n)}: "
            + ", ".join(f"{k} {v:.1e}" for k, v in checks.items())
        )
    write_json(
        args.out or f"bench/results/optim-{device_kind(dev)}.json",
        {
            "benchmark": "optimizer step over flat [N, P] float32 parameters",
            "bytes_counted": "AdamW 7*4*N*P, SGD/Lion 5*4*N*P, + 4*N*(coefficient rows + 3)",
            "lr": f"per run: spec default x log-spaced factors {LR_SPREAD}; torch.optim: middle",
            "weight_decay": WEIGHT_DECAY,
            "peak_bandwidth": {"gbs": peak_gbs, "source": peak_src},
            "kernel_vs_torch_max_abs_diff": checks,
            "results": rows,
            "provenance": provenance(args, dev, kernel_timed=kernel),
        },
    )
    largest = max(r["np"] for r in rows if r["optimizer"] == "adamw") if rows else 0
    head = {r["impl"]: r for r in rows if r["optimizer"] == "adamw" and r["np"] == largest}
    if kernel and "kernel" in head:
        frac = head["kernel"]["fraction_of_peak"]
        print(f"adamw kernel N*P={largest}: {frac:.2f} of peak bandwidth")
    elif kernel:
        print(f"adamw kernel N*P={largest}: not timed (see above)")
    elif "torch" in head:
        print(
            f"adamw torch N*P={largest}: {head['torch']['gbs']:.1f} GB/s (no GPU: kernel not timed)"
        )


if __name__ == "__main__":
    main()
