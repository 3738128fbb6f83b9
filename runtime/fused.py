"""A ``Fused`` node's body planned for in-place execution, and inlined into generated code.

The interpreter runs a body with a fresh array per step (``ir/ops/fused.py``).
Here each step instead writes into a buffer that is free at that step: the
buffer of an operand that dies at this step (ufuncs with ``out=`` allow exact
overlap), the node's result ``out`` while nothing else lives there, a
*donated* input (one whose planned buffer dies at this node), or a scratch
buffer kept between calls. For ``Mul(g, HardThreshold(h))`` into ``out``::

    greater(v7, 0, out)      # step 0 into out: it is free until the last step
    mul_4(v9, out, out)      # the last step, in place on its dying operand

Every step is emitted by its own op (``Op.emit``), so the lines compute what the
interpreter computes, bit for bit.
"""
from __future__ import annotations

from typing import Dict, List, NamedTuple, Optional, Sequence

import numpy as np

from ..ir.ops import OPS
from ..ir.ops.fused import Step, as_body, step_types
from ..ir.types import TensorType


class Dest(NamedTuple):
    """Where a step writes: the node's result (``out``), scratch buffer ``index``, or the buffer
    of input ``index`` (``donated``)."""
    kind: str  # "out", "scratch" or "donated"
    index: int = 0


OUT = Dest("out")


class PlannedStep(NamedTuple):
    step: Step
    type: TensorType  # of the step's result
    dest: Dest


class BodyPlan(NamedTuple):
    steps: List[PlannedStep]
    scratch: List[TensorType]  # one buffer each, allocated once per set of bindings


def plan_body(body: Sequence[Step], in_types: Sequence[TensorType], alias: int = -1,
              donated: Sequence[int] = ()) -> BodyPlan:
    """Destinations for the steps of ``body`` on inputs of (static) ``in_types``. ``alias``: the
    input stored in ``out`` (or -1); ``donated``: inputs whose buffers the steps may overwrite."""
    body = as_body(body)
    n = len(in_types)
    types = list(in_types) + step_types(in_types, body)
    last = len(types) - 1
    last_use: Dict[int, int] = {}  # ref -> the step (as a ref) reading it last
    for j, step in enumerate(body):
        for r in step.refs:
            last_use[r] = n + j
    where: Dict[int, Dest] = {}  # ref -> the buffer holding it
    holder: Dict[Dest, Optional[int]] = {OUT: alias if alias >= 0 else None}  # buffer -> the ref it holds
    kind: Dict[Dest, TensorType] = {OUT: types[last]}
    if alias >= 0:
        where[alias] = OUT
    for k in donated:
        if k != alias and k not in where and k in last_use:
            d = Dest("donated", k)
            where[k], holder[d], kind[d] = d, k, types[k]
    scratch: List[TensorType] = []
    free: List[Dest] = []
    steps = []
    for j, step in enumerate(body):
        me, want = n + j, types[n + j]
        dst = OUT if me == last else _reuse(step.refs, me, want, where, last_use, kind)
        if dst is None and holder[OUT] is None and want == kind[OUT]:
            dst = OUT
        if dst is None:
            dst = next((b for b in free if kind[b] == want), None)
            if dst is None:
                dst = Dest("scratch", len(scratch))
                scratch.append(want)
                kind[dst] = want
        for r in step.refs:  # operands dying here release their buffers
            b = where.get(r)
            if b is not None and last_use[r] == me and holder.get(b) == r:
                holder[b] = None
                if b != OUT:
                    free.append(b)
        holder[dst] = me
        where[me] = dst
        if dst in free:
            free.remove(dst)
        steps.append(PlannedStep(step, want, dst))
    return BodyPlan(steps, scratch)


def _reuse(refs, me, want, where, last_use, kind) -> Optional[Dest]:
    """The buffer of an operand that dies at this step and has the step's type (in place)."""
    for r in refs:
        b = where.get(r)
        if b is not None and last_use[r] == me and kind[b] == want:
            return b
    return None


def emit_body(code, body, out: str, args: List[str], in_types: Sequence[TensorType], alias: int = -1,
              donated: Sequence[int] = ()) -> List[str]:
    """Lines computing a ``Fused`` body into ``out``; steps whose operands are all known are
    computed now (``code.fold``) and bound as constants."""
    plan = plan_body(body, in_types, alias, donated)
    scratch = [code.const(np.empty(t.shape, t.dtype.numpy), "s") for t in plan.scratch]
    names, types = list(args), list(in_types)
    lines: List[str] = []
    for j, (step, t, dest) in enumerate(plan.steps):
        op, attrs = OPS[step.op], dict(step.attrs)
        operands = [names[r] for r in step.refs]
        types.append(t)
        if j < len(plan.steps) - 1 and op.foldable and all(a in code.known for a in operands):
            names.append(code.fold(op, attrs, operands, t))
            continue
        buf = out if dest.kind == "out" else args[dest.index] if dest.kind == "donated" else scratch[dest.index]
        lines += op.emit(code, attrs, buf, operands, [types[r] for r in step.refs])
        names.append(buf)
    return lines
