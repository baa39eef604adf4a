"""The ``modular`` dataset (modular arithmetic, for grokking) and :func:`one_hot_pairs`."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .core import TensorData, _rng, _sizes, _split_count
from .params import DatasetEntry, _count, _fraction, _Param

if TYPE_CHECKING:
    from .spec import DataSpec

_MODULAR_OPS = ("add", "sub", "mul", "div")


def _is_prime(p: int) -> bool:
    return p >= 2 and all(p % k for k in range(2, math.isqrt(p) + 1))


def _modular_n(params: Mapping[str, Any]) -> tuple[int, int]:
    p = params["p"]
    n = p * (p - 1) if params["op"] == "div" else p * p  # div excludes b = 0
    n_train = _split_count(n, params["train_fraction"])
    return n_train, n - n_train


def _check_modular(params: dict) -> None:
    if params["op"] == "div" and not _is_prime(params["p"]):
        raise ValueError(f"modular: p={params['p']} must be prime for op='div'")
    n_train, n_test = _modular_n(params)
    if n_train < 1 or n_test < 1:
        raise ValueError(
            f"modular: train_fraction={params['train_fraction']} with p={params['p']} gives "
            f"{n_train} train and {n_test} test pairs; both need at least one"
        )


def _modular_sizes(spec: DataSpec) -> dict:
    n_train, n_test = _modular_n(dict(spec.params))
    return _sizes(n_train, n_test, 2, spec.p, "classification", spec.p)


def _build_modular(spec: DataSpec) -> TensorData:
    p, op = spec.p, spec.op
    a, b = (g.ravel() for g in np.meshgrid(np.arange(p), np.arange(p), indexing="ij"))
    if op == "div":
        a, b = a[b != 0], b[b != 0]
    if op == "add":
        y = (a + b) % p
    elif op == "sub":
        y = (a - b) % p
    elif op == "mul":
        y = (a * b) % p
    else:  # a / b = a * b^(p-2) mod p for prime p (Fermat's little theorem)
        inverse = np.array([0] + [pow(int(k), p - 2, p) for k in range(1, p)])
        y = (a * inverse[b]) % p
    x = np.stack([a, b], axis=1).astype(np.int64)  # (n, 2) tokens (a, b)
    perm = _rng(spec.seed, 1).permutation(len(y))
    n_train, _ = _modular_n(dict(spec.params))
    train, test = perm[:n_train], perm[n_train:]
    y = y.astype(np.int64)
    return TensorData(
        x_train=torch.from_numpy(x[train]),
        y_train=torch.from_numpy(y[train]),
        x_test=torch.from_numpy(x[test]),
        y_test=torch.from_numpy(y[test]),
        n_classes=p,
        task="classification",
        name="modular",
        meta={"p": p, "op": op, "input": "tokens", "vocab": p},
    )


def one_hot_pairs(x: torch.Tensor, p: int) -> torch.Tensor:
    """One-hot encode ``modular`` token pairs for a model that takes features.

    Parameters
    ----------
    x : torch.Tensor
        int64 ``[n, 2]`` tokens ``(a, b)`` with values in ``[0, p)``.
    p : int
        The modulus (vocabulary size).

    Returns
    -------
    torch.Tensor
        float32 ``[n, 2p]``: ``one_hot(a)`` then ``one_hot(b)``.

    Examples
    --------
    >>> one_hot_pairs(torch.tensor([[1, 2]]), 3)
    tensor([[0., 1., 0., 0., 0., 1.]])
    """
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"one_hot_pairs: x.shape={tuple(x.shape)} must be (n, 2)")
    if x.numel() and (int(x.min()) < 0 or int(x.max()) >= p):
        raise ValueError(
            f"one_hot_pairs: x has values in [{int(x.min())}, {int(x.max())}]; must be in "
            f"[0, p={p})"
        )
    return torch.nn.functional.one_hot(x.long(), p).reshape(x.shape[0], 2 * p).float()


ENTRY = DatasetEntry(
    description="all pairs (a, b) mod p as int64 tokens [n, 2], label a op b mod p (grokking)",
    params={
        "p": _count(97, 2, 4096),  # modulus = number of classes = vocabulary
        "op": _Param("add", str, choices=_MODULAR_OPS),  # div needs prime p, b != 0
        "train_fraction": _fraction(0.3),  # first int(n * fraction) shuffled pairs train
    },
    build=_build_modular,
    sizes=_modular_sizes,
    check=_check_modular,
)
