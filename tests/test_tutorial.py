"""docs/tutorial.ipynb runs from top to bottom under a real Jupyter kernel (the current Python),
and its cells show the compiler's objects: the node names are in what the notebook displays."""
import json
import os
import pathlib
import sys
import tomllib

import pytest

import chainrule

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "docs" / "tutorial.ipynb"


def test_tutorial_is_kept_without_outputs():
    nb = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert len(code) >= 8
    assert all(c["outputs"] == [] and c["execution_count"] is None for c in code), \
        "clear the notebook's outputs before committing it"
    text = "\n".join("".join(c["source"]) for c in nb["cells"])
    for step in ("Softmax regression", "XOR", "MLP", "Backpropagation on the graph", "Training", "Export"):
        assert step in text


def test_the_test_extra_brings_the_notebook_runner():
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["test"]
    assert any(d.startswith("nbclient") for d in extra) and any(d.startswith("ipykernel") for d in extra)
    assert 'pip install -e ".[test,plot,threads,numba]"' in (ROOT / "README.md").read_text(encoding="utf-8")


def _client(nb, tmp_path):
    """A notebook client whose kernel is this very Python (a kernelspec written for sys.executable)."""
    from ipykernel.kernelspec import write_kernel_spec
    from jupyter_client import KernelManager
    from jupyter_client.kernelspec import KernelSpecManager
    from nbclient import NotebookClient
    write_kernel_spec(str(tmp_path / "kernels" / "python3"))
    ksm = KernelSpecManager(kernel_dirs=[str(tmp_path / "kernels")], ensure_native_kernel=False)
    km = KernelManager(kernel_name="python3", kernel_spec_manager=ksm)
    work = tmp_path / "work"
    work.mkdir()
    return NotebookClient(nb, km=km, timeout=300, resources={"metadata": {"path": str(work)}})


def _shown(cell):
    """Everything a cell displayed, as one string (all mime types)."""
    out = []
    for o in cell.outputs:
        out.append(o.get("text", ""))
        out += [v if isinstance(v, str) else json.dumps(v) for v in o.get("data", {}).values()]
    return "\n".join(out)


def test_tutorial_runs_under_a_jupyter_kernel(tmp_path):
    try:
        import ipykernel  # noqa: F401
        import nbclient  # noqa: F401
        import nbformat
    except ImportError:  # the README's test command installs them (the test extra)
        pytest.skip('nbclient/ipykernel not installed: pip install -e ".[test,plot,threads,numba]"')
    nb = nbformat.read(str(NOTEBOOK), as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("import sys, chainrule\nprint(sys.executable)\nprint(chainrule.__file__)"))
    _client(nb, tmp_path).execute()
    where = nb.cells[-1].outputs[0]["text"].split()
    assert os.path.realpath(where[0]) == os.path.realpath(sys.executable)  # the kernel is this Python
    assert os.path.realpath(where[1]) == os.path.realpath(chainrule.__file__)  # with this chainrule
    cells = {"".join(c.source): c for c in nb.cells if c.cell_type == "code"}

    def cell(ending):
        return next(c for src, c in cells.items() if src.rstrip().endswith(ending))
    for c in cells.values():  # short text/plain everywhere: no page of SVG in a repr
        for o in c.outputs:
            assert len(o.get("data", {}).get("text/plain", "")) < 200
    exe = _shown(cell("exe"))
    assert "text/html" in json.dumps([o.get("data", {}) for o in cell("exe").outputs]) and "%fc1" in exe
    assert "[0 1 1 0]" in _shown(next(c for s, c in cells.items() if "xor" in s))
    graph = _shown(cell("graph"))
    assert all(f"%{n}" in graph for n in ("fc1", "sigmoid", "fc2")) and "fc1.weight" in graph
    dump = _shown(cell("res"))
    assert "04-autodiff" in dump and "report.html" in dump
    diff = _shown(cell('res.diff("autodiff")'))
    assert "+ %grad_fc1.weight" in diff and "made by autodiff" in diff
    explain = _shown(cell('cr.explain_grad(mlp, "fc1.weight")'))
    assert "gradient of the loss %loss with respect to %fc1.weight" in explain and "backward IR" in explain
    step = _shown(cell("step"))
    assert "grad_fc1.weight" in step and "fc1.weight" in step and "<TrainStep" in step
    assert "%fc1" in _shown(cell("back.graph"))
