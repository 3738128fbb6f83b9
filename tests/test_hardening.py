"""Regression tests of the adversarial probe (silent wrong answers, memory bombs, parser
crashes, unsafe writes, unclear messages). Each test failed before its fix."""
from __future__ import annotations

import json
import os
import zipfile

import numpy as np
import pytest

import chainrule as cr
from chainrule.ir import InputError, ParseError, ResourceError, VerifyError
from chainrule.runtime import Interpreter, limits

PARAM_OUT = """graph g {
  input %x: f32[2]
  param %w: f32[2]
  %y: f32[2] = Mul(%x, %w)
  return %y, %w
}
"""


# -- silent wrong answers ------------------------------------------------------------------
@pytest.mark.parametrize("check_numerics", [False, True])
def test_interpreter_returns_a_copy_of_a_parameter_output(check_numerics):
    """``y, w_out = exe(x)``; ``w_out *= 0`` must not change the model."""
    w = np.array([2.0, 3.0], np.float32)
    exe = Interpreter(cr.parse_graph(PARAM_OUT), {"w": w}, check_numerics=check_numerics)
    x = np.ones(2, np.float32)
    y, w_out = exe.run_list([x])
    w_out *= 0
    assert w.tolist() == [2.0, 3.0]
    assert exe.run_list([x])[0].tolist() == [2.0, 3.0]


def test_verifier_refuses_two_updates_of_one_parameter():
    text = PARAM_OUT.replace("  return %y, %w\n", "  %z: f32[2] = Neg(%w)\n  return %y\n"
                             "  update %w <- %y\n  update %w <- %z\n")
    g = cr.parse_graph(text)
    with pytest.raises(VerifyError) as info:
        cr.verify(g)
    msg = str(info.value)
    assert "%w is updated twice" in msg and ">>   update %w <- %z" in msg
