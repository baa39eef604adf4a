"""The schedules lab's presets: named knob sets, each with what to watch (``PRESETS``)."""

from __future__ import annotations

__all__ = ["PRESETS"]

PRESETS: dict[str, tuple[dict, str]] = {
    "wsd-vs-cosine": (
        {"schedules": ["wsd", "cosine"], "decay": 0.2, "budgets": 3},
        "WSD vs cosine at three budgets (100, 200 and 300 steps). Warmup-stable-decay holds the "
        "peak LR and decays only over the last 20% of each budget. Watch its loss stay above "
        "cosine's through the stable phase, then drop sharply once the decay starts, and end "
        "level with or below cosine at every budget: the large LR made progress along the river "
        "while hiding it under oscillation across the valley. Hover a thin line to follow one run.",
    ),
    "decay-shapes": (
        {"schedules": ["wsd"], "decay": 0.2, "decay_shape": "1-sqrt"},
        "The same WSD run with its decay shaped linear, cosine or 1-sqrt: switch the shape knob "
        "and compare where the drop happens. Hägele et al. (2024) find 1-sqrt best at scale.",
    ),
    "wsd-s-branches": (
        {"schedules": ["wsd-s", "wsd"], "checkpoints": 3, "budgets": 3, "decay": 0.2},
        "WSD-S (Wen et al. 2024) is one run that decays to a checkpoint at 100, 200 and 300 "
        "steps, each time resuming at the peak LR from the decayed weights; WSD trains a "
        "separate run (or branch) per budget. Compare WSD-S's loss at each of its checkpoints "
        "with the WSD run of that budget: one run gives all three checkpoints at about the same "
        "loss. Press Fork during a WSD run to branch a decay of your own.",
    ),
    "predict-unseen": (
        {"schedules": ["constant", "cosine"]},
        "Predict a schedule you have not run. Press Run: when the sweep ends, the multi-power "
        "law (Luo et al. 2025) is fitted to the constant and cosine curves. Now tick wsd, move "
        "its decay, or click the LR preview to draw a schedule: the dashed curve under the "
        "preview is the law's prediction, redrawn instantly. Press Run again to train it and "
        "compare (the law's R² and the measured curves are shown).",
    ),
    "rewarming-on-new-data": (
        {"schedules": ["rewarm", "infinite", "cosine"], "steps": 600, "new_data": 0.5},
        "At step 300 the data switches to a shifted bigram language (Gupta et al. 2023; Ibrahim "
        "et al. 2024). 'rewarm' decayed to zero on the old data and now re-warms to the peak and "
        "decays again; 'infinite' cooled down once to a constant and stays there; 'cosine' "
        "spans both phases. Watch the old data's loss jump as the LR rises (forgetting: most "
        "for the re-warm) while the new data's loss falls, and compare where each ends. Move "
        "'shift' to make the new language nearer or farther.",
    ),
    "linear-vs-cosine": (
        {"schedules": ["linear", "cosine", "constant"]},
        "Linear decay to zero is the worst-case-optimal last-iterate schedule (Defazio et al. "
        "2023) and matches or beats cosine; a constant LR never harvests its progress.",
    ),
}
