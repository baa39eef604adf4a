"""The fast/slow lab's presets: named knob sets, each with what to watch (``PRESETS``)."""

from __future__ import annotations

__all__ = ["PRESETS"]

PRESETS: dict[str, tuple[dict, str]] = {
    "lookahead-k-alpha": (
        {"setting": "lookahead", "alphas": [0.5, 0.8, 1.0], "k": 5, "lr": 0.3},
        "Lookahead k and α (Zhang et al. 2019). SGD with momentum at a high LR takes k = 5 fast "
        "steps, then the slow weights move a fraction α of the way to the fast ones and the "
        "fast weights restart from there; α = 1 is SGD alone. Watch the test loss: the fast "
        "weights (solid) zigzag between syncs, the slow weights (dashed) move smoothly and end "
        "at least as low. Turn α down live and the slow copy steadies further; turn k up and "
        "the fast weights wander further before each sync (the Distance tab).",
    ),
    "slow-weights-are-smoother": (
        {"setting": "ema", "betas": [0.9, 0.99], "lr": 0.3},
        "Slow weights are smoother. An exponential moving average of the weights (Polyak "
        "averaging, the mean teacher) follows SGD at a high LR. The fast weights bounce "
        "around the bottom of the valley; their average sits nearer its centre: a lower and "
        "far steadier test loss. A higher β averages over more steps (1/(1 − β)): smoother, "
        "but it lags after a change. Try the warm-up switch with β = 0.999.",
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
        {"setting": "dual memory", "consistencies": [0.0, 0.1]},
        "Plastic and stable memories (CLS-ER, Arani et al. 2022). The working model trains "
        "with replay; a plastic EMA (short horizon, updated with probability 0.9) and a stable "
        "EMA (long horizon, probability 0.7) follow it, and on replayed examples the working "
        "model is pulled toward whichever memory is more confident of the true label. Compare "
        "the copies on the Stability-plasticity tab: the stable memory keeps the old tasks "
        "better than the working model it averages.",
    ),
    "fast-memory-under-drift": (
        {"setting": "error memory", "memory_weights": [0.0, 1.0], "drift": "abrupt", "lr": 0.02},
        "A fast memory under drift (after ReLoop2, 2023). A slow model (small LR) learns a "
        "stream whose inputs turn 90 degrees at once every 200 steps. A memory of its last 256 "
        "errors corrects each new prediction by the errors of the nearest recent inputs. Open "
        "Drift recovery: right after a drift the slow model's loss jumps and falls slowly; "
        "with the memory it falls back within a few dozen steps, long before the slow weights "
        "have moved. Turn λ live to see how much of the recovery is the memory.",
    ),
    "one-axis-for-all": (
        {"setting": "horizon", "horizons": [10, 50, 200], "lr": 0.3},
        "One axis for all: the effective horizon. An EMA with decay β averages about 1/(1 − β) "
        "steps; Lookahead's slow weights about k/α steps; CLS-ER's memories 1/(p(1 − β)). "
        "Here EMAs and Lookaheads of the same horizons train side by side; the Horizon tab "
        "plots each copy's final test loss against its horizon. Too short and the slow copy "
        "is as noisy as the fast one; too long and it lags behind the descent.",
    ),
}
