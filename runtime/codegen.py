"""Python source for a planned graph, generated once per set of bindings (used by ``executor.py``).

Each node becomes a few straight-line lines over local variables ``v<slot>``
with everything resolved in advance: the planned buffers, a ``Fused`` node's
scratch buffers and step order (its body is inlined), transposed operands,
ufuncs called with a positional ``out``. So a step costs one NumPy call per
operation and no dict look-ups or shape checks::

    v10 = o2                      # planned buffer of %fc1
    mm(v0, v2.T, v10)             # Gemm {transB=1}
    add(v10, v3, v10)
    maximum(v10, 0, o3)           # Relu into its own buffer ...

Values that are the same on every call (constants, ``Count`` of a planned
shape, elementwise steps of those) are computed here once and bound as names.
Both executors run this same code (the dataflow one as one function per
node), so their results are bit-identical.
"""
from __future__ import annotations

from typing import Dict, List

import numpy as np

from ..ir.ops import OPS
from ..ir.ops.outkernels import out_kernel
from ..ir.types import TensorType

UFUNCS = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Neg": np.negative, "Exp": np.exp,
          "Log": np.log, "Sqrt": np.sqrt, "Square": np.square, "Sin": np.sin, "Cos": np.cos, "Tanh": np.tanh,
          "Pow": np.power, "Greater": np.greater, "Equal": np.equal}
#: ops computed once per bindings when every input is known (pure, cheap, no buffers)
FOLDABLE = frozenset(UFUNCS) | {"Div", "Relu", "HardThreshold", "Identity", "Sum", "Sigmoid", "Count"}


class Code:
    """Generated lines plus the names they refer to (``ns``)."""

    def __init__(self):
        self.ns: Dict[str, object] = {"np": np, "mm": np.matmul, "maximum": np.maximum, "greater": np.greater,
                                      "divide": np.divide, "copyto": np.copyto, "empty": np.empty}
        self.known: Dict[str, object] = {}  # variable -> value fixed for these bindings
        self._ids: Dict[int, str] = {}

    def const(self, obj, hint="c") -> str:
        """A namespace name bound to ``obj`` (one name per object)."""
        name = self._ids.get(id(obj))
        if name is None:
            name = self._ids[id(obj)] = f"{hint}{len(self.ns)}"
            self.ns[name] = obj
        return name

    def ufunc(self, opname: str) -> str:
        return self.const(UFUNCS[opname], opname.lower() + "_")


def emit_elementwise(code: Code, opname: str, attrs: dict, out: str, args: List[str], dtype) -> List[str]:
    """Lines computing elementwise ``opname`` into ``out`` (a call of the out-kernel when no inline form)."""
    if opname in UFUNCS:
        return [f"{code.ufunc(opname)}({', '.join(args)}, {out})"]
    if opname == "Relu":
        return [f"maximum({args[0]}, 0, out={out})"]
    if opname == "HardThreshold":
        return [f"greater({args[0]}, 0, {out})"]
    if opname == "Identity":
        return [f"copyto({out}, {args[0]})"]
    if opname == "Div" and np.dtype(dtype).kind == "f":
        return [f"divide({args[0]}, {args[1]}, {out})"]
    from ..ir.ops.fused import step_kernel
    return [f"{code.const(step_kernel(opname, attrs), 'k')}({out}, {', '.join(args)})"]


def _fold(opname: str, attrs: dict, vals: list, t: TensorType):
    """Evaluate a foldable op now (same kernels as at run time, so the same bits)."""
    if opname == "Count":
        return OPS["Count"].kernel(attrs)(*vals)
    from ..ir.ops.fused import step_kernel
    out = np.empty(t.shape, t.dtype.numpy)
    step_kernel(opname, attrs)(out, *vals)
    out.setflags(write=False)
    return out


def emit_fused(code: Code, node, alias: int, out: str, args: List[str], in_types, donated=()) -> List[str]:
    """A ``Fused`` node's body inlined: scratch buffers and in-place steps planned for these shapes;
    ``donated``: inputs whose planned buffers die here and may hold intermediate steps."""
    kern = node.op.out_kernel(dict(node.attrs), alias)
    steps, bufs, _, _ = kern.plan_for(in_types, donated)
    body = node.attrs["body"]
    names = list(args)
    types = list(in_types) + _step_types(in_types, body)
    lines = []
    n = len(args)
    for j, ((_, refs, dst), (opname, _, attrs, _)) in enumerate(zip(steps, body)):
        ops = [names[r] for r in refs]
        if j < len(steps) - 1 and opname in FOLDABLE and all(a in code.known for a in ops):
            val = _fold(opname, dict(attrs), [code.known[a] for a in ops], types[n + j])
            name = code.const(val, "c")
            code.known[name] = val
            names.append(name)
            continue
        buf = out if dst == -1 else args[-2 - dst] if dst < -1 else code.const(bufs[dst], "s")
        lines += emit_elementwise(code, opname, dict(attrs), buf, ops, types[n + j].dtype.numpy)
        names.append(buf)
    return lines


