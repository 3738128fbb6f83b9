"""``chainrule check FILE.ir``: parse an IR text file, run the verifier, and print the graph back."""
from __future__ import annotations

import os

from ...ir import parse_graph, print_graph, verify
from .common import CliInputError


def add_parser(sub):
    p = sub.add_parser("check", help="parse and verify an IR text file",
                       description="Parse an IR text file, run the verifier, and print the graph back.")
    p.add_argument("file", help="IR text file (as written by dump_dir or print_graph)")
    p.set_defaults(run=run)


def _read(path):
    if not os.path.isfile(path):
        raise CliInputError(f"{path}: " + ("is a folder, not an IR text file" if os.path.isdir(path) else "no such file"))
    with open(path, encoding="utf-8") as f:
        return f.read()


def run(args):
    text = _read(args.file)
    try:
        g = parse_graph(text)
    except Exception as err:
        raise type(err)(f"{args.file}: {err}") from None
    verify(g)
    print(print_graph(g), end="")
    return 0
