"""Schedules lab claims on the bigram transformer: WSD and the river valley (Wen et al. 2024), and
the loss-curve law that predicts a held-out WSD run (Tissue et al. 2024; Luo et al. 2025).

One module-scoped fixture trains a constant-LR, a cosine and a WSD schedule x 3 seeds in one
lockstep ``wb.run`` call; the WSD tests use the cosine and WSD runs, the law test all three (see
its docstring for its own measurements).

The claim (``PHENOMENA.md``, Schedules lab): with the same peak LR, warmup and budget, the
Warmup-Stable-Decay schedule's loss stays *above* cosine's during the stable phase, falls
*sharply* during the short decay, and ends *no worse* than cosine's. The river-valley reading: at
a large constant LR the iterate bounces across the steep sides of the valley, which costs an
excess loss of about ``eta * sigma**2 / (2 * (2 - eta * h))``; it keeps moving along the river
all the same, and the decay damps the bouncing and reveals that progress all at once.

Set-up (one ``wb.run`` call, one lockstep bucket): a 1-layer transformer (width 32, 2 heads,
context 16) learns a random bigram language (``markov``: vocab 16, temperature 0.5, 2048 training
sequences; entropy rate 1.4886 nats, the best loss any model can reach), AdamW (no weight decay)
with batch 32 for 300 steps, peak LR 2e-2 and 30 warmup steps for every schedule; WSD decays over
the last 20% of steps (240 to 300) with the 1-sqrt shape (Hägele et al. 2024); the constant
schedule (warmup, then the peak LR) is the lab's ``constant``. Three seeds each; every number
below is computed on the per-step median over seeds of the held-out loss. (Training the constant
runs in the same bucket leaves the cosine and WSD runs as they were: the numbers below are
reproduced to the digits given.)

Measured on CPU (torch 2.13; the numbers the assertions' margins were chosen against):

- stable phase, steps 170-240 (its last third): WSD above cosine by 0.0146 nats on average
  (asserted: >= 0.005);
- decay, steps 240-300: WSD's loss falls by 0.0220 nats, cosine's by 0.0043 over the same steps
  (asserted: WSD's drop exceeds cosine's by >= 0.01); WSD falls 3.7e-4 nats/step in the decay
  against a drift of 1.3e-5 nats/step late in the stable phase, 27x (asserted: >= 5x);
- final (step 300): WSD 1.4937, cosine 1.4931, +0.0006 nats (asserted: WSD <= cosine + 0.01,
  about 0.7% relative); both end about 0.005 nats above the entropy rate.

Settings tried before choosing these (scratch runs, same metrics): on vocab 32 the phenomenon
grows with the peak LR, as the excess-loss formula says (stable-phase gap 0.015, 0.019, 0.026,
0.032 nats at peak 5e-3, 1e-2, 2e-2, 4e-2), but there the stable phase is still learning, so
the decay is only 1.4-3.7x steeper than the late stable phase; vocab 16 reaches the valley floor
within the budget, which leaves the stable phase flat and the decay sharp. Two other languages
(data seeds 1, 2) give gaps 0.019 and 0.016, decay drops 0.027 and 0.025 against cosine's 0.006,
and final differences +0.002 and +0.001 nats. A linear decay shape gives the same gap and a
similar drop (0.0196) but ends 0.003 nats above cosine instead of 0.0006: within the margin,
not better.
"""

import numpy as np
import pytest

import workbench as wb
from workbench.predict import LRAnnealingLaw, MultiPowerLaw, curves_of, fit_dataset

STEPS = 300  # the budget every schedule shares
WARMUP = 30  # linear warmup steps, the same for all
PEAK = 2e-2  # large enough that the across-valley excess loss (~ lr) shows clearly
DECAY = 0.2  # WSD's decay fraction: steps 240-300
DECAY_START = STEPS - round(DECAY * STEPS)  # 240: the stable phase is [WARMUP, DECAY_START]
LATE_STABLE = DECAY_START - (DECAY_START - WARMUP) // 3  # 170: the stable phase's last third
PRE_DECAY = DECAY_START - 20  # the level "at the decay start" is the mean over [220, 240]
EVAL_EVERY = 10  # dense enough for 8 points in the late stable phase, 7 in the decay
SEEDS = 3

