"""Parse IR text (the grammar is in ``ir.printer``) back into a ``Graph``.

``print_graph(parse_graph(text)) == text`` for every printed graph. Errors are
``ParseError`` with the line, the column and the offending line of text.
Parameter arrays are not part of the text: parsed parameters have types but
no initializers unless ``initializers=`` supplies them.
"""
from __future__ import annotations

import json
import re
from typing import Dict, List, Optional

import numpy as np

from .core import Graph, Node, Provenance, Value
from .errors import ChainruleError, ParseError
from .ops import get_op
from .types import DType, TensorType

MAX_NESTING = 64  # attribute lists and dense data: deeper than any tensor rank
MAX_DIM = 2**63 - 1

_TOKEN = re.compile(r"""
    (?P<ws>[ \t]+)
  | (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<var>%(?:"(?:[^"\\]|\\.)*"|[A-Za-z0-9_][A-Za-z0-9_.]*))
  | (?P<num>-?(?:\d+\.\d*(?:[eE][-+]?\d+)?|\d+[eE][-+]?\d+|\d+|inf)(?![A-Za-z0-9_]))
  | (?P<dense>dense<)
  | (?P<word>[A-Za-z_][A-Za-z0-9_.]*)
  | (?P<arrow><-)
  | (?P<meta>\#\[)
  | (?P<punct>[{}()\[\],:=>])
""", re.VERBOSE)


