"""``chainrule inspect`` lists every output of a file: a training step's ``<param>.next`` outputs,
which import makes the graph's updates, as well as the graph's own outputs."""
import pytest

onnx = pytest.importorskip("onnx")

import chainrule as cr  # noqa: E402
from chainrule.frontends.cli.main import main  # noqa: E402


def test_inspect_lists_every_output_of_an_exported_training_step(tmp_path, capsys):
    step = cr.compile_train(cr.nn.mlp([4, 8, 3]), loss="cross_entropy", optimizer=cr.optim.Adam(1e-3))
    path = str(tmp_path / "step.onnx")
    m = cr.export_onnx(step, path)
    assert main(["inspect", path]) == 0
    line = next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("  outputs"))
    names = [o.name for o in m.graph.output]
    assert len(names) == 15 and line.startswith(f"  outputs ({len(names)}): loss: f32[], accuracy: f32[], ")
    for name in names:
        assert f" {name}: " in line, name
    assert "fc1.weight.next: f32[8,4] (updates fc1.weight)" in line