GAP_MIN = 0.005  # nats: stable-phase excess of WSD over cosine (measured 0.0146)
EXTRA_DROP_MIN = 0.01  # nats: WSD's decay drop minus cosine's over the same steps (0.0177)
SHARPNESS_MIN = 5.0  # decay drop per step over |late-stable drift per step| (measured 27)
FINAL_MARGIN = 0.01  # nats: WSD final <= cosine final + this, ~0.7% relative (measured +0.0006)
LEARNED_MARGIN = 0.05  # nats: both runs end near the entropy rate (measured 0.005 above it)

DATA = wb.data_spec("markov", vocab=16, context=16, n_train=2048, n_test=256, temperature=0.5)
SCHEDULES = {
    "constant": wb.schedules.join(  # as SchedulesLab.schedule("constant") makes it
        [wb.schedules.warmup(peak=PEAK, steps=WARMUP), wb.schedules.constant(value=PEAK)], [WARMUP]
    ),
    "cosine": wb.schedules.cosine(peak=PEAK, steps=STEPS, warmup=WARMUP),
    "wsd": wb.schedules.wsd(peak=PEAK, steps=STEPS, warmup=WARMUP, decay=DECAY, shape="1-sqrt"),
}


@pytest.fixture(scope="module")
def runs():
    """Every schedule x every seed, trained once: ``(ds, {kind: [run indices]})``.

    One ``wb.run`` call, one lockstep bucket (same data order for every schedule), shared by all
    tests of this module: 9 runs x 300 steps.
    """
    base = wb.RunSpec(
        data=DATA,
        model=wb.Transformer(layers=1, width=32, heads=2, context=16),
        optimizer=wb.AdamW(lr=SCHEDULES["cosine"], weight_decay=0.0),
        steps=STEPS,
        batch_size=32,
        eval_every=EVAL_EVERY,
    )
    specs = wb.grid(base, {"optimizer.lr": list(SCHEDULES.values()), "seed": range(SEEDS)})
    assert len({s.bucket_key() for s in specs}) == 1  # one lockstep bucket: same data order
    ds = wb.run(specs, device="cpu")
    assert (ds.diverged_step == -1).all()
    groups = {
        kind: [i for i, s in enumerate(specs) if s.optimizer.lr == schedule]
        for kind, schedule in SCHEDULES.items()
    }
    assert all(len(g) == SEEDS for g in groups.values())
    return ds, groups


@pytest.fixture(scope="module")
def curves(runs):
    """Median-over-seeds held-out loss of cosine and WSD, ``{kind: (eval_steps, losses)}``.

    Why the held-out loss at dense eval points and not the training loss: each eval point is the
    loss of the current iterate on a fixed set of 4096 held-out tokens, the same for every run,
    so it has no minibatch noise and the two schedules are compared on identical data. The
    across-valley excess is a property of where the iterate sits, which is what this measures.
    The minibatch training loss (32 x 16 tokens) needs a smoothing window that blurs the 60-step
    decay, and it also rewards memorizing the 2048 training sequences: cosine spends more steps at
    a small LR and fits the sample more, so in scratch runs its smoothed training loss ended
    0.02 nats below WSD's while their held-out losses agreed to 0.005.
    """
    ds, groups = runs
    steps = ds.eval_step.values
    return {
        kind: (steps, np.median(ds.eval_loss.values[groups[kind]], axis=0))
        for kind in ("cosine", "wsd")
    }


def _window(steps, loss, lo, hi):
    keep = (steps >= lo) & (steps <= hi)
    return steps[keep], loss[keep]


@pytest.mark.slow
def test_wsd_stays_above_cosine_late_in_the_stable_phase(curves):
    steps, cos = _window(*curves["cosine"], LATE_STABLE, DECAY_START)
    _, wsd = _window(*curves["wsd"], LATE_STABLE, DECAY_START)
    gap = float(np.mean(wsd - cos))
    assert gap >= GAP_MIN, f"stable-phase gap {gap:+.4f} nats < {GAP_MIN}"


