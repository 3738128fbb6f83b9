"""``chainrule check FILE.ir``: parse an IR text file, run the verifier, and print the graph back."""
from __future__ import annotations

from ...ir import parse_graph, print_graph, verify
from ...ir.errors import ReadError
from ...ir.files import open_regular
from .common import CliInputError


def add_parser(sub):
    p = sub.add_parser("check", help="parse and verify an IR text file",
                       description="Parse an IR text file, run the verifier, and print the graph back.")
    p.add_argument("file", help="IR text file (as written by dump_dir or print_graph)")
    p.set_defaults(run=run)


def _read(path):
    try:
        with open_regular(path, text=True) as f:  # a FIFO is refused, not waited on
            return f.read()
    except ReadError as err:
        raise CliInputError(str(err)) from None
    except UnicodeDecodeError as err:
        raise CliInputError(f"{path}: is not UTF-8 text (byte {err.start}); an IR file is UTF-8") from None


def run(args):
    text = _read(args.file)
    try:
        g = parse_graph(text)
    except Exception as err:
        raise type(err)(f"{args.file}: {err}") from None
    verify(g)
    print(print_graph(g), end="")
    return 0
