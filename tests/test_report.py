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
    assert re.search(r'<span id="status">pass 3 of 4: autodiff</span>', dom)
    assert re.search(r'<section class="pass shown" data-pass="autodiff"', dom)


@pytest.mark.skipif(CHROME is None, reason="Chromium not installed (README: apt-get install chromium)")
def test_report_screenshot_is_drawn(tmp_path):
    res = dump(models.mlp(), str(tmp_path / "d"), pipeline="gradient")
    shot = tmp_path / "shot.png"
    chrome(tmp_path, "--window-size=1400,900", f"--screenshot={shot}", "file://" + os.path.abspath(res.report))
    with open(shot, "rb") as f:
        png = f.read()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20000  # a page with a picture, not a blank one
