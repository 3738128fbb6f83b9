"""Every lecture example runs and its checks pass (each raises AssertionError if a claim fails)."""
import importlib
import os
import subprocess
import sys

import pytest

from chainrule.examples import EXAMPLES
from chainrule.frontends.cli.main import main

HERE = os.path.dirname(os.path.abspath(__file__))


def test_every_example_module_is_listed():
    folder = os.path.join(os.path.dirname(HERE), "examples")
    modules = sorted(f[:-3] for f in os.listdir(folder)
                     if f.endswith(".py") and not f.startswith("_") and f != "models.py")
    assert modules == sorted(EXAMPLES)


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_example_runs_and_checks_its_claims(name, tmp_path, capsys):
    importlib.import_module(f"chainrule.examples.{name}").main(out_dir=str(tmp_path))
    out = capsys.readouterr().out
    assert "✓" in out  # it checked at least one of the lecture's claims


def test_activation_and_feature_pictures_are_written(tmp_path):
    pytest.importorskip("matplotlib")
    for name in ("activations", "feature_detectors"):
        importlib.import_module(f"chainrule.examples.{name}").main(out_dir=str(tmp_path))
    for png in ("activations.png", "feature_detectors.png"):
        with open(tmp_path / png, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_cli_lists_and_runs_examples(capsys):
    assert main(["examples"]) == 0
    listing = capsys.readouterr().out
    assert all(name in listing for name in EXAMPLES)
    assert main(["examples", "softmax_k2"]) == 0
    assert "softmax(z)₁ = σ(z₁ − z₂)" in capsys.readouterr().out
    assert main(["examples", "nope"]) == 1
    assert "no example 'nope'" in capsys.readouterr().err


def test_example_runs_as_a_module():
    r = subprocess.run([sys.executable, "-m", "chainrule.examples.xor_threshold"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "x₁ XOR x₂" in r.stdout


def test_a_failing_claim_raises():
    from chainrule.examples._common import check
    with pytest.raises(AssertionError, match="does not hold: 1 = 2"):
        check(1 == 2, "1 = 2")
