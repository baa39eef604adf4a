"""Benchmark: what fast/slow mechanisms (Lookahead, EMA, a slow backbone) cost in lockstep.

Three measurements (``RunSpec(slow=wb.Slow(...))``, :mod:`workbench.slow`):

1. **Overhead per lockstep step** on W1 (``bench/lockstep.py``'s workload: MLP 40-100-100-10 on
   mnist1d, P = 15,210, batch 128, AdamW with weight decay 0.01 and per-run cosine learning
   rates whose peaks are log-spaced over [1e-4, 1e-2]; run ``i`` has seed ``i``) at N = 64 runs
   (``--n``), four buckets of the same runs that differ only in ``slow``:

   - ``none``: ``slow=None``;
   - ``lookahead``: ``Slow(lookahead=Lookahead(k=5, alpha=0.5))`` (slow weights ``[N, P]``,
     two lerps a step: ``slow ← slow + s·α·(fast − slow)``, ``fast ← fast + s·(slow − fast)``
     with ``s`` 1 on a sync step and 0 otherwise, so every step does the same work);
   - ``ema``: ``Slow(ema=EMA(beta=0.99))`` (one lerp a step of ``[1, N, P]`` toward the fast
     weights);
   - ``lookahead+ema``: both (the target: at most 15% over ``none``).

   Training only: the specs' ``eval_every`` is their length, which is longer than all the steps
   taken here, so the only evaluation (at step 0) falls in the warm-up. Each bucket takes
   ``--warmup`` steps untimed, then ``--rounds`` rounds each time one
   ``Bucket.advance(--block)`` of every bucket (its one host sync and the chunk's metrics
   included, as ``wb.run`` pays them; CPU: 16 rounds of 5 steps quick, 40 of 10 full; CUDA:
   blocks of 100 and 200 steps, since there a step is far shorter than a chunk's host sync and
   assembly), in forward order on even
   rounds and reverse order on odd ones, so that background load and drift hit every bucket
   alike. Seconds per step are medians over the rounds; the overhead of a mechanism is the
   median over rounds of (its seconds / ``none``'s seconds in the same round) − 1, paired, which
   cancels load that changes between rounds (the ratio of the medians is reported too).

   Cross-checks, after the timing: :meth:`SlowState.after_step` alone (the slow mechanisms'
   whole per-step work: the lerps and their ``[N, 1]`` coefficient products), timed in blocks
   of 20 calls, as a fraction of ``none``'s step: a low-noise estimate of the same overhead.
   On the CPU, the steps of ``none`` and ``lookahead+ema`` under ``torch.profiler`` (alternating,
   ``--profile-steps`` steps each, twice): self time per step of each aten op, the largest
   shown. **Host syncs**: one ``Bucket._step()`` of every bucket runs under a
   ``TorchFunctionMode`` that records every torch call made from Python, and under the
   profiler; the step must call none of ``item``, ``tolist``, ``numpy``, ``cpu``, ``__bool__``,
   ``__float__``, ``__int__``, ``__index__``, ``nonzero`` (recorded) and no aten
   ``_local_scalar_dense``/``item``/``is_nonzero``/``nonzero`` op (profiled); on CUDA the step
   also runs eagerly under ``torch.cuda.set_sync_debug_mode("error")``, and the CUDA graph
   capture (the default, which fails on a sync) covers the timed steps.

2. **Evaluating the fast and slow copies in one batched call**: on the ``lookahead+ema`` bucket
   after part 1 (copies fast, slow, ema), one ``Bucket._evaluate(step)`` (the copies' rows
   concatenated into one ``StackedModel.of_rows`` of 3N runs and one call of the bucket's
   ``Evaluator``, plus each copy's distance from the fast weights) against evaluating each copy
   separately (three ``Evaluator`` calls, on ``StackedModel.of_rows(config, layout, rows)`` of
   the fast weights, Lookahead's slow weights and the EMA; no distances), and against
   ``none``'s ``_evaluate`` (the fast weights alone) for scale; what the batched call does
   beyond the evaluator (concatenating the rows, the distances) is timed alone too. W1 is a
   plain dataset: every
   evaluation reads the whole test set (1,000 examples). Samples interleaved, ``--eval-samples``
   of each, medians. The number of forward passes of each is counted (the evaluator groups runs
   by activation memory: up to 256 MiB a pass on a GPU, about 2 MiB on the CPU, where
   cache-sized passes are faster, so there the batched call is still many small passes).

3. **A sweep of 8 slow-backbone ratios x 3 seeds = 24 runs**, on the continual bench's stream:
   split digits, 5 tasks of 2 classes (``wb.class_incremental("digits", classes_per_task=2,
   task_steps=...)``, probe 500: every task's whole test set), MLP 64-100-10, SGD (learning rate
   0.05), batch 32, ``eval_every`` 10 (plus step 0, every task switch and the end), and
   ``slow=wb.Slow(backbone_lr=r)`` for r log-spaced over [0.01, 1] (SLCA's slow learner: the
   hidden layer learns at r times the head's rate), seeds {0, 1, 2}. End to end (construction,
   training, evaluations, the results Dataset), in one process:

   - ``lockstep``: ``wb.run(specs)``, the 24 runs as one bucket;
   - ``engine, one run at a time``: ``wb.run([spec])`` for each of the 24 specs (the same
     engine on buckets of one run: the honest sequential baseline, the headline);
   - ``reference, one run at a time``: ``workbench.reference.train_reference`` for each spec
     (one ``torch.nn`` model, ``torch.optim.SGD`` with a head and a backbone parameter group),
     timed on ``--ref-seeds`` seeds of every ratio and scaled to 24 runs, plus the engine's
     evaluations done the plain way (``bench/continual.py``'s ``PlainEval``: the reference
     model on each task's test set; its fastest of 20, times the engine's count per run x 24).

   After a warm-up sweep (4 steps per task, every path, untimed), ``--sweep-repeats`` rounds,
   each timing lockstep whole and then the 24 engine runs (their total), in alternating order;
   the reference once. Each figure is the median over rounds (all in the JSON). Training
   losses are checked: the engine one at a time must agree with lockstep on every step and the
   reference over the first 20 steps (1e-4; later rounding differences grow).

Torch runs on ``--threads`` CPU threads (default 1, as the other benches: on a small shared
machine two OpenMP threads made steps several times slower by chance amounts). On CUDA
everything runs the same way (W1 with the fused optimizer and CUDA graphs, the defaults); without
CUDA the output says that GPU figures are not measured.

Run from the repository root::

    python bench/fastslow.py --quick   # about 30 s on 2 CPU cores
    python bench/fastslow.py           # a few minutes on 2 CPU cores

The last line is ``speedup 24 runs: <ratio>x; overhead lookahead+ema: <percent>%`` (lockstep
against the 24 ``wb.run([spec])`` calls; W1 at N = 64, ``lookahead+ema`` against ``none``).
Results go to ``bench/results/fastslow-<device>.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import time
from pathlib import Path

import torch
from _common import (
    begin,
    device_kind,
    device_name,
    ensure_kernels_importable,
    provenance,
    sync,
    table,
    timed,
    write_json,
)
from _trainers import WORKLOADS, make_specs
from continual import PlainEval
from torch.overrides import TorchFunctionMode

import workbench as wb
from workbench.bucket import Bucket
from workbench.engine import default_device
from workbench.models import StackedModel
from workbench.reference import train_reference
from workbench.spec import RunSpec

ensure_kernels_importable()

# 1. the mechanisms compared on W1
CONFIGS = {
    "none": None,
    "lookahead": wb.Slow(lookahead=wb.Lookahead(k=5, alpha=0.5)),
    "ema": wb.Slow(ema=wb.EMA(beta=0.99)),
    "lookahead+ema": wb.Slow(lookahead=wb.Lookahead(k=5, alpha=0.5), ema=wb.EMA(beta=0.99)),
}
HEADLINE = "lookahead+ema"
TARGET_OVERHEAD = 0.15
AFTER_STEP_CALLS = 20  # calls of SlowState.after_step per timed block
AFTER_STEP_BLOCKS = 15
# what a step must not call: Python-side host transfers and syncs, and aten ops that sync
HOST_CALLS = {"item", "tolist", "numpy", "cpu", "__bool__", "__float__", "__int__", "__index__"}
HOST_CALLS |= {"nonzero"}
SYNC_OPS = {"aten::_local_scalar_dense", "aten::item", "aten::is_nonzero", "aten::nonzero"}

# 3. the sweep
RATIOS = tuple(float(f"{10 ** (-2 + 2 * i / 7):.4g}") for i in range(8))  # 0.01 .. 1
SEEDS = (0, 1, 2)
TASKS, CLASSES_PER_TASK = 5, 2
HIDDEN, BATCH, LR, EVAL_EVERY, PROBE = (100,), 32, 0.05, 10, 500
EVAL_SAMPLES = 20  # plain evaluations timed for the reference's fastest
AGREE_STEPS, AGREE_TOL = 20, 1e-4


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (or the platform's name)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return device_name(torch.device("cpu"))


# -- 1. overhead per step --------------------------------------------------------------------


def w1_buckets(args, device: torch.device) -> dict[str, Bucket]:
    """W1's N runs, one bucket per mechanism; nothing evaluated inside the timed steps."""
    # room for the steps the checks take outside advance (host syncs, profile)
    total = args.warmup + args.rounds * args.block + 2 * args.profile_steps + 4
    base = make_specs(WORKLOADS["W1"], args.n, total)  # eval_every = steps: only step 0
    return {
        name: Bucket([dataclasses.replace(s, slow=slow) for s in base], device=device)
        for name, slow in CONFIGS.items()
    }


