"""Threads: the cores this process may use, and BLAS threads through one cached threadpoolctl controller.

The dataflow executor keeps a budget: workers × BLAS threads per task never
exceeds ``available_cores()``, and it runs one BLAS thread per worker. OpenBLAS
threads spin while they wait for work, so two workers each running a two-thread
GEMM on two cores fight over them, and a two-thread GEMM on a machine where
another job holds a core waits for its descheduled half (10-20x slower, measured).
"""
from __future__ import annotations

import contextlib
import os
from typing import List, Optional

_SCANS = [0]  # how many times rescan() was called: a BlasSetter made before looks again
_CONTROLLER = []  # one threadpoolctl controller: finding the libraries costs ~0.4 ms, a limit ~5 us


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity, not the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # no affinity call on this platform
        return max(1, os.cpu_count() or 1)


def _controller():
    if not _CONTROLLER:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:  # optional dependency
            return None
        _CONTROLLER.append(ThreadpoolController())
    return _CONTROLLER[0]


def rescan() -> None:
    """Find the BLAS libraries again on next use: one loaded since (numba loads SciPy's OpenBLAS)
    would otherwise escape ``blas_threads`` and every ``BlasSetter``."""
    _CONTROLLER.clear()
    _SCANS[0] += 1


def blas_threads(n: Optional[int]):
    """A context manager capping BLAS/OpenMP threads (threadpoolctl), or a no-op without it."""
    if not n:
        return contextlib.nullcontext()
    ctl = _controller()
    return contextlib.nullcontext() if ctl is None else ctl.limit(limits=n)


class BlasSetter:
    """Sets the BLAS thread count directly (about 1 µs, against 5-15 µs for a threadpoolctl limit):
    what the dataflow executor calls around a call. The count is process-wide."""

    def __init__(self):
        self._scan = -1
        self._look()

    def _look(self) -> None:
        ctl = _controller()
        self._libs: List = [] if ctl is None else [c for c in ctl.lib_controllers if c.user_api == "blas"]
        self._scan = _SCANS[0]

    def get(self) -> int:
        if self._scan != _SCANS[0]:
            self._look()
        return self._libs[0].num_threads if self._libs else 0

    def __call__(self, n: int) -> None:
        if self._scan != _SCANS[0]:
            self._look()
        for lib in self._libs:
            lib.set_num_threads(n)

    def run(self, n: int, fn, *args):
        """``fn(*args)`` with ``n`` BLAS threads, the count restored after."""
        prev = self.get()
        if not self._libs or prev == n:
            return fn(*args)
        self(n)
        try:
            return fn(*args)
        finally:
            self(prev)
