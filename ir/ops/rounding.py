"""Rounding and the integer parts of a number: Floor, Ceil, Round, Sign, Mod.

Floor, Ceil, Round and Sign are step functions: their derivative is 0 wherever it exists, so
they are ``zero_grad`` (autodiff stops there and warns in the forward phase). ``Round`` rounds
half to even, as ONNX does (``np.rint``: 0.5 → 0, 1.5 → 2, −2.5 → −2). ``Mod`` follows
ONNX's two conventions: ``fmod=0`` takes the divisor's sign (Python's ``%``, ``np.mod``:
−7 mod 3 = 2; for floats from opset 28 on, with Python's special cases: a zero result has b's
sign, x mod ±inf is x or ±inf); ``fmod=1`` takes the dividend's (C's ``fmod``, ``np.fmod``:
−7 fmod 3 = −1). Mod is differentiable in floats, y = a − b·q with the integer quotient q
(floor(a/b) or trunc(a/b)) constant between its jumps::

    %sub: f32[N,4] = Sub(%a, %y)               # b·q
    %div: f32[N,4] = Div(%sub, %b)             # q
    %mul: f32[N,4] = Mul(%grad_y, %div)
    %grad_b: f32[N,4] = Neg(%mul)
    %grad_a: f32[N,4] = Identity(%grad_y)
"""
from __future__ import annotations

import numpy as np

from ..errors import IRTypeError
from . import register
from .elementwise import Binary, NumericUnary, Unary

STEP_RULE = "x̄ = 0 almost everywhere (a step function has no useful gradient)"
STEP_REASON = "a step function: its derivative is 0 wherever it exists"


class StepFunction(Unary):
    zero_grad = True
    rule = STEP_RULE
    nograd_reason = STEP_REASON

    def vjp(self, e, node, gys):
        return [None]


@register
class Floor(StepFunction):
    """y = ⌊x⌋"""
    ufunc = np.floor


@register
class Ceil(StepFunction):
    """y = ⌈x⌉"""
    ufunc = np.ceil


@register
class Round(StepFunction):
    """y = x rounded to the nearest integer, half to even"""
    ufunc = np.rint


@register
class Sign(NumericUnary):
    """y = −1, 0 or 1 as x < 0, x = 0, x > 0"""
    zero_grad = True
    rule = STEP_RULE
    nograd_reason = STEP_REASON
    ufunc = np.sign

    def vjp(self, e, node, gys):
        return [None]


@register
class Mod(Binary):
    """y = a mod b: fmod=0 takes b's sign (Python's %), fmod=1 a's (C's fmod)"""
    attrs = {"fmod": 0}
    rule = "ā = ȳ, b̄ = −ȳ ∘ (a − y)/b  (a − y = b·q, q the integer quotient)"
    ufunc = None

    def infer(self, ins, attrs):
        if attrs["fmod"] not in (0, 1):
            raise IRTypeError(f"Mod's fmod must be 0 or 1, got {attrs['fmod']!r}")
        return super().infer(ins, attrs)

    def kernel(self, attrs):
        uf = np.fmod if attrs["fmod"] else np.mod

        def mod(a, b):
            with np.errstate(divide="ignore", invalid="ignore"):  # x mod 0: 0 for integers, nan for floats (ONNX)
                return uf(a, b)
        return mod

    def vjp(self, e, node, gys):
        a, b = node.inputs
        gy = gys[0]
        quotient = e.Div(e.Sub(a, node.outputs[0]), b)
        return [e.sum_to(gy, a.type), e.sum_to(e.Neg(e.Mul(gy, quotient)), b.type)]
