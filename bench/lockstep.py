"""Benchmark: N small runs trained one by one, with vmap, and with the lockstep engine.

Workload W1: an MLP 40-100-100-10 (``MLP(hidden=(100, 100))``, P = 15,210 parameters) on
mnist1d, batch 128, AdamW (weight decay 0.01) with a per-run cosine learning-rate schedule whose
peaks are log-spaced over [1e-4, 1e-2] across the runs. Run ``i`` has seed ``i`` and visits the
data in ``epoch_order`` (the engine's per-run order), so all three methods train the same runs on
the same batches with the same learning rates; after the warm-up their losses must agree to float
rounding (checked; later they drift apart, as rounding differences grow in training).

The three ways of training N runs:

(a) ``sequential`` -- what one writes without the workbench: a loop over N ``nn.Sequential``
    models (:meth:`MLP.reference`), each with its own ``torch.optim.AdamW`` (torch defaults; the
    per-step learning rate is set in ``param_groups``), trained one after another.
(b) ``vmap`` -- ``torch.func``: the N reference models stacked with ``stack_module_state``, the
    per-run gradients from ``vmap(grad_and_value(functional_call(...)))``, and a hand-written
    AdamW over the stacked parameter tensors (``torch._foreach_*`` and in-place tensor ops, the
    per-run learning rate broadcast as an ``[N, 1, ...]`` column; no Python loop over runs).
(c) ``lockstep`` -- the engine: ``Bucket(specs).advance(k)``. This includes what the engine always
    does: per-step metrics (loss, grad/update/param norms), divergence masks, one host sync per
    chunk. Test-set evaluations are left out of the timed steps (the baselines do none).

Each method takes ``--warmup`` steps first (timed separately and reported as warm-up: allocator,
kernel selection, lazy optimizer state), then ``--repeats`` timed blocks of ``--steps`` steps,
interleaved across the methods so that background load hits all of them alike. Model construction
is setup, reported apart from both. The figure of merit is model-steps per second,
N * steps / seconds, the median over the blocks (all blocks are in the JSON). For large N the
sequential baseline is timed on its first ``--seq-models`` models and scaled (its cost per model
does not depend on N); the output marks such rows.

On CUDA the clock is read after ``torch.cuda.synchronize()``, and the lockstep row also reports a
rough lower bound on the memory bandwidth it achieves, as a fraction of the device's peak.

Run from the repository root::

    python bench/lockstep.py --quick          # CPU, N in {1, 8, 64}, under a minute
    python bench/lockstep.py                  # N up to 4096 when CUDA is present
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.func import functional_call, grad_and_value, stack_module_state, vmap

from workbench import data as wb_data
from workbench import schedules
from workbench.engine import Bucket, default_device, epoch_order
from workbench.models import MLP
from workbench.optim import AdamW
from workbench.spec import RunSpec

ARCH = MLP(hidden=(100, 100))
DATA = "mnist1d"
IN_DIM, N_CLASSES = 40, 10  # mnist1d's features and classes
BATCH = 128
WEIGHT_DECAY = 0.01
LR_PEAKS = (1e-4, 1e-2)  # per-run peaks, log-spaced across the runs
# Spec-sheet HBM bandwidths (GB/s); other devices use a measured device-to-device copy.
PEAK_GBS = {"H200": 4800.0, "H100 SXM": 3350.0}


# -- the workload ----------------------------------------------------------------------------


def make_specs(n: int, total_steps: int) -> list[RunSpec]:
    """N runs of W1 that differ in seed and peak learning rate.

    The engine evaluates at step 0 (warm-up) and when ``done == steps``; the specs run one step
    longer than the benchmark trains, so no evaluation falls inside the timed steps.
    """
    steps = total_steps + 1
    peaks = torch.logspace(math.log10(LR_PEAKS[0]), math.log10(LR_PEAKS[1]), n).tolist()
    return [
        RunSpec(
            data=DATA,
            model=ARCH,
            optimizer=AdamW(
                lr=schedules.cosine(peak=peak, steps=steps, warmup=max(1, steps // 10)),
                weight_decay=WEIGHT_DECAY,
            ),
            steps=steps,
            batch_size=BATCH,
            seed=i,
            eval_every=steps,
        )
        for i, peak in enumerate(peaks)
    ]


class Workload:
    """The training data on the device and the per-run learning rates of a list of specs."""

    def __init__(self, specs: list[RunSpec], device: torch.device) -> None:
        d = wb_data.load(specs[0].data)
        self.x = ARCH.prepare(d, d.x_train).to(device)  # (n_train, D)
        self.y = d.y_train.to(device)  # (n_train,)
        self.in_dim, self.out_dim = self.x.shape[1], d.n_classes
        self.seeds = torch.tensor([s.seed for s in specs], device=device)  # (N,)
        self.lr = torch.stack([s.optimizer.tables(s.steps)["lr"] for s in specs], dim=1).to(
            device, torch.float32
        )  # (T, N)
        self._key: tuple[int, int | None] | None = None
        self._order = torch.empty(0)

    def batch_index(self, t: int, run: int | None = None) -> torch.Tensor:
        """Indices of the batch at step ``t`` of every run ``[N, B]``, or of one run ``[B]``.

        The order is the engine's :func:`epoch_order`, computed when the epoch (or the run)
        changes, for all runs at once or, given ``run``, for that run alone (as a single-run
        training loop would).
        """
        epoch, pos = divmod(t, self.x.shape[0] // BATCH)
        if self._key != (epoch, run):
            seeds = self.seeds if run is None else self.seeds[run : run + 1]
            self._order = epoch_order(seeds, epoch, self.x.shape[0])  # (N or 1, n_train)
            self._key = (epoch, run)
        idx = self._order[:, pos * BATCH : (pos + 1) * BATCH]
        return idx if run is None else idx[0]


class Trainer:
    """A method set up on a list of runs: ``train(t_from, t_to)`` and the runs' last losses."""

    def train(self, t_from: int, t_to: int) -> None:
        raise NotImplementedError

    def final_loss(self) -> torch.Tensor:
        raise NotImplementedError


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(device: torch.device, fn) -> float:
    """Seconds that ``fn()`` takes, with the device drained before and after."""
    sync(device)
    t0 = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - t0


