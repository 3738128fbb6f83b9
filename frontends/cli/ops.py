"""``chainrule ops``: every op in the registry, its family, ONNX mapping and gradient."""
from __future__ import annotations

from ...ir import OPS


def add_parser(sub):
    p = sub.add_parser("ops", help="list every op in the registry",
                       description="List every op: its family, ONNX mapping and whether it has a gradient.")
    p.set_defaults(run=run)


def run(args):
    from ..onnx.ops import EXPORTS
    print(f"{'op':22} {'family':12} {'onnx':26} gradient")
    for name, op in OPS.items():
        grad = "zero a.e." if op.zero_grad else ("yes" if op.differentiable else "none")
        onnx = (EXPORTS[name].onnx or "(composite)") if name in EXPORTS else "(none)"
        print(f"{name:22} {op.family:12} {onnx:26} {grad}")
    return 0
