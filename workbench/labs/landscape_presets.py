"""The landscape lab's presets: named knob sets, each with what to watch (``PRESETS``)."""

from __future__ import annotations

__all__ = ["PRESETS"]

PRESETS: dict[str, tuple[dict, str]] = {
    "random-vs-hessian": (
        {"lrs": [0.05], "seeds": 1, "steps": 600, "directions": "hessian", "span": 0.5},
        "A random slice vs a Hessian slice. One run trained by gradient descent; the view shows "
        "the plane of its two sharpest directions (the top Hessian eigenvectors at the end). "
        "Switch 'Directions' to 'filter' (random, filter-normalized) and press 'Draw' again: "
        "the random plane looks like a smooth, round bowl, because a random direction in "
        "thousands of dimensions barely sees the few sharp ones. The Hessian plane is a "
        "narrow valley: steep along the first axis (its curvature is the sharpness printed "
        "under the plot), gentle along the second.",
    ),
    "edge-of-stability": (
        {
            "lrs": [0.02, 0.05],
            "steps": 1500,
            "full_batch": True,
            "schedule": "constant",
            "directions": "hessian",
            "span": 0.3,
        },
        "The edge of stability (Cohen et al. 2021). Gradient descent on the full training set "
        "at two constant learning rates. Watch the sharpness panel: the top Hessian eigenvalue "
        "climbs (progressive sharpening) until it reaches 2/η (the dashed line of its colour), "
        "then hovers there, while the loss keeps falling, though not monotonically: look for "
        "the small spikes. A quadratic model says GD diverges above 2/η; the network instead "
        "regulates its own curvature. Move the LR multiplier while it trains: the sharpness "
        "follows the new 2/η.",
    ),
    "where-did-task-1-go": (
        {
            "data": "two tasks",
            "lrs": [0.05],
            "full_batch": False,
            "batch_size": 32,
            "steps": 600,
            "replay_ratios": [0.0, 0.5],
            "directions": "three points",
        },
        "Where did task 1 go? Digits 0-4 for 300 steps, then 5-9, fine-tuning and with replay. "
        "The plane goes through the initialization, the end of task 1 and the end of task 2 "
        "of the chosen run, and the contour shows task 1's loss on it (the evaluation data "
        "follow the view's step: pick the end of task 1). The fine-tuned run's end point lies "
        "outside task 1's low-loss basin; the replay run's stays closer to its edge. Both "
        "paths are drawn: the replay run turns less.",
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
        "the end. During the stable phase the loss plateaus high (the iterate bounces across "
        "the valley); during the decay it falls fast and the path drops straight into the "
        "valley floor: across-valley height lost, progress along the valley kept. The "
        "interpolation view from the start of the decay to the end shows a monotone drop. The "
        "2-D toy of the Schedules lab is the same picture in two dimensions.",
    ),
    "distance-from-init": (
        {
            "lrs": [0.1, 0.5],
            "full_batch": False,
            "batch_size": 32,
            "steps": 2000,
            "directions": "pca",
        },
        "Distance from init grows like log t (Hoffer et al. 2017). Minibatch SGD at high "
        "constant LRs; the 'Distance' panel plots ‖w_t − w_0‖ against the step on a log axis: "
        "a straight line is logarithmic growth, a random walk would bend upward (√t). Hoffer "
        "et al. read it as an ultra-slow diffusion, and the large-batch gap as too few updates, "
        "not too few epochs. The PCA plane shows the path: most of its variance in two "
        "directions.",
    ),
    "benign-oscillation": (
        {
            "data": "features",
            "lrs": [0.01, 0.5],
            "full_batch": False,
            "batch_size": 16,
            "steps": 1500,
            "width": 64,
            "depth": 1,
            "activation": "relu",
        },
        "Benign oscillation (Lu et al. 2023). Every training example has a weak feature of its "
        "class, a fraction also a strong one; the test set has weak features only. Both LRs fit "
        "the training set, but the small LR does it with the strong features and noise, the "
        "large LR oscillates and learns the weak features: compare test accuracy (the test set "
        "is the weak-feature-only one). The oscillation is visible in the loss curve.",
    ),
}
