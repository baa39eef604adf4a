"""Shared test set-up: a seeded global torch RNG and a private dataset cache."""

import os
import tempfile

import pytest
import torch

# Datasets generated during tests go to a private cache unless the caller chose one.
os.environ.setdefault(
    "WORKBENCH_DATA_DIR", os.path.join(tempfile.gettempdir(), "workbench-test-data")
)


@pytest.fixture(autouse=True)
def _seeded():
    torch.manual_seed(0)
    yield
