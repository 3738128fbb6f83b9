"""``Fused``: a chain of elementwise ops run as one node, in place, on preallocated buffers.

The attribute ``body`` holds the sub-graph as a tuple of steps
``(op name, operand refs, attrs as sorted (key, value) pairs, name)``; a ref
``k < len(inputs)`` is the node's input k, a larger one the result of step
``k - len(inputs)``. The last step is the node's result. The text form prints
the body as a region, operands by name (``ir.printer``)::

    %grad_h: f32[N,256] = Fused(%grad_relu, %h) #[by=fuse-elementwise phase=backward] {
      %hardthreshold: f32[N,256] = HardThreshold(%h)
      %grad_h: f32[N,256] = Mul(%grad_relu, %hardthreshold)
    }

The kernel plans buffers once per set of input shapes: each step writes into
the buffer of an operand that dies at that step (ufuncs with ``out=`` allow
exact overlap), into the result buffer when it is free, or into a scratch
buffer kept between calls. So ``Mul(g, HardThreshold(h))`` makes no temporary.
Fused nodes are made by ``fuse-elementwise``, which runs after autodiff: they
have no gradient rule.
"""
from __future__ import annotations

from typing import Dict, List, Sequence, Tuple

import numpy as np

from ..errors import IRTypeError
from ..types import TensorType
from . import OPS, register
from .base import Op

Step = Tuple[str, Tuple[int, ...], Tuple[Tuple[str, object], ...], str]


def step_kernel(opname: str, attrs: dict):
    """``fn(out, *arrays)`` computing op ``opname`` into ``out`` (its out-kernel, else a copy)."""
    op = OPS[opname]
    into = op.out_kernel(attrs)
    if into is not None:
        return into
    fn = op.kernel(attrs)
    return lambda out, *xs: np.copyto(out, fn(*xs), casting="unsafe")


def step_types(in_types: Sequence[TensorType], body: Sequence[Step]) -> List[TensorType]:
    """The type of every step's result (checked with each op's type rule)."""
    types = list(in_types)
    for i, step in enumerate(body):
        if not (isinstance(step, tuple) and len(step) == 4):
            raise IRTypeError(f"Fused body step {i} must be (op, refs, attrs, name), got {step!r}")
        opname, refs, attrs, _ = step
        op = OPS.get(opname)
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
    onnx = None  # exported by expanding the body
    arity = (1, None)
    attrs = {"body": ()}
    region_attr = "body"  # printed as an indented region, not as an attribute
    elementwise = True
    differentiable = False  # made by fuse-elementwise, which runs after autodiff
    rule = "none: fused nodes are made after autodiff (fuse-elementwise), so they are never differentiated"
    nograd_reason = "fused nodes are made after autodiff, so differentiate before fusing"

    def infer(self, ins, attrs):
        body = attrs["body"]
        if not body:
            raise IRTypeError("Fused needs a non-empty body")
        return [step_types(ins, body)[-1]]

    def flops(self, ins, outs, attrs, bindings=None):
        return len(attrs["body"]) * (outs[0].numel(bindings) or 0)

    def kernel(self, attrs):
        run = self.out_kernel(attrs, alias=-1)

        def fused(*xs):
            out = run.alloc(xs)
            run(out, *xs)
            return out
        return fused

    def out_kernel(self, attrs, alias: int = -1):
        """``fn(out, *inputs)``; ``alias`` is the input that may share ``out``'s buffer (or -1)."""
        return _FusedKernel(attrs["body"], alias)


class _FusedKernel:
    """Runs a body; buffer plans are made once per set of input shapes and cached."""

    def __init__(self, body: Sequence[Step], alias: int):
        self.body = tuple(body)
        self.alias = alias
        self.fns = [step_kernel(op, dict(a)) for op, _, a, _ in body]
        self.plans: Dict[tuple, tuple] = {}

    def alloc(self, xs):
        shape, dtype = self._plan(xs)[1:]
        return np.empty(shape, dtype)

    def _plan(self, xs):
        key = tuple(x.shape for x in xs)
        plan = self.plans.get(key)
        if plan is None:
            plan = self.plans[key] = self._make_plan(xs)
        return plan

    def _make_plan(self, xs):
        plan = self.plan_for([TensorType(x.shape, x.dtype) for x in xs])
        return (plan[0], plan[1]), plan[2], plan[3]

    def plan_for(self, ins: Sequence[TensorType], donated: Sequence[int] = ()):
        """``(steps, scratch buffers, result shape, result dtype)`` for static input types; each step is
        ``(fn, refs, dst)`` with ``dst`` -1 for ``out``, a scratch buffer index (>= 0), or ``-2 - k`` for
        the buffer of input k, which the caller ``donated`` (it dies at this node). The executors' code
        generator binds these once per set of bindings."""
        n, body = len(ins), self.body
        types = list(ins) + step_types(ins, body)
        shapes = [t.shape for t in types]
        dtypes = [t.dtype.numpy for t in types]
        last = len(shapes) - 1
        last_use = {}
        for j, (_, refs, _, _) in enumerate(body):
            for r in refs:
                last_use[r] = n + j
        # buffer ids: -1 is ``out``; scratch buffers are 0, 1, ...; -2 - k is donated input k's
        where = {}  # ref -> buffer id holding it
        holder = {-1: self.alias if self.alias >= 0 else None}
        if self.alias >= 0:
            where[self.alias] = -1
        kind = {-1: (shapes[last], dtypes[last])}  # buffer id -> (shape, dtype)
        for k in donated:
            if k != self.alias and k not in where and k in last_use:
                where[k], holder[-2 - k], kind[-2 - k] = -2 - k, k, (shapes[k], dtypes[k])
        free: List[int] = []
        steps = []
        for j, (_, refs, _, _) in enumerate(body):
            me = n + j
            want = (shapes[me], dtypes[me])
            dst = None
            if me == last:
                dst = -1
            else:
                for r in refs:  # in place on an operand that dies here
                    b = where.get(r)
                    if b is not None and last_use[r] == me and kind[b] == want:
                        dst = b
                        break
                if dst is None and holder[-1] is None and want == kind[-1]:
                    dst = -1
                if dst is None:
                    dst = next((b for b in free if kind[b] == want), None)
                    if dst is None:
                        dst = sum(1 for b in kind if b >= 0)
                        kind[dst] = want
                    else:
                        free.remove(dst)
            for r in refs:  # operands dying here release their buffers
                b = where.get(r)
                if b is not None and last_use[r] == me and holder.get(b) == r:
                    holder[b] = None
                    if b != -1:
                        free.append(b)
            holder[dst] = me
            where[me] = dst
            if dst != -1 and dst in free:
                free.remove(dst)
            steps.append((self.fns[j], refs, dst))
        bufs = [np.empty(*kind[b]) for b in range(sum(1 for b in kind if b >= 0))]
        return tuple(steps), bufs, shapes[last], dtypes[last]

    def __call__(self, out, *xs):
        (steps, bufs) = self._plan(xs)[0]
        vals = list(xs) + [None] * len(steps)
        n = len(xs)
        for j, (fn, refs, dst) in enumerate(steps):
            buf = out if dst < 0 else bufs[dst]
            fn(buf, *[vals[r] for r in refs])
            vals[n + j] = buf
        return out
