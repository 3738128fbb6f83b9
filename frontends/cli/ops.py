"""``chainrule ops`` (list the op registry) and ``chainrule check FILE.ir`` (parse and verify IR text)."""
from __future__ import annotations

import os

from ...ir import OPS, parse_graph, print_graph, verify


def add_parser(sub):
    p = sub.add_parser("ops", help="list every op in the registry",
                       description="List every op: its family, ONNX mapping and whether it has a gradient.")
    p.set_defaults(run=run_ops)
    p = sub.add_parser("check", help="parse and verify an IR text file",
                       description="Parse an IR text file, run the verifier, and print the graph back.")
    p.add_argument("file", help="IR text file (as written by dump_dir or print_graph)")
    p.set_defaults(run=run_check)


def run_ops(args):
    from ..onnx.ops import EXPORTS
    print(f"{'op':22} {'family':12} {'onnx':26} gradient")
    for name, op in OPS.items():
        grad = "zero a.e." if op.zero_grad else ("yes" if op.differentiable else "none")
        onnx = (EXPORTS[name].onnx or "(composite)") if name in EXPORTS else "(none)"
        print(f"{name:22} {op.family:12} {onnx:26} {grad}")
    return 0


def _read(path):
    from .onnx import CliInputError
    if not os.path.isfile(path):
        raise CliInputError(f"{path}: " + ("is a folder, not an IR text file" if os.path.isdir(path) else "no such file"))
    with open(path, encoding="utf-8") as f:
        return f.read()


def run_check(args):
    text = _read(args.file)
    try:
        g = parse_graph(text)
    except Exception as err:
        raise type(err)(f"{args.file}: {err}") from None
    verify(g)
    print(print_graph(g), end="")
    return 0
