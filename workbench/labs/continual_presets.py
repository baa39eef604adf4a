"""The continual lab's presets: named knob sets, each with what to watch (``PRESETS``)."""

from __future__ import annotations

__all__ = ["PRESETS"]

PRESETS: dict[str, tuple[dict, str]] = {
    "stability-gap": (
        {"replay_ratios": [0.0, 0.1, 0.25, 0.5], "eval_every": 1, "tasks": 3},
        "The stability gap (De Lange et al. 2023). Three tasks of two digit classes each, every "
        "run evaluated on every task at every step. Open the 'Task switch' tab: right after task "
        "2 starts, accuracy on task 1 falls far below where task 1 left it within a few dozen "
        "steps, then climbs back part of the way, even with replay (ratio 0.1). The table gives "
        "the depth of the dip and how long recovery takes, and min-ACC from per-step "
        "evaluation next to min-ACC from task ends only: evaluated at task ends, the dip is "
        "invisible. More replay, a shallower dip; without replay (ratio 0) there is no "
        "recovery: the old classes are gone.",
    ),
    "how-much-replay": (
        {
            "replay_ratios": [0.0, 0.1, 0.25, 0.5, 0.75],
            "buffer_sizes": [50, 200, 1000],
            "seeds": 2,
        },
        "How much replay is enough? Five replay ratios x three buffer sizes x two seeds, all in "
        "one lockstep sweep. Open the 'Trade-off' tab: final forgetting falls as the ratio "
        "grows (one line per buffer size), while accuracy on the newest task pays a price at "
        "the high end: the stability-plasticity trade-off. A small buffer replayed often "
        "overfits its few examples; compare the 50-example line with the 1000-example one.",
    ),
    "power-law-rehearsal": (
        {
            "stream": "permuted",
            "tasks": 10,
            "task_steps": 60,
            "shift": 1.0,
            "replay_ratios": [0.25],
            "replay_schedules": ["uniform", "power_law"],
        },
        "Power-law vs uniform rehearsal at the same budget (same ratio, same buffer). Ten "
        "tasks of permuted digits. Uniform rehearsal spreads the memory draws evenly over "
        "every past task; power-law rehearsal weighs a task by (1 + tasks since it was "
        "trained)^-1, so recent tasks are rehearsed more and old ones less, as in naturalistic "
        "environments (2024). The two end level (within 0.02 in final average accuracy): "
        "rehearsing mostly recent tasks costs nothing. Compare the accuracy matrices.",
    ),
    "spaced-replay": (
        {
            "stream": "permuted",
            "tasks": 6,
            "replay_ratios": [0.25],
            "replay_schedules": ["uniform", "spaced"],
            "recall_interval": 20,
        },
        "Spaced replay, after Ebbinghaus (2025): instead of rehearsing every old task all the "
        "time, a task is recalled in short windows at expanding intervals after it was last "
        "trained (20, 60, 140, ... steps). Watch the per-task curves: the spaced runs' old "
        "tasks dip between recalls and jump back at each window.",
    ),
    "recurring-tasks": (
        {
            "stream": "recurring",
            "tasks": 20,
            "task_steps": 40,
            "replay_ratios": [0.0],
            "eval_every": 10,
        },
        "Tasks that come back (SCoLe, Lesort et al. 2022): twenty short tasks, each two digit "
        "classes drawn from a pool of five pairs, no replay at all. Each task is forgotten as "
        "soon as the next one starts, yet the accuracy on the whole class set climbs from one "
        "repeat of the pool to the next: plain SGD accumulates knowledge when data recur. Set "
        "'revisit exponent' above 0 for a power-law environment, where recent tasks come back "
        "more often.",
    ),
    "forgetting-curves": (
        {"replay_ratios": [0.0, 0.1, 0.25], "eval_every": 2, "task_steps": 150},
        "Forgetting curves: accuracy on a task against the steps since it was last trained, "
        "with an exponential and a power-law fit (the better one by AIC) and the half-life. "
        "Open the 'Forgetting curves' tab: more replay, slower forgetting, a longer half-life.",
    ),
    "ewc-vs-replay": (
        {
            "stream": "permuted",
            "tasks": 3,
            "replay_ratios": [0.0, 0.1],
            "penalty": "ewc",
            "penalty_strengths": [0.0, 100.0],
            "eval_every": 10,
        },
        "Two strategies against forgetting, alone and together, on three permuted-digits "
        "tasks: replay (ratio 0.1) and EWC (Kirkpatrick et al. 2017), which pulls each weight "
        "back toward its value at the end of the last task, harder where the old tasks' "
        "Fisher information says it matters. Watch the first task's curve after each switch: "
        "EWC at strength 100 keeps most of it (forgetting about 0.06 against 0.31 for plain "
        "fine-tuning) without a memory of old examples. Try L2 (the same pull everywhere): at "
        "strength 1 it forgets little but barely learns the new tasks.",
    ),
    "new-language": (
        {
            "stream": "language",
            "optimizer": "adamw",
            "lr": 3e-3,
            "replay_ratios": [0.0, 0.1],
            "rewarm": True,
            "task_steps": 300,
            "shift": 0.5,
            "eval_every": 10,
        },
        "Re-warming and replay for a new language (Ibrahim et al. 2024). A small transformer "
        "learns bigram language A, then a shifted language B. At the switch the LR re-warms "
        "to its peak and decays again; watch language A's loss rise as the LR climbs (the "
        "re-warm itself causes forgetting). Replaying 10% of language A in every batch keeps "
        "its final loss lower than no replay, at a small cost on B.",
    ),
}
