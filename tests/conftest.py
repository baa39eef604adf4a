"""Shared test set-up: a seeded global torch RNG and a private dataset cache."""

import os
import tempfile

import pytest
import torch

# Without a GPU, Triton kernels run in its interpreter; it must be chosen before any kernel is
# decorated, i.e. before anything imports workbench.kernels.
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

# Datasets generated during tests go to a private cache unless the caller chose one.
os.environ.setdefault(
    "WORKBENCH_DATA_DIR", os.path.join(tempfile.gettempdir(), "workbench-test-data")
)


@pytest.fixture(autouse=True)
def _seeded():
    torch.manual_seed(0)
    yield
