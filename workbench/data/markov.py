"""The ``markov`` dataset: random bigram "languages" that drift apart with ``distance``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from .core import TensorData, _rng, _sizes
from .params import DatasetEntry, _count, _fraction, _Param

if TYPE_CHECKING:
    from .spec import DataSpec


def _markov_sizes(spec: DataSpec) -> dict:
    return _sizes(spec.n_train, spec.n_test, spec.context, spec.vocab, "tokens", spec.vocab)


def _markov_chain(spec: DataSpec) -> tuple[np.ndarray, np.ndarray, float]:
    """Transition matrix P, stationary distribution pi and entropy rate H (nats), in float64."""
    v = spec.vocab
    base = _rng(spec.seed, 1).standard_normal((v, v))
    variant = _rng(spec.seed, 2, spec.variant).standard_normal((v, v))
    logits = ((1.0 - spec.distance) * base + spec.distance * variant) / spec.temperature
    logits -= logits.max(axis=1, keepdims=True)
    trans = np.exp(logits)
    trans /= trans.sum(axis=1, keepdims=True)  # (V, V), row i = P(next | current = i)
    # pi P = pi with sum(pi) = 1: replace one (redundant) balance equation by the normalisation
    a = trans.T - np.eye(v)
    a[-1] = 1.0
    rhs = np.zeros(v)
    rhs[-1] = 1.0
    stationary = np.clip(np.linalg.solve(a, rhs), 0.0, None)
    stationary /= stationary.sum()
    entropy = float(-(stationary[:, None] * trans * np.log(trans)).sum())
    return trans, stationary, entropy


def _sample_chain(
    rng: np.random.Generator, trans: np.ndarray, start: np.ndarray, n: int, length: int
) -> np.ndarray:
    """``n`` sequences of ``length`` tokens started from ``start``, by inverse-CDF sampling."""
    cdf = np.cumsum(trans, axis=1)
    cdf[:, -1] = 1.0  # guard against rounding below 1
    start_cdf = np.cumsum(start)
    start_cdf[-1] = 1.0
    seq = np.empty((n, length), dtype=np.int64)
    seq[:, 0] = np.searchsorted(start_cdf, rng.random(n), side="right")
    for t in range(1, length):
        u = rng.random(n)
        seq[:, t] = (u[:, None] >= cdf[seq[:, t - 1]]).sum(axis=1)  # first j with cdf > u
    return seq


def _build_markov(spec: DataSpec) -> TensorData:
    trans, stationary, entropy = _markov_chain(spec)
    length = spec.context + 1
    train = _sample_chain(_rng(spec.seed, 3, spec.variant), trans, stationary, spec.n_train, length)
    test = _sample_chain(_rng(spec.seed, 4, spec.variant), trans, stationary, spec.n_test, length)
    return TensorData(
        x_train=torch.from_numpy(train[:, :-1].copy()),
        y_train=torch.from_numpy(train[:, 1:].copy()),
        x_test=torch.from_numpy(test[:, :-1].copy()),
        y_test=torch.from_numpy(test[:, 1:].copy()),
        n_classes=spec.vocab,
        task="tokens",
        name="markov",
        meta={
            "transition": torch.from_numpy(trans),
            "stationary": torch.from_numpy(stationary),
            "entropy_rate": entropy,
        },
    )


ENTRY = DatasetEntry(
    description=(
        "random bigram language: logits (1 - distance) * base(seed) + distance * "
        "variant(seed, variant), softmax at temperature; x = seq[:, :-1], y = seq[:, 1:]"
    ),
    params={
        "vocab": _count(32, 2, 2048),  # V tokens
        "temperature": _Param(1.0, float, lo=0.05),  # lower = more peaked transitions
        "context": _count(64, 1),  # T tokens per example
        "n_train": _count(2000, 1),  # sequences
        "n_test": _count(200, 1),  # sequences
        "distance": _fraction(0.0, closed=True),  # 0 = base language, 1 = variant's own
        "variant": _count(0, 0),  # which variant language (and sample stream)
    },
    build=_build_markov,
    sizes=_markov_sizes,
)
