"""The landscape lab's claims, asserted on real runs (median over 3 seeds, margins stated).

Sharpness and parameter snapshots come from ``RunSpec(track=wb.Track(...))``: the engine
records them between steps, so each claim is one ``wb.run`` call (the river valley is the toy of
:mod:`workbench.toys`). Every number quoted was measured on CPU (torch 2.13) with these settings.

1. **Edge of stability** (Cohen et al. 2021, arXiv:2103.00065). Full-batch GD at a constant LR
   ``eta``: the top Hessian eigenvalue rises from well below ``2/eta`` to it and stays within
   20% of it, while the loss keeps falling, non-monotonically. Regime: 496 MNIST-1D examples,
   a tanh MLP (32, 32), LR 0.45 and 0.6, 280 steps. With cross-entropy the sharpness falls
   again once the loss gets small (the softmax saturates; Cohen et al. show it for CE too), so
   the runs end while the edge phase lasts.
2. **River valley under WSD** (Wen et al. 2024, arXiv:2410.05192), on the toy: during the
   decay the across-valley loss (the top-curvature direction) collapses while the iterate keeps
   moving down the river. ``tests/test_toys.py`` checks the damping against WSD's own stable
   phase and the progress in the stable phase; here both are asserted *inside the decay*, each
   against a constant-LR run on the same noise.
3. **Where did task 1 go.** Two class-incremental digits tasks (classes 0-4, then 5-9), SGD,
   fine-tuning vs experience replay: on the plane through init, the end of task 1 and the end
   of task 2 (:func:`~workbench.landscape.plane_through`), fine-tuning leaves task 1's basin
   (task-1 loss at the task-2 point >= 2x and >= 1 nat above the task-1 point) and replay's
   task-2 point sits much closer to it (lower task-1 loss by >= 1 nat, and nearer the task-1
   point in parameter space).
4. **Distance from init grows like log t** in the constant high-LR phase (Hoffer et al. 2017,
   arXiv:1705.08741): ``a log t + b`` fits ``||w_t - w_0||`` better than ``a t + b`` and
   ``a sqrt(t) + b``, with at most 0.6x the best alternative's residual, in two settings.
5. **Benign oscillation** (Lu et al. 2023, arXiv:2310.17074), with the squared loss
   (``MLP(loss="mse")``). On ``features`` data (a weak class feature in every training
   example, a strong one in 90%, a test set with weak features only), full-batch GD at LR 0.27,
   whose loss bounces (it rises at about every other step), ends with a weak-only test accuracy
   >= 0.1 above LR 0.01's and above LR 0.05's trained as long in LR x steps (measured 0.80 vs
   0.55 and 0.62); every run fits its training set. With cross-entropy no regime reproduced it
   (the record is in the fixture's docstring).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import workbench as wb
from workbench.landscape import loss_of, plane_through
from workbench.schedules import wsd
from workbench.toys import RiverValley, simulate

SEEDS = [0, 1, 2]


def _median(x) -> float:
    return float(np.median(np.asarray(x)))


# -- 1. edge of stability -------------------------------------------------------------------------

EOS_DATA = wb.data_spec("mnist1d", num_samples=625)  # 496 training examples: one full batch
EOS_LRS = [0.45, 0.6]
EOS_STEPS = 280
EOS_LAST = 100  # "the last part": the mean sharpness over the last 100 steps


@pytest.fixture(scope="module")
def eos():
    """Full-batch GD (SGD, no momentum, batch = the 496 examples) on a tanh MLP (32, 32), LR
    0.45 and 0.6 x 3 seeds, 280 steps; sharpness every 10 steps on the whole training set (20
    warm-started power iterations). Returns ``(lr [run], sharp_steps, sharpness * lr / 2
    [run, k], train_loss [run, step])``: a ratio of 1 is the edge, ``2/eta``.

    Why 280 steps: with cross-entropy the sharpness turns down once the loss is small (about
    0.1 here), so a longer run's last part would measure that decline instead of the edge.
    Measured at other LRs (scratch runs): at 0.3 the sharpness reaches 0.8 x 2/eta only at
    steps 220-270 and the loss still falls monotonically for 150 steps after; at 0.9 it sits
    at 1.2-1.3x 2/eta on average over the 150 steps after reaching the edge (a catapult-like
    overshoot). At 0.4-0.8 the sharpness falls to 0.25-0.7x 2/eta by step 500 as the loss goes
    below 0.1: the late cross-entropy decline.
    """
    n = wb.data.info(EOS_DATA)["n_train"]
    base = wb.RunSpec(
        data=EOS_DATA,
        model=wb.MLP(hidden=(32, 32), activation="tanh"),
        optimizer=wb.SGD(lr=EOS_LRS[0]),
        steps=EOS_STEPS,
        batch_size=n,
        eval_every=EOS_STEPS,
        track=wb.Track(sharpness_every=10, probe=n, iters=20),
    )
    ds = wb.run(wb.grid(base, {"optimizer.lr": EOS_LRS, "seed": SEEDS}), device="cpu")
    lr = ds["optimizer.lr"].values
    ratio = ds.sharpness.values * lr[:, None] / 2
    return lr, ds.sharp_step.values, ratio, ds.train_loss.values


def _reached(sharp_steps: np.ndarray, ratio: np.ndarray) -> int:
    """The first recorded step at which the sharpness is >= 2/eta (the run's end if never)."""
    hit = np.flatnonzero(ratio >= 1.0)
    return int(sharp_steps[hit[0]]) if len(hit) else EOS_STEPS


@pytest.mark.parametrize("lr", EOS_LRS)
def test_sharpness_rises_to_two_over_eta_and_stays(eos, lr):
    """The sharpness starts well below 2/eta (median ratio at step 10 < 0.5; measured 0.22 at
    LR 0.45, 0.36 at 0.6), reaches it before the last 100 steps (measured steps 120-140 and
    60-80), never falls more than 20% below it afterwards (median of the per-run minimum >= 0.8;
    measured 0.91 and 0.96, lowest run 0.87), and its mean over the last 100 steps is within 20%
    of it (median ratio measured 1.05 and 1.03; seeds 3-5 give 1.08 and 1.07)."""
    lrs, steps, ratio, _ = eos
    start, reached, low, last = [], [], [], []
    for r in ratio[lrs == lr]:
        t = _reached(steps, r)
        start.append(r[0])
        reached.append(t)
        low.append(r[steps >= t].min(initial=np.inf))
        last.append(r[steps > EOS_STEPS - EOS_LAST].mean())
    assert _median(start) < 0.5, f"LR {lr}: sharpness * eta / 2 at step 10 {np.round(start, 2)}"
    assert max(reached) < EOS_STEPS - EOS_LAST, f"LR {lr}: 2/eta reached at steps {reached}"
    assert _median(low) >= 0.8, f"LR {lr}: lowest ratio after reaching 2/eta {np.round(low, 3)}"
    assert 0.8 <= _median(last) <= 1.2, f"LR {lr}: mean ratio, last 100 steps {np.round(last, 3)}"


@pytest.mark.parametrize("lr", EOS_LRS)
def test_loss_keeps_falling_non_monotonically_at_the_edge(eos, lr):
    """From the step the sharpness reached 2/eta to the end, the full-batch loss goes up between
    steps (median >= 5 increases; measured 10-15 at LR 0.45, 15-17 at 0.6) and still ends
    clearly lower (median end / start <= 0.6; measured 0.33 and 0.12)."""
    lrs, steps, ratio, loss = eos
    ups, fall = [], []
    for r, L in zip(ratio[lrs == lr], loss[lrs == lr], strict=True):
        seg = L[_reached(steps, r) :]  # train_loss[s]: the loss after s updates
        ups.append(int((np.diff(seg) > 0).sum()))
        fall.append(seg[-1] / seg[0])
    assert _median(ups) >= 5, f"LR {lr}: loss increases after reaching 2/eta {ups}"
    assert _median(fall) <= 0.6, f"LR {lr}: loss at the end / at reaching 2/eta {np.round(fall, 3)}"


# -- 2. the river valley under WSD -----------------------------------------------------------------


def test_wsd_decay_damps_the_hills_while_the_river_progress_continues():
    """Toy defaults (h = 10, sigma = 2), 1,000 steps, peak LR 0.15 (eta h = 1.5), WSD decaying
    linearly over the last 200 steps, against the constant LR 0.15 on the same noise; the iterate
    is still on the sloping part of the river (x ~ -8.8 at the decay start).

    - Across the valley: the mean across-valley loss over the last 100 steps is < 0.25x its mean
      over the 100 steps before the decay (measured 0.10) and < 0.25x the constant-LR run's over
      the same steps (measured 0.06 vs 0.58 nats).
    - Along the river: during the decay the iterate moves on (x gains > 0.5; measured 1.24),
      >= 0.35x as far as the constant-LR run in the same steps (measured 0.52: the decay keeps
      half the LR area), and the along-river loss g(x) falls by > 0.05 (measured 0.104).
    """
    steps, peak, decay = 1000, 0.15, 0.2
    start = steps - round(decay * steps)  # 800
    ds = simulate(
        RiverValley(), [wsd(peak=peak, steps=steps, decay=decay), peak], steps=steps, seeds=SEEDS
    )
    w, c = ds.isel(run=slice(0, 3)), ds.isel(run=slice(3, 6))

    def mean(d, var, a, b):
        return d[var].isel(step=slice(a, b)).mean("step").values

    before = mean(w, "across", start - 100, start)
    end, end_const = mean(w, "across", steps - 99, steps + 1), mean(c, "across", steps - 99, None)
    assert _median(end / before) < 0.25, f"across: end {end.round(3)}, before {before.round(3)}"
    assert _median(end / end_const) < 0.25, f"across: WSD {end.round(3)}, const {end_const}"

    def gain(d, var):
        return d[var].isel(step=steps).values - d[var].isel(step=start).values

    dx, dx_const = gain(w, "x"), gain(c, "x")
    assert _median(dx) > 0.5, f"x gained in the decay {dx.round(3)}"
    assert _median(dx / dx_const) >= 0.35, f"x gained: WSD {dx.round(3)}, const {dx_const}"
    assert _median(-gain(w, "along")) > 0.05, f"along-river loss fell {-gain(w, 'along')}"


# -- 3. where did task 1 go ------------------------------------------------------------------------

TASK_STEPS = 200
STREAM = wb.class_incremental("digits", classes_per_task=5, task_steps=TASK_STEPS)
TASK_MODEL = wb.MLP(hidden=(64,))


@pytest.fixture(scope="module")
def task_planes():
    """Split digits in two tasks of 200 steps, SGD 0.05, batch 32; fine-tuning (replay ratio 0)
    and replay (200 examples, ratio 0.5) x 3 seeds in one bucket, snapshots at init, the switch
    and the end. Per run: the task-1 loss at the three points, read off the plane through them
    (25 x 25 grid on 512 task-1 training examples, linear interpolation at ``attrs["points"]``),
    and ``||end of task 2 - end of task 1||``.

    During task 1 there is nothing to replay, so both runs of a seed reach the same task-1 point.
    """
    base = wb.RunSpec(
        data=STREAM,
        model=TASK_MODEL,
        optimizer=wb.SGD(lr=0.05),
        steps=2 * TASK_STEPS,
        batch_size=32,
        eval_every=TASK_STEPS,
        replay=wb.Replay(size=200, ratio=0.0),
        track=wb.Track(snapshot_every=TASK_STEPS),
    )
    ds = wb.run(wb.grid(base, {"replay.ratio": [0.0, 0.5], "seed": SEEDS}), device="cpu")
    out = {0.0: [], 0.5: []}
    for r, ratio in enumerate(ds["replay.ratio"].values):
        steps, theta = wb.snapshots(ds, r)
        assert steps.tolist() == [0, TASK_STEPS, 2 * TASK_STEPS]
        p0, p1, p2 = torch.from_numpy(theta)
        g = plane_through(TASK_MODEL, p0, p1, p2, STREAM.tasks[0], resolution=25, size=512)
        losses = [float(g.loss.interp(alpha=a, beta=b)) for a, b in json.loads(g.attrs["points"])]
        out[float(ratio)].append((*losses, float((p2 - p1).norm())))
    return {k: np.asarray(v) for k, v in out.items()}  # [seed, (init, task 1, task 2, dist)]


def test_fine_tuning_leaves_task_one_basin(task_planes):
    """Fine-tuning: task-1 loss at the end of task 2 is >= 2x and >= 1 nat above its value at
    the end of task 1 (medians; measured 4.98 vs 0.29 nats, 17x: even above the 2.34 at init;
    seeds 3-5: 4.92 vs 0.29)."""
    ft = task_planes[0.0]
    at1, at2 = ft[:, 1], ft[:, 2]
    assert _median(at2 / at1) >= 2.0, f"task-1 loss: task-1 point {at1}, task-2 point {at2}"
    assert _median(at2 - at1) >= 1.0, f"task-1 loss: task-1 point {at1}, task-2 point {at2}"


def test_replay_stays_near_task_one_basin(task_planes):
    """Replay's task-2 point has a task-1 loss >= 1 nat below fine-tuning's (median of the
    per-seed differences; measured 0.43 vs 4.98) and lies nearer the task-1 point (median
    distance ratio <= 0.9; measured 3.14 vs 4.09, 0.77; seeds 3-5: 0.41 vs 4.92, 0.76)."""
    ft, rp = task_planes[0.0], task_planes[0.5]
    assert _median(ft[:, 2] - rp[:, 2]) >= 1.0, f"fine-tune {ft[:, 2]}, replay {rp[:, 2]}"
    assert _median(rp[:, 3] / ft[:, 3]) <= 0.9, f"distance: fine-tune {ft[:, 3]}, replay {rp[:, 3]}"


# -- 4. distance from init grows like log t --------------------------------------------------------

DIST_SKIP = 20  # the first steps move linearly (the initial gradient barely changes)
LOG_MARGIN = 0.6  # log residual <= this x the best alternative's


def _fit_residuals(t: np.ndarray, d: np.ndarray) -> dict[str, float]:
    """RMS residual of the least-squares fit ``a f(t) + b`` for each candidate ``f``."""
    out = {}
    for name, f in (("log", np.log), ("linear", lambda s: s), ("sqrt", np.sqrt)):
        a = np.stack([f(t), np.ones_like(t)], 1)
        coef = np.linalg.lstsq(a, d, rcond=None)[0]
        out[name] = float(np.sqrt(np.mean((a @ coef - d) ** 2)))
    return out


@pytest.mark.parametrize(
    ("hidden", "batch", "lrs"),
    [((64,), 16, [0.05, 0.2]), ((128,), 32, [0.1, 0.4])],
    ids=["mlp64-b16", "mlp128-b32"],
)
def test_distance_from_init_grows_like_log_t(hidden, batch, lrs):
    """Digits, SGD at a constant LR, 2,000 steps, snapshots every 5 steps; the fit is over steps
    20-2,000. For every LR the log fit has the smallest residual (median over seeds) and at
    most 0.6x the best alternative's, always sqrt (measured RMS residuals, log vs sqrt: 0.29 vs
    0.63 at LR 0.05 and 0.11 vs 0.65 at 0.2 with width 64, batch 16; 0.14 vs 0.65 at LR 0.1
    and 0.10 vs 0.56 at 0.4 with width 128, batch 32; the linear fit is at 0.96-1.05). Starting
    the fit at step 50 or 100 instead of 20 keeps the order with wider gaps.

    Regime: the network fits digits early (final training loss 0.02-0.1), so most of the run
    is the slow late phase. On MNIST-1D (1,600 examples, MLP (64, 64), still memorizing after
    2,000-8,000 steps) the distance grows like sqrt t or faster and sqrt wins: the log law is
    a property of the phase after the fast initial learning, as in Hoffer et al.'s ultra-slow
    diffusion (and as the log-t norm growth of GD on separable data under cross-entropy).
    """
    base = wb.RunSpec(
        data="digits",
        model=wb.MLP(hidden=hidden),
        optimizer=wb.SGD(lr=lrs[0]),
        steps=2000,
        batch_size=batch,
        eval_every=2000,
        track=wb.Track(snapshot_every=5),
    )
    ds = wb.run(wb.grid(base, {"optimizer.lr": lrs, "seed": SEEDS}), device="cpu")
    per_lr: dict[float, list[dict]] = {lr: [] for lr in lrs}
    for r, lr in enumerate(ds["optimizer.lr"].values):
        steps, theta = wb.snapshots(ds, r)
        d = np.linalg.norm(theta - theta[0], axis=1)
        keep = steps >= DIST_SKIP
        per_lr[float(lr)].append(_fit_residuals(steps[keep].astype(float), d[keep]))
    for lr, fits in per_lr.items():
        med = {k: _median([f[k] for f in fits]) for k in fits[0]}
        best_other = min(med["linear"], med["sqrt"])
        assert med["log"] <= LOG_MARGIN * best_other, f"LR {lr}: median RMS residuals {med}"


# -- 5. benign oscillation (squared loss) --------------------------------------------------------

BO_DATA = wb.data_spec(
    "features",
    classes=2,
    dim=800,
    n_train=100,
    n_test=1000,
    strong_fraction=0.9,
    weak_scale=0.85,
    strong_scale=10.0,
    noise=0.15,
)
BO_MODEL = wb.MLP(hidden=(64,), loss="mse")
BO_SMALL, BO_LARGE = 0.01, 0.27
BO_STEPS = 600
BO_MATCHED = (0.05, 3240)  # the LR x steps control: 0.05 x 3,240 = 0.27 x 600
BO_MARGIN = 0.1


def _bo_runs(lrs: list[float], steps: int) -> dict[float, np.ndarray]:
    """Full-batch GD on ``BO_DATA`` at ``lrs`` x 3 seeds; per LR ``[seed, (weak-only test
    accuracy, training accuracy, share of steps where the loss rose)]`` at the end."""
    n = wb.data.info(BO_DATA)["n_train"]
    base = wb.RunSpec(
        data=BO_DATA,
        model=BO_MODEL,
        optimizer=wb.SGD(lr=lrs[0]),
        steps=steps,
        batch_size=n,
        eval_every=steps,
        track=wb.Track(snapshot_every=steps),
    )
    ds = wb.run(wb.grid(base, {"optimizer.lr": lrs, "seed": SEEDS}), device="cpu")
    out: dict[float, list] = {}
    for r in range(ds.sizes["run"]):
        theta = torch.from_numpy(wb.snapshots(ds, r)[1][-1:])
        _, train_acc = loss_of(BO_MODEL, theta, BO_DATA, split="train", size=n)
        rose = float(np.mean(np.diff(ds.train_loss.values[r]) > 0))  # full batch: the loss
        test_acc = float(ds.eval_acc.values[r, -1])  # the test set: weak features only
        lr = round(float(ds.lr.values[r, 0]), 6)  # recorded in float32
        out.setdefault(lr, []).append((test_acc, float(train_acc[0]), rose))
    return {lr: np.asarray(v) for lr, v in out.items()}


@pytest.fixture(scope="module")
def benign():
    """LR 0.01 and 0.27 for 600 steps, and the LR x steps control (LR 0.05 for 3,240 steps),
    x 3 seeds, a relu MLP (64,) with the squared loss (``MLP(loss="mse")``) on 100 training
    examples of ``features`` (2 classes, dim 800, strong fraction 0.9, weak scale 0.85, strong
    scale 10, noise 0.15: noise norm 4.2). Returns ``{lr: [seed, (test acc, train acc, share
    of loss rises)]}``.

    What happens (seed 0, the loss per group of training examples): at LR 0.01 the examples
    with a strong feature are fit by step 50 (loss 0.001) and stop pushing, and the weak-only
    ones are fit slowly, mostly through their noise (the network's margin on a pure weak
    feature is 0.02 at step 300); at LR 0.27 the strong examples overshoot (margin 1.14 on a
    pure strong feature at step 10, target 1) and their loss keeps bouncing (0.014 and 0.036
    at steps 10-11, 0.014 and 0.021 at 20-21, 0.015 and 0.023 at 50-51), so their weak
    features keep being pulled on: the weak margin is 0.17 at step 300, 7x larger.

    Why the squared loss: with cross-entropy (the note of an earlier attempt: MLPs (64,)
    relu/tanh and (32, 32) tanh, 2 and 10 classes, dim 200-1,000, LR 0.01-100) no regime
    reproduced it: cross-entropy only rewards growing margins, so overshooting along the
    strong direction has no two-sided valley to bounce in; below the stability limit the
    large-LR runs do not oscillate and end at the accuracy of a small LR with the same LR x
    steps, and where they do oscillate accuracy collapses. On this very data cross-entropy
    keeps learning the weak features without oscillating (LR 3: 0.81, no loss increase),
    which is LR x steps, not oscillation; the squared loss converges and stops (the control).

    Measured elsewhere (scratch runs, 600 steps): seeds 3-5 give 0.80-0.88 at LR 0.27 against
    0.50-0.67 at LR 0.01; data seeds 1 and 2 give medians 0.65 vs 0.50 and 0.90 vs 0.62. The
    window is narrow: LR 0.1-0.2 (no bounce, or a brief one) end at 0.62, LR 0.25 at 0.72, 0.3
    at 0.82 (the loss bouncing at about 0.027 to the end), 0.33-0.36 at 0.70-0.78 with a
    wider spread, and from 0.4 the runs stop fitting the training set (training accuracy 0.57,
    the loss stuck at 0.22). Weak scale 0.7 gives the same picture lower (LR 0.27: 0.70 over 9
    seeds, LR 0.01: 0.51-0.54); a width of 256 or minibatches of 20 and 50 keep the sign with
    smaller gains (0.70, 0.70, 0.62 at LR 0.3 and weak scale 0.7); two hidden layers (32, 32)
    lose it (0.53).
    """
    runs = _bo_runs([BO_SMALL, BO_LARGE], BO_STEPS)
    runs[BO_MATCHED[0]] = _bo_runs([BO_MATCHED[0]], BO_MATCHED[1])[BO_MATCHED[0]]
    return runs


def test_large_lr_oscillates_and_every_run_fits_its_training_set(benign):
    """The large LR's full-batch loss goes up at a large share of the steps (median >= 0.4;
    measured 0.49, 0.50 and 0.28: a period-two bounce, to the end in two seeds, dying out
    after about 340 steps in seed 0), the small LR's and the control's never; every run
    classifies its training set (training accuracy >= 0.99; measured 1.0 in every run)."""
    large = benign[BO_LARGE]
    assert _median(large[:, 2]) >= 0.4, f"share of loss rises at LR {BO_LARGE}: {large[:, 2]}"
    for lr in (BO_SMALL, BO_MATCHED[0]):
        assert benign[lr][:, 2].max() == 0.0, f"LR {lr}: share of loss rises {benign[lr][:, 2]}"
    for lr, r in benign.items():
        assert r[:, 1].min() >= 0.99, f"LR {lr}: training accuracy {r[:, 1]}"


def test_large_lr_learns_the_weak_features(benign):
    """Weak-only test accuracy, median over seeds: the large LR beats the small LR and the LR x
    steps control by >= 0.1 (measured 0.799 vs 0.548 and 0.624, per seed 0.80/0.84/0.80 vs
    0.50/0.57/0.55 and 0.53/0.66/0.62). The control has converged (training loss 2e-8 to 2e-6),
    and LR 0.01 for the same LR x steps (16,200 steps) ends at the same place, 0.627."""
    large, small, matched = (
        _median(benign[lr][:, 0]) for lr in (BO_LARGE, BO_SMALL, BO_MATCHED[0])
    )
    assert large >= small + BO_MARGIN, f"test accuracy: LR {BO_LARGE} {large}, {BO_SMALL} {small}"
    assert large >= matched + BO_MARGIN, f"test accuracy: LR {BO_LARGE} {large}, control {matched}"