def _step_types(in_types, body):
    from ..ir.ops.fused import step_types
    return step_types(in_types, body)


def emit_node(code: Code, node, alias: int, out: str, args: List[str], in_types: List[TensorType],
              donated=()) -> List[str]:
    """Lines computing ``node`` (which has an out-kernel) into the array named ``out``."""
    name, attrs = node.op.name, node.attrs
    if name == "Fused":
        return emit_fused(code, node, alias, out, args, in_types, donated)
    if name == "Gemm":
        a = args[0] + (".T" if attrs["transA"] else "")
        b = args[1] + (".T" if attrs["transB"] else "")
        ta = in_types[0]
        k = ta.shape[0] if attrs["transA"] else ta.shape[-1]
        # an outer product (k = 1, a batch of one): BLAS gemm is slow there, a broadcast multiply is not,
        # and both round the one product once, so the bits are the same
        lines = [f"{code.ufunc('Mul')}({a}, {b}, {out})" if k == 1 and ta.rank == 2 else f"mm({a}, {b}, {out})"]
        dt = in_types[0].dtype.numpy.type
        if attrs["alpha"] != 1.0:
            lines.append(f"{code.ufunc('Mul')}({out}, {code.const(dt(attrs['alpha']))}, {out})")
        if len(args) > 2:
            c = args[2] if attrs["beta"] == 1.0 else f"({args[2]} * {code.const(dt(attrs['beta']))})"
            lines.append(f"{code.ufunc('Add')}({out}, {c}, {out})")
        return lines
    if name == "MatMul":
        return [f"mm({args[0]}, {args[1]}, {out})"]
    floaty = in_types[0].dtype.numpy.kind == "f"
    if name == "Softmax" and floaty:  # the operations of numerics.softmax, so the same bits
        ax = attrs["axis"]
        mx, sm = code.const(np.maximum.reduce, "maxr"), code.const(np.add.reduce, "sumr")
        return [f"{code.ufunc('Sub')}({args[0]}, {mx}({args[0]}, {ax}, None, None, True), {out})",
                f"{code.ufunc('Exp')}({out}, {out})", f"divide({out}, {sm}({out}, {ax}, None, None, True), {out})"]
    if name in ("ReduceSum", "ReduceMax") and floaty:
        axes = None if attrs["axes"] is None else tuple(attrs["axes"])
        red = code.const(np.add.reduce if name == "ReduceSum" else np.maximum.reduce, "red")
        return [f"{red}({args[0]}, {axes!r}, None, {out}, {bool(attrs['keepdims'])})"]
    if node.op.elementwise and len(node.inputs) and name != "Fused":
        return emit_elementwise(code, name, dict(attrs), out, args, node.outputs[0].type.dtype.numpy)
    return [f"{code.const(out_kernel(node, alias), 'k')}({out}{', ' if args else ''}{', '.join(args)})"]


def emit_softmax_ce(code: Code, node, out: str, args: List[str], in_types):
    """``SoftmaxCrossEntropy`` with scratch buffers: the operations of its kernel (log-softmax, the
    per-example sum, then mean/sum) without temporaries; ``out`` is assigned a fresh array. Returns
    ``(lines, name of a buffer holding softmax(z))``, computed with exactly the operations of the
    ``Softmax`` out-kernel, so a later ``Softmax(z)`` (the gradient's) can read it instead."""
    z, t = args
    zt = in_types[0]
    rank, dt = zt.rank, zt.dtype.numpy
    s, ls = code.const(np.empty(zt.shape, dt), "s"), code.const(np.empty(zt.shape[:-1] + (1,), dt), "s")
    prob = code.const(np.empty(zt.shape, dt), "p")
    mx, sm = code.const(np.maximum.reduce, "maxr"), code.const(np.add.reduce, "sumr")
    sub, mul = code.ufunc("Sub"), code.ufunc("Mul")
    rows = f"{sm}({s}, {tuple(range(1, rank))!r})"
    lines = [f"{sub}({z}, {mx}({z}, -1, None, None, True), {s})",
             f"{code.ufunc('Exp')}({s}, {prob})", f"{sm}({prob}, -1, None, {ls}, True)",
             f"divide({prob}, {ls}, {prob})", f"{code.ufunc('Log')}({ls}, {ls})",
             f"{sub}({s}, {ls}, {s})", f"{mul}({t}, {s}, {s})"]
    red = node.attrs["reduction"]
    shape = () if red != "none" else zt.shape[:1]
    lines.append(f"{out} = empty({code.const(shape, 's')}, {code.const(dt, 'd')})")
    if red == "none":
        return lines + [f"{code.ufunc('Neg')}({rows}, {out})"], prob
    total = f"{sm}({rows}, None)"
    n = zt.shape[0] if red == "mean" else 1
    return lines + [f"divide({total}, {code.const(dt.type(-n), 'c')}, {out})"], prob
