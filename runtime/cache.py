"""The folder where chainrule keeps what it computes once per machine.

``CHAINRULE_CACHE`` names it; by default it is ``chainrule`` in the user's cache folder
(``$XDG_CACHE_HOME``, else ``~/.cache``). The dataflow executor keeps this machine's
measured rates there (``costmodel.py``), the numba backend its generated step modules and
numba's compiled code (``numba_backend.py``).
"""
from __future__ import annotations

import os

CACHE_ENV = "CHAINRULE_CACHE"


def cache_dir(*parts: str) -> str:
    """The cache folder (not created), or a folder inside it."""
    root = os.environ.get(CACHE_ENV) or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "chainrule")
    return os.path.join(root, *parts)
