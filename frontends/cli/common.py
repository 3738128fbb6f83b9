"""What the model-file commands share: the error type, and reading an ONNX model, a .npz of arrays
or a Python model file."""
from __future__ import annotations

import traceback

import numpy as np

from ...ir.errors import ChainruleError, ReadError
from ...ir.files import open_regular


class CliInputError(ChainruleError, ValueError):
    """A file given to a command is missing or does not fit the model."""


def add_import_options(p):
    """The options of every command that imports an ONNX file."""
    p.add_argument("--allow-nonfinite", action="store_true",
                   help="accept an ONNX initializer holding NaN or Inf (refused by default)")


def import_model(path, args=None, inputs=None):
    """The IR graph of ONNX file ``path`` (``--max-tensor-bytes`` and ``--allow-nonfinite`` from ``args``). A model with
    specialisation keys (inputs that set shapes) is specialised on their values in the .npz
    ``inputs``."""
    from ...ir.errors import InputError
    from ..onnx.importer import MAX_TENSOR_BYTES, import_onnx
    limit = getattr(args, "max_tensor_bytes", None) or MAX_TENSOR_BYTES
    m = import_onnx(path, max_tensor_bytes=limit, allow_nonfinite=getattr(args, "allow_nonfinite", False))
    if not hasattr(m, "specialize"):
        return m
    keys = ", ".join(m.keys)
    if inputs is None:
        raise CliInputError(f"{path}: graph input(s) {keys} set shapes, so the model's IR depends on their "
                            f"values; run it with them (chainrule run {path} --inputs in.npz ...)")
    arrays = read_npz(inputs)
    try:
        return m.specialize(arrays)
    except InputError as err:
        raise CliInputError(f"{inputs}: {err}") from None


def read_python(path: str, what: str = "file"):
    """The compiled code of Python file ``path``, read through ``open_regular`` (``runpy.run_path``
    would wait forever on a FIFO); ``ReadError`` if it is missing or not a regular file."""
    with open_regular(path, what=what) as f:
        return compile(f.read(), path, "exec")


def run_python(code, path: str) -> dict:
    """The globals of ``code`` (from ``read_python``) after running it as ``runpy.run_path`` runs a file.
    An exception of the file's own (a typo, a failed import) is a ``CliInputError`` whose message is the
    file's traceback, as ``python FILE`` prints it: from the file's frames on, without chainrule's."""
    ns = {"__name__": "<run_path>", "__file__": path}
    try:
        exec(code, ns)  # noqa: S102 (the user's own model file, as runpy would run it)
    except ChainruleError:
        raise  # chainrule's own message names what is wrong (and the file's line, when traced)
    except Exception as err:  # noqa: BLE001 (reported, with the user's frames)
        shown = "".join(traceback.format_exception(type(err), err, err.__traceback__.tb_next)).rstrip()
        raise CliInputError(f"{path} failed while it ran:\n{shown}") from None
    return ns


def read_npz(path):
    from ..train.npzfile import NpzRefused, read_npz as read_untrusted
    try:
        arrays = read_untrusted(path)
    except ReadError as err:
        raise CliInputError(str(err)) from None
    except NpzRefused as err:
        raise CliInputError(f"{path}: {err}") from None
    except Exception as err:
        raise CliInputError(f"{path}: not a readable .npz file: {err}") from None
    bad = [k for k, a in arrays.items() if not isinstance(a, np.ndarray)]
    if bad:
        raise CliInputError(f"{path}: not a readable .npz file (members that are not .npy arrays: {', '.join(bad)})")
    return arrays


def read_feeds(g, path):
    arrays = read_npz(path)
    names = [v.name for v in g.inputs]
    missing = [n for n in names if n not in arrays]
    extra = [k for k in arrays if k not in names]
    if missing or extra:
        raise CliInputError(f"{path}: " + "; ".join(
            s for s in (f"missing input(s) {', '.join(missing)}" if missing else "",
                        f"unknown input(s) {', '.join(extra)}" if extra else "") if s)
            + f" (the model's inputs: {', '.join(names)})")
    return {n: arrays[n] for n in names}
