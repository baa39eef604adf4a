"""Stacked optimizers: one step updates the flat ``[N, P]`` parameters of every run.

Every hyperparameter is per run and may be a schedule: the engine precomputes float64 tables
``[T, N]``, each optimizer turns them into per-step coefficients, and one step (a fused Triton
kernel on CUDA, a few in-place torch passes elsewhere) updates all runs. Weight decay is
decoupled (Loshchilov & Hutter 2019) everywhere.

Each optimizer has a plain reference beside it: ``torch.optim.AdamW``, ``torch.optim.SGD`` (with
:func:`sgd_reference_step`), :func:`lion_reference_step`, and Muon's per-run loop; the tests step
both with identical gradients and check they agree.
"""

from .adamw import AdamW, StackedAdamW, adamw_coefficients
from .base import Hyper, OptimizerSpec, finish_step, take_rows, use_kernels
from .lion import Lion, StackedLion, lion_reference_step
from .muon import (
    Muon,
    StackedMuon,
    muon_reference_step,
    orthogonalize,
    orthogonalize_reference,
)
from .sgd import SGD, StackedSGD, sgd_reference_step

OPTIMIZERS: dict[str, type] = {"AdamW": AdamW, "SGD": SGD, "Lion": Lion, "Muon": Muon}

__all__ = [
    "AdamW",
    "Hyper",
    "Lion",
    "Muon",
    "OPTIMIZERS",
    "OptimizerSpec",
    "SGD",
    "StackedAdamW",
    "StackedLion",
    "StackedMuon",
    "StackedSGD",
    "adamw_coefficients",
    "finish_step",
    "lion_reference_step",
    "muon_reference_step",
    "orthogonalize",
    "orthogonalize_reference",
    "sgd_reference_step",
    "take_rows",
    "use_kernels",
]
