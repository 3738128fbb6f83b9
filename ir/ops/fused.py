"""``Fused``: a chain of elementwise ops run as one node.

The attribute ``body`` holds the sub-graph as a tuple of ``Step(op, refs,
attrs, name)``: ``attrs`` are sorted (key, value) pairs, and a ref
``k < len(inputs)`` is the node's input k, a larger one the result of step
``k - len(inputs)``. The last step is the node's result. The text form prints
the body as a region, operands by name (``ir.printer``)::

    %grad_h: f32[N,256] = Fused(%grad_relu, %h) #[by=fuse-elementwise phase=backward] {
      %hardthreshold: f32[N,256] = HardThreshold(%h)
      %grad_h: f32[N,256] = Mul(%grad_relu, %hardthreshold)
    }

The kernel here is the reference: each step writes a fresh array, the last one
the result. The planned executors inline the body instead, with each step
written in place into a buffer that is free at that step (``runtime/fused.py``),
so ``Mul(g, HardThreshold(h))`` makes no temporary; both compute every step with
the op's own out-kernel, so the bits are the same. Fused nodes are made by
``fuse-elementwise``, which runs after autodiff: they have no gradient rule.
"""
from __future__ import annotations

from typing import Dict, List, NamedTuple, Sequence, Tuple

import numpy as np

from ..errors import IRTypeError
from ..types import DType, TensorType, broadcasts_into
from . import OPS, register
from .base import Op

class Step(NamedTuple):
    """One step of a ``Fused`` body: ``op`` applied to the operands ``refs``, naming its result ``name``."""
    op: str
    refs: Tuple[int, ...]
    attrs: Tuple[Tuple[str, object], ...]
    name: str


def as_body(body) -> tuple:
    """``body`` with each well-formed 4-tuple as a ``Step`` (malformed ones are left to ``step_types``)."""
    return tuple(Step(*s) if isinstance(s, tuple) and len(s) == 4 else s for s in body)


def step_types(in_types: Sequence[TensorType], body: Sequence[Step]) -> List[TensorType]:
    """The type of every step's result (checked with each op's type rule)."""
    types = list(in_types)
    for i, step in enumerate(body):
        if not (isinstance(step, tuple) and len(step) == 4):
            raise IRTypeError(f"Fused body step {i} must be (op, refs, attrs, name), got {step!r}")
        opname, refs, attrs, _ = step
        op = OPS.get(opname) if isinstance(opname, str) else None
        if op is None or not op.elementwise or op.name == "Fused":
            raise IRTypeError(f"Fused body step {i}: {opname!r} is not an elementwise op")
        if any(not isinstance(r, int) or r < 0 or r >= len(types) for r in refs):
            raise IRTypeError(f"Fused body step {i} ({opname}) refers to an undefined operand: {refs}")
        op.check_arity(len(refs), f"Fused body step {i}: ")
        a = op.check_attrs(dict(attrs), f"Fused body step {i}: ")
        types.append(op.infer([types[r] for r in refs], a)[0])
    return types[len(in_types):]


@register
class Fused(Op):
    """y = the elementwise sub-graph ``body`` applied to the inputs, in one pass"""
    arity = (1, None)
    attrs = {"body": ()}
    region_attr = "body"  # printed as an indented region, not as an attribute
    elementwise = True
    uses_donated = True  # a step may write into an input that dies at this node
    differentiable = False  # made by fuse-elementwise, which runs after autodiff
    rule = "none: fused nodes are made after autodiff (fuse-elementwise), so they are never differentiated"
    nograd_reason = "fused nodes are made after autodiff, so differentiate before fusing"

    def infer(self, ins, attrs):
        body = attrs["body"]
        if not body:
            raise IRTypeError("Fused needs a non-empty body")
        return [step_types(ins, body)[-1]]

    def check_attrs(self, attrs, where=""):
        out = super().check_attrs(attrs, where)
        out["body"] = as_body(out["body"])
        return out

    def flops(self, ins, outs, attrs, bindings=None):
        return len(attrs["body"]) * (outs[0].numel(bindings) or 0)

    def kernel(self, attrs):
        run = _Body(attrs["body"])

        def fused(*xs):
            out = np.empty(*run.result(xs))
            return run(out, *xs)
        return fused

    def out_kernel(self, attrs, alias: int = -1):
        """``fn(out, *inputs)``; safe when ``out`` shares an input's storage (``alias``): only the
        last step writes ``out``, and an elementwise step may overwrite an operand it reads."""
        return _Body(attrs["body"])

    def emit(self, code, attrs, out, args, in_types, alias=-1, donated=()):
        return code.inline_body(attrs["body"], out, args, in_types, alias, donated)

    def loops(self, lb, attrs, outs, args, in_types, out_types):
        """One nest over the result: each step a scalar, no temporaries (``runtime/loops.py``)."""
        types = list(in_types) + step_types(in_types, attrs["body"])
        t = out_types[0]
        if not all(broadcasts_into(u.shape, t.shape) for u in types):
            return False
        for s in attrs["body"]:
            if OPS[s.op].scalar(dict(s.attrs), [f"x{k}" for k in range(len(s.refs))], [types[r] for r in s.refs]) is None:
                return False
        lb.body(attrs["body"], outs[0], t, args, in_types)
        return True


class _Body:
    """Runs a body step by step, each step into a fresh array (the last into ``out``)."""

    def __init__(self, body: Sequence[Step]):
        self.body = tuple(body)
        self.fns = [OPS[s.op].kernel_into(dict(s.attrs)) for s in self.body]
        self.types: Dict[tuple, List[TensorType]] = {}  # input shapes and dtypes -> step types

    def _types(self, xs) -> List[TensorType]:
        key = tuple((x.shape, x.dtype) for x in xs)
        types = self.types.get(key)
        if types is None:
            types = self.types[key] = step_types([TensorType(x.shape, DType.of(x.dtype)) for x in xs], self.body)
        return types

    def result(self, xs):
        """(shape, NumPy dtype) of the result for inputs ``xs``."""
        t = self._types(xs)[-1]
        return t.shape, t.dtype.numpy

    def __call__(self, out, *xs):
        types = self._types(xs)
        vals = list(xs)
        last = len(self.body) - 1
        for j, (fn, step) in enumerate(zip(self.fns, self.body)):
            buf = out if j == last else np.empty(types[j].shape, types[j].dtype.numpy)
            fn(buf, *[vals[r] for r in step.refs])
            vals.append(buf)
        return out
