"""``chainrule examples [NAME]``: list the lecture's worked examples, or run one (it prints what the
lecture states and checks it; a failed check exits with an error)."""
from __future__ import annotations

import importlib

from ...ir.errors import InputError


def add_parser(sub):
    p = sub.add_parser("examples", help="list or run the lecture's worked examples", description=__doc__.replace("``", ""))
    p.add_argument("name", nargs="?", help="the example to run (omit to list them; 'all' runs every one)")
    p.add_argument("--out", metavar="DIR", help="folder for pictures (default: a temporary folder)")
    p.set_defaults(run=run)


def run(args):
    examples = importlib.import_module("...examples", __package__).EXAMPLES
    if not args.name:
        for name, doc in examples.items():
            print(f"{name:24} {doc}")
        return 0
    names = list(examples) if args.name == "all" else [args.name]
    for name in names:
        if name not in examples:
            raise InputError(f"no example {name!r}; the examples are: {', '.join(examples)}")
        print(f"== {name}: {examples[name]}")
        mod = importlib.import_module(f"...examples.{name}", __package__)
        try:
            mod.main(out_dir=args.out)
        except AssertionError as err:
            raise InputError(f"example {name} failed: {err}") from None
    return 0
