"""Triton kernels for the lockstep engine, importable as ``workbench.kernels``.

Each kernel sits beside a plain torch reference of the same math and a test that compares
the two (on CPU under ``TRITON_INTERPRET=1``). The fused optimizer steps arrive with the
transformer/optimizers issue; this package is the home they install into.
"""

from __future__ import annotations

import importlib.util

__all__ = ["triton_available"]


def triton_available() -> bool:
    """Whether Triton can be imported on this machine.

    Examples
    --------
    >>> isinstance(triton_available(), bool)
    True
    """
    return importlib.util.find_spec("triton") is not None
