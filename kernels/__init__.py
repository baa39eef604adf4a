"""Triton kernels for the lockstep engine, importable as ``workbench.kernels``.

Each kernel sits beside a plain torch reference of the same math and a test that compares
the two (on CPU under ``TRITON_INTERPRET=1``):

- :func:`fused_adamw_step`, :func:`fused_sgd_step`, :func:`fused_lion_step` (in
  :mod:`~workbench.kernels.fused_optim`): one optimizer step over the flat ``[N, P]`` buffer
  in one launch, with per-run coefficients and the update/parameter norms fused in;
- :func:`adamw_step_reference`, :func:`sgd_step_reference`, :func:`lion_step_reference` (in
  :mod:`~workbench.kernels.reference`): the same steps in plain torch, the path to use where
  Triton cannot run.

The fused launchers load on first use, so importing this package never imports Triton (absent
on macOS), and Triton reads ``TRITON_INTERPRET`` only when a kernel is first needed.
"""

from __future__ import annotations

import importlib
import importlib.util

from .reference import adamw_step_reference, lion_step_reference, sgd_step_reference

_FUSED = ("fused_adamw_step", "fused_lion_step", "fused_sgd_step")


def triton_available() -> bool:
    """Whether Triton can be imported on this machine.

    Examples
    --------
    >>> isinstance(triton_available(), bool)
    True
    """
    return importlib.util.find_spec("triton") is not None


__all__ = [
    "adamw_step_reference",
    "lion_step_reference",
    "sgd_step_reference",
    "triton_available",
    *(_FUSED if triton_available() else ()),
]


def __getattr__(name: str):
    # PEP 562: import fused_optim (and with it Triton) only when a launcher is asked for.
    if name in _FUSED:
        if not triton_available():
            twin = name.removeprefix("fused_") + "_reference"
            raise ImportError(
                f"workbench.kernels.{name} needs Triton, which is not installed here; "
                f"use workbench.kernels.{twin} instead"
            )
        return getattr(importlib.import_module(".fused_optim", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