# -- (a) sequential ------------------------------------------------------------------------------


class Sequential(Trainer):
    """One ``nn.Sequential`` + ``torch.optim.AdamW`` per run, trained one after another."""

    def __init__(self, specs: list[RunSpec], device: torch.device) -> None:
        self.w = w = Workload(specs, device)
        self.nets = [
            ARCH.reference(w.in_dim, w.out_dim, seed).to(device) for seed in w.seeds.tolist()
        ]
        self.opts = [
            torch.optim.AdamW(net.parameters(), weight_decay=WEIGHT_DECAY) for net in self.nets
        ]
        self.lr = w.lr.T.cpu().tolist()  # [N][T] Python floats, as one sets them in param_groups
        self.losses: list[list[torch.Tensor]] = [[] for _ in self.nets]

    def train(self, t_from: int, t_to: int) -> None:
        w = self.w
        for i, (net, opt) in enumerate(zip(self.nets, self.opts, strict=True)):
            for t in range(t_from, t_to):
                idx = w.batch_index(t, run=i)  # (B,)
                loss = F.cross_entropy(net(w.x[idx]), w.y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.param_groups[0]["lr"] = self.lr[i][t]
                opt.step()
                self.losses[i].append(loss.detach())

    def final_loss(self) -> torch.Tensor:
        return torch.stack([run[-1] for run in self.losses]).cpu()


# -- (b) vmap --------------------------------------------------------------------------------


class BatchedAdamW:
    """``torch.optim.AdamW`` on stacked parameters ``[N, ...]`` with a per-run learning rate.

    Same update as torch's (decoupled decay, bias-corrected moments, ``eps`` outside the root);
    betas, eps and weight decay are shared by all runs, the learning rate is a vector ``[N]``.
    """

    def __init__(
        self,
        params: list[torch.Tensor],
        *,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        self.params = params
        self.m = [torch.zeros_like(p) for p in params]
        self.v = [torch.zeros_like(p) for p in params]
        self.betas, self.eps, self.weight_decay = betas, eps, weight_decay
        self.t = 0

    @torch.no_grad()
    def step(self, grads: list[torch.Tensor], lr: torch.Tensor) -> None:
        """One update of every run; ``lr`` is ``[N]``."""
        self.t += 1
        b1, b2 = self.betas
        bc1, bc2 = 1 - b1**self.t, 1 - b2**self.t
        torch._foreach_lerp_(self.m, grads, 1 - b1)
        torch._foreach_mul_(self.v, b2)
        torch._foreach_addcmul_(self.v, grads, grads, value=1 - b2)
        denom = torch._foreach_sqrt(self.v)
        torch._foreach_div_(denom, math.sqrt(bc2))
        torch._foreach_add_(denom, self.eps)
        for p, m, d in zip(self.params, self.m, denom, strict=True):  # one per layer tensor
            col = lr.view(-1, *(1,) * (p.dim() - 1))  # (N, 1, ...)
            p.mul_(1 - col * self.weight_decay)
            p.addcdiv_(m * (-col / bc1), d)


class Vmap(Trainer):
    """``torch.func``: vmapped per-run gradients and a batched AdamW on stacked tensors."""

    def __init__(self, specs: list[RunSpec], device: torch.device) -> None:
        self.w = w = Workload(specs, device)
        nets = [ARCH.reference(w.in_dim, w.out_dim, seed).to(device) for seed in w.seeds.tolist()]
        stacked, _ = stack_module_state(nets)
        names = list(stacked)
        self.params = [stacked[k].detach() for k in names]  # (N, out, in), (N, out), ...
        self.opt = BatchedAdamW(self.params, weight_decay=WEIGHT_DECAY)
        base = ARCH.reference(w.in_dim, w.out_dim, 0).to("meta")

        def loss_fn(p: tuple[torch.Tensor, ...], x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            logits = functional_call(base, dict(zip(names, p, strict=True)), (x,))  # (B, C)
            return F.cross_entropy(logits, y)

        self.grads_and_losses = vmap(grad_and_value(loss_fn))
        self.losses: list[torch.Tensor] = []

    def train(self, t_from: int, t_to: int) -> None:
        w = self.w
        for t in range(t_from, t_to):
            idx = w.batch_index(t)  # (N, B)
            grads, loss = self.grads_and_losses(tuple(self.params), w.x[idx], w.y[idx])
            self.opt.step(list(grads), w.lr[t])
            self.losses.append(loss)  # (N,)

    def final_loss(self) -> torch.Tensor:
        return self.losses[-1].cpu()


# -- (c) lockstep --------------------------------------------------------------------------------


class Lockstep(Trainer):
    """The engine: one ``Bucket``, advanced ``CHUNK`` steps per host sync (``run``'s default)."""

    CHUNK = 50

    def __init__(self, specs: list[RunSpec], device: torch.device) -> None:
        self.bucket = Bucket(specs, device=device)
        self.last = None

    def train(self, t_from: int, t_to: int) -> None:
        assert self.bucket.step == t_from, (self.bucket.step, t_from)
        while self.bucket.step < t_to:
            self.last = self.bucket.advance(min(self.CHUNK, t_to - self.bucket.step))

    def final_loss(self) -> torch.Tensor:
        return torch.from_numpy(self.last.metrics["train_loss"][:, -1])


METHODS: dict[str, type[Trainer]] = {"sequential": Sequential, "vmap": Vmap, "lockstep": Lockstep}


def compare(
    specs: list[RunSpec],
    device: torch.device,
    *,
    warmup: int,
    steps: int,
    repeats: int,
    seq_models: int,
) -> dict[str, dict]:
    """Time every method on ``specs``: setup, ``warmup`` steps, then ``repeats`` timed blocks.

    The timed blocks are interleaved across methods (block 1 of each, then block 2, ...) so that
    background load on the machine hits every method alike; a method's rate is its median block.
    The sequential baseline trains only the first ``seq_models`` runs.
    """
    trainers, rows = {}, {}
    for method, cls in METHODS.items():
        sub = specs[:seq_models] if method == "sequential" else specs
        t0 = time.perf_counter()
        trainers[method] = cls(sub, device)
        setup_s = time.perf_counter() - t0
        warmup_s = timed(device, lambda tr=trainers[method]: tr.train(0, warmup))
        rows[method] = {
            "models_timed": len(sub),
            "setup_s": setup_s,
            "warmup_s": warmup_s,
            "warmup_loss": trainers[method].final_loss(),
            "seconds": [],
        }
    for r in range(repeats):
        t = warmup + r * steps
        for method, tr in trainers.items():
            rows[method]["seconds"].append(timed(device, lambda tr=tr, t=t: tr.train(t, t + steps)))
    for method, row in rows.items():
        row["model_steps_per_s_all"] = [row["models_timed"] * steps / s for s in row["seconds"]]
        row["model_steps_per_s"] = statistics.median(row["model_steps_per_s_all"])
        row["final_loss"] = trainers[method].final_loss()
    return rows


def agreement(rows: dict[str, dict], *, tol: float = 1e-4) -> dict[str, dict[str, float]]:
    """Largest loss difference of vmap and lockstep from sequential on the runs all three train.

    After the warm-up the methods must agree to float rounding (``tol``; a wrong learning rate,
    batch or update shows up well above it). After the timed steps they have drifted apart: at
    learning rates near 1e-2 training amplifies rounding differences, so the final difference is
    reported, not checked.
    """
    out = {}
    for method in ("vmap", "lockstep"):
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


# -- memory bandwidth (CUDA) ---------------------------------------------------------------------


def lockstep_bytes_per_step(n: int) -> int:
    """A rough lower bound on the DRAM bytes one lockstep step moves (fp32).

    Counted: the AdamW traffic, 7 passes over N*P floats (param read+write, grad read, m
    read+write, v read+write); the weights read by the forward and again by the backward and the
    gradient written by it (3 N*P); each activation (input and every layer's output, N*B*A floats,
    A = 40+100+100+10) written or read once in the forward and its gradient once in the backward
    (3 N*B*A). Not counted: the metric norms, batch gathers, temporaries, cache re-reads.
    """
    p = ARCH.layout(IN_DIM, N_CLASSES).size
    a = sum(ARCH.dims(IN_DIM, N_CLASSES))
    return 4 * n * (7 * p + 3 * p + 3 * BATCH * a)


def peak_bandwidth(device: torch.device, given: float | None) -> tuple[float, str]:
    """The device's peak DRAM bandwidth in GB/s, and where the number comes from."""
    if given is not None:
        return given, "--peak-gbs"
    name = torch.cuda.get_device_name(device)
    if "H200" in name:
        return PEAK_GBS["H200"], f"spec sheet, {name}"
    if "H100" in name and ("HBM3" in name or "SXM" in name):
        return PEAK_GBS["H100 SXM"], f"spec sheet, {name}"
    x = torch.empty(2**28, device=device)  # 1 GiB
    y = torch.empty_like(x)
    y.copy_(x)
    secs = min(timed(device, lambda: y.copy_(x)) for _ in range(10))
    return 2 * x.numel() * 4 / secs / 1e9, f"measured device-to-device copy on {name}"


# -- reporting -------------------------------------------------------------------------------


def git_state() -> dict:
    """The commit checked out and whether the tree has uncommitted changes ("unknown": no git)."""

    def git(*args: str) -> str:
        out = subprocess.run(["git", *args], capture_output=True, text=True, check=True, timeout=10)
        return out.stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
    except (OSError, subprocess.SubprocessError):
        return {"git_commit": "unknown", "git_dirty": "unknown"}
    return {"git_commit": commit, "git_dirty": bool(git("status", "--porcelain"))}


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return platform.processor() or platform.machine()


def device_kind(device: torch.device) -> str:
    """A file-name-safe name: ``cpu`` or the GPU's name (``nvidia-h100-80gb-hbm3``)."""
    if device.type != "cuda":
        return "cpu"
    return re.sub(r"[^a-z0-9]+", "-", torch.cuda.get_device_name(device).lower()).strip("-")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="short run: N in {1,8,64}, 3 x 30 steps")
    p.add_argument("--steps", type=int, default=None, help="timed steps (default 200, quick 30)")
    p.add_argument("--warmup", type=int, default=None, help="untimed steps first (10, quick 5)")
    p.add_argument("--repeats", type=int, default=None, help="timed blocks, median (5, quick 3)")
    p.add_argument("--ns", default=None, help="comma-separated N (default 1,8,64 [,512,4096])")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    p.add_argument(
        "--seq-models",
        type=int,
        default=None,
        help="time sequential on at most this many models (default 64 on CPU, 16 on CUDA)",
    )
    p.add_argument("--peak-gbs", type=float, default=None, help="device peak bandwidth, GB/s")
    p.add_argument("--out", default=None, help="JSON path (bench/results/lockstep-<kind>.json)")
    args = p.parse_args(argv)
    args.device = torch.device(args.device) if args.device else default_device()
    args.steps = args.steps or (30 if args.quick else 200)
    args.repeats = args.repeats or (3 if args.quick else 5)
    # Sequential is host-bound on a GPU (~1-2 ms per model-step whatever N is): 16 models suffice.
    args.seq_models = args.seq_models or (16 if args.device.type == "cuda" else 64)
    args.warmup = args.warmup if args.warmup is not None else (5 if args.quick else 10)
    if args.ns is None:
        big = args.device.type == "cuda" and not args.quick
        args.ns = "1,8,64,512,4096" if big else "1,8,64"
    args.ns = [int(n) for n in args.ns.split(",")]
    for name in ("steps", "repeats", "seq_models"):
        if getattr(args, name) < 1:
            raise SystemExit(f"lockstep: --{name.replace('_', '-')}={getattr(args, name)} < 1")
    if args.warmup < 1 or min(args.ns) < 1:
        raise SystemExit(f"lockstep: --warmup={args.warmup} and --ns={args.ns} must be >= 1")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.manual_seed(0)
    dev = args.device
    print(
        f"W1: MLP 40-100-100-10 on {DATA}, batch {BATCH}, AdamW; {args.warmup} warm-up + "
        f"{args.repeats} x {args.steps} timed steps; device {device_name(dev)} ({dev.type}), "
        f"{torch.get_num_threads()} threads, torch {torch.__version__}"
    )
    rows: list[dict] = []
    agree: dict[int, dict] = {}
    for n in args.ns:
        specs = make_specs(n, args.warmup + args.repeats * args.steps)
        by_method = compare(
            specs,
            dev,
            warmup=args.warmup,
            steps=args.steps,
            repeats=args.repeats,
            seq_models=args.seq_models,
        )
        agree[n] = agreement(by_method)
        for r in by_method.values():
            del r["warmup_loss"], r["final_loss"]
        rows += [{"n": n, "method": m, **r} for m, r in by_method.items()]

    seq = {r["n"]: r["model_steps_per_s"] for r in rows if r["method"] == "sequential"}
    for r in rows:
        r["ratio_vs_sequential"] = r["model_steps_per_s"] / seq[r["n"]]

    peak = None
    if dev.type == "cuda":
        peak_gbs, source = peak_bandwidth(dev, args.peak_gbs)
        peak = {"gbs": peak_gbs, "source": source}
        for r in rows:
            if r["method"] == "lockstep":
                steps_per_s = r["model_steps_per_s"] / r["n"]
                gbs = lockstep_bytes_per_step(r["n"]) * steps_per_s / 1e9
                r["bandwidth"] = {"counted_gbs": gbs, "fraction_of_peak": gbs / peak_gbs}

    print(
        f"\n{'N':>6}  {'method':<11}{'model-steps/s':>14}{'min..max':>20}{'vs seq':>8}"
        f"{'warm-up s':>11}  note"
    )
    for r in rows:
        note = ""
        if r["models_timed"] < r["n"]:
            note = f"timed on {r['models_timed']} models, scaled (per-model cost)"
        if "bandwidth" in r:
            b = r["bandwidth"]
            note = (
                f"{b['counted_gbs']:.0f} GB/s counted = {100 * b['fraction_of_peak']:.1f}% of peak"
            )
        spread = f"{min(r['model_steps_per_s_all']):,.0f}..{max(r['model_steps_per_s_all']):,.0f}"
        print(
            f"{r['n']:>6}  {r['method']:<11}{r['model_steps_per_s']:>14,.0f}{spread:>20}"
            f"{r['ratio_vs_sequential']:>7.1f}x{r['warmup_s']:>11.3f}  {note}"
        )
    print("loss difference from sequential (max abs, shared runs), after warm-up / at the end:")
    for n, a in agree.items():
        print(
            f"  N={n}: "
            + ", ".join(f"{m} {d['warmup']:.1e} / {d['final']:.1e}" for m, d in a.items())
        )
    if peak is not None:
        print(
            "lockstep GB/s counts a lower bound on the bytes of a step: AdamW state traffic "
            "(7 x 4 B x N x P), weights read twice and grads written once (3 x 4 B x N x P), "
            f"activations and their grads (3 x 4 B x N x B x {sum(ARCH.dims(IN_DIM, N_CLASSES))}). "
            f"Peak {peak['gbs']:.0f} GB/s ({peak['source']})"
        )

    out = Path(args.out or f"bench/results/lockstep-{device_kind(dev)}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "workload": {
            "name": "W1",
            "model": "MLP 40-100-100-10 (relu)",
            "params_per_model": ARCH.layout(IN_DIM, N_CLASSES).size,
            "data": DATA,
            "batch_size": BATCH,
            "optimizer": f"AdamW, weight_decay={WEIGHT_DECAY}, cosine lr, peaks log-spaced "
            f"in [{LR_PEAKS[0]}, {LR_PEAKS[1]}], warmup 10%",
            "warmup_steps": args.warmup,
            "timed_steps_per_block": args.steps,
            "timed_blocks": args.repeats,
        },
        "results": rows,
        "loss_diff_from_sequential": {str(n): a for n, a in agree.items()},
        "peak_bandwidth": peak,
        "provenance": {
            "torch": torch.__version__,
            "python": sys.version.split()[0],
            "device": device_name(dev),
            "device_type": dev.type,
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            **git_state(),
            "argv": sys.argv[1:],
            "args": {
                k: str(v) if isinstance(v, torch.device) else v for k, v in vars(args).items()
            },
            "timestamp": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "seed": 0,
        },
    }
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    n_head = 64 if 64 in seq else max(seq)
    ratio = next(
        r["ratio_vs_sequential"] for r in rows if r["n"] == n_head and r["method"] == "lockstep"
    )
    print(f"speedup N={n_head}: {ratio:.1f}x (lockstep vs sequential)")


if __name__ == "__main__":
    main()
