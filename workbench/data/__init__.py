"""Offline datasets as torch tensors, deterministic given a data seed.

A dataset is named by a :class:`DataSpec` (dataset name, data seed, keyword params) and built by
:func:`load` into a :class:`TensorData` of CPU tensors: float32 inputs and int64 labels for
classification, int64 tokens for token data. :func:`info` gives the sizes without generating data,
to validate specs before training. ``DATASETS[name].defaults`` lists each dataset's params.

Datasets
--------
mnist1d
    MNIST-1D (Greydanus & Kobak, 2020, arXiv:2011.14439): 40-sample signals of 10 digit templates,
    made by the ``mnist1d`` package's generator (never its downloader) with package seed
    ``42 + seed``, so the default ``seed=0`` gives the package's default 4000/1000 split.
    ``num_samples`` is rounded down to a multiple of 10; the first ``int(n * train_split)``
    samples train. Features are kept as the package scales them (cast to float32). The arrays are
    cached in ``$WORKBENCH_DATA_DIR`` (default ``~/.cache/workbench/data``), written atomically;
    an unreadable or mismatched cache file is regenerated.
digits
    scikit-learn's bundled 1797 8x8 digit images, flattened to 64 features ``pixel / 16`` in
    [0, 1]; a seeded permutation puts ``round(1797 * test_fraction)`` images in the test set.
gaussian
    ``classes`` prototypes ``mu_k ~ N(0, I_dim)`` and points ``x = (1 - overlap) * mu_y + s * e``
    with ``e ~ N(0, I)`` and balanced labels. The noise std ``s`` is 1/8 of the distance between
    the closest two prototypes, so at ``overlap=0`` the closest pair is 8 noise stds apart
    (pairwise Bayes error ``Phi(-4)``, about 3e-5), in general ``8 * (1 - overlap)`` stds, and at
    ``overlap=1`` all classes are the same Gaussian (chance accuracy). The prototypes and noise
    draws do not depend on ``overlap``, so a sweep over it only moves the centres.
features
    The feature-noise model of "benign oscillation" (Lu et al., 2023, arXiv:2310.17074): per
    class an orthonormal weak direction ``u_k`` and strong direction ``v_k``; a training point
    is ``weak_scale * u_y + noise * e`` plus ``strong_scale * v_y`` in exactly
    ``round(strong_fraction * n_train)`` examples, ``e ~ N(0, I_dim)``; the test set has the
    weak features only, so it measures whether a model learned them. ``meta`` holds the
    directions and the training set's ``strong_mask``.
modular
    Modular arithmetic for grokking (Power et al., 2022, arXiv:2201.02177): every pair
    ``(a, b)`` in ``[0, p)^2`` (``b != 0`` for ``div``, which needs a prime ``p``) with label
    ``a op b mod p``; a seeded permutation puts ``int(n * train_fraction)`` pairs in training.
    ``x`` holds int64 tokens ``[n, 2]``, so a model must embed them; an MLP can use
    :func:`one_hot_pairs`. ``meta`` says ``input="tokens"`` and ``vocab=p``.
markov
    A random bigram "language" over ``vocab`` tokens: transition logits
    ``(1 - distance) * base(seed) + distance * variant(seed, variant)`` with independent standard
    normal ``base`` and ``variant`` matrices, divided by ``temperature`` and softmaxed per row.
    Languages with equal ``seed`` and ``distance=0`` are identical whatever ``variant``; at
    ``distance=1`` each variant is an unrelated language. (The mix has logit std
    ``sqrt((1 - d)^2 + d^2)``, so mid-way languages are a little flatter.) Sequences of
    ``context + 1`` tokens start from the stationary distribution; ``x = seq[:, :-1]`` and
    ``y = seq[:, 1:]``. Each variant draws its own sequences. ``meta`` holds the float64
    ``transition`` matrix, the ``stationary`` distribution and the ``entropy_rate`` in nats: the
    expected next-token loss of the true model, the best any model can do.

Every generator uses its own ``numpy.random.Generator`` seeded from (seed, purpose), so changing
one size never shifts another part's draws. The MNIST-1D package seeds and draws from numpy's and
Python's global RNGs; :func:`load` saves and restores both around it, so loading never changes
global RNG state. Within a process :func:`load` memoises results by spec: treat the returned
tensors and ``meta`` as read-only.

Examples
--------
>>> spec = data_spec("markov", vocab=4, context=8, n_train=3, n_test=1)
>>> info(spec)["input_dim"], load(spec).x_train.shape
(8, torch.Size([3, 8]))
"""

from .core import TensorData
from .loading import clear_memo, info, load
from .modular import one_hot_pairs
from .params import DatasetEntry
from .registry import DATASETS
from .spec import DataSpec, data_spec

__all__ = [
    "DATASETS",
    "DataSpec",
    "DatasetEntry",
    "TensorData",
    "clear_memo",
    "data_spec",
    "info",
    "load",
    "one_hot_pairs",
]
