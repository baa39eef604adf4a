"""Benchmark: a continual-learning sweep in lockstep vs one run at a time, and what continual
evaluation costs.

The workload (issue 9): split digits, 5 tasks of 2 classes each (``wb.class_incremental(
"digits", classes_per_task=2, task_steps=...)``), an MLP 64-100-10 (``MLP(hidden=(100,))``,
P = 7,510), SGD (learning rate 0.05, no momentum, as the replay tests train), batch 32, a
reservoir replay memory of 200 examples with a uniform replay schedule, and the sweep the
continual lab runs: replay ratios {0, 0.1, 0.25, 0.5, 0.75} x seeds {0, 1, 2} = 15 runs. Every
run evaluates every task every ``--eval-every`` steps (on the probe sets, ``TaskStream.probe``),
at step 0, at every task switch and at the end (on the full test sets).

1. **Lockstep speedup.** The same 15 runs, trained in one process:

   - ``lockstep``: ``wb.run(specs)``, one bucket of 15 runs;
   - ``engine, one run at a time``: ``wb.run([spec])`` for each spec in turn, the engine on a
     bucket of one run (the same code, evaluation, replay memory and result assembly, without
     the stacking);
   - ``hand-written loop, one run at a time``: what one writes without the workbench (in the
     spirit of ``bench/lockstep.py``'s sequential baseline): the reference model,
     ``torch.optim.SGD``, a reservoir memory in tensors with Python bookkeeping
     (:func:`plain_run`) and the same evaluations, inline. The work is the engine's, the
     replayed examples are its own draws;
   - ``reference, one run at a time``: :func:`workbench.reference.train_reference` for each
     spec (one ``torch.nn`` model and one ``torch.optim`` optimizer, the replay memory kept one
     example at a time in Python lists and hashed keys: the lock-step tests' twin), plus the
     evaluations the engine does, done the plain way (:class:`PlainEval`: the reference model
     on each task's probe or test set; loss, class-IL and task-IL accuracy).
     ``train_reference`` does not evaluate, so one evaluation is timed apart (the fastest of a
     few, probe and full) and added as the engine's count per run x its time;
   - ``reference, replay=None`` (for scale, not a baseline: it does not replay): the same with
     ``replay=None``, the reference loop with a memory that costs nothing. The gap to the row
     above is what the reference's Python-list memory costs; the hand-written loop, with its
     tensor memory, lands near this row.

   Each is warmed up first (a short sweep of the same shape, untimed), then timed end to end
   (construction, training, evaluation, results), interleaved so that background load hits
   every method alike: lockstep whole, ``--repeats`` times; the others run by run,
   ``--seq-repeats`` times (the reference once). A method's time is lockstep's fastest repeat,
   or the sum over runs of each run's fastest repeat: both the time with the least background
   load. The references are timed on ``--ref-seeds`` seeds of every ratio and scaled to 15
   runs (a run's cost does not depend on its seed; it does on its ratio). The headline ratio is
   lockstep against the *fastest* of the three sequential baselines (``replay=None`` excluded).
   Training losses must agree with lockstep's over the first 20 steps, inside the first task
   where nothing is replayed (checked: the same runs on the same batches); the difference over
   all steps is reported (the engine one at a time and the reference draw the engine's replay
   examples, so theirs grows with rounding only; the hand-written loop's is given for ratio 0).

   The CPU runs on ``--threads`` torch threads (default 1): on a small shared machine, two
   OpenMP threads that wait on each other while a neighbour's job holds a core made every step
   ten times slower in our runs, for every method alike but by chance amounts.

2. **Cost of continual evaluation.** Two buckets of the 15 runs (``workbench.engine.Bucket``)
   go through the run side by side, ``A`` with ``eval_every`` beyond the run and ``B`` with
   ``eval_every=1``. Inside every task (the full-set evaluations at step 0 and at task switches
   left out), in chunks of 10 steps: ``A.advance`` (timed: training alone), ``B.advance``
   (timed), then two evaluations ``A._evaluate(step)`` at a step inside a task (timed one by
   one: the probe sets of every task, one batched pass). Interleaving puts every sample under
   the same background load; each figure is a median (the fastest is in the JSON too).

   - seconds per trained example = seconds per step / (runs x batch);
   - seconds per evaluated example = seconds per evaluation / (runs x examples per run, all
     tasks together). Digits' test sets hold 359 examples, 63-78 per task, so at the default
     probe of 500 a probe is its task's whole test set: 15 x 359 = 5,385 examples;
   - their ratio (target <= 1/3: an evaluated example needs a forward pass, a trained one a
     forward, a backward and an optimizer step), and one evaluation against one training step
     (what evaluating at every step adds to each step), checked from the other side as ``B``'s
     time per step minus ``A``'s.

Run from the repository root::

    python bench/continual.py --quick   # 30 steps per task, about 30 s on 2 CPU cores
    python bench/continual.py           # 200 steps per task, a few minutes on 2 CPU cores

The last line is ``speedup 15 runs: <ratio>x (lockstep vs sequential)``. Results go to
``bench/results/continual-<device>.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import random
import statistics
import time

import torch
import torch.nn.functional as F
from _common import (
    begin,
    device_kind,
    ensure_kernels_importable,
    provenance,
    sync,
    table,
    timed,
    write_json,
)

import workbench as wb
from workbench import data as wb_data
from workbench.engine import Bucket, default_device, epoch_order
from workbench.evaluation import probe_indices
from workbench.reference import train_reference
from workbench.spec import RunSpec

ensure_kernels_importable()

RATIOS = (0.0, 0.1, 0.25, 0.5, 0.75)
SEEDS = (0, 1, 2)
TASKS, CLASSES_PER_TASK = 5, 2
HIDDEN, BATCH, LR, MEMORY = (100,), 32, 0.05, 200
REFERENCES = ("reference_sequential", "reference_no_replay")  # timed on ref_specs, + plain evals
BASELINES = ("engine_sequential", "plain_sequential", "reference_sequential")  # same work
CHUNK, EVALS_PER_CHUNK = 10, 2  # 2.: steps per timed advance, evaluations timed after each
EVAL_SAMPLES = 20  # single evaluations timed for a fastest (plain) or median (full sets)
AGREE_STEPS, AGREE_TOL = 20, 1e-4  # training losses of every method must agree this far


def make_specs(
    task_steps: int, eval_every: int, probe: int, seeds: tuple[int, ...] = SEEDS
) -> list[RunSpec]:
    """The sweep: every replay ratio x every seed, on split digits (ratio-major order)."""
    stream = wb.class_incremental(
        "digits", classes_per_task=CLASSES_PER_TASK, task_steps=task_steps
    )
    stream = dataclasses.replace(stream, probe=probe)
    base = RunSpec(
        data=stream,
        model=wb.MLP(hidden=HIDDEN),
        optimizer=wb.SGD(lr=LR),
        steps=TASKS * task_steps,
        batch_size=BATCH,
        eval_every=eval_every,
        replay=wb.Replay(size=MEMORY, ratio=0.0, policy="reservoir", schedule="uniform"),
    )
    return wb.grid(base, {"replay.ratio": list(RATIOS), "seed": list(seeds)})


# -- 1. lockstep vs one run at a time ------------------------------------------------------------


class PlainEval:
    """One evaluation of a single-run model on every task, the plain way: what the engine
    records per run (loss, class-IL and task-IL accuracy of each task), on each task's probe
    (``full=False``) or whole test set."""

    def __init__(self, spec: RunSpec, device: torch.device, net: torch.nn.Module | None = None):
        stream = spec.data
        info = wb_data.info(stream.tasks[0])
        if net is None:
            net = spec.model.reference(*spec.model.dims(info), spec.seed).to(device)
        self.net = net
        self.sets: dict[bool, list] = {False: [], True: []}
        for task in stream.tasks:
            d = wb_data.load(task)
            x, y = spec.model.prepare(d, d.x_test).to(device), d.y_test.to(device)
            mask = torch.zeros(info["n_classes"], dtype=torch.bool)
            mask[list(dict(task.params)["subset"])] = True
            keep = probe_indices(x.shape[0], stream.probe).to(device)
            self.sets[True].append((x, y, mask.to(device)))
            self.sets[False].append((x[keep], y[keep], mask.to(device)))

    @torch.no_grad()
    def __call__(self, full: bool = False) -> torch.Tensor:
        """``[tasks, 3]``: loss, class-IL and task-IL accuracy of every task."""
        out = []
        for x, y, mask in self.sets[full]:
            logits = self.net(x)  # (M, C)
            loss = F.cross_entropy(logits, y)
            acc = (logits.argmax(1) == y).float().mean()
            til = (logits.masked_fill(~mask, -math.inf).argmax(1) == y).float().mean()
            out.append(torch.stack([loss, acc, til]))
        return torch.stack(out)


def plain_run(spec: RunSpec, device: torch.device) -> torch.Tensor:
    """One run as one writes it by hand; returns its training losses ``[T]``.

    The reference model and ``torch.optim.SGD``; new data in the engine's order
    (:func:`~workbench.engine.epoch_order`, so the runs agree with lockstep until replay starts);
    a reservoir memory of ``size`` examples (Vitter's algorithm R, Python's ``random`` seeded by
    the run's seed, the examples copied into ``[size, ...]`` tensors) that every new example
    enters, and from which the first ``m`` slots of each batch are drawn once a task is past: a
    past task uniformly, then one of its entries uniformly (the engine's ``"uniform"`` schedule;
    other draws than the engine's, so losses differ after the first task). Evaluations at the
    engine's points (step 0, every ``eval_every``, task switches, the end), full sets at step 0,
    switches and the end, probes elsewhere.
    """
    stream, b, steps = spec.data, spec.batch_size, spec.steps
    ev = PlainEval(spec, device)
    net = ev.net
    opt = torch.optim.SGD(net.parameters(), lr=LR)
    train = []
    for task in stream.tasks:
        d = wb_data.load(task)
        train.append((spec.model.prepare(d, d.x_train).to(device), d.y_train.to(device)))
    x0, y0 = train[0]
    size, m = spec.replay.size, wb.Replay.slots(spec.replay.ratio, b)
    mem_x = torch.empty(size, *x0.shape[1:], dtype=x0.dtype, device=device)
    mem_y = torch.empty(size, *y0.shape[1:], dtype=y0.dtype, device=device)
    mem_task: list[int] = []  # the task of each filled slot
    rng, arrived = random.Random(spec.seed), 0
    switches = set(stream.starts[1:])
    seed = torch.tensor([spec.seed], device=device)
    evals, losses, key, order = [ev(full=True)], [], None, None
    for t in range(steps):
        k = stream.task_at(t)
        x, y = train[k]
        epoch, pos = divmod(t - stream.starts[k], x.shape[0] // b)
        if (k, epoch) != key:
            order, key = epoch_order(seed, epoch, x.shape[0], task=k)[0], (k, epoch)
        idx = order[pos * b : (pos + 1) * b]
        xb, yb = x[idx], y[idx]
        mt = 0
        if m and k > 0:  # draw from the past tasks in memory
            slots: dict[int, list[int]] = {}
            for j, kj in enumerate(mem_task):
                if kj < k:
                    slots.setdefault(kj, []).append(j)
            if slots:
                past = list(slots)
                pick = [rng.choice(slots[rng.choice(past)]) for _ in range(m)]
                sel = torch.tensor(pick, device=device)
                xb[:m], yb[:m] = mem_x[sel], mem_y[sel]  # xb, yb are copies (advanced indexing)
                mt = m
        for i in range(mt, b):  # the new examples enter the reservoir
            if len(mem_task) < size:
                j = len(mem_task)
                mem_task.append(k)
            else:
                j = rng.randrange(arrived + 1)
                if j >= size:
                    j = -1
                else:
                    mem_task[j] = k
            if j >= 0:
                mem_x[j], mem_y[j] = xb[i], yb[i]
            arrived += 1
        loss = F.cross_entropy(net(xb), yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.detach())
        done = t + 1
        if done % spec.eval_every == 0 or done == steps or done in switches:
            evals.append(ev(full=done == steps or done in switches))
    return torch.stack(losses).cpu()


def speedup(args, device: torch.device) -> dict:
    """Time the sweep every way; return seconds per method and what was timed.

    Lockstep is timed whole, ``--repeats`` times. The one-at-a-time methods are timed run by run,
    ``--seq-repeats`` times (the reference with the Python memory once), interleaved with the
    lockstep repeats; a method's time is the sum over its runs of each run's fastest repeat,
    lockstep's its fastest repeat (both: the time with the least background load).
    """
    specs = make_specs(args.task_steps, args.eval_every, args.probe)
    ref_specs = make_specs(args.task_steps, args.eval_every, args.probe, SEEDS[: args.ref_seeds])
    ref_scale = len(specs) / len(ref_specs)
    no_replay = [dataclasses.replace(s, replay=None) for s in ref_specs]

    # warm-up: a short sweep of the same shape through every path (untimed)
    warm = make_specs(4, args.eval_every, args.probe)
    warm_s = {
        "lockstep": timed(device, lambda: wb.run(warm, device=device)),
        "engine_sequential": timed(device, lambda: wb.run(warm[:1], device=device)),
        "plain_sequential": timed(device, lambda: plain_run(warm[-1], device)),
        "reference_sequential": timed(device, lambda: train_reference(warm[0], device=device)),
        "reference_no_replay": timed(
            device,
            lambda: train_reference(dataclasses.replace(warm[0], replay=None), device=device),
        ),
    }
    plain = PlainEval(specs[0], device)
    plain(full=False)

    out: dict[str, list] = {}

    def each(name: str, fn, items: list) -> list[float]:
        """Seconds of ``fn(item)`` for every item; the results go to ``out[name]``."""
        secs, res = [], []
        for item in items:
            t0 = time.perf_counter()
            res.append(fn(item))
            sync(device)
            secs.append(time.perf_counter() - t0)
        out[name] = res
        return secs

    methods = {  # name -> (timer returning per-unit seconds, repeats)
        "lockstep": (lambda: each("lockstep", lambda s: wb.run(s, device=device), [specs]), 0),
        "engine_sequential": (
            lambda: each("engine_sequential", lambda s: wb.run([s], device=device), specs),
            args.seq_repeats,
        ),
        "plain_sequential": (
            lambda: each("plain_sequential", lambda s: plain_run(s, device), specs),
            args.seq_repeats,
        ),
        "reference_sequential": (
            lambda: each(
                "reference_sequential", lambda s: train_reference(s, device=device), ref_specs
            ),
            1,
        ),
        "reference_no_replay": (
            lambda: each(
                "reference_no_replay", lambda s: train_reference(s, device=device), no_replay
            ),
            args.seq_repeats,
        ),
    }
    methods["lockstep"] = (methods["lockstep"][0], args.repeats)
    units: dict[str, list[list[float]]] = {m: [] for m in methods}  # [repeat][unit]
    for r in range(max(k for _, k in methods.values())):
        for m, (fn, k) in methods.items():
            if r < k:
                units[m].append(fn())
    evals_per_run = int(out["lockstep"][0].sizes["eval_step"])
    agree = agreement(specs, ref_specs, out)

    # the references' evaluations: the engine's count per run, full at step 0, switches, end
    n_full = len(specs[0].data.starts) + 1
    eval_s = min(timed(device, plain) for _ in range(EVAL_SAMPLES))
    full_s = min(timed(device, lambda: plain(full=True)) for _ in range(EVAL_SAMPLES))
    ref_eval = ((evals_per_run - n_full) * eval_s + n_full * full_s) * len(specs)

    rows = {}
    for m, reps in units.items():
        best = [min(u) for u in zip(*reps, strict=True)]  # each unit's fastest repeat
        scale, extra = (ref_scale, ref_eval) if m in REFERENCES else (1.0, 0.0)
        rows[m] = {
            "seconds": sum(best) * scale + extra,
            "seconds_all": [sum(rep) * scale + extra for rep in reps],
            "units_timed": len(best),
            "repeats": len(reps),
        }
        if m in REFERENCES:
            rows[m].update(
                train_seconds=sum(best) * scale,
                eval_seconds=ref_eval,
                one_eval_seconds=eval_s,
                one_full_eval_seconds=full_s,
                scaled_by=scale,
            )
        rows[m]["warmup_seconds"] = warm_s[m]
    baseline = min(BASELINES, key=lambda m: rows[m]["seconds"])
    for r in rows.values():
        r["run_steps_per_s"] = len(specs) * specs[0].steps / r["seconds"]
        r["lockstep_speedup"] = r["seconds"] / rows["lockstep"]["seconds"]
    return {
        "runs": len(specs),
        "steps_per_run": specs[0].steps,
        "evals_per_run": evals_per_run,
        "methods": rows,
        "headline_baseline": baseline,
        "speedup": rows[baseline]["seconds"] / rows["lockstep"]["seconds"],
        "train_loss_diff_from_lockstep": agree,
    }


def agreement(specs: list[RunSpec], ref_specs: list[RunSpec], out: dict) -> dict:
    """Largest training-loss difference of each sequential baseline from lockstep.

    Over the first ``AGREE_STEPS`` steps (inside the first task, where nothing is replayed),
    checked: every method trains the same runs on the same batches there. Over all steps,
    reported: the engine one at a time and the reference replay the engine's draws, and their
    difference grows with rounding only; the hand-written loop draws its own, so its difference
    over all steps is given for ratio 0 (no draws) alone.
    """
    lock = torch.as_tensor(out["lockstep"][0].train_loss.values, dtype=torch.float64)  # (N, T)
    seq = torch.stack(
        [torch.as_tensor(ds.train_loss.values[0]) for ds in out["engine_sequential"]]
    ).double()
    plain = torch.stack(out["plain_sequential"]).double()
    row = {(s.replay.ratio, s.seed): i for i, s in enumerate(specs)}
    pick = [row[s.replay.ratio, s.seed] for s in ref_specs]
    ref = torch.stack([o["train_loss"] for o in out["reference_sequential"]]).double()
    zero = [i for i, s in enumerate(specs) if s.replay.ratio == 0]
    first = min(AGREE_STEPS, specs[0].data.starts[1])
    res = {}
    for name, other, mine, whole in (
        ("engine_sequential", seq, lock, slice(None)),
        ("plain_sequential", plain, lock, zero),
        ("reference_sequential", ref, lock[pick], slice(None)),
    ):
        diff = (other - mine).abs()
        res[name] = {
            "first_steps": diff[:, :first].max().item(),
            "all_steps": diff[whole].max().item(),
            "all_steps_runs": "all" if whole == slice(None) else "ratio 0",
        }
        if not res[name]["first_steps"] <= AGREE_TOL:
            raise SystemExit(
                f"continual: {name} disagrees with lockstep over the first {first} steps "
                f"by {res[name]['first_steps']:.3g} (allowed {AGREE_TOL})"
            )
    return res


# -- 2. the cost of continual evaluation ---------------------------------------------------------


def inside_stretches(bucket: Bucket) -> list[tuple[int, int]]:
    """Steps ``[a, b)`` whose advances evaluate nothing when ``eval_every`` exceeds the run:
    inside each task, after the step-0 evaluation and before the step that ends at a switch."""
    bounds = list(bucket.stream.starts) + [bucket.steps]
    return [(max(1, lo), hi - 1) for lo, hi in zip(bounds, bounds[1:], strict=False)]


def eval_cost(args, device: torch.device) -> dict:
    """Seconds per trained and per evaluated example, and one evaluation against one step.

    Two buckets of the 15 runs go through the run side by side: ``A`` with ``eval_every`` beyond
    the run (training alone inside the stretches) and ``B`` with ``eval_every=1``. Inside each
    stretch, in chunks of ``CHUNK`` steps: ``A.advance`` (timed), ``B.advance`` (timed), then
    ``EVALS_PER_CHUNK`` probe evaluations of ``A`` (``_evaluate`` at a step inside a task, timed
    one by one); ``--eval-passes`` passes over the run. Interleaving puts every kind of sample
    under the same background load; each figure is the median of its samples (the fastest in the
    JSON too).
    """
    a_specs = make_specs(args.task_steps, 10**9, args.probe)  # eval_every beyond the run
    n, steps = len(a_specs), a_specs[0].steps
    # warm-up: a bucket's first steps and evaluations (untimed)
    warm = Bucket(make_specs(4, 1, args.probe), device=device)
    while not warm.done:
        warm.advance(warm.steps)
    warm._evaluate(1)

    step_s, every_s, eval_s = [], [], []  # per step (A), per step (B), per evaluation
    mid = args.task_steps // 2  # a step inside the first task: probe sets
    for _ in range(args.eval_passes):
        a = Bucket(a_specs, device=device)
        b = Bucket(make_specs(args.task_steps, 1, args.probe), device=device)
        for lo, hi in inside_stretches(a):
            for bucket in (a, b):
                if bucket.step < lo:  # untimed: the evaluations at step 0 and switches
                    bucket.advance(lo - bucket.step)
            while a.step < hi:
                c = min(CHUNK, hi - a.step)
                step_s.append(timed(device, lambda a=a, c=c: a.advance(c)) / c)
                every_s.append(timed(device, lambda b=b, c=c: b.advance(c)) / c)
                for _ in range(EVALS_PER_CHUNK):
                    eval_s.append(timed(device, lambda a=a: a._evaluate(mid)))
    ev = a._evaluator
    full_s = [timed(device, lambda: a._evaluate(steps)) for _ in range(EVAL_SAMPLES)]
    per_run, per_run_full = ev.examples(full=False), ev.examples(full=True)
    med = statistics.median
    step, one_eval, every = med(step_s), med(eval_s), med(every_s)
    per_trained = step / (n * BATCH)
    per_evaluated = one_eval / (n * per_run)
    return {
        "runs": n,
        "batch": BATCH,
        "probe": args.probe,
        "eval_examples_per_run": per_run,
        "eval_examples_per_run_full": per_run_full,
        "test_examples_per_task": list(ev._set(True).sizes),
        "train_step_samples": len(step_s),
        "eval_samples": len(eval_s),
        "seconds_per_step": step,
        "seconds_per_step_min": min(step_s),
        "seconds_per_trained_example": per_trained,
        "seconds_per_eval": one_eval,
        "seconds_per_eval_min": min(eval_s),
        "seconds_per_full_eval": med(full_s),
        "seconds_per_evaluated_example": per_evaluated,
        "evaluated_vs_trained_example": per_evaluated / per_trained,
        "evaluated_vs_trained_example_min": (min(eval_s) / (n * per_run))
        / (min(step_s) / (n * BATCH)),
        "eval_vs_step": one_eval / step,
        "seconds_per_step_eval_every_1": every,
        "eval_vs_step_from_eval_every_1": (every - step) / step,
    }


# -- command line --------------------------------------------------------------------------------

# quick -> task_steps, repeats, seq_repeats, ref_seeds, eval_passes
DEFAULTS = {True: (30, 3, 2, 1, 3), False: (200, 3, 2, 1, 1)}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="30 steps per task (< 1 min on 2 cores)")
    p.add_argument("--task-steps", type=int, default=None, help="steps per task (5 tasks)")
    p.add_argument("--eval-every", type=int, default=10, help="evaluation period, every method")
    p.add_argument("--probe", type=int, default=500, help="TaskStream.probe (examples per task)")
    p.add_argument("--repeats", type=int, default=None, help="lockstep timed repeats (best)")
    p.add_argument("--seq-repeats", type=int, default=None, help="engine-sequential repeats")
    p.add_argument("--ref-seeds", type=int, default=None, help="reference: seeds timed (1-3)")
    p.add_argument("--eval-passes", type=int, default=None, help="2.: passes over the run")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    p.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads (default 1; 0: torch's default)"
    )
    p.add_argument("--out", default=None, help="JSON path (bench/results/continual-...json)")
    args = p.parse_args(argv)
    args.device = torch.device(args.device) if args.device else default_device()
    d = DEFAULTS[args.quick]
    keys = ("task_steps", "repeats", "seq_repeats", "ref_seeds", "eval_passes")
    for name, value in zip(keys, d, strict=True):
        if getattr(args, name) is None:
            setattr(args, name, value)
    for name in ("task_steps", "eval_every", "probe", "repeats", "seq_repeats", "eval_passes"):
        if getattr(args, name) < 1:
            raise SystemExit(f"continual: --{name.replace('_', '-')}={getattr(args, name)} < 1")
    if args.task_steps < 4:
        raise SystemExit(f"continual: --task-steps={args.task_steps} < 4")
    if not 1 <= args.ref_seeds <= len(SEEDS):
        raise SystemExit(f"continual: --ref-seeds={args.ref_seeds} must be in 1..{len(SEEDS)}")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    print(
        f"split digits: {TASKS} tasks x {CLASSES_PER_TASK} classes, {args.task_steps} steps each; "
        f"MLP 64-{HIDDEN[0]}-10, SGD lr {LR}, batch {BATCH}, reservoir replay {MEMORY}, ratios "
        f"{list(RATIOS)} x seeds {list(SEEDS)}; eval_every {args.eval_every}, probe {args.probe}"
    )
    dev = begin(args)
    t0 = time.perf_counter()
    sp = speedup(args, dev)
    t1 = time.perf_counter()
    ec = eval_cost(args, dev)
    t2 = time.perf_counter()

    names = {
        "lockstep": "lockstep (wb.run, one bucket)",
        "engine_sequential": "engine, one run at a time",
        "plain_sequential": "hand-written loop, one run at a time",
        "reference_sequential": "reference, one run at a time",
        "reference_no_replay": "reference, replay=None (for scale)",
    }

    def note(m: str, r: dict) -> str:
        if m not in REFERENCES:
            return ""
        return (
            f"train {r['train_seconds']:.2f} s + {sp['evals_per_run']} evals/run x "
            f"{1e3 * r['one_eval_seconds']:.2f} ms; timed on {r['units_timed']} runs, "
            f"x{r['scaled_by']:g}" + ("; does not replay" if m == REFERENCES[1] else "")
        )

    cells = [
        [
            names[m],
            f"{r['seconds']:.2f}",
            " ".join(f"{x:.2f}" for x in r["seconds_all"]),
            f"{r['run_steps_per_s']:,.0f}",
            f"{r['lockstep_speedup']:.1f}x",
            note(m, r),
        ]
        for m, r in sp["methods"].items()
    ]
    heads = ["15 runs", "s (best)", "repeats", "run-steps/s", "lockstep is", "note"]
    print(
        f"\n1. {sp['runs']} runs x {sp['steps_per_run']} steps, {sp['evals_per_run']} "
        f"evaluations per run, end to end after a warm-up; lockstep: fastest of {args.repeats}; "
        f"one at a time: each run's fastest of {args.seq_repeats} (the reference: 1), summed"
    )
    print(table(heads, cells, "<>>>><"))
    print(f"headline baseline: {names[sp['headline_baseline']]} (the faster sequential one)")
    print(
        "training-loss difference from lockstep (max abs), first "
        f"{min(AGREE_STEPS, args.task_steps)} steps / all steps: "
        + ", ".join(
            f"{names[m]} {d['first_steps']:.1e} / {d['all_steps']:.1e}"
            + (f" ({d['all_steps_runs']})" if d["all_steps_runs"] != "all" else "")
            for m, d in sp["train_loss_diff_from_lockstep"].items()
        )
    )

    e = ec
    print(
        f"\n2. continual evaluation, {e['runs']} runs; medians of {e['train_step_samples']} "
        f"training chunks of {CHUNK} steps and {e['eval_samples']} evaluations, interleaved"
    )
    print(
        f"training: {1e3 * e['seconds_per_step']:.2f} ms per step (fastest "
        f"{1e3 * e['seconds_per_step_min']:.2f}) = {1e6 * e['seconds_per_trained_example']:.2f} "
        f"us per trained example ({e['runs']} runs x batch {e['batch']})"
    )
    print(
        f"evaluation inside a task (probe {e['probe']}): {e['eval_examples_per_run']} examples "
        f"per run (test sets per task {e['test_examples_per_task']}), x {e['runs']} runs = "
        f"{e['runs'] * e['eval_examples_per_run']} evaluated examples: "
        f"{1e3 * e['seconds_per_eval']:.2f} ms (fastest {1e3 * e['seconds_per_eval_min']:.2f}) = "
        f"{1e6 * e['seconds_per_evaluated_example']:.3f} us per evaluated example "
        f"(full-set evaluation {1e3 * e['seconds_per_full_eval']:.2f} ms)"
    )
    print(
        f"evaluated / trained example: {e['evaluated_vs_trained_example']:.3f} "
        f"(fastest / fastest {e['evaluated_vs_trained_example_min']:.3f}; target <= 1/3)"
    )
    print(
        f"one evaluation / one training step: {e['eval_vs_step']:.2f} (check, eval_every=1 "
        f"minus training per step: {e['eval_vs_step_from_eval_every_1']:.2f})"
    )
    print(f"\ntook {t1 - t0:.1f} s (1.) + {t2 - t1:.1f} s (2.)")
    write_json(
        args.out or f"bench/results/continual-{device_kind(dev)}.json",
        {
            "workload": {
                "stream": f"class_incremental('digits', classes_per_task={CLASSES_PER_TASK}, "
                f"task_steps={args.task_steps}), probe {args.probe}",
                "model": f"MLP(hidden={HIDDEN})",
                "optimizer": f"SGD(lr={LR})",
                "batch_size": BATCH,
                "replay": f"Replay(size={MEMORY}, policy='reservoir', schedule='uniform')",
                "ratios": list(RATIOS),
                "seeds": list(SEEDS),
                "eval_every": args.eval_every,
            },
            "speedup": sp,
            "eval_cost": ec,
            "load_average": os.getloadavg(),
            "provenance": provenance(args, dev, seed=0),
        },
    )
    print(f"speedup {sp['runs']} runs: {sp['speedup']:.1f}x (lockstep vs sequential)")


if __name__ == "__main__":
    main()
