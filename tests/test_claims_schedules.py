"""Schedules lab claim: WSD and the river valley (Wen et al. 2024), on the bigram transformer.

The claim (``PHENOMENA.md``, Schedules lab): with the same peak LR, warmup and budget, the
Warmup-Stable-Decay schedule's loss stays *above* cosine's during the stable phase, falls
*sharply* during the short decay, and ends *no worse* than cosine's. The river-valley reading: at
a large constant LR the iterate bounces across the steep sides of the valley, which costs an
excess loss of about ``eta * sigma**2 / (2 * (2 - eta * h))``; it keeps moving along the river
all the same, and the decay damps the bouncing and reveals that progress all at once.

Set-up (one ``wb.run`` call, one lockstep bucket): a 1-layer transformer (width 32, 2 heads,
context 16) learns a random bigram language (``markov``: vocab 16, temperature 0.5, 2048 training
sequences; entropy rate 1.4886 nats, the best loss any model can reach), AdamW (no weight decay)
with batch 32 for 300 steps, peak LR 2e-2 and 30 warmup steps for both schedules; WSD decays over
the last 20% of steps (240 to 300) with the 1-sqrt shape (Hägele et al. 2024). Three seeds each;
every number below is computed on the per-step median over seeds of the held-out loss.

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

STEPS = 300  # the budget both schedules share
WARMUP = 30  # linear warmup steps, the same for both
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
    "cosine": wb.schedules.cosine(peak=PEAK, steps=STEPS, warmup=WARMUP),
    "wsd": wb.schedules.wsd(peak=PEAK, steps=STEPS, warmup=WARMUP, decay=DECAY, shape="1-sqrt"),
}


@pytest.fixture(scope="module")
def curves():
    """Median-over-seeds held-out loss per schedule, ``{kind: (eval_steps, losses)}``.

    Why the held-out loss at dense eval points and not the training loss: each eval point is the
    loss of the current iterate on a fixed set of 4096 held-out tokens, the same for every run,
    so it has no minibatch noise and the two schedules are compared on identical data. The
    across-valley excess is a property of where the iterate sits, which is what this measures.
    The minibatch training loss (32 x 16 tokens) needs a smoothing window that blurs the 60-step
    decay, and it also rewards memorizing the 2048 training sequences: cosine spends more steps at
    a small LR and fits the sample more, so in scratch runs its smoothed training loss ended
    0.02 nats below WSD's while their held-out losses agreed to 0.005.
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
    median = ds.eval_loss.groupby("optimizer.lr.kind").median("run")  # (kind, eval_step)
    steps = ds.eval_step.values
    return {kind: (steps, median.sel({"optimizer.lr.kind": kind}).values) for kind in SCHEDULES}


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
