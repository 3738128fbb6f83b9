"""Packaging and layering guards (issue 2).

- every folder with an ``__init__.py`` is listed in pyproject's ``packages``
  (an unlisted subpackage silently vanishes from the wheel);
- the only ``.py`` at the repo root is ``__init__.py``; ``tests/`` has no ``__init__.py``;
- layering: ``ir/`` imports no other layer and never onnx; ``passes/`` and ``runtime/``
  import only ``ir/`` (checked on the import statements, with ast); nothing imports torch.
"""
import ast
import os
import tomllib

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAYERS = ("ir", "passes", "runtime", "frontends")
SKIP_DIRS = {".git", "tests", "docs", "build", "dist", "__pycache__", ".ci"}


def _pyproject():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        return tomllib.load(f)


def _package_dirs():
    """Dotted package names of every folder holding an __init__.py."""
    out = []
    for dirpath, dirnames, filenames in os.walk(ROOT):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith(".")
                             and not d.endswith(".egg-info"))
        if "__init__.py" in filenames:
            rel = os.path.relpath(dirpath, ROOT)
            out.append("chainrule" if rel == "." else "chainrule." + rel.replace(os.sep, "."))
    return out


def test_every_package_folder_is_listed_in_pyproject():
    listed = set(_pyproject()["tool"]["setuptools"]["packages"])
    missing = [p for p in _package_dirs() if p not in listed]
    assert not missing, f"add these packages to [tool.setuptools] packages in pyproject.toml: {missing}"


def test_package_dir_maps_root_to_chainrule():
    cfg = _pyproject()
    assert cfg["tool"]["setuptools"]["package-dir"] == {"chainrule": "."}
    assert cfg["project"]["name"] == "chainrule"
    deps = " ".join(cfg["project"]["dependencies"])
    assert "torch" not in deps
    for dep in ("numpy", "networkx", "onnx>=1.21"):
        assert dep in deps


def test_no_other_python_file_at_root():
    extra = [f for f in os.listdir(ROOT) if f.endswith(".py") and f != "__init__.py"]
    assert not extra, f"only __init__.py may live at the repo root, found {extra}"


def test_tests_is_not_a_package():
    assert not os.path.exists(os.path.join(ROOT, "tests", "__init__.py"))


def _imports(path):
    """(level, module) of each import statement; level 0 is absolute."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield 0, a.name
        elif isinstance(node, ast.ImportFrom):
            yield node.level, node.module or ""


def _layer_files(layer):
    base = os.path.join(ROOT, layer)
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for f in sorted(filenames):
            if f.endswith(".py"):
                yield os.path.join(dirpath, f)


def _target_layer(path, level, module):
    """The top-level layer (or outside module) an import statement refers to."""
    if level == 0:
        top = module.split(".")[0]
        if top == "chainrule":
            parts = module.split(".")
            return parts[1] if len(parts) > 1 else "chainrule"
        return top
    rel = os.path.relpath(os.path.dirname(path), ROOT).split(os.sep)
    base = rel[: len(rel) - (level - 1)] if level - 1 <= len(rel) else []
    parts = [p for p in base if p != "."] + ([m for m in module.split(".") if m] if module else [])
    return parts[0] if parts else "chainrule"


ALLOWED = {"ir": {"ir"}, "passes": {"ir", "passes"}, "runtime": {"ir", "runtime"},
           "frontends": set(LAYERS)}


@pytest.mark.parametrize("layer", LAYERS)
def test_layering(layer):
    bad = []
    for path in _layer_files(layer):
        for level, module in _imports(path):
            target = _target_layer(path, level, module)
            rel = os.path.relpath(path, ROOT)
            if target in ("torch",):
                bad.append(f"{rel} imports torch")
            if target == "onnx" or target == "onnxruntime":
                if layer != "frontends":
                    bad.append(f"{rel} imports {module} (only frontends/ may)")
            elif level > 0 or module.split(".")[0] == "chainrule":
                if target not in ALLOWED[layer]:
                    bad.append(f"{rel} imports the {target} layer ({'.' * level}{module})")
            if level == 0 and module.split(".")[0] == "chainrule":
                bad.append(f"{rel} uses an absolute import of {module} (use relative imports)")
    assert not bad, "\n".join(bad)


def test_layer_checker_sees_a_violation(tmp_path):
    """The checker itself can fail: a relative import from ir/ into passes/ is flagged."""
    fake = os.path.join(ROOT, "ir", "ops", "x.py")
    assert _target_layer(fake, 3, "passes.basic") == "passes"
    assert _target_layer(fake, 2, "types") == "ir"
    assert _target_layer(os.path.join(ROOT, "ir", "core.py"), 2, "passes") == "passes"


def test_readme_names_the_python_version_pyproject_requires():
    import pathlib
    import re
    import sys
    root = pathlib.Path(__file__).resolve().parents[1]
    want = tomllib.loads((root / "pyproject.toml").read_text())["project"]["requires-python"]
    version = re.fullmatch(r">=(\d+\.\d+)", want).group(1)
    assert f"Python ≥ {version}" in (root / "README.md").read_text(encoding="utf-8")
    assert sys.version_info >= tuple(int(p) for p in version.split("."))


#: frontends/ rooms, bottom to top: a room imports only rooms below it (and itself).
ROOMS = {"version": 0, "python": 1, "onnx": 2, "compile": 3, "train": 4, "inspect": 4, "cli": 5}


def _room(path):
    rel = os.path.relpath(path, os.path.join(ROOT, "frontends")).split(os.sep)
    return rel[0][:-3] if rel[0].endswith(".py") else rel[0]


def _target_room(path, level, module):
    rel = os.path.relpath(os.path.dirname(path), ROOT).split(os.sep)
    base = rel[: len(rel) - (level - 1)]
    parts = [p for p in base if p != "."] + [m for m in module.split(".") if m]
    return parts[1] if len(parts) > 1 and parts[0] == "frontends" else None


def test_frontends_rooms_import_only_downwards():
    bad = []
    for path in _layer_files("frontends"):
        here = _room(path)
        if here == "__init__":
            continue
        for level, module in _imports(path):
            there = _target_room(path, level, module) if level > 0 else None
            if there is None or there == here:
                continue
            if ROOMS[there] >= ROOMS[here]:
                bad.append(f"{os.path.relpath(path, ROOT)} ({here}) imports frontends/{there}")
    assert not bad, "\n".join(bad)


def test_room_checker_sees_a_violation():
    fake = os.path.join(ROOT, "frontends", "python", "nn.py")
    assert _room(fake) == "python"
    assert _target_room(fake, 2, "compile") == "compile"
    assert ROOMS["compile"] > ROOMS["python"]