@pytest.mark.slow
def test_wsd_drops_sharply_in_the_decay(curves):
    drops = {}
    for kind, (steps, loss) in curves.items():
        level = _window(steps, loss, PRE_DECAY, DECAY_START)[1].mean()
        drops[kind] = float(level - loss[steps == STEPS][0])
    extra = drops["wsd"] - drops["cosine"]
    assert extra >= EXTRA_DROP_MIN, f"decay drops {drops}: WSD's exceeds cosine's by {extra:.4f}"
    # "Sharp": per step, the decay moves the loss several times more than the late stable phase
    # drifts (least-squares slope of WSD's loss over the stable phase's last third).
    decay_rate = drops["wsd"] / (STEPS - DECAY_START)
    late_steps, late_loss = _window(*curves["wsd"], LATE_STABLE, DECAY_START)
    drift = abs(float(np.polyfit(late_steps, late_loss, 1)[0]))
    assert decay_rate >= SHARPNESS_MIN * drift, (
        f"decay {decay_rate:.2e} nats/step vs late-stable drift {drift:.2e} nats/step"
    )


@pytest.mark.slow
def test_wsd_ends_no_worse_than_cosine(curves):
    final = {kind: float(loss[steps == STEPS][0]) for kind, (steps, loss) in curves.items()}
    entropy = wb.data.load(DATA).meta["entropy_rate"]
    for kind, loss in final.items():
        assert abs(loss - entropy) <= LEARNED_MARGIN, f"{kind} ends at {loss:.4f}, H={entropy:.4f}"
    assert final["wsd"] <= final["cosine"] + FINAL_MARGIN, f"final losses {final}"


# -- the loss-curve law: fitted on constant + cosine, it predicts the held-out WSD run ------------

LAWS = {
    # lam fitted: the paper's fixed 0.999 is a ~1000-update delay, made for LLM runs of 10^4+ steps
    "lr_annealing": LRAnnealingLaw(lam=None),
    "multi_power": MultiPowerLaw(),
}
LAW_ERROR_MAX = 0.03  # the claim: WSD's final loss within 3% (measured -0.35% and +0.18%)
# R² on the held-out curve after warmup (measured 0.86-0.99 over 40 seed triples): a floor that
# catches a broken fit; it cannot tell the laws from the constant run's own curve (0.82-0.91)
LAW_R2_MIN = 0.8
BASELINE_MIN = 0.008  # the constant LR ends >= 0.8% above WSD: the drop to predict (1.11-1.44%)
# |law error| <= this x the constant-LR baseline's error: the law predicts most of the drop
# (measured worst case over 40 seed triples: 0.45 and 0.71)
BASELINE_RATIO_MAX = {"lr_annealing": 0.6, "multi_power": 0.85}


