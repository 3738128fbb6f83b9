"""argparse types shared by the subcommands: a bad value is a usage error naming the flag
(``argument --batch: must be a whole number at least 1, got 0``), before anything runs."""
from __future__ import annotations

import argparse
import os


def at_least(low: int):
    """An int type for argparse that refuses values below ``low``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be a whole number at least {low}, got {value}")
        return value
    parse.__name__ = f"int >= {low}"
    return parse


positive_int = at_least(1)


def new_file(text: str) -> str:
    """A path to write: its folder must exist (checked before any work is done)."""
    folder = os.path.dirname(os.path.abspath(text))
    if not os.path.isdir(folder):
        raise argparse.ArgumentTypeError(f"cannot write {text!r}: the folder {folder!r} does not exist")
    return text


def output_file(path: str, suffix: str, force: bool) -> str:
    """The file a command writes for ``--output PATH``: ``PATH`` with ``suffix`` added if it
    lacks it (as ``np.savez`` and ``savefig`` would), refused if it exists unless ``force``."""
    from ...ir.errors import WriteError
    if not path.endswith(suffix):
        path += suffix
    if os.path.lexists(path) and not force:
        raise WriteError(f"{path} exists; give --force to overwrite it")
    return path


def write_npz(path: str, arrays) -> str:
    """Write ``arrays`` to ``path`` as an .npz, atomically (``ir.files.write_file``)."""
    import numpy as np
    from ...ir.files import write_file
    return write_file(path, writer=lambda f: np.savez(f, **arrays))
