"""The memory limit the runtime and the ONNX importer enforce before allocating.

``check_memory(graph, bindings)`` is the one check every executor makes before
a call allocates: the most bytes of inputs and intermediate values alive at once
(``peak_live_bytes``) for these symbol sizes, against the limit. The limit is
``CHAINRULE_MEMORY_LIMIT`` (bytes, or with a K/M/G/T suffix) if
set, else 8 GiB; ``set_memory_limit`` changes it for this process.
"""
from __future__ import annotations

import os
from typing import Dict, Optional

from ..ir import Graph, ResourceError

_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_limit = [None]


def parse_size(text: str) -> int:
    t = str(text).strip().upper().removesuffix("B").removesuffix("I")
    unit = t[-1:] if t[-1:] in _UNITS and t[-1:] else ""
    try:
        n = float(t[: len(t) - len(unit)]) * _UNITS[unit]
        if not 0 <= n < float(1 << 62):  # inf, nan, negative or beyond any machine: not a size
            raise ValueError
        return int(n)
    except ValueError:
        raise ResourceError(f"cannot read memory size {text!r}; write e.g. 8G, 512M or 1000000") from None


def memory_limit() -> int:
    if _limit[0] is not None:
        return _limit[0]
    env = os.environ.get("CHAINRULE_MEMORY_LIMIT")
    return parse_size(env) if env else 8 << 30


def set_memory_limit(nbytes) -> None:
    """Set the limit (an int of bytes or a string like ``"2G"``); ``None`` restores the default."""
    _limit[0] = None if nbytes is None else (parse_size(nbytes) if isinstance(nbytes, str) else int(nbytes))


def human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024


def peak_live_bytes(graph: Graph, bindings: Dict[str, int]) -> int:
    """Most bytes of inputs and intermediate values alive at once in node order, for these
    symbol sizes (parameters are not counted: they exist already)."""
    size = {id(v): v.type.nbytes(bindings) or 0 for v in graph.all_values() if v.kind != "param"}
    last_use = {}
    for i, node in enumerate(graph.nodes):
        for v in node.inputs:
            last_use[id(v)] = i
    live = peak = sum(size[id(v)] for v in graph.inputs)
    for i, node in enumerate(graph.nodes):
        live += sum(size[id(o)] for o in node.outputs)
        peak = max(peak, live)
        live -= sum(size.get(id(v), 0) for v in dict.fromkeys(node.inputs)
                    if last_use.get(id(v)) == i and v.kind == "node")
    return peak


def check_memory(graph: Graph, bindings: Dict[str, int], need: Optional[int] = None) -> None:
    """Raise ``ResourceError`` if running ``graph`` with these symbol sizes would need more than
    the limit; ``need``: the peak if the caller has it (cached), else ``peak_live_bytes``."""
    need = peak_live_bytes(graph, bindings) if need is None else need
    limit = memory_limit()
    if need > limit:
        dims = ", ".join(f"{k}={n}" for k, n in bindings.items())
        raise ResourceError(f"graph {graph.name}{' with ' + dims if dims else ''} would need {human(need)} of live "
                            f"values, over the memory limit of {human(limit)}; use a smaller batch or raise the "
                            f"limit (CHAINRULE_MEMORY_LIMIT or chainrule.runtime.set_memory_limit)")
