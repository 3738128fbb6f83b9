"""Find every ``raise <X>Error(...)`` of the package whose class is a ChainruleError subclass.

A site is named ``module:function#k``: the dotted module (``ir.parser``), the enclosing
function's qualified name (``_Lexer.fail``; ``<module>`` at top level), and k, counting that
function's ChainruleError raises from 1 in source order. Line numbers are not part of the
name, so unrelated edits do not rename sites.
"""
from __future__ import annotations

import ast
import importlib
import pathlib
import pkgutil
from dataclasses import dataclass
from typing import Dict, List

ROOT = pathlib.Path(__file__).resolve().parents[1]
LAYERS = ("ir", "passes", "runtime", "frontends")


@dataclass
class Site:
    key: str
    module: str
    path: str
    first: int
    last: int
    cls: str


def package_modules() -> List[str]:
    names = []
    for layer in LAYERS:
        pkg = importlib.import_module(f"chainrule.{layer}")
        for info in pkgutil.walk_packages(pkg.__path__, f"chainrule.{layer}."):
            names.append(info.name)
    return sorted(set(names) | {f"chainrule.{layer}" for layer in LAYERS})


def error_classes() -> Dict[str, type]:
    """Every ChainruleError subclass defined anywhere in the package (importing all modules)."""
    from chainrule.ir.errors import ChainruleError
    for name in package_modules():
        importlib.import_module(name)
    out, todo = {}, [ChainruleError]
    while todo:
        c = todo.pop()
        if c.__module__.startswith("chainrule."):
            out[c.__name__] = c
        todo.extend(c.__subclasses__())
    return out


def _raised_name(node: ast.Raise):
    exc = node.exc
    f = exc.func if isinstance(exc, ast.Call) else exc
    if isinstance(f, ast.Name):
        return f.id
    if isinstance(f, ast.Attribute):
        return f.attr
    return None


def _path_of(module: str) -> pathlib.Path:
    rel = module.split(".")[1:]
    p = ROOT.joinpath(*rel)
    return p / "__init__.py" if p.is_dir() else p.with_suffix(".py")


def raise_sites() -> List[Site]:
    classes = error_classes()
    sites = []
    for module in package_modules():
        path = _path_of(module)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        counts: Dict[str, int] = {}

        def visit(node, scope):
            for child in ast.iter_child_nodes(node):
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    visit(child, scope + [child.name])
                    continue
                if isinstance(child, ast.Raise) and child.exc is not None:
                    cls = _raised_name(child)
                    if cls in classes:
                        fn = ".".join(scope) or "<module>"
                        counts[fn] = counts.get(fn, 0) + 1
                        short = module.removeprefix("chainrule.")
                        sites.append(Site(f"{short}:{fn}#{counts[fn]}", short, str(path), child.lineno,
                                          child.end_lineno, cls))
                visit(child, scope)
        visit(tree, [])
    return sites


if __name__ == "__main__":
    for s in raise_sites():
        print(s.key, s.cls, f"{s.path.rsplit('/', 1)[-1]}:{s.first}")