class _Lexer:
    def __init__(self, line: str, lineno: int):
        self.line, self.lineno = line, lineno
        self.toks = []
        pos = 0
        while pos < len(line):
            m = _TOKEN.match(line, pos)
            if not m:
                self.fail(f"unexpected character {line[pos]!r}", pos)
            if m.lastgroup != "ws":
                self.toks.append((m.lastgroup, m.group(), pos))
            pos = m.end()
        self.i = 0

    def fail(self, msg, col=None):
        if col is None:
            col = self.toks[self.i][2] if self.i < len(self.toks) else len(self.line)
        raise ParseError(f"line {self.lineno}, column {col + 1}: {msg}\n  {self.line}\n  {' ' * col}^")

    def json(self, tok) -> str:
        """The text of a JSON-string token; a bad escape (``"\\x41"``) is a ParseError here."""
        kind, val, col = tok
        if kind != "string" and not (kind == "var" and val[1:2] == '"'):
            self.fail(f"expected a JSON string, found {val!r}", col)
        try:
            return json.loads(val[1:] if kind == "var" else val)
        except ValueError as err:
            self.fail(f"bad string {val}: {getattr(err, 'msg', err)} (strings use JSON escapes, "
                      f"such as \\n and \\u0041)", col)

    def peek(self):
        return self.toks[self.i] if self.i < len(self.toks) else ("eol", "", len(self.line))

    def next(self):
        tok = self.peek()
        if tok[0] == "eol":
            self.fail("unexpected end of line")
        self.i += 1
        return tok

    def expect(self, text):
        kind, val, col = self.next()
        if val != text:
            self.i -= 1
            self.fail(f"expected {text!r}, found {val!r}")
        return val

    def accept(self, text):
        if self.peek()[1] == text:
            self.i += 1
            return True
        return False

    def at_end(self):
        return self.i >= len(self.toks)

    # -- pieces --------------------------------------------------------------
    def name_of(self, tok):
        kind, val, _ = tok
        if kind != "var":
            self.i -= 1
            self.fail(f"expected a %value, found {val!r}")
        return self.json(tok) if val[1:2] == '"' else val[1:]

    def var(self):
        return self.name_of(self.next())

    def op_call(self, resolve):
        """``Op(%a, %b, ...)``: the op and its operands, each name looked up by ``resolve(name, column)``."""
        kind, opname, opcol = self.next()
        if kind != "word":
            self.i -= 1
            self.fail(f"expected an op name, found {opname!r}")
        try:
            op = get_op(opname)
        except ChainruleError as err:
            self.fail(str(err), opcol)
        self.expect("(")
        operands = []
        if not self.accept(")"):
            while True:
                tok = self.next()
                operands.append(resolve(self.name_of(tok), tok[2]))
                if self.accept(")"):
                    break
                self.expect(",")
        return op, operands

    def attr_items(self) -> dict:
        """``key=value, ...}`` after an opening ``{``."""
        attrs = {}
        while True:
            kind, key, _ = self.next()
            if kind != "word":
                self.i -= 1
                self.fail(f"expected an attribute name, found {key!r}")
            self.expect("=")
            if key in attrs:
                self.i -= 2
                self.fail(f"attribute {key!r} is given twice")
            attrs[key] = self.value()
            if self.accept("}"):
                return attrs
            self.expect(",")

    def dtype(self):
        kind, val, _ = self.next()
        if val not in DType.__members__:
            self.i -= 1
            self.fail(f"unknown dtype {val!r} (dtypes: {', '.join(DType.__members__)})")
        return DType[val]

    def type(self):
        dt = self.dtype()
        self.expect("[")
        dims = []
        if not self.accept("]"):
            while True:
                kind, val, _ = self.next()
                if kind == "num" and re.fullmatch(r"\d+", val):
                    if int(val) > MAX_DIM:  # NumPy shapes are int64
                        self.i -= 1
                        self.fail(f"dimension {val} is larger than {MAX_DIM}")
                    dims.append(int(val))
                elif kind == "word":
                    dims.append(val)
                else:
                    self.i -= 1
                    self.fail(f"expected a dimension, found {val!r}")
                if self.accept("]"):
                    break
                self.expect(",")
        return TensorType(tuple(dims), dt)

    def array(self, t: TensorType, what: str, depth: int = 0, col: Optional[int] = None) -> np.ndarray:
        """A nested list (or scalar) of type ``t``: dense data, or a specialisation key's value
        (errors point at ``col``, default: the data)."""
        col = self.peek()[2] if col is None else col
        data = self.value(depth)
        try:
            arr = np.array(data, dtype=t.dtype.numpy)
        except (TypeError, ValueError, OverflowError) as err:  # e.g. 1000 in an i8
            self.fail(f"bad {what}: {err}", col)
        if arr.size == 0 and 0 in t.shape:  # an empty tensor prints as [] whatever its shape
            arr = arr.reshape(t.shape)
        if arr.shape != t.shape:
            self.fail(f"{what} has shape {list(arr.shape)}, its type says {t}", col)
        return arr

    def value(self, depth: int = 0):
        kind, val, col = self.next()
        if depth > MAX_NESTING:  # a recursion bound: 5,000 '[' would overflow Python's stack
            self.fail(f"attribute value nested deeper than {MAX_NESTING} levels", col)
        if kind == "num":
            if val in ("inf", "-inf"):
                return float(val)
            return float(val) if any(c in val for c in ".eE") else int(val)
        if kind == "string":
            return self.json((kind, val, col))
        if kind == "word":
            consts = {"true": True, "false": False, "none": None, "nan": float("nan")}
            if val in consts:
                return consts[val]
            if val in DType.__members__:
                return DType[val]
            self.i -= 1
            self.fail(f"unknown attribute value {val!r}")
        if val == "[":
            items = []
            if not self.accept("]"):
                while True:
                    items.append(self.value(depth + 1))
                    if self.accept("]"):
                        break
                    self.expect(",")
            return tuple(items)
        if kind == "dense":
            t = self.type()
            self.expect(">")
            return self.array(t, "dense data", depth + 1, col)
        self.i -= 1
        self.fail(f"expected an attribute value, found {val!r}")


