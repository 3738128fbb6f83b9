"""The memory limit the runtime and the ONNX importer enforce before allocating.

The limit is ``CHAINRULE_MEMORY_LIMIT`` (bytes, or with a K/M/G/T suffix) if
set, else 8 GiB; ``set_memory_limit`` changes it for this process.
"""
from __future__ import annotations

import os

from ..ir import ResourceError

_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_limit = [None]


def parse_size(text: str) -> int:
    t = str(text).strip().upper().removesuffix("B").removesuffix("I")
    unit = t[-1:] if t[-1:] in _UNITS and t[-1:] else ""
    try:
        return int(float(t[: len(t) - len(unit)]) * _UNITS[unit])
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
