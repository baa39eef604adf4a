"""The fast/slow lab's presets: named knob sets, each with what to watch (``PRESETS``), and its
live knobs (``LIVE_KNOBS``: the setting's ratio, turned while a sweep trains)."""

from __future__ import annotations

from .base import LiveKnob

__all__ = ["LIVE_KNOBS", "PRESETS"]


def _live(name, label, doc, bounds, step, default, soft=None) -> LiveKnob:
    return LiveKnob(
        name, label, doc, bounds, default=default, softbounds=soft, step=step, slider=True
    )


# the page shows only those the setting's runs have (FastSlowLab.live_applies)
LIVE_KNOBS = (
    _live(
        "lookahead_alpha",
        "Lookahead α, all runs (live)",
        "How far the slow weights move toward the fast ones at each sync, from the next "
        "chunk on (1: the inner optimizer alone).",
        (0.01, 1.0),
        0.01,
        0.5,
    ),
    _live(
        "lookahead_k",
        "Lookahead k, all runs (live)",
        "Fast steps between syncs, from the next sync on.",
        (1, 100),
        1,
        5,
        (1, 20),
    ),
    _live(
        "ema_beta",
        "EMA β, all runs (live)",
        "The EMA's decay from the next chunk on; its horizon is 1/(1 − β) steps.",
        (0.0, 0.9999),
        0.001,
        0.99,
        (0.5, 0.999),
    ),
    _live(
        "backbone_lr",
        "Backbone/head LR ratio, all runs (live)",
        "The backbone's learning rate as a multiple of the head's, from the next chunk on "
        "(after pretraining).",
        (0.0, 1.0),
        0.01,
        0.1,
    ),
    _live(
        "consistency",
        "Consistency weight, all runs (live)",
        "CLS-ER's pull of the working model toward the better of its plastic and stable "
        "EMAs on replayed examples.",
        (0.0, 5.0),
        0.01,
        0.1,
        (0.0, 1.0),
    ),
    _live(
        "memory_weight",
        "Error memory weight λ, all runs (live)",
        "How much of the nearest recent errors is added to a prediction (0: the slow model alone).",
        (0.0, 5.0),
        0.05,
        1.0,
        (0.0, 2.0),
    ),
)

PRESETS: dict[str, tuple[dict, str]] = {
    "lookahead-k-alpha": (
        {"setting": "lookahead", "alphas": [0.5, 0.8, 1.0], "optimizer": "sgd", "lr": 0.5},
        "Lookahead k and α (Zhang et al. 2019). SGD with momentum 0.9 at LR 0.5, too high to "
        "settle on its own, takes k = 5 fast steps, then the slow weights move a fraction α "
        "of the way to the fast ones and the fast weights restart from there; α = 1 is SGD "
        "alone. Watch the test loss: SGD alone (α = 1) jumps between 0.5 and 1 and more; with "
        "α = 0.5 the slow weights (dashed) descend smoothly to about 0.1, and the fast "
        "weights (solid) make a sawtooth around them, pulled back at every sync (the third "
        "panel: their distance). Turn α down live and the slow copy steadies further; turn k "
        "up and the fast weights wander further before each sync.",
    ),
    "slow-weights-are-smoother": (
        {"setting": "ema", "betas": [0.9, 0.98], "optimizer": "adamw", "lr": 3e-2},
        "Slow weights are smoother. An exponential moving average of the weights (Polyak "
        "averaging, the mean teacher) follows AdamW at a high LR (0.03). The fast weights "
        "bounce around the bottom of the valley; their average sits nearer its centre: a "
        "lower and far steadier test loss (at β = 0.98, about 2/3 of the fast weights' loss "
        "and a few hundred times less jumpy). A higher β averages over more steps (1/(1 − β)): "
        "smoother, but it lags after a change; at a low LR (try 0.001) the weights are still "
        "descending and the average only lags behind. Try the warm-up switch with β = 0.999.",
    ),
    "slow-learner": (
        {"setting": "slow learner", "ratios": [1.0, 0.1, 0.01], "optimizer": "adamw", "lr": 2e-3},
        "A slow learner on a pretrained backbone (SLCA, Zhang et al. 2023). The network is "
        "pretrained on digits 0-5, then learns 6-7 and 8-9 as new tasks, its backbone at a "
        "fraction of the head's LR. Every ratio forgets the old classes in class-IL accuracy "
        "(the head learns to prefer new classes; classifier alignment is SLCA's fix), so the "
        "Stability-plasticity tab measures task-IL accuracy: at ratio 1 the backbone's "
        "features drift and the pretrained task collapses; at 0.1 or 0.01 it keeps them while "
        "the head still learns the new classes. Then tick Classifier alignment and run again: "
        "the head is retrained on features sampled from each class's Gaussian, and with a "
        "slow backbone the old classes come back in class-IL accuracy too; at ratio 1 there "
        "is nothing left to align.",
    ),
    "plastic-and-stable-memories": (
        {
            "setting": "dual memory",
            "consistencies": [0.0, 0.1],
            "optimizer": "sgd",
            "lr": 0.05,
            "buffer": 50,
        },
        "Plastic and stable memories (CLS-ER, Arani et al. 2022). The working model trains "
        "with replay; a plastic EMA (short horizon, updated with probability 0.9) and a stable "
        "EMA (long horizon, probability 0.7) follow it, and on replayed examples the working "
        "model is pulled toward whichever memory is more confident of the true label. Compare "
        "the copies on the Stability-plasticity tab: the stable memory (horizon about one "
        "task: β 0.99, updated with probability 0.7) keeps the old tasks clearly better than "
        "the working model it averages (about 0.96 against 0.84 on digits), and pays on the "
        "newest task, which it has only half taken in. Set the stable β to 0.999 and its "
        "horizon outgrows the whole run: it never catches up.",
    ),
    "fast-memory-under-drift": (
        {
            "setting": "error memory",
            "memory_weights": [0.0, 1.0],
            "drift": "abrupt",
            "optimizer": "sgd",
            "lr": 0.05,
        },
        "A fast memory under drift (after ReLoop2, 2023). A slow model (small LR) learns a "
        "stream whose inputs turn 90 degrees at once every 200 steps. A memory of its last 256 "
        "errors corrects each new prediction by the errors of the nearest recent inputs. Open "
        "Drift recovery: right after a drift the slow model's loss jumps and takes 80-100 steps "
        "to come back; with the memory it is back within a handful of steps, long before the "
        "slow weights have moved (over the first 20 steps, a fifth of the loss). The very "
        "first batch after the drift is worse with the memory: it still holds only old errors. "
        "Turn λ live to see how much of the recovery is the memory.",
    ),
    "one-axis-for-all": (
        {"setting": "horizon", "horizons": [10, 50, 200], "optimizer": "adamw", "lr": 3e-2},
        "One axis for all: the effective horizon. An EMA with decay β averages about 1/(1 − β) "
        "steps; Lookahead's slow weights about k/α steps; CLS-ER's memories 1/(p(1 − β)). "
        "Here EMAs and Lookaheads of the same horizons train side by side; the Horizon tab "
        "plots each copy's final test loss against its horizon. Too short and the slow copy "
        "is as noisy as the fast one; too long and it lags behind the descent.",
    ),
}