def parse_graph(text: str, initializers: Optional[Dict[str, np.ndarray]] = None) -> Graph:
    """Parse one graph from IR text."""
    if not isinstance(text, str):
        raise ParseError(f"IR text must be a str, not {type(text).__name__}")
    # universal newlines, as open() reads a file for ``chainrule check``
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    g: Optional[Graph] = None
    env: Dict[str, Value] = {}
    outputs: List[str] = []
    updates = []
    closed = False
    region = None  # (finish, body lines) while reading a fused node's body
    for lineno, raw in enumerate(lines, 1):
        if region is not None:
            if raw.strip() == "}":
                region[0](region[1])
                region = None
            elif raw.strip():
                region[1].append(_Lexer(raw, lineno))
            continue
        if not raw.strip() or raw.lstrip().startswith("//"):
            continue
        lx = _Lexer(raw, lineno)
        if closed:
            lx.fail("text after the closing '}'", 0)
        if g is None:
            lx.expect("graph")
            kind, val, _ = lx.next()
            if kind not in ("word", "string", "num"):
                lx.i -= 1
                lx.fail(f"expected a graph name, found {val!r}")
            g = Graph(lx.json((kind, val, _)) if kind == "string" else val)
            lx.expect("{")
        elif lx.accept("}"):
            closed = True
        else:
            finish = _statement(lx, g, env, outputs, updates)
            if finish is not None:
                region = (finish, [])
        if not lx.at_end():
            lx.fail(f"unexpected {lx.peek()[1]!r} at end of line")
    if g is None:
        raise ParseError("empty IR text: expected 'graph NAME {'")
    if region is not None:
        raise ParseError(f"line {len(lines)}: missing closing '}}' of a Fused body")
    if not closed:
        raise ParseError(f"line {len(lines)}: missing closing '}}' of graph {g.name}")

    def lookup(ref, what):
        name, lx, col = ref  # where the name was written, for the error message
        if name not in env:
            lx.fail(f"{what} %{name} is not defined", col)
        if what == "updated parameter" and env[name].kind not in ("param", "state"):
            lx.fail(f"{what} %{name} is a graph {env[name].kind}, not a parameter or state", col)
        return env[name]
    g.outputs = [lookup(n, "output") for n in outputs]
    g.updates = [(lookup(p, "updated parameter"), lookup(v, "update value")) for p, v in updates]
    for name, arr in (initializers or {}).items():
        if name in env and env[name].kind in ("param", "state"):
            g.initializers[name] = arr
    return g


def _ref(lx: _Lexer):
    """A %name resolved after the whole graph is read: (name, lexer, column) for errors."""
    col = lx.peek()[2]
    return lx.var(), lx, col


def _statement(lx: _Lexer, g: Graph, env, outputs, updates):
    kind, val, col = lx.peek()
    if kind == "word" and val in ("input", "param", "state"):
        lx.next()
        name = lx.var()
        lx.expect(":")
        t = lx.type()
        if name in env:
            lx.fail(f"%{name} is defined twice", col)
        try:
            env[name] = g.add_input(name, t) if val == "input" else g.add_param(name, type=t, kind=val)
        except ChainruleError as err:
            lx.fail(str(err), col)
        if val == "input" and lx.accept("key"):
            kcol = lx.peek()[2]
            if not t.is_static:
                lx.fail(f"specialisation key %{name} needs a static type, not {t}", kcol)
            arr = lx.array(t, f"key data of %{name}")
            try:
                g.set_key(env[name], arr)
            except ChainruleError as err:
                lx.fail(str(err), kcol)
        return
    if kind == "word" and val == "return":
        lx.next()
        if not lx.at_end():
            outputs.append(_ref(lx))
            while lx.accept(","):
                outputs.append(_ref(lx))
        return
    if kind == "word" and val == "update":
        lx.next()
        p = _ref(lx)
        lx.expect("<-")
        updates.append((p, _ref(lx)))
        return
    if kind == "word" and val == "meta":
        lx.next()
        _graph_meta(lx, g)
        return
    # results = Op(args) {attrs} #[meta]
    results = []
    while True:
        name = lx.var()
        lx.expect(":")
        results.append((name, lx.type()))
        if not lx.accept(","):
            break
    lx.expect("=")
    def defined(name, col):
        if name not in env:
            lx.fail(f"%{name} is used before it is defined", col)
        return env[name]
    op, args = lx.op_call(defined)
    opname = op.name
    attrs = {}
    region = False
    if lx.accept("{"):
        region = lx.at_end()  # "{" ending the line opens a body region (Fused)
        if not region:
            attrs = lx.attr_items()
    prov = Provenance()
    if lx.accept("#["):
        while not lx.accept("]"):
            kind, key, kcol = lx.next()
            lx.expect("=")
            kind, val, vcol = lx.next()
            if key == "by":
                prov.created_by = lx.json((kind, val, vcol)) if kind == "string" else val
            elif key == "phase":
                prov.phase = val
            elif key == "of":
                lx.i -= 1
                prov.grad_of = lx.var()
            elif key == "rule":
                prov.rule = lx.json((kind, val, vcol))
            else:
                lx.fail(f"unknown metadata key {key!r}", kcol)
    if not region and lx.accept("{"):
        region = True
        if not lx.at_end():
            lx.fail("a body region '{' must end the line")
    if region:
        def finish(body_lines):
            attrs[getattr(op, "region_attr", None) or "body"] = _region(body_lines, args, lx)
            _make_node(lx, g, env, op, opname, args, attrs, prov, results, col)
        return finish
    _make_node(lx, g, env, op, opname, args, attrs, prov, results, col)


