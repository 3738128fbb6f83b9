"""The report's schedule pane: the dataflow executor's plan of the last pass's graph, as a Gantt
chart and as text, and each node's task in its panel (``frontends/inspect/schedule.py``)."""
import json
import os
import re
import sys

import pytest

import chainrule as cr
from chainrule.examples import models
from cdp import CHROME, Browser
from chainrule.frontends.inspect.dump import dump
from chainrule.frontends.inspect.schedule import gantt_svg, plan, where
from chainrule.ir import IRTypeError, parse_graph

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "benchmarks"))
from bench_dataflow import towers  # noqa: E402


@pytest.fixture(scope="module")
def towers_dump(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sched")
    res = dump(towers(2, (64, 96, 96, 10))[0], str(tmp / "d"), pipeline="training", svg=False, batch=64)
    with open(res.report, encoding="utf-8") as f:
        return res, f.read(), tmp


def _last_facts(page):
    blobs = re.findall(r'<script type="application/json" class="facts">(.*?)</script>', page, re.S)
    return json.loads(blobs[-1].replace("<\\/", "</"))


def test_the_pane_draws_every_task_of_the_last_graphs_schedule(towers_dump):
    res, page, _ = towers_dump
    graph = parse_graph(res.steps[-1].text)
    sched = plan(graph, 64)
    pane = page[page.index('<details id="schedule">'):]
    pane = pane[:pane.index("</details>")]
    assert "at N = 64" in pane and sched.decision in pane
    assert f"predicted makespan {sched.makespan * 1e3:.3f} ms" in pane
    nodes = re.findall(r'<g class="task" data-node="([^"]+)">', pane)
    assert nodes == [sched.names[t.parts[0].node] for t in sorted(sched.tasks, key=lambda t: t.index)]
    assert len(nodes) == len(sched.tasks) and set(nodes) <= {n.name for n in graph.nodes}
    assert f"sequential sum {sched.sequential * 1e3:.3f} ms" in pane
    assert f"schedule: {len(graph.nodes)} nodes in {len(sched.tasks)} tasks" in pane  # the printed schedule


def test_a_nodes_panel_in_the_last_pass_names_its_task(towers_dump):
    res, page, _ = towers_dump
    sched = plan(parse_graph(res.steps[-1].text), 64)
    facts, want = _last_facts(page), where(sched)
    assert want and all(facts["n:" + k]["task"] == v for k, v in want.items())
    blobs = re.findall(r'<script type="application/json" class="facts">(.*?)</script>', page, re.S)
    assert all(d.get("task") is None for d in json.loads(blobs[1]).values())  # earlier passes: no schedule


def test_boxes_sit_on_their_worker_lane_between_their_predicted_times():
    g = cr.compile(towers(2, (64, 96, 96, 10))[0], "training").graph
    sched = plan(g, 64)
    svg = gantt_svg(sched)
    span = max(sched.makespan, sched.sequential)
    boxes = re.findall(r'<g class="task" data-node="[^"]+"><title>task (\d+), worker (\d+)[^<]*</title>'
                       r'<rect x="([\d.]+)" y="(\d+)" width="([\d.]+)"', svg)
    assert len(boxes) == len(sched.tasks)
    axis = int(re.search(r'width="(\d+)"', svg).group(1)) - 76 - 12  # px of the time axis
    assert 440 <= axis <= 4 * 440
    for idx, w, x, y, width in boxes:
        t = sched.tasks[int(idx)]
        assert int(w) == t.worker and int(y) == 22 + 26 * t.worker + 3
        assert abs(float(x) - (76 + axis * t.start / span)) < 0.06
        assert abs(float(x) + float(width) - (76 + axis * max(t.finish / span, t.start / span + 1.5 / axis))) < 0.11


def test_a_label_never_cuts_the_task_number():
    from chainrule.frontends.inspect.schedule import _fit
    assert _fit("t12", "grad_fc1", 20) == "t12 grad_fc1"
    assert _fit("t12", "grad_fc1", 8) == "t12 gra…"
    assert _fit("t12", "grad_fc1", 4) == "t12" and _fit("t12", "grad_fc1", 2) == ""


def test_a_bad_batch_is_refused_before_anything_is_written(tmp_path):
    with pytest.raises(IRTypeError, match="batch=0"):
        dump(models.mlp(), str(tmp_path / "d"), batch=0)
    assert not (tmp_path / "d").exists()


def test_the_cli_takes_the_batch_of_the_schedule(tmp_path, capsys):
    from chainrule.frontends.cli.main import main
    assert main(["dump", "mlp", "-o", str(tmp_path / "d"), "--batch", "7", "--no-svg"]) == 0
    with open(tmp_path / "d" / "report.html", encoding="utf-8") as f:
        assert "at N = 7," in f.read()
    assert main(["dump", "mlp", "-o", str(tmp_path / "f"), "--no-svg"]) == 0
    with open(tmp_path / "f" / "report.html", encoding="utf-8") as f:
        assert "at N = 32," in f.read()  # the default
    with pytest.raises(SystemExit):
        main(["dump", "mlp", "-o", str(tmp_path / "e"), "--batch", "0"])
    assert "--batch" in capsys.readouterr().err


@pytest.mark.skipif(CHROME is None, reason="Chromium not installed (README: apt-get install chromium)")
def test_clicking_a_task_shows_its_node_in_the_last_pass(towers_dump):
    res, _, tmp = towers_dump
    b = Browser(str(tmp / "profile"))
    try:
        b.open("file://" + os.path.abspath(res.report))
        narrow = b.js("document.querySelector('aside').getBoundingClientRect().width")
        b.js("document.getElementById('schedule').open = true")
        assert b.js("document.querySelector('aside').getBoundingClientRect().width") > narrow + 200
        b.js("document.getElementById('schedule').scrollIntoView()")
        widest = ("(function(){var best=null,el=null;document.querySelectorAll('#schedule-pane g.task').forEach(function(g){"
                  "var w=g.querySelector('rect').getBoundingClientRect().width;if(!best||w>best){best=w;el=g;}});"
                  "el.querySelector('rect').scrollIntoView({block:'center',inline:'center'});"  # the chart scrolls sideways
                  "var r=el.querySelector('rect').getBoundingClientRect();return {x:r.left,y:r.top,w:r.width,h:r.height,"
                  "node:el.dataset.node,tip:el.querySelector('title').textContent};})()")
        r = b.js(widest)  # a box wide enough that no neighbour overlaps the click
        b.click(r["x"] + r["w"] / 2, r["y"] + r["h"] / 2)
        n = len(res.steps) - 1
        assert b.js("document.getElementById('status').textContent").startswith(f"pass {n} of {n}:")
        info = b.js("document.getElementById('info').innerText")
        task = r["tip"].split(",")[0]  # "task 3"
        assert f"%{r['node']}" in info and "scheduled\ntask " in info and f"{task} on worker" in info
        b.screenshot(str(tmp / "schedule.png"))
    finally:
        b.close()


def test_a_graph_that_cannot_be_scheduled_gets_a_line_saying_why(monkeypatch):
    from chainrule.frontends.inspect import schedule

    def refuse(graph, batch):
        raise IRTypeError("graph g: no kernel for <op>")
    monkeypatch.setattr(schedule, "plan", refuse)
    got = schedule.pane(models.mlp(), 8)
    assert got == {"html": '<p class="hint">No schedule: graph g: no kernel for &lt;op&gt;</p>', "where": {}}
