"""Golden IR text files: ``check_golden(name, text)`` compares ``text`` with ``tests/golden/<name>.ir``
(other texts, such as the loop source of ``runtime/loops.py``, with ``ext=".loops"``).

A missing or different golden fails with a unified diff. Regenerate on purpose with
``CHAINRULE_REGEN_GOLDEN=1 python -m pytest``, then review the diff in git before committing.
"""
from __future__ import annotations

import difflib
import os

GOLDEN_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden")
REGEN_ENV = "CHAINRULE_REGEN_GOLDEN"


def golden_path(name: str, ext: str = ".ir") -> str:
    return os.path.join(GOLDEN_DIR, f"{name}{ext}")


def regenerating() -> bool:
    return os.environ.get(REGEN_ENV, "") not in ("", "0")


def check_golden(name: str, text: str, ext: str = ".ir") -> None:
    """Assert ``text`` equals the golden ``name``; write it instead when regenerating."""
    path = golden_path(name, ext)
    if regenerating():
        os.makedirs(GOLDEN_DIR, exist_ok=True)
        with open(path, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        return
    if not os.path.exists(path):
        raise AssertionError(f"golden file tests/golden/{name}{ext} is missing; create it with "
                             f"{REGEN_ENV}=1 python -m pytest, then review it. Actual text:\n{text}")
    with open(path, encoding="utf-8") as f:
        want = f.read()
    if want != text:
        diff = "".join(difflib.unified_diff(want.splitlines(True), text.splitlines(True),
                                            f"golden/{name}{ext}", "actual"))
        raise AssertionError(f"text differs from golden {name}{ext} (regenerate on purpose with "
                             f"{REGEN_ENV}=1):\n{diff}")


def golden_files():
    """Names of every golden file (for the parser round-trip test)."""
    if not os.path.isdir(GOLDEN_DIR):
        return []
    # ``*.diff.ir`` goldens hold pass diffs (issue 7's dumps), not IR, so they are left out
    return sorted(f[:-3] for f in os.listdir(GOLDEN_DIR) if f.endswith(".ir") and not f.endswith(".diff.ir"))
