"""Property-based tests over random graphs and mutated IR text.

The CI budget is fixed (``max_examples`` below, derandomized); a longer run:
``CHAINRULE_FUZZ_EXAMPLES=2000 python -m pytest tests/test_fuzz_ir.py``.
Failing inputs that hypothesis finds are added to ``tests/corpus/`` and
replayed by ``test_ir_corpus`` as regression cases.
"""
from __future__ import annotations

import os
import pathlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule.ir import ChainruleError, parse_graph, print_graph, verify
from chainrule.passes import PassManager, backward, inference_pipeline
from chainrule.runtime import Interpreter
from fuzz_graphs import attr_line, random_graph, random_inputs

EXAMPLES = int(os.environ.get("CHAINRULE_FUZZ_EXAMPLES", "60"))
FUZZ = settings(max_examples=EXAMPLES, derandomize=True, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
CORPUS = pathlib.Path(__file__).parent / "corpus"


def _run(g, xs):
    with np.errstate(all="ignore"):
        return Interpreter(g).run_list(xs)


@FUZZ
@given(random_graph())
def test_random_graphs_verify_and_round_trip(g):
    verify(g)
    text = print_graph(g)
    assert print_graph(parse_graph(text)) == text


@FUZZ
@given(random_graph())
def test_passes_preserve_forward_results(g):
    xs = random_inputs(g)
    before = _run(g, xs)
    compiled = PassManager(inference_pipeline()).run(g.clone())
    after = _run(compiled, xs)
    for a, b in zip(before, after):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@FUZZ
@given(random_graph())
def test_gradients_match_finite_differences(g):
    """Autodiff of L = Σ outputs agrees with central differences in a random direction."""
    loss_g = g.clone()
    e = cr.Emitter(loss_g)
    total = e.Sum(*[e.ReduceSum(v, keepdims=0) for v in loss_g.outputs])
    loss_g.set_outputs([total])
    grads = backward(loss_g, [total], list(loss_g.inputs), allow_unused=True)
    loss_g.set_outputs([total] + grads)
    verify(loss_g)
    xs = random_inputs(g, 1)
    outs = _run(loss_g, xs)
    if not all(np.all(np.isfinite(o)) for o in outs):
        return
    rng = np.random.default_rng(2)
    ts = [rng.standard_normal(x.shape) for x in xs]
    h = 1e-6
    lp = _run(loss_g, [x + h * t for x, t in zip(xs, ts)])[0]
    lm = _run(loss_g, [x - h * t for x, t in zip(xs, ts)])[0]
    numeric = (lp - lm) / (2 * h)
    analytic = sum(float(np.sum(gr * t)) for gr, t in zip(outs[1:], ts))
    # ReduceMax / Relu have kinks; skip draws that land within h of one
    assert numeric == pytest.approx(analytic, rel=1e-4, abs=1e-5) or _near_kink(loss_g, xs, ts, h)


def _near_kink(g, xs, ts, h):
    """True if the finite difference is not smooth (one-sided slopes disagree)."""
    l0 = _run(g, xs)[0]
    lp = _run(g, [x + h * t for x, t in zip(xs, ts)])[0]
    lm = _run(g, [x - h * t for x, t in zip(xs, ts)])[0]
    return not np.isclose(lp - l0, l0 - lm, rtol=1e-3, atol=1e-9)


def _mutations(text: str, rng: np.random.Generator, n: int):
    tokens = ["%", "{", "}", "(", ")", "[", "]", ",", ":", "=", "f32", "N", "-1", "1e400", '"', "\\", "#[", "<-",
              "dense<f32[2]>", "nan", "Relu", "Gemm", "\n", "graph", "return", "\x00", "é", "%x",
              # the grammar's escape and attribute forms
              '%"\\x41"', '"\\q"', '"\\u00e9"', "\\n", "\r\n", "{axis=", "axes=[", "{axes=\"one\"}", "none", "true",
              "dense<i8[1]>[1000]", "[[[[[[[[", "#[rule=abc]", "#[by=", "of=%x", "phase=backward", "keepdims=0",
              "99999999999999999999", "inf", "c64", "-0"]
    for _ in range(n):
        chars = list(text)
        for _ in range(rng.integers(1, 4)):
            i = int(rng.integers(0, len(chars) + 1))
            what = rng.integers(0, 3)
            if what == 0 and chars:
                del chars[min(i, len(chars) - 1)]
            elif what == 1:
                chars.insert(i, tokens[int(rng.integers(0, len(tokens)))])
            elif chars:
                j = int(rng.integers(0, len(chars)))
                chars[min(i, len(chars) - 1)], chars[j] = chars[j], chars[min(i, len(chars) - 1)]
        yield "".join(chars)


@FUZZ
@given(random_graph(), st.integers(0, 2**31 - 1))
def test_mutated_ir_text_parses_or_raises_chainrule_error(g, seed):
    text = print_graph(g)
    for bad in _mutations(text, np.random.default_rng(seed), 5):
        _parse_and_verify(bad)


@FUZZ
@given(attr_line())
def test_attribute_and_escape_forms_parse_or_raise_chainrule_error(text):
    """Random VALUEs (nested lists, dense data, bad escapes, huge ints), metadata and quoted names:
    a graph or a ChainruleError, and a graph that verifies prints and parses back to the same text."""
    try:
        g = parse_graph(text)
        verify(g)
    except ChainruleError:
        return
    printed = print_graph(g)
    assert print_graph(parse_graph(printed)) == printed


def _parse_and_verify(text):
    """Parsing (and verifying) arbitrary text gives a graph or a ChainruleError, nothing else."""
    try:
        verify(parse_graph(text))
    except ChainruleError:
        pass


@pytest.mark.parametrize("path", sorted(CORPUS.glob("*.ir")), ids=lambda p: p.name)
def test_ir_corpus(path):
    """Each corpus graph parses, verifies, runs, and its gradient matches finite differences."""
    g = parse_graph(path.read_text(encoding="utf-8"))
    verify(g)
    assert len(g.outputs) == 1 and g.outputs[0].type.shape == ()
    grads = backward(g, [g.outputs[0]], list(g.inputs))
    g.set_outputs([g.outputs[0]] + grads)
    xs = random_inputs(g, 3)
    outs = _run(g, xs)
    h = 1e-6
    for k, x in enumerate(xs):
        for i in np.ndindex(x.shape):
            xp = [a.copy() for a in xs]
            xm = [a.copy() for a in xs]
            xp[k][i] += h
            xm[k][i] -= h
            numeric = (_run(g, xp)[0] - _run(g, xm)[0]) / (2 * h)
            assert outs[1 + k][i] == pytest.approx(numeric, rel=1e-5, abs=1e-7), (path.name, k, i)
