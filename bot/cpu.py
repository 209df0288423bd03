"""The server's process pool for CPU-heavy review steps (the injection scan).

Work that holds the interpreter for seconds would stall the event loop that answers webhooks
even from a thread; in a separate process it cannot. A worker process that dies (killed for
memory, say) breaks a ``ProcessPoolExecutor`` for good, so ``CpuPool`` starts a fresh one for
the next submission: the job that was running fails visibly, the ones after it go on.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import ParamSpec, TypeVar

log = logging.getLogger("prwarden.cpu")

P = ParamSpec("P")
T = TypeVar("T")


def default_workers() -> int:
    """One process per core, leaving one core to the event loop."""
    return max(1, (os.cpu_count() or 1) - 1)


class CpuPool(Executor):
    """A forkserver process pool (never a fork of a threaded process), renewed when broken."""

    def __init__(self, workers: int):
        self.workers = max(1, workers)
        self._pool = self._new()

    def _new(self) -> ProcessPoolExecutor:
        context = multiprocessing.get_context("forkserver")
        return ProcessPoolExecutor(max_workers=self.workers, mp_context=context)

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        try:
            return self._pool.submit(fn, *args, **kwargs)
        except BrokenProcessPool:
            log.warning("a CPU worker process died; starting a new pool")
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._new()
            return self._pool.submit(fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=cancel_futures)

    def __repr__(self) -> str:
        return f"CpuPool(workers={self.workers})"
