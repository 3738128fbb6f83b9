"""Every code block in README.md and docs/*.md is executed, so the docs cannot go stale.

- ```python blocks of one file run in order in one namespace (in a temporary folder);
- ```sh / ```console blocks run line by line: ``chainrule ...`` lines run the CLI and must
  exit 0; ``pip install ...`` lines are checked against pyproject's extras (CI itself runs
  the install); ``python -m pytest`` is this very suite; other lines run in bash;
- a block right after ``<!-- doc-test: skip: REASON -->`` is skipped, and the reason is shown.
"""
from __future__ import annotations

import os
import pathlib
import re
import shlex
import subprocess
import sys
import tomllib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md"))
BLOCK = re.compile(r"(<!-- doc-test: skip: (?P<why>[^>]*)-->\s*)?```(?P<lang>[a-z]*)\n(?P<code>.*?)```", re.S)


def blocks(path):
    for m in BLOCK.finditer(path.read_text(encoding="utf-8")):
        line = path.read_text(encoding="utf-8")[: m.start()].count("\n") + 1
        yield line, m.group("lang"), m.group("code"), m.group("why")


def _extras():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return set(meta["project"].get("optional-dependencies", {}))


def _check_pip(line, where):
    m = re.fullmatch(r"pip install -e \"?\.(\[(?P<extras>[a-z,]+)\])?\"?", line.strip())
    assert m, f"{where}: unexpected install command {line!r}"
    for extra in (m.group("extras") or "").split(","):
        assert not extra or extra in _extras(), f"{where}: extra {extra!r} is not in pyproject.toml"


def _run_shell_line(line, where, cwd):
    for part in [p.strip() for p in line.split("&&")]:
        if part.startswith("pip install"):
            _check_pip(part, where)
        elif part.startswith("python -m pytest"):
            continue  # this suite
        elif part.startswith("chainrule"):
            args = shlex.split(part)[1:]
            r = subprocess.run([sys.executable, "-m", "chainrule.frontends.cli.main", *args], cwd=cwd,
                               capture_output=True, text=True, timeout=600)
            assert r.returncode == 0, f"{where}: {part!r} exited {r.returncode}:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}"
        else:
            r = subprocess.run(["bash", "-c", part], cwd=cwd, capture_output=True, text=True, timeout=600,
                               env={**os.environ, "PYTHONPATH": str(ROOT.parent)})
            assert r.returncode == 0, f"{where}: {part!r} exited {r.returncode}:\n{r.stderr[-2000:]}"


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_code_blocks_run(path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__doc_test__"}
    ran = 0
    for line, lang, code, why in blocks(path):
        where = f"{path.name}:{line}"
        if why is not None:
            print(f"skipped {where}: {why.strip()}")
            continue
        if lang == "python":
            exec(compile(code, where, "exec"), namespace)
            ran += 1
        elif lang in ("sh", "console", "bash"):
            for cmd in code.splitlines():
                cmd = cmd.removeprefix("$ ").strip()
                if cmd and not cmd.startswith("#"):
                    _run_shell_line(cmd, where, tmp_path)
            ran += 1
    assert ran, f"{path.name} has no code block to run"


def test_readme_test_command_is_what_ci_runs():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    test_cmd = next(line for line in readme.splitlines() if "python -m pytest" in line).strip()
    install, run = [p.strip() for p in test_cmd.split("&&")]
    assert f"python -m {install}" in ci or install in ci, "README's install step differs from .ci/run"
    assert run in ci, "README's test command differs from .ci/run"


def test_every_path_the_readme_names_exists():
    """The read-the-code order and the documentation index name real files."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`((?:ir|passes|runtime|frontends|docs|examples|benchmarks)/[\w/.-]*)`", readme))
    for m in re.finditer(r"`((?:ir/ops|passes|frontends)/\w+\.py)`((?:, `\w+\.py`)+)", readme):
        folder = m.group(1).rsplit("/", 1)[0]
        named |= {f"{folder}/{f}" for f in re.findall(r"`(\w+\.py)`", m.group(2))}
    assert len(named) > 30
    missing = sorted(p for p in named if not (ROOT / p).exists())
    assert not missing, f"README names files that do not exist: {missing}"
