"""BLAS threads: one cached threadpoolctl controller."""
from __future__ import annotations

import contextlib
from typing import Optional

_CONTROLLER = []  # one threadpoolctl controller: finding the libraries costs ~0.4 ms, a limit ~5 us


def blas_threads(n: Optional[int]):
    """A context manager capping BLAS/OpenMP threads (threadpoolctl), or a no-op without it."""
    if not n:
        return contextlib.nullcontext()
    if not _CONTROLLER:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:  # optional dependency
            return contextlib.nullcontext()
        _CONTROLLER.append(ThreadpoolController())
    return _CONTROLLER[0].limit(limits=n)


