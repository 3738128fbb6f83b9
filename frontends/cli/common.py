"""What the model-file commands share: the error type, and reading an ONNX model or a .npz of arrays."""
from __future__ import annotations

import numpy as np

from ...ir.errors import ChainruleError


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


def read_npz(path):
    from ..train.npzfile import NpzRefused, read_npz as read_untrusted
    try:
        arrays = read_untrusted(path)
    except FileNotFoundError:
        raise CliInputError(f"{path}: no such file") from None
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
