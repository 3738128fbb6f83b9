"""explain: the lecture's backward pass, read off the IR in bar notation."""
import unicodedata

import numpy as np
import pytest

import chainrule as cr
from chainrule.examples import models
from chainrule.frontends.cli.main import main
from chainrule.frontends.inspect.explain import explain_grad, format_backprop

LECTURE_L2 = """\
L̄_reg = 1
R̄ = L̄_reg λ
L̄ = L̄_reg
ȳ = L̄(y − t)
z̄ = ȳσ′(z)
w̄ = z̄x + R̄w
b̄ = z̄"""


def nfc(s):
    """ȳ may be one code point or y + a combining macron; compare them as equal."""
    return unicodedata.normalize("NFC", s)


def _squash(s):
    return nfc(s).replace(" ", "")


def test_l2_backward_pass_matches_the_lecture_line_by_line():
    text = nfc(format_backprop(models.logistic_l2()))
    got = [ln.split(" = ")[0] + " = " + ln.split(" = ")[-1] for ln in text.splitlines()]
    assert [_squash(x) for x in got] == [_squash(x) for x in LECTURE_L2.splitlines()]
    # and the general form v̄ = Σⱼ v̄ⱼ ∂vⱼ/∂v before it, with the fan-out of w as two terms
    assert nfc("w̄ = z̄ ∂z/∂w + R̄ ∂R/∂w = z̄ x + R̄ w") in text
    assert nfc("R̄ = L̄_reg ∂L_reg/∂R = L̄_reg λ") in text


def test_two_layer_mlp_vectorised_backward_pass():
    text = nfc(format_backprop(models.two_layer_mse()))
    lines = ["L̄ = 1", "ȳ = L̄ ∂L/∂y = L̄ (y − t)", "W̄2 = ȳ ∂y/∂W2 = ȳᵀ h", "b̄2 = ȳ ∂y/∂b2 = Σ_rows ȳ",
             "h̄ = ȳ ∂y/∂h = ȳ W2", "z̄ = h̄ ∂h/∂z = h̄ ∘ σ′(z)", "W̄1 = z̄ ∂z/∂W1 = z̄ᵀ x",
             "b̄1 = z̄ ∂z/∂b1 = Σ_rows z̄"]
    # in the lecture's order: each W̄, b̄ right after the ȳ or z̄ it comes from
    assert text.splitlines() == [nfc(line) for line in lines], text


def test_explain_grad_shows_forward_node_fan_out_sum_and_numbers():
    text = nfc(explain_grad(models.logistic_l2(), "w", batch={"x": 1.5, "t": 1.0}))
    assert "%mul: f64[] = Mul(%w, %x)" in text and "rule of Square: x̄ = ȳ ∘ 2x" in text
    assert "fans out to 2 nodes" in text
    assert "%grad_w: f64[] = Sum(%mul.7, %mul.11)" in text  # autodiff's Σ at the fan-out
    # the numbers agree with the lecture's closed form w̄ = (σ(wx+b) − t)σ′(wx+b)x + λw
    w, b, lam, x, t = 0.5, 0.1, 0.1, 1.5, 1.0
    y = 1 / (1 + np.exp(-(w * x + b)))
    want = (y - t) * y * (1 - y) * x + lam * w
    got = float(text.split(nfc("w̄ = "))[-1].split()[0])
    assert got == pytest.approx(want, rel=1e-4)


def test_explain_fc1_weight_of_an_mlp():
    text = nfc(explain_grad(models.mlp(), "fc1.weight", batch=models.sample_batch(models.mlp())))
    assert "%fc1: f32[N,8] = Gemm(%x, %fc1.weight, %fc1.bias) {transB=1}" in text
    assert "grad_fc1.weight = grad_fc1 ∂fc1/∂fc1.weight = grad_fc1ᵀ x" in text
    assert "%grad_fc1.weight: f32[8,4] = Gemm(%grad_fc1, %x) {transA=1}" in text
    assert "grad_fc1.weight = float32[8, 4], ‖·‖ = " in text


def test_explain_unknown_value_is_a_clear_error():
    with pytest.raises(cr.ChainruleError, match="no value named 'fc9.weight' to explain; its parameters: fc1.weight"):
        explain_grad(models.mlp(), "fc9.weight")


def test_cli_explain(capsys):
    assert main(["explain", "logistic_l2", "--grad", "b"]) == 0
    out = nfc(capsys.readouterr().out)
    assert nfc("b̄ = z̄ ∂z/∂b = z̄") in out
    assert main(["explain", "logistic_l2", "--backprop"]) == 0
    assert nfc("w̄ = z̄ ∂z/∂w + R̄ ∂R/∂w = z̄ x + R̄ w") in nfc(capsys.readouterr().out)
    assert main(["explain", "mlp"]) == 1
    assert "needs --grad" in capsys.readouterr().err


def test_explain_numbers_show_the_forward_values_behind_the_gradients():
    text = nfc(explain_grad(models.logistic_l2(), "w", batch={"x": 1.5, "t": 1.0}))
    fwd, bwd = text.split("numbers for this batch, forward pass:")[1].split("and backward:")
    val = {line.split(" = ")[0].strip(): float(line.split(" = ")[1]) for line in fwd.strip().splitlines()}
    w, b, x = 0.5, 0.1, 1.5
    z = w * x + b
    y = 1 / (1 + np.exp(-z))
    assert val["x"] == 1.5 and val["t"] == 1.0 and val["w"] == w
    assert val["z"] == pytest.approx(z, rel=1e-4) and val["y"] == pytest.approx(y, rel=1e-4)
    y_bar = float(bwd.split(nfc("ȳ = "))[1].split()[0])
    assert y_bar == pytest.approx(val["y"] - val["t"], rel=1e-4)  # ȳ = L̄(y − t) with L̄ = 1