@pytest.mark.slow
@pytest.mark.parametrize("law", list(LAWS))
def test_law_fitted_on_constant_and_cosine_predicts_the_held_out_wsd_run(runs, law):
    """Fitted on the constant and cosine runs, the law predicts WSD's final loss (3%, and R²).

    The claim (``PHENOMENA.md``): a law fitted on a constant-LR and a cosine run predicts a
    held-out WSD run's final loss within a few percent. Fit: ``fit_dataset`` on the per-step
    median over the 3 seeds of the held-out loss (every 10 steps; no minibatch noise, see
    ``curves``), points after the 30 warmup steps only. Prediction: WSD's loss at step 300, and
    R² of the predicted curve against the measured one after warmup.

    Measured on CPU (torch 2.13), seeds 0-2 (this test) and the spread over 40 seed triples (5
    disjoint + 35 random, from 15 seeds trained in scratch runs):

    - WSD final 1.4937 nats (0.005 above the entropy rate, so 3% = 0.045 nats is far looser
      than any difference between schedules here: the relative errors below are what count).
    - LR-annealing law, momentum fitted (``lam`` 0.82, a ~6-update delay): -0.35%, R² 0.943;
      over the triples -0.51% to +0.06% (median -0.28%), R² 0.90-0.99.
    - Multi-power law: +0.18%, R² 0.949; over the triples -0.43% to +0.91% (median +0.08%),
      R² 0.86-0.99. Its errors are bimodal: with 3-seed medians, constant + cosine do not pin
      down how fast an LR drop pays off, and in 13 of the 40 triples the fit lands in a
      slow-response basin (``C`` -> 0, ``B`` -> inf) that predicts about half of WSD's decay
      drop or less (+0.6% to +0.9%). The other basin's cost differs by only 0.02-0.5% either
      way: the best of 96 starting points is still the slow one in 4 of 20 triples, so a better
      optimizer does not fix it. Hence its looser baseline ratio.
    - Baselines. "WSD ends at the constant-LR run's level" (its mean over steps 240-300): +1.20%
      (1.11% to 1.44%); its final point alone jitters (+0.49% to +1.41%): the iterate bounces
      across the valley at the peak LR. |law error| / this baseline: 0.29 and 0.15 here, at most
      0.45 (LR-annealing, median 0.21) and 0.71 (multi-power, median 0.31) over the triples.
      "WSD ends where cosine ends" (-0.13% to +0.08%) beats both laws: at this budget the two
      end level (``test_wsd_ends_no_worse_than_cosine``), which the law predicts without
      running WSD. On R², the constant run's own curve scores 0.82-0.91 against WSD's (the
      post-warmup descent is shared), 0.01 or more below the laws'.
    - At peak 1e-2 (the lab's default until it became 2e-2; eval every 7 steps): LR-annealing
      -0.42% to +0.04%, multi-power -0.41% to +0.76%, constant-LR baseline +0.94% to +1.19%;
      ratios at most 0.40 and 0.72.

    Choices measured against: ``skip=30`` (the warmup) rather than the first few evaluations
    (``steps // 40``): the loss falls from 2.2 to 1.6 during the warmup, which no power law in
    the LR area fits; those points dominate the least squares and the multi-power law then
    predicts +0.9% to +1.1%, no better than the constant-LR baseline. The smoothed training
    loss (block 3 or 10) predicts worse (-0.4% to +1.7%, R² 0.2-0.7: minibatch noise and
    memorization of the 2048 sequences). The LR-annealing law with the paper's fixed
    ``lam=0.999`` predicts +0.45% to +0.74%: only about half of the decay drop.
    """
    ds, groups = runs
    fitted = fit_dataset(
        ds,
        [groups["constant"], groups["cosine"]],
        law=LAWS[law],
        target="eval_loss",
        skip=WARMUP,
    )
    held, const, cos = curves_of(
        ds, [groups["wsd"], groups["constant"], groups["cosine"]], target="eval_loss"
    )
    lrs, measured, steps = held
    assert steps[-1] == STEPS
    predicted = fitted.predict(lrs, steps=[STEPS])[0]
    error = predicted / measured[-1] - 1
    r2 = fitted.r2([held], skip=WARMUP)
    # Baselines without the law: WSD's final loss guessed as the constant-LR run's level over
    # the last 20% of steps (no annealing at all), or as cosine's final loss.
    const_level = const[1][steps >= DECAY_START].mean()
    baseline = const_level / measured[-1] - 1
    cos_baseline = cos[1][-1] / measured[-1] - 1
    print(
        f"\n{fitted}\nWSD final: predicted {predicted:.4f}, measured {measured[-1]:.4f} "
        f"({100 * error:+.2f}%), R² on the held-out curve {r2:.3f}; baselines: constant-LR "
        f"level {100 * baseline:+.2f}%, cosine final {100 * cos_baseline:+.2f}%"
    )

    assert abs(error) < LAW_ERROR_MAX
    assert r2 > LAW_R2_MIN
    # the schedules really differ: without annealing the loss stays well above WSD's
    assert baseline > BASELINE_MIN
    # and the law predicts most of the annealing drop
    assert abs(error) <= BASELINE_RATIO_MAX[law] * baseline, (error, baseline)
