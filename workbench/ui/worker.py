"""One background worker per page: long computations off the page's event loop, the newest
request cancelling the one before, results posted back to the page's thread.

A served Panel page must never block, and a user who asks again (a new grid, a zoom) wants the
new answer, not the old one finished first. :class:`Worker` runs ``work(stop)`` in one thread;
``stop`` is a ``threading.Event`` set when a newer job is submitted (or the page closes), which
the work checks between blocks. :meth:`Worker.post` runs a callback on the page's thread when
served (``add_next_tick_callback``) and at once otherwise (tests, notebooks). An exception in the
work goes to ``on_error`` with its message, so a failed job is reported and what the page
already shows stays.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import panel as pn

__all__ = ["Worker"]


class Worker:
    """A one-thread background worker bound to the current Panel document (if served).

    Examples
    --------
    >>> w = Worker("demo")
    >>> seen = []
    >>> w.submit(lambda stop: w.post(lambda: seen.append(stop.is_set()))).result()
    >>> seen
    [False]
    >>> w.close()
    """

    def __init__(self, name: str = "workbench-worker") -> None:
        self.pool = ThreadPoolExecutor(1, thread_name_prefix=name)
        doc = pn.state.curdoc
        self.doc = doc if doc is not None and doc.session_context is not None else None
        self._stop = threading.Event()
        self.job: Future | None = None
        if self.doc is not None:
            pn.state.on_session_destroyed(lambda _ctx: self.close())

    def submit(
        self,
        work: Callable[[threading.Event], None],
        on_error: Callable[[str], None] | None = None,
    ) -> Future:
        """Run ``work(stop)`` after cancelling (setting ``stop`` of) the job before."""
        self._stop.set()
        stop = self._stop = threading.Event()

        def guarded() -> None:
            try:
                work(stop)
            except Exception as e:  # noqa: BLE001 - reported on the page, which stays
                if on_error is not None:
                    text = str(e) or repr(e)
                    self.post(lambda: on_error(text))

        self.job = self.pool.submit(guarded)
        return self.job

    def post(self, fn: Callable[[], object]) -> None:
        """``fn`` on the page's thread (served), or now (tests, notebooks)."""
        if self.doc is not None:
            self.doc.add_next_tick_callback(fn)
        else:
            fn()

    def close(self) -> None:
        """Cancel the running job and let the thread end."""
        self._stop.set()
        self.pool.shutdown(wait=False)
