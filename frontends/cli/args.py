"""argparse types shared by the subcommands: a bad value is a usage error naming the flag
(``argument --batch: must be a whole number at least 1, got 0``), before anything runs."""
from __future__ import annotations

import argparse


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
    import os
    folder = os.path.dirname(os.path.abspath(text))
    if not os.path.isdir(folder):
        raise argparse.ArgumentTypeError(f"cannot write {text!r}: the folder {folder!r} does not exist")
    return text