def _graph_meta(lx: _Lexer, g: Graph):
    """``meta KEY = JSON``: the rest of the line after ``=`` is one JSON value."""
    kind, key, kcol = lx.next()
    if kind == "string":
        key = lx.json((kind, key, kcol))
    elif kind != "word":
        lx.i -= 1
        lx.fail(f"expected a metadata key, found {key!r}")
    if key in g.meta:
        lx.fail(f"metadata {key!r} is given twice", kcol)
    lx.expect("=")
    col = lx.toks[lx.i - 1][2] + 1
    try:
        value = json.loads(lx.line[col:])
    except ValueError as err:
        lx.fail(f"metadata {key!r}: bad JSON value: {getattr(err, 'msg', err)}", col)
    try:
        g.set_meta(key, value)
    except ChainruleError as err:
        lx.fail(str(err), kcol)
    lx.i = len(lx.toks)


def _region(body_lines, args, head: _Lexer):
    """Parse a Fused body: steps ``%name: TYPE = Op(%operands) {attrs}`` -> the ``body`` tuple."""
    from .ops.fused import Step, step_types
    refs = {v.name: k for k, v in enumerate(args)}
    body = []
    for lx in body_lines:
        name = lx.var()
        lx.expect(":")
        t = lx.type()
        lx.expect("=")
        def ref(nm, col):
            if nm not in refs:
                lx.fail(f"%{nm} is neither an input of the Fused node nor an earlier step", col)
            return refs[nm]
        op, operands = lx.op_call(ref)
        opname = op.name
        attrs = lx.attr_items() if lx.accept("{") else {}
        if not lx.at_end():
            lx.fail(f"unexpected {lx.peek()[1]!r} at end of line")
        try:
            attrs = op.check_attrs(attrs)
            body.append(Step(opname, tuple(operands), tuple(sorted(attrs.items())), name))
            got = step_types([v.type for v in args], body)[-1]
        except ChainruleError as err:
            lx.fail(str(err), 0)
        if got != t:
            lx.fail(f"step %{name} has type {got}, the line says {t}", 0)
        refs[name] = len(args) + len(body) - 1
    if not body:
        head.fail("a Fused body needs at least one step", 0)
    return tuple(body)


def _make_node(lx, g, env, op, opname, args, attrs, prov, results, col):
    try:
        attrs = op.check_attrs(attrs)
        node = Node(op, args, attrs, prov)
        op.check_arity(len(args))
        if len(results) != op.output_count(attrs):
            lx.fail(f"{opname} has {op.output_count(attrs)} result(s), the line names {len(results)}", col)
        for name, _ in results:
            if name in env:
                lx.fail(f"%{name} is defined twice", col)
        g.add_node(node, [t for _, t in results], [n for n, _ in results])
    except ChainruleError as err:
        if isinstance(err, ParseError):
            raise
        lx.fail(str(err), col)
    for out in node.outputs:
        env[out.name] = out
    if prov.grad_of is not None and prov.rule is None:
        fwd = env.get(prov.grad_of)
        if fwd is not None and fwd.producer is not None:
            prov.rule = fwd.producer.op.rule
