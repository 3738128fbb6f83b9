"""The README's "A 10-line example" runs as written (test_docs.py also runs every block;
this one checks the example itself: ten lines, it compiles, and what it prints is IR)."""
import contextlib
import io
import pathlib
import re

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def _example():
    text = README.read_text(encoding="utf-8")
    m = re.search(r"^## A 10-line example\n.*?```python\n(.*?)```", text, re.S | re.M)
    assert m, "README.md has no '## A 10-line example' section with a python block"
    return m.group(1)


def test_ten_line_example_runs():
    code = _example()
    assert len([ln for ln in code.splitlines() if ln.strip()]) <= 10
    out = io.StringIO()
    ns = {"__name__": "__readme__"}
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md:10-line-example", "exec"), ns)
    assert ns["logits"].shape == (32, 10)
    printed = out.getvalue()
    assert printed.startswith("graph ") and "Gemm(%x, %fc1.weight, %fc1.bias) {transB=1}" in printed
