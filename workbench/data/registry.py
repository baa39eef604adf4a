"""``DATASETS``: every dataset family's :class:`DatasetEntry`, by name."""

from __future__ import annotations

from . import digits, features, gaussian, markov, mnist1d, modular
from .params import DatasetEntry

DATASETS: dict[str, DatasetEntry] = {
    "mnist1d": mnist1d.ENTRY,
    "digits": digits.ENTRY,
    "gaussian": gaussian.ENTRY,
    "modular": modular.ENTRY,
    "markov": markov.ENTRY,
    "features": features.ENTRY,
}
