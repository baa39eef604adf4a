"""Run the Triton kernels under the interpreter where there is no GPU.

``triton.jit`` reads ``TRITON_INTERPRET`` when it decorates a kernel, that is when
``workbench.kernels.fused_optim`` is first imported, so it is set here, before any test
module in this folder imports it.
"""

import os

import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")
