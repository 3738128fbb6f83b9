"""The pass manager's instrumentation: verify after each pass, print after all / after named
passes / after a change, dump to a folder, and a reproducer when a pass fails."""
import io

import pytest

import chainrule as cr
from chainrule.ir import PassError, parse_graph
from chainrule.passes import PassManager, PassResult, Pass, dce, graph_pass, infer_shapes, toposort

TEXT = """\
graph g {
  input %x: f32[N,2]
  %a: f32[N,2] = Exp(%x)
  %b: f32[N,2] = Sin(%x)
  return %b
}
"""


def _pm(**kw):
    kw.setdefault("stream", io.StringIO())
    return PassManager([infer_shapes, toposort, dce], **kw)


def test_history_records_changes_and_text():
    pm = _pm(keep_text=True)
    pm.run(parse_graph(TEXT))
    assert [(r.name, r.changed) for r in pm.history] == [
        ("input", False), ("infer-shapes", False), ("toposort", False), ("dce", True)]
    assert "Exp" in pm.history[2].text and "Exp" not in pm.history[3].text


def test_print_after_all_and_after_change():
    pm = _pm(print_after_all=True)
    pm.run(parse_graph(TEXT))
    out = pm.stream.getvalue()
    assert out.count("// ----- IR after") == 3
    assert "// ----- IR after toposort (unchanged) -----" in out and "// ----- IR after dce -----" in out
    pm = _pm(print_after_change=True)
    pm.run(parse_graph(TEXT))
    assert pm.stream.getvalue().count("// ----- IR after") == 1


def test_print_after_named_pass_and_unknown_name():
    pm = _pm(print_after=("toposort",))
    pm.run(parse_graph(TEXT))
    assert pm.stream.getvalue().startswith("// ----- IR after toposort (unchanged) -----\ngraph g {")
    with pytest.raises(PassError, match=r"unknown pass\(es\) tosort \(did you mean toposort\?\); this pipeline runs: infer-shapes, toposort, dce"):
        _pm(print_after=("tosort",)).run(parse_graph(TEXT))


def test_verify_each_names_the_pass_that_broke_the_graph():
    @graph_pass("break-types")
    def breaker(graph):
        graph.nodes[0].outputs[0].type = cr.TensorType(("N", 3), "f32")
        return True
    with pytest.raises(PassError, match=r"invalid after pass break-types: graph g: Exp infers type"):
        PassManager([breaker]).run(parse_graph(TEXT))
    PassManager([breaker], verify_each=False).run(parse_graph(TEXT))  # off: no check


def test_failing_pass_writes_a_reproducer(tmp_path):
    class Boom(Pass):
        name = "boom"

        def run(self, graph):
            raise ZeroDivisionError("no")
    with pytest.raises(PassError) as info:
        PassManager([toposort, Boom()], dump_dir=str(tmp_path)).run(parse_graph(TEXT))
    msg = str(info.value)
    assert "pass boom failed with ZeroDivisionError: no" in msg and "02-boom.failed-input.ir" in msg
    repro = (tmp_path / "02-boom.failed-input.ir").read_text()
    assert repro.startswith("// input of failing pass boom: ZeroDivisionError: no\n")
    assert cr.print_graph(parse_graph(repro)) == TEXT
    assert sorted(p.name for p in tmp_path.iterdir()) == [".chainrule-dump", "00-input.ir", "01-toposort.ir",
                                                          "02-boom.failed-input.ir"]


def test_chainrule_error_in_a_pass_is_a_pass_error():
    g = parse_graph(TEXT.replace("%b: f32[N,2] = Sin(%x)", "%b: f32[N,2] = Sin(%x)\n  %c: f32[N,3] = Exp(%x)"))
    with pytest.raises(PassError, match=r"the graph is invalid after pass input"):
        _pm().run(g)


def test_a_pass_returning_a_new_graph():
    class Copy(Pass):
        name = "copy"
        in_place = False

        def run(self, graph):
            return PassResult(graph.clone(), False)
    g = parse_graph(TEXT)
    out = PassManager([Copy(), dce]).run(g)
    assert out is not g and len(g.nodes) == 2 and len(out.nodes) == 1
