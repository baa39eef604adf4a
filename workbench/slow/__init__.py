"""Fast and slow weights: Lookahead, EMA slow weights and a slow backbone, stacked per run.

Also CLS-ER's consistency loss toward EMA copies and a fast error memory (ReLoop2-style). See
:mod:`workbench.slow.specs` for what each mechanism does, :mod:`workbench.slow.stacked` for
how a bucket runs them, and :mod:`workbench.slow.reference` for the plain per-run twin the
lock-step tests compare against.
"""

from .align import ClassifierAlignment
from .memory import StackedErrorMemory, corrected_losses
from .specs import EMA, ErrorMemory, Knob, Lookahead, Slow, horizon, knobs
from .stacked import SlowState, momentum_buffer
from .tables import coefficient_rows, draws, ema_weights, sync_table

__all__ = [
    "ClassifierAlignment",
    "EMA",
    "ErrorMemory",
    "Knob",
    "Lookahead",
    "Slow",
    "SlowState",
    "StackedErrorMemory",
    "coefficient_rows",
    "corrected_losses",
    "draws",
    "ema_weights",
    "horizon",
    "knobs",
    "momentum_buffer",
    "sync_table",
]
