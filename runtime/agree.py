"""Every core's BLAS threads, where that gives the same bits as one.

A BLAS library sums a product's terms in an order fixed by the call's shape and its thread
count, so a two-thread product may differ in the last bit from a one-thread one. With
OpenBLAS 0.3.31 (Haswell kernel) a whole product does for nearly every inner dimension K over
448 that is not a multiple of 32 (134 of 216 float32 shapes measured), so every product is
summed in a way whose bits do not follow the thread count (``summed`` in ``ir/ops/linalg.py``:
none of the 216 differs). Whether that holds depends on the library and the machine (on another
with the same library and kernel, two threads changed nearly every product), and the dataflow
executor's results are the sequential executor's at one BLAS thread, so it may run a step with
more BLAS threads only once it has seen that step give the same bits.

``Agreeing`` is that way of running a step. Its first call runs the step twice: with ``n``
threads on copies of the inputs and parameters, then with one thread on the real ones, and
compares every output and every parameter bit for bit. The order of a product's sums follows
from its shapes alone, so a step that agreed on one call agrees on every call with these
shapes (a different order would change some of the millions of last bits of random data).
The caller gets the one-thread result either way; if the bits differed, ``ok`` is False and
the guard drops this way (``on_disagree``).
"""
from __future__ import annotations

import logging
from typing import Callable, Optional

import numpy as np

log = logging.getLogger("chainrule.dataflow")


def _same(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


class Agreeing:
    """``step(arrays, P)`` run with ``n`` BLAS threads (``run(n, step, arrays, P)``), once its first
    call has shown the same bits as one thread."""

    def __init__(self, step: Callable, run: Callable, n: int, name: str = "",
                 on_disagree: Optional[Callable[[], None]] = None):
        self.step, self.run, self.n, self.name = step, run, n, name
        self.ok: Optional[bool] = None  # None: not checked yet
        self.on_disagree = on_disagree

    def check(self, arrays, P):
        """The step on copies at ``n`` threads, then for real at one thread: compare, return the latter."""
        copies = {k: v.copy() for k, v in P.items()}
        many = [np.array(o, copy=True) for o in self.run(self.n, self.step, [a.copy() for a in arrays], copies)]
        one = self.run(1, self.step, arrays, P)
        self.ok = all(_same(a, b) for a, b in zip(many, one)) and all(_same(copies[k], P[k]) for k in P)
        if not self.ok:
            log.info("%s: %d BLAS threads change the bits of this step; it runs at one", self.name, self.n)
            if self.on_disagree is not None:
                self.on_disagree()
        return one

    def __call__(self, arrays, P):
        if self.ok is None:
            return self.check(arrays, P)
        if not self.ok:
            return self.run(1, self.step, arrays, P)
        return self.run(self.n, self.step, arrays, P)
