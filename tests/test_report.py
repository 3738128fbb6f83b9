"""The HTML report: self-contained, and it opens in headless Chromium and shows the passes."""
import os
import re
import shutil
import subprocess

import pytest

from chainrule.examples import models
from chainrule.frontends.inspect.dump import dump

CHROME = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def chrome(tmp_path, *args):
    cmd = [CHROME, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run",
           f"--user-data-dir={tmp_path / 'profile'}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def test_report_is_self_contained(tmp_path):
    res = dump(models.mlp(), str(tmp_path), pipeline="gradient")
    with open(res.report, encoding="utf-8") as f:
        page = f.read()
    assert "<script src" not in page and "<link" not in page
    assert not re.search(r'(src|href)="(https?:)?//', page)
    for s in res.steps:  # every pass is there with its text and diff
        assert f'data-pass="{s.pass_name}"' in page
    assert "grad_fc1.weight" in page and "+ %grad_fc2" in page


@pytest.mark.skipif(CHROME is None, reason="Chromium not installed (README: apt-get install chromium)")
def test_report_opens_in_headless_chromium_and_steps_through_passes(tmp_path):
    res = dump(models.logistic_l2(), str(tmp_path / "d"), pipeline="gradient")
    r = chrome(tmp_path, "--dump-dom", "file://" + os.path.abspath(res.report))
    dom = r.stdout
    assert "<nav" in dom, r.stderr[-2000:]
    # the pass list and the status line exist only after the report's script ran
    items = re.findall(r'<a class="navitem[^"]*">([^<]+)</a>', dom)
    assert items == [s.label for s in res.steps]
    assert re.search(r'<span id="status">pass 4 of 5: autodiff</span>', dom)
    assert re.search(r'<section class="pass shown" data-pass="autodiff"', dom)


def test_report_without_graphviz_draws_its_own_pictures(tmp_path, monkeypatch):
    from chainrule.frontends.inspect import dump as dump_module
    monkeypatch.setattr(dump_module, "have_dot", lambda: False)
    res = dump(models.mlp(), str(tmp_path / "d"), pipeline="gradient")
    page = open(res.report, encoding="utf-8").read()
    assert "Graphviz is not installed" in page
    auto = page[page.index('data-pass="autodiff"'):]
    auto = auto[:auto.index("</section>")]
    normal, mirror = auto.split('<div class="pic mirror">')
    for pic in (normal, mirror):  # both layouts draw every node, as Graphviz names them
        for n in ("n:fc1", "n:grad_fc1.weight", "v:fc1.weight", "n:loss"):
            assert f"<title>{n}</title>" in pic


def _ghosts(page, label):
    sec = page[page.index(f'data-label="{label}"'):]
    return sec[:sec.index("</section>")]


def test_removed_nodes_are_ghosts_in_both_pictures(tmp_path):
    res = dump(models.mlp(), str(tmp_path / "d"), pipeline="training")
    page = open(res.report, encoding="utf-8").read()
    removing = [s for s in res.steps if re.search(r"-([1-9]\d*) removed", s.diff.splitlines()[0])]
    assert removing, "some pass of the training pipeline removes nodes"
    for s in removing:
        k = int(re.search(r"-(\d+) removed", s.diff.splitlines()[0]).group(1))
        normal, mirror = _ghosts(page, s.label).split('<div class="pic mirror">')
        assert mirror.count('stroke-dasharray="5,3"') == k
        facts = re.search(r'<script type="application/json" class="facts">(.*?)</script>', mirror).group(1)
        assert facts.count('"change": "removed"') == k
