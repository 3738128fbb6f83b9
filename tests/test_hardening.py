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


def _step(**kw):
    return cr.compile_train(cr.nn.mlp([4, 3], seed=0), **kw)


def test_evaluate_refuses_nan_inputs():
    """NaN rows used to be counted as class 0 and an accuracy returned."""
    x = np.ones((4, 4), np.float32)
    x[2, 1] = np.nan
    with pytest.raises(InputError, match=r"evaluate: x has 1 non-finite value.*row 2"):
        _step().evaluate(x, [0, 1, 2, 0])


def test_evaluate_refuses_zero_rows():
    """0 rows used to give nan."""
    with pytest.raises(InputError, match="evaluate: no examples"):
        _step().evaluate(np.zeros((0, 4), np.float32), np.zeros(0, np.int64))


def test_empty_training_batch_is_an_input_error():
    """It used to say 'the parameters are now invalid... lower the learning rate'."""
    step = _step()
    w = step.params["fc1.weight"].copy()
    with pytest.raises(InputError, match="training step 1: the batch is empty"):
        step(np.zeros((0, 4), np.float32), np.zeros(0, np.int64))
    assert np.array_equal(step.params["fc1.weight"], w) and step.steps == 0


def test_inf_label_is_named():
    """An Inf label was cast to class index -9223372036854775808."""
    with pytest.raises(InputError, match=r"class-index targets must be finite.*inf"):
        _step()(np.ones((2, 4), np.float32), np.array([0.0, np.inf]))


def test_none_in_an_input_list_is_an_input_error():
    """``exe([[1, 2, None, 4]])`` used to return NaN."""
    exe = cr.compile(cr.nn.Linear(4, 3))
    with pytest.raises(InputError, match=r"input %x: .*None"):
        exe([[1, 2, None, 4]])
    with pytest.raises(InputError, match=r"input %x: .*None"):
        Interpreter(exe.graph).run_list([[[1, 2, None, 4]]])
