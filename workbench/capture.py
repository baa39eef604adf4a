"""Replaying a training step as a CUDA graph.

A :class:`~workbench.bucket.Bucket`'s step has fixed shapes and addresses and reads the step
number from a device tensor, so on CUDA it can be captured once in a CUDA graph and replayed:
:class:`GraphedStep` runs the first ``_WARMUP`` steps eagerly on a side stream (the warm-up that
CUDA graphs need), captures the next one and replays it from then on. The graph runs exactly the
kernels of the eager step, so results are the same.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["GraphedStep"]

_WARMUP = 3  # eager steps before a CUDA graph is captured


class GraphedStep:
    """Runs a step: eagerly, or (``enabled``, CUDA only) captured in a CUDA graph and replayed.

    The step is passed to each call rather than kept, so the owner of the step (the bucket) is
    not referenced from here. Call :meth:`reset` whenever the step's shapes or buffers change:
    the step is then warmed up and captured again.

    >>> run, calls = GraphedStep(torch.device("cpu"), enabled=False), []
    >>> run(lambda: calls.append(1)); run(lambda: calls.append(2)); calls
    [1, 2]
    """

    def __init__(self, device: torch.device, *, enabled: bool) -> None:
        self.device, self.enabled = device, enabled
        self.graph: torch.cuda.CUDAGraph | None = None
        self.warm = 0  # eager warm-up steps taken before capture

    def __call__(self, step: Callable[[], None]) -> None:
        """One step: the graph's replay once captured, else an eager (warm-up) step."""
        if self.graph is not None:
            self.graph.replay()
        elif self.enabled:
            self._warm_step(step)
        else:
            step()

    def reset(self) -> None:
        """Forget the graph (new shapes or buffers): warm up and capture again."""
        self.graph, self.warm = None, 0

    def _capture(self, step: Callable[[], None]) -> None:
        """Record ``step`` in a CUDA graph; recording runs nothing, replay runs it all.

        Called after a few eager steps on a side stream (the warm-up CUDA graphs need: they
        select cuBLAS and Triton-autotune choices and allocate every buffer the step uses).
        """
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            step()
        self.graph = graph

    def _warm_step(self, step: Callable[[], None]) -> None:
        """An eager step on a side stream; after ``_WARMUP`` of them the step is captured."""
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):
            step()
        torch.cuda.current_stream(self.device).wait_stream(side)
        self.warm += 1
        if self.warm == _WARMUP:
            self._capture(step)
