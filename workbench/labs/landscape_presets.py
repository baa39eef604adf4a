"""The landscape lab's presets: named knob sets, each with what to watch (``PRESETS``)."""

from __future__ import annotations

__all__ = ["PRESETS"]

PRESETS: dict[str, tuple[dict, str]] = {
    "random-vs-hessian": (
        {"lrs": [0.05], "seeds": 1, "steps": 600, "directions": "hessian", "span": 0.5},
        "A random slice vs a Hessian slice. One run trained by gradient descent; the view shows "
        "the plane of its two sharpest directions (the top Hessian eigenvectors at the end; "
        "their eigenvalues are in the plot's title). Switch 'Directions' to 'filter' (random, "
        "filter-normalized) and press 'Draw' again: the random plane is a smooth, round, "
        "shallow bowl, because a random direction in thousands of dimensions barely sees the "
        "few sharp ones (its curvature is near the mean eigenvalue, about a hundredth of the "
        "top one in the notebook's run). The Hessian plane rises much faster over the same "
        "span, along both axes when the top two eigenvalues are close; the notebook draws the "
        "sharpest direction against a random one to show the trough.",
    ),
    "edge-of-stability": (
        {
            "train_examples": 500,
            "width": 32,
            "depth": 2,
            "activation": "tanh",
            "lrs": [0.45, 0.6],
            "steps": 280,
            "sharpness_every": 10,
            "full_batch": True,
            "schedule": "constant",
            "seeds": 3,
        },
        "The edge of stability (Cohen et al. 2021). Gradient descent on all 496 training "
        "examples at two constant learning rates. Watch the sharpness panel: the top Hessian "
        "eigenvalue starts at a fifth to a third of 2/η (the dashed line of its colour), climbs "
        "(progressive sharpening), reaches 2/η after 60-140 steps and then hovers there (the "
        "tests measure 1.03-1.05 x 2/η over the last 100 steps), while the loss keeps falling, "
        "though not monotonically: it rises between steps 10-17 times after reaching the edge "
        "and still ends at a third or less of its value there. A quadratic model says GD "
        "diverges above 2/η; the network instead regulates its own curvature. Move the LR "
        "multiplier while it trains: the line moves and the sharpness follows it. Trained much "
        "longer, the sharpness falls again as the loss nears zero (cross-entropy saturates).",
    ),
    "where-did-task-1-go": (
        {
            "data": "two tasks",
            "lrs": [0.05],
            "full_batch": False,
            "batch_size": 32,
            "steps": 400,
            "width": 100,
            "depth": 1,
            "activation": "relu",
            "replay_ratios": [0.0, 0.5],
            "directions": "three points",
        },
        "Where did task 1 go? Digits 0-4 for 200 steps, then 5-9, fine-tuning and with replay "
        "(half of every batch from a 200-example memory). The plane goes through the "
        "initialization, the end of task 1 and the end of task 2 of the chosen run; evaluate "
        "it on task 1. For the fine-tuned run, task 1's loss at the end of task 2 is far above "
        "its value at the end of task 1 (about 5 nats against 0.3 in the tests: worse than at "
        "init), so the end point lies outside task 1's basin. The replay run's end point "
        "keeps task 1's loss near 0.4 and lies nearer the task-1 point (about 0.77 of the "
        "fine-tuned run's distance).",
    ),
    "river-valley-wsd": (
        {
            "lrs": [0.1],
            "full_batch": False,
            "batch_size": 32,
            "schedule": "wsd",
            "steps": 1000,
            "directions": "three points",
        },
        "The river valley under WSD. Minibatch SGD at a high constant LR, then a linear decay "
        "over the last 20% of steps. The plane goes through init, the start of the decay and "
        "the end. In the stable phase the loss plateaus high; in the decay it falls fast. The "
        "river-valley picture (Wen et al. 2024) says why: the high LR keeps the iterate "
        "bouncing across a steep valley while it moves along the gentle floor, and the decay "
        "damps the bouncing. On the 2-D toy of the Schedules lab the tests measure it: in the "
        "decay the across-valley loss falls to a tenth while the iterate keeps half the "
        "along-valley speed of a constant LR. Here, look at the path's last stretch on the "
        "plane, and at the interpolation from the start of the decay to the end: is it a "
        "monotone drop?",
    ),
    "distance-from-init": (
        {
            "data": "digits",
            "width": 64,
            "depth": 1,
            "activation": "relu",
            "lrs": [0.05, 0.2],
            "full_batch": False,
            "batch_size": 16,
            "steps": 2000,
            "directions": "pca",
        },
        "Distance from init grows like log t (Hoffer et al. 2017). Minibatch SGD at constant "
        "LRs; the 'Distance' panel plots ‖w_t − w_0‖ against the step on a log axis: a straight "
        "line is logarithmic growth, a random walk would bend upward (√t). In the tests a log "
        "fit leaves a third or less of the residual of a √t fit here. Hoffer et al. read it as "
        "an ultra-slow diffusion, and the large-batch gap as too few updates, not too few "
        "epochs. It shows once the network fits its training set: on mnist1d, still "
        "memorising after thousands of steps, √t fits better. The PCA plane shows the path.",
    ),
    "benign-oscillation": (
        {
            "data": "features",
            "train_examples": 100,
            "loss": "mse",
            "lrs": [0.01, 0.3],
            "full_batch": True,
            "steps": 600,
            "width": 64,
            "depth": 1,
            "activation": "relu",
            "seeds": 3,
        },
        "Benign oscillation (Lu et al. 2023), with the squared loss. Every training example "
        "has a weak feature of its class, 90% also a strong one; the test set has weak features "
        "only. Gradient descent on a ReLU MLP with loss 'mse': at LR 0.3 the training loss "
        "bounces to the end (it rises at every other step; the sharpness sits near 1.4 x 2/η), "
        "the examples with a strong feature overshoot their target and keep pulling on the "
        "weak features, and the weak-only test accuracy ends at 0.81 (median of 3 seeds) "
        "against 0.55 at LR 0.01. Both fit the training set, and LR 0.01 trained as long in "
        "LR x steps (16,200 steps) converges at 0.63: the gain is the oscillation's, not more "
        "training. Switch 'loss' to cross_entropy: nothing bounces (a one-sided valley) and "
        "the LRs end closer (0.66, 0.70). The window is narrow: at LR 0.2 the bounce dies out "
        "(0.62), from 0.45 the runs stop fitting the training set.",
    ),
}
