"""The ``chainrule`` command line. Each subcommand lives in its own module and
registers itself in ``SUBCOMMANDS`` (name -> module with ``add_parser`` and ``run``)."""
from __future__ import annotations

import argparse
import difflib
import importlib
import os
import sys

from ...ir.errors import ChainruleError

#: subcommand name -> module (relative to chainrule.frontends.cli) defining add_parser(sub) and run(args)
SUBCOMMANDS = {
    "ops": ".ops",
    "check": ".check",
    "train": ".train",
    "dump": ".dump",
    "explain": ".explain",
    "cost": ".cost",
    "profile": ".profile",
    "examples": ".examples",
    "import": ".inspect",
    "inspect": ".inspect",
    "export": ".export",
    "run": ".run",
    "grad": ".grad",
}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="chainrule",
        description="chainrule: a graph-IR compiler for neural networks. "
                    "Models become IR graphs; passes (autodiff, fusion, memory planning) transform them; "
                    "a NumPy runtime runs them.")
    from ..version import __version__
    p.add_argument("--version", action="version", version=f"chainrule {__version__}")
    p.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    seen = set()
    for name, modname in SUBCOMMANDS.items():
        mod = importlib.import_module(modname, __package__)
        if mod.__name__ not in seen:
            seen.add(mod.__name__)
            mod.add_parser(sub)
    return p


def _unknown_options(parser, args, extra):
    """Refuse options the subcommand does not know with its own usage and a "did you mean"
    (argparse would print the top-level usage: ``--hiden`` belongs to ``train``, not ``chainrule``)."""
    subs = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
    target = subs.choices.get(args.command, parser) if subs is not None and args.command else parser
    known = [o for a in target._actions for o in a.option_strings]
    words = []
    for word in extra:
        close = difflib.get_close_matches(word.split("=", 1)[0], known, n=1) if word.startswith("-") else []
        words.append(f"{word} (did you mean {close[0]}?)" if close else word)
    target.error("unrecognized arguments: " + " ".join(words))


def main(argv=None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        _unknown_options(parser, args, extra)
    if not args.command:
        parser.print_help()
        return 0
    try:
        return int(args.run(args) or 0)
    except BrokenPipeError:  # `chainrule examples | head`: the reader left; not an error
        sys.stdout = open(os.devnull, "w")  # so the interpreter's final flush stays quiet too
        return 0
    except ChainruleError as err:
        if args.debug:
            raise
        print(f"chainrule {args.command}: error: {err}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as err:
        if args.debug:
            raise
        print(f"chainrule {args.command}: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"chainrule {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
