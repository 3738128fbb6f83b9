"""Specialisations: what a compiled model keeps per key of a call, least recently used dropped first.

A compiled graph is specialised on what its inputs fix. The executors specialise on the sizes
of the symbolic dimensions (the batch size ``N``): per set of sizes, a memory plan and its
generated code (``executor.py``). A model with specialisation keys (inputs whose *value* sets
shapes, such as an ONNX Reshape target fed as an input; ``Graph.keys``) is specialised on
those values too: per value, a graph built and compiled for it (``frontends/compile.py``).

Both are a ``Specializations``: an ordered mapping from key to compiled form that holds at
most ``maxsize`` entries (``MAX_SPECIALIZATIONS`` by default). A look-up moves the entry to
the end (``use``); adding one past the bound drops the least recently used entry and tells
``on_evict``, so that its buffers can be freed. A changing key therefore recompiles, and a
stream of distinct keys (a new batch size every call) holds a bounded amount of memory:

    >>> cache = Specializations(maxsize=2)
    >>> cache.add(("N", 8), "step for N=8"); cache.add(("N", 16), "step for N=16")
    >>> cache.use(("N", 8)); cache.add(("N", 32), "step for N=32")   # drops N=16
    'step for N=8'
    >>> list(cache), cache.evictions
    ([('N', 8), ('N', 32)], 1)
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Callable, Hashable, Optional

#: The most specialisations one cache keeps (per executor: symbol sizes; per Executable: key values).
MAX_SPECIALIZATIONS = 16


class Specializations(OrderedDict):
    """key -> compiled form, least recently used first; at most ``maxsize`` entries.

    ``get`` and ``in`` are the dict's own (no recency change: cheap on a warm path that then
    calls ``move_to_end``); ``use`` is a look-up that counts as a use.
    """

    def __init__(self, maxsize: Optional[int] = None, on_evict: Optional[Callable] = None):
        super().__init__()
        self.maxsize = max(1, int(MAX_SPECIALIZATIONS if maxsize is None else maxsize))
        self.on_evict = on_evict
        self.evictions = 0

    def use(self, key: Hashable):
        """The entry for ``key`` (None if absent), now the most recently used."""
        value = self.get(key)
        if value is not None:
            self.move_to_end(key)
        return value

    def add(self, key: Hashable, value) -> None:
        """Add (or replace) the entry for ``key``, dropping the least recently used past ``maxsize``."""
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.maxsize:
            old, gone = self.popitem(last=False)
            self.evictions += 1
            if self.on_evict is not None:
                self.on_evict(old, gone)