def overhead(buckets: dict[str, Bucket], args, device: torch.device) -> dict:
    """Seconds per step of every bucket (interleaved rounds) and each one's overhead."""
    warm = {n: timed(device, lambda b=b: b.advance(args.warmup)) for n, b in buckets.items()}
    secs: dict[str, list[float]] = {n: [] for n in buckets}
    names = list(buckets)
    for r in range(args.rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            b = buckets[name]
            secs[name].append(timed(device, lambda b=b: b.advance(args.block)) / args.block)
    med = statistics.median
    rows = {}
    for name, s in secs.items():
        paired = [x / y - 1 for x, y in zip(s, secs["none"], strict=True)]
        rows[name] = {
            "seconds_per_step": med(s),
            "seconds_per_step_all": s,
            "overhead": med(paired),
            "overhead_all": paired,
            "overhead_of_medians": med(s) / med(secs["none"]) - 1,
            "warmup_seconds": warm[name],
            "cuda_graph": bool(buckets[name].use_graph),
            "fused_optimizer": bool(buckets[name].opt.fused),
        }
    return rows


def after_step_cost(buckets: dict[str, Bucket], device: torch.device) -> dict[str, float]:
    """Seconds of ``SlowState.after_step`` alone (median of blocks), each slow bucket."""
    out = {}
    for name, b in buckets.items():
        if b.slow is None:
            continue
        cs = b.slow.coef.index_select(0, b._t).squeeze(0)  # (R, N, 1), as the step reads it

        def block(b=b, cs=cs) -> None:
            for _ in range(AFTER_STEP_CALLS):
                b.slow.after_step(cs, b.model.flat, b.alive)

        block()
        out[name] = statistics.median(
            timed(device, block) / AFTER_STEP_CALLS for _ in range(AFTER_STEP_BLOCKS)
        )
    return out


class _Recorder(TorchFunctionMode):
    """Names of the torch functions and tensor methods called from Python."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        self.calls.append(getattr(func, "__name__", str(func)))
        return func(*args, **(kwargs or {}))


def host_sync_check(buckets: dict[str, Bucket], device: torch.device) -> dict:
    """One eager ``_step()`` of every bucket, recorded and profiled: calls that reach the host.

    On CUDA the step also runs under ``set_sync_debug_mode("error")`` (a sync raises).
    """
    from torch.profiler import ProfilerActivity, profile

    out = {}
    for name, b in buckets.items():
        rec = _Recorder()
        with profile(activities=[ProfilerActivity.CPU]) as prof, rec:
            b._step()
        sync(device)
        ops = {e.key for e in prof.key_averages()}
        debug = "not run (CPU)"
        if device.type == "cuda":
            torch.cuda.set_sync_debug_mode("error")
            try:
                b._step()
                debug = "no sync"
            except RuntimeError as e:
                debug = f"sync: {str(e).splitlines()[0]}"
            finally:
                torch.cuda.set_sync_debug_mode("default")
            sync(device)
        out[name] = {
            "torch_calls": len(rec.calls),
            "host_calls": sorted(set(rec.calls) & HOST_CALLS),
            "sync_ops": sorted(ops & SYNC_OPS),
            "cuda_sync_debug": debug,
        }
    return out


def op_profile(buckets: dict[str, Bucket], steps: int) -> dict[str, dict[str, dict]]:
    """Self CPU time per step of each aten op, ``none`` and the headline bucket (CPU only)."""
    from torch.profiler import ProfilerActivity, profile

    acc: dict[str, dict[str, list[float]]] = {"none": {}, HEADLINE: {}}
    for _ in range(2):
        for name in acc:
            b = buckets[name]
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                for _ in range(steps):
                    b._step()
            for e in prof.key_averages():
                us, n = acc[name].setdefault(e.key, [0.0, 0.0])
                acc[name][e.key] = [us + e.self_cpu_time_total, n + e.count]
    return {
        name: {
            k: {"ms_per_step": us / 1e3 / (2 * steps), "calls_per_step": n / (2 * steps)}
            for k, (us, n) in ops.items()
        }
        for name, ops in acc.items()
    }


# -- 2. one batched evaluation of every copy -------------------------------------------------


def count_passes(fn) -> int:
    """Forward passes (groups of runs, chunks of examples) that ``fn()`` makes."""
    orig, n = StackedModel._examples, [0]

    def counting(self, *a, **k):
        n[0] += 1
        return orig(self, *a, **k)

    StackedModel._examples = counting
    try:
        fn()
    finally:
        StackedModel._examples = orig
    return n[0]


def eval_batching(buckets: dict[str, Bucket], args, device: torch.device) -> dict:
    """One ``_evaluate`` of the copies against one evaluator call per copy, and fast alone."""
    b, plain = buckets[HEADLINE], buckets["none"]
    step = b.step  # W1 is a plain dataset: every evaluation is on the full test set
    ev, cfg, layout = b._evaluator, b.model.config, b.model.layout

    def separate() -> list:
        rows = [b.model.flat, *b.slow.copy_rows()]
        return [ev(StackedModel.of_rows(cfg, layout, r), full=True) for r in rows]

    def cat_and_distances() -> list:  # what the batched call does beyond the evaluator
        rows = torch.cat([b.model.flat, *b.slow.copy_rows()])
        return [torch.linalg.vector_norm(c - b.model.flat, dim=1) for c in rows.chunk(3)]

    methods = {
        "batched": lambda: b._evaluate(step),
        "separate": separate,
        "fast_only": lambda: plain._evaluate(step),
        "cat_and_distances": cat_and_distances,
    }
    for fn in methods.values():  # warm-up (the evaluator builds its test set on first use)
        fn()
    passes = {m: count_passes(fn) for m, fn in methods.items()}
    secs: dict[str, list[float]] = {m: [] for m in methods}
    for r in range(args.eval_samples):
        for m in list(methods) if r % 2 == 0 else list(methods)[::-1]:
            secs[m].append(timed(device, methods[m]))
    med = {m: statistics.median(s) for m, s in secs.items()}
    return {
        "copies": list(b.copies),
        "runs": b.n_runs,
        "examples_per_run": ev.examples(full=True),
        "seconds": med,
        "seconds_all": secs,
        "passes": passes,
        "separate_over_batched": med["separate"] / med["batched"],
        "batched_over_fast_only": med["batched"] / med["fast_only"],
    }


# -- 3. the sweep ----------------------------------------------------------------------------


def sweep_specs(task_steps: int, seeds: tuple[int, ...] = SEEDS) -> list[RunSpec]:
    """8 backbone ratios x the seeds on split digits (ratio-major order)."""
    stream = wb.class_incremental(
        "digits", classes_per_task=CLASSES_PER_TASK, task_steps=task_steps
    )
    stream = dataclasses.replace(stream, probe=PROBE)
    base = RunSpec(
        data=stream,
        model=wb.MLP(hidden=HIDDEN),
        optimizer=wb.SGD(lr=LR),
        steps=TASKS * task_steps,
        batch_size=BATCH,
        eval_every=EVAL_EVERY,
        slow=wb.Slow(backbone_lr=1.0),
    )
    return wb.grid(base, {"slow.backbone_lr": list(RATIOS), "seed": list(seeds)})


def sweep(args, device: torch.device) -> dict:
    """The 24 runs as one bucket, one at a time in the engine, and the reference loop."""
    specs = sweep_specs(args.task_steps)
    ref_specs = sweep_specs(args.task_steps, SEEDS[: args.ref_seeds])
    buckets = len({s.bucket_key() for s in specs})

    warm = sweep_specs(4)
    warm_s = {
        "lockstep": timed(device, lambda: wb.run(warm, device=device)),
        "engine_sequential": timed(device, lambda: wb.run(warm[:1], device=device)),
        "reference_sequential": timed(device, lambda: train_reference(warm[0], device=device)),
    }
    out: dict[str, object] = {}

    def lockstep() -> float:
        t0 = time.perf_counter()
        out["lockstep"] = wb.run(specs, device=device)
        sync(device)
        return time.perf_counter() - t0

    def engine_sequential() -> float:
        t0 = time.perf_counter()
        out["engine_sequential"] = [wb.run([s], device=device) for s in specs]
        sync(device)
        return time.perf_counter() - t0

    secs: dict[str, list[float]] = {"lockstep": [], "engine_sequential": []}
    for r in range(args.sweep_repeats):
        for name, fn in (
            (("lockstep", lockstep), ("engine_sequential", engine_sequential))
            if r % 2 == 0
            else (("engine_sequential", engine_sequential), ("lockstep", lockstep))
        ):
            secs[name].append(fn())
    t0 = time.perf_counter()
    ref = [train_reference(s, device=device) for s in ref_specs]
    sync(device)
    ref_train = (time.perf_counter() - t0) * len(specs) / len(ref_specs)

    ds = out["lockstep"]
    evals_per_run = int(ds.sizes["eval_step"])
    n_full = len(specs[0].data.starts) + 1  # step 0, every switch, the end
    plain = PlainEval(specs[0], device)
    plain(full=False)
    eval_s = min(timed(device, plain) for _ in range(EVAL_SAMPLES))
    full_s = min(timed(device, lambda: plain(full=True)) for _ in range(EVAL_SAMPLES))
    ref_eval = ((evals_per_run - n_full) * eval_s + n_full * full_s) * len(specs)

    med = statistics.median
    rows = {
        "lockstep": {"seconds": med(secs["lockstep"]), "seconds_all": secs["lockstep"]},
        "engine_sequential": {
            "seconds": med(secs["engine_sequential"]),
            "seconds_all": secs["engine_sequential"],
        },
        "reference_sequential": {
            "seconds": ref_train + ref_eval,
            "train_seconds": ref_train,
            "eval_seconds": ref_eval,
            "one_eval_seconds": eval_s,
            "one_full_eval_seconds": full_s,
            "runs_timed": len(ref_specs),
            "scaled_by": len(specs) / len(ref_specs),
        },
    }
    for name, row in rows.items():
        row["warmup_seconds"] = warm_s[name]
        row["run_steps_per_s"] = len(specs) * specs[0].steps / row["seconds"]
        row["lockstep_speedup"] = row["seconds"] / rows["lockstep"]["seconds"]

    # agreement of the training losses with lockstep
    lock = torch.as_tensor(ds.train_loss.values, dtype=torch.float64)  # (24, T)
    seq = torch.stack(
        [torch.as_tensor(d.train_loss.values[0]) for d in out["engine_sequential"]]
    ).double()
    index = {(s.slow.backbone_lr, s.seed): i for i, s in enumerate(specs)}
    pick = [index[s.slow.backbone_lr, s.seed] for s in ref_specs]
    refl = torch.stack([o["train_loss"] for o in ref]).double()
    first = min(AGREE_STEPS, specs[0].data.starts[1])
    agree = {
        "engine_sequential": {
            "first_steps": (seq - lock)[:, :first].abs().max().item(),
            "all_steps": (seq - lock).abs().max().item(),
        },
        "reference_sequential": {
            "first_steps": (refl - lock[pick])[:, :first].abs().max().item(),
            "all_steps": (refl - lock[pick]).abs().max().item(),
        },
    }
    for name, a in agree.items():
        if not a["first_steps"] <= AGREE_TOL:
            raise SystemExit(
                f"fastslow: {name} disagrees with lockstep over the first {first} steps by "
                f"{a['first_steps']:.3g} (allowed {AGREE_TOL})"
            )
    if not agree["engine_sequential"]["all_steps"] <= AGREE_TOL:
        raise SystemExit(
            "fastslow: the engine one run at a time disagrees with lockstep by "
            f"{agree['engine_sequential']['all_steps']:.3g} (allowed {AGREE_TOL})"
        )
    return {
        "runs": len(specs),
        "buckets": buckets,
        "steps_per_run": specs[0].steps,
        "evals_per_run": evals_per_run,
        "ratios": list(RATIOS),
        "seeds": list(SEEDS),
        "methods": rows,
        "speedup_vs_engine_sequential": rows["engine_sequential"]["lockstep_speedup"],
        "speedup_vs_reference": rows["reference_sequential"]["lockstep_speedup"],
        "train_loss_diff_from_lockstep": agree,
        "agree_first_steps": first,
    }


# -- command line ----------------------------------------------------------------------------

# (cuda, quick) -> warmup, rounds, block, eval_samples, profile_steps, task_steps,
# sweep_repeats, ref_seeds. On CUDA a W1 step takes far less than advance's host sync and chunk
# assembly, so its blocks are long (at most the ring's 256 steps).
DEFAULTS = {
    (False, True): (5, 16, 5, 5, 3, 20, 3, 1),
    (False, False): (10, 40, 10, 15, 10, 100, 3, 3),
    (True, True): (10, 6, 100, 5, 3, 20, 3, 1),
    (True, False): (10, 15, 200, 15, 10, 100, 3, 3),
}
KEYS = (
    "warmup",
    "rounds",
    "block",
    "eval_samples",
    "profile_steps",
    "task_steps",
    "sweep_repeats",
    "ref_seeds",
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="short run (under a minute on 2 cores)")
    p.add_argument("--n", type=int, default=64, help="1.-2.: runs of W1 (default 64)")
    p.add_argument("--warmup", type=int, default=None, help="1.: untimed steps per bucket")
    p.add_argument("--rounds", type=int, default=None, help="1.: timed rounds (median)")
    p.add_argument("--block", type=int, default=None, help="1.: steps per timed advance")
    p.add_argument("--eval-samples", type=int, default=None, help="2.: evaluations timed each")
    p.add_argument("--profile-steps", type=int, default=None, help="1.: profiled steps (CPU)")
    p.add_argument("--task-steps", type=int, default=None, help="3.: steps per task (5 tasks)")
    p.add_argument("--sweep-repeats", type=int, default=None, help="3.: timed rounds (median)")
    p.add_argument("--ref-seeds", type=int, default=None, help="3.: reference seeds timed (1-3)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    p.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads (default 1; 0: torch's default)"
    )
    p.add_argument("--out", default=None, help="JSON path (bench/results/fastslow-...json)")
    args = p.parse_args(argv)
    args.device = torch.device(args.device) if args.device else default_device()
    for name, value in zip(KEYS, DEFAULTS[args.device.type == "cuda", args.quick], strict=True):
        if getattr(args, name) is None:
            setattr(args, name, value)
    for name in ("n", *KEYS):
        if getattr(args, name) < 1:
            raise SystemExit(f"fastslow: --{name.replace('_', '-')}={getattr(args, name)} < 1")
    if args.block > 256:
        raise SystemExit(f"fastslow: --block={args.block} > 256 (a chunk's ring)")
    if args.task_steps < 4:
        raise SystemExit(f"fastslow: --task-steps={args.task_steps} < 4")
    if not 1 <= args.ref_seeds <= len(SEEDS):
        raise SystemExit(f"fastslow: --ref-seeds={args.ref_seeds} must be in 1..{len(SEEDS)}")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    dev = begin(args)
    print(f"CPU: {cpu_model()}")
    if dev.type != "cuda":
        print("no CUDA device: GPU figures are not measured here")
    wl = WORKLOADS["W1"]
    t_start = time.perf_counter()

    # 1. overhead
    buckets = w1_buckets(args, dev)
    ov = overhead(buckets, args, dev)
    t1 = time.perf_counter()
    # 2. evaluation (on the trained buckets, before anything below steps them outside advance)
    ev = eval_batching(buckets, args, dev)
    t2 = time.perf_counter()
    alone = after_step_cost(buckets, dev)
    syncs = host_sync_check(buckets, dev)
    prof = op_profile(buckets, args.profile_steps) if dev.type == "cpu" else None
    t3 = time.perf_counter()
    # 3. the sweep
    sw = sweep(args, dev)
    t4 = time.perf_counter()

    none_step = ov["none"]["seconds_per_step"]
    for name, row in ov.items():
        if name in alone:
            row["after_step_seconds"] = alone[name]
            row["after_step_over_none_step"] = alone[name] / none_step
        row["host_sync_check"] = syncs[name]

    print(
        f"\n1. W1: {wl.model} (P = {wl.params:,}) on mnist1d, batch {wl.batch}, AdamW; "
        f"N = {args.n}; {args.warmup} warm-up steps, then {args.rounds} rounds of "
        f"advance({args.block}) per bucket, alternating order; no evaluation in the timed steps"
    )
    cells = []
    for name, r in ov.items():
        s = r["seconds_per_step_all"]
        cells.append(
            [
                name,
                f"{1e3 * r['seconds_per_step']:.2f}",
                f"{1e3 * min(s):.2f}..{1e3 * max(s):.2f}",
                f"{100 * r['overhead']:+.1f}%" if name != "none" else "",
                f"{100 * r['overhead_of_medians']:+.1f}%" if name != "none" else "",
                f"{1e3 * r['after_step_seconds']:.3f} ({100 * r['after_step_over_none_step']:.1f}%)"
                if "after_step_seconds" in r
                else "",
            ]
        )
    heads = ["slow", "ms/step", "min..max", "overhead", "of medians", "after_step ms (of none)"]
    print(table(heads, cells, "<>>>>>"))
    h = ov[HEADLINE]
    verdict = "met" if h["overhead"] <= TARGET_OVERHEAD else "MISSED"
    print(
        f"{HEADLINE}: {100 * h['overhead']:+.1f}% per step (paired median; target <= "
        f"{100 * TARGET_OVERHEAD:.0f}%: {verdict}); after_step alone "
        f"{100 * h['after_step_over_none_step']:.1f}% of none's step"
    )
    bad = {n: s for n, s in syncs.items() if s["host_calls"] or s["sync_ops"]}
    print(
        "host syncs in the step (one eager _step() per bucket under a TorchFunctionMode recorder "
        f"and the profiler; {', '.join(sorted(HOST_CALLS))} and aten "
        f"{', '.join(sorted(o.removeprefix('aten::') for o in SYNC_OPS))} looked for): "
        + (
            "none found"
            if not bad
            else "; ".join(f"{n}: {s['host_calls'] + s['sync_ops']}" for n, s in bad.items())
        )
        + (
            "; CUDA sync debug mode: "
            + ", ".join(f"{n} {s['cuda_sync_debug']}" for n, s in syncs.items())
            if dev.type == "cuda"
            else ""
        )
    )
    if prof is not None:
        ops = sorted(prof[HEADLINE], key=lambda k: -prof[HEADLINE][k]["ms_per_step"])[:10]
        tot = {n: sum(v["ms_per_step"] for v in p.values()) for n, p in prof.items()}
        zero = {"ms_per_step": 0.0, "calls_per_step": 0.0}
        cells = [
            [
                k,
                f"{prof['none'].get(k, zero)['ms_per_step']:.3f}",
                f"{prof['none'].get(k, zero)['calls_per_step']:g}",
                f"{prof[HEADLINE][k]['ms_per_step']:.3f}",
                f"{prof[HEADLINE][k]['calls_per_step']:g}",
            ]
            for k in ops
        ]
        cells.append(["all ops", f"{tot['none']:.2f}", "", f"{tot[HEADLINE]:.2f}", ""])
        print(
            f"profile (self CPU ms per step, {2 * args.profile_steps} steps each, profiler "
            "overhead included):"
        )
        print(table(["op", "none", "calls", HEADLINE, "calls"], cells, "<>>>>"))

    print(
        f"\n2. one evaluation of {ev['runs']} runs x {len(ev['copies'])} copies "
        f"({', '.join(ev['copies'])}) on W1's test set ({ev['examples_per_run']} examples), "
        f"medians of {args.eval_samples}, interleaved"
    )
    names2 = {
        "batched": "Bucket._evaluate: one evaluator call on 3N rows (+ distances)",
        "separate": "3 evaluator calls, one per copy",
        "fast_only": "slow=None bucket's _evaluate (fast weights only)",
        "cat_and_distances": "(the batched call's extra: rows concatenated, 3 distances)",
    }
    cells = [[names2[m], f"{1e3 * s:.1f}", ev["passes"][m]] for m, s in ev["seconds"].items()]
    print(table(["evaluation", "ms", "forward passes"], cells, "<>>"))
    print(
        f"separate / batched: {ev['separate_over_batched']:.2f}x; batched / fast only: "
        f"{ev['batched_over_fast_only']:.2f}x"
        + (
            " (on the CPU the evaluator splits runs into ~2 MiB passes either way, so batching "
            "saves calls, not passes)"
            if dev.type == "cpu"
            else ""
        )
    )

    m = sw["methods"]
    print(
        f"\n3. sweep: backbone_lr ratios {list(RATIOS)} x seeds {list(SEEDS)} = {sw['runs']} runs "
        f"({sw['buckets']} bucket); split digits {TASKS} tasks x {args.task_steps} steps, "
        f"MLP 64-{HIDDEN[0]}-10, SGD lr {LR}, batch {BATCH}, eval_every {EVAL_EVERY} "
        f"({sw['evals_per_run']} evaluations per run); end to end, medians of "
        f"{args.sweep_repeats} rounds"
    )
    names3 = {
        "lockstep": "lockstep: wb.run(24 specs)",
        "engine_sequential": "engine one at a time: 24 x wb.run([spec])",
        "reference_sequential": "reference one at a time: train_reference + plain evals",
    }
    cells = []
    for name, r in m.items():
        note = ""
        if name == "reference_sequential":
            note = (
                f"train {r['train_seconds']:.2f} s (timed on {r['runs_timed']} runs, "
                f"x{r['scaled_by']:g}) + evals {r['eval_seconds']:.2f} s"
            )
        alls = " ".join(f"{x:.2f}" for x in r.get("seconds_all", [r["seconds"]]))
        cells.append(
            [
                names3[name],
                f"{r['seconds']:.2f}",
                alls,
                f"{r['run_steps_per_s']:,.0f}",
                f"{r['lockstep_speedup']:.1f}x",
                note,
            ]
        )
    print(table(["24 runs", "s", "rounds", "run-steps/s", "lockstep is", "note"], cells, "<>>>><"))
    a = sw["train_loss_diff_from_lockstep"]
    print(
        f"training-loss difference from lockstep (max abs), first {sw['agree_first_steps']} "
        "steps / all steps: "
        + ", ".join(f"{k} {d['first_steps']:.1e} / {d['all_steps']:.1e}" for k, d in a.items())
    )
    print(
        f"\ntook {t1 - t_start:.1f} s (1. timing) + {t2 - t1:.1f} s (2.) + {t3 - t2:.1f} s "
        f"(1. checks) + {t4 - t3:.1f} s (3.)"
    )
    write_json(
        args.out or f"bench/results/fastslow-{device_kind(dev)}.json",
        {
            "workloads": {
                "overhead": {
                    "name": "W1",
                    "model": wl.model,
                    "params_per_model": wl.params,
                    "data": wl.data.to_dict(),
                    "batch_size": wl.batch,
                    "optimizer": f"AdamW, weight_decay={wl.weight_decay}, cosine lr, peaks "
                    f"log-spaced in [{wl.lr_peaks[0]}, {wl.lr_peaks[1]}], warmup 10%",
                    "runs": args.n,
                    "slow": {k: None if v is None else v.to_dict() for k, v in CONFIGS.items()},
                },
                "sweep": {
                    "stream": f"class_incremental('digits', classes_per_task={CLASSES_PER_TASK}, "
                    f"task_steps={args.task_steps}), probe {PROBE}",
                    "model": f"MLP(hidden={HIDDEN})",
                    "optimizer": f"SGD(lr={LR})",
                    "batch_size": BATCH,
                    "eval_every": EVAL_EVERY,
                    "slow": "Slow(backbone_lr=r)",
                    "ratios": list(RATIOS),
                    "seeds": list(SEEDS),
                },
            },
            "overhead": ov,
            "overhead_target": TARGET_OVERHEAD,
            "profile": prof,
            "eval_batching": ev,
            "sweep": sw,
            "cpu_model": cpu_model(),
            "load_average": os.getloadavg(),
            "seconds": {
                "overhead": t1 - t_start,
                "eval": t2 - t1,
                "checks": t3 - t2,
                "sweep": t4 - t3,
            },
            "provenance": provenance(args, dev, seed=0),
        },
    )
    pct = 100 * ov[HEADLINE]["overhead"]
    ratio = sw["speedup_vs_engine_sequential"]
    print(f"speedup 24 runs: {ratio:.1f}x; overhead lookahead+ema: {pct:.1f}%")


if __name__ == "__main__":
    main()
