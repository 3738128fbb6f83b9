"""Checkpoints: parameters and optimizer state in an ``.npz``, no pickle, written atomically.

    cr.checkpoint.save("run/checkpoint.npz", step, meta={"epoch": 3})
    meta = cr.checkpoint.load("run/checkpoint.npz", step)    # copies into step's live arrays

The file holds one array per graph parameter and state buffer (by name) and
a JSON metadata string under ``__meta__``. It is written to a temporary file
in the same folder, flushed to disk, then renamed over the target
(``os.replace`` is atomic), so a crash leaves the old checkpoint or the new
one, never half of one. Loading reads the file with ``npzfile.read_npz`` (no
pickle; a FIFO, a zip bomb or a lying ``.npy`` header is refused before any
allocation), checks every member's name, shape and dtype against the step's
graph from the ``.npy`` headers alone, before any data is read (so a crafted
member declaring gigabytes is refused at once), then the metadata's fields,
and refuses NaN/Inf arrays, before changing anything.
"""
from __future__ import annotations

import json
import os
from typing import Dict, Optional, Tuple

import numpy as np

from ...ir.errors import ChainruleError, ReadError
from ...ir.files import write_file
from ...runtime.limits import human
from .npzfile import NpzRefused, read_npz

FORMAT = "chainrule-checkpoint"
VERSION = 1
META_KEY = "__meta__"
META_MAX_BYTES = 16 << 20  # the JSON metadata (history grows by one entry per epoch)


class CheckpointError(ChainruleError, ValueError):
    """A checkpoint is missing, corrupt, or does not match the model; the message names the file."""


def _arrays(step) -> Dict[str, np.ndarray]:
    return {p.name: step.graph.initializers[p.name] for p in step.graph.params}


def save(path: str, step, meta: Optional[dict] = None) -> str:
    """Write ``step``'s parameters, optimizer state and ``meta`` to ``path`` atomically."""
    info = {"format": FORMAT, "version": VERSION, "steps": int(step.steps),
            "params": [p.name for p in step.graph.params if p.kind == "param"],
            "state": [p.name for p in step.graph.params if p.kind == "state"], **(meta or {})}
    arrays = _arrays(step)
    if META_KEY in arrays:
        raise CheckpointError(f"a parameter is named {META_KEY!r}, which checkpoints reserve")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    write_file(path, writer=lambda f: np.savez(f, **{META_KEY: np.array(json.dumps(info, sort_keys=True))}, **arrays),
               fsync=True)  # to a temporary file, flushed to disk, then renamed over path
    return path


def _described(a) -> str:
    return f"{a.dtype}{list(a.shape)}"


def _meta(path: str, heads, load) -> dict:
    """The checked metadata, read before any array: from the headers, then the one JSON string."""
    bad = [k for k, h in heads.items() if h is None]
    if bad:  # a checkpoint holds only arrays
        raise CheckpointError(f"{path}: not a readable checkpoint (corrupt entries: {', '.join(bad)})")
    if META_KEY not in heads:
        raise CheckpointError(f"{path}: not a chainrule checkpoint (no {META_KEY} entry)")
    h = heads[META_KEY]
    if h.dtype.kind not in "US" or h.shape != () or h.nbytes > META_MAX_BYTES:
        raise CheckpointError(f"{path}: its {META_KEY} entry is {_described(h)} ({human(h.nbytes)}); a "
                              f"checkpoint's metadata is one JSON string of at most {human(META_MAX_BYTES)}")
    try:
        meta = json.loads(str(load(META_KEY)))
    except ValueError as err:
        raise CheckpointError(f"{path}: unreadable metadata: {err}") from None
    _check_meta(path, meta)
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a chainrule checkpoint (format {meta.get('format')!r})")
    if meta.get("version") != VERSION:
        raise CheckpointError(f"{path}: checkpoint version {meta.get('version')} is not supported "
                              f"(this chainrule reads version {VERSION})")
    listed = list(meta.get("params", [])) + list(meta.get("state", []))
    held = [k for k in heads if k != META_KEY]
    if sorted(listed) != sorted(held):  # e.g. a damaged zip directory that drops entries
        lost = [k for k in listed if k not in held]
        extra = [k for k in held if k not in listed]
        raise CheckpointError(f"{path}: damaged checkpoint: its arrays differ from its own list "
                              f"(missing {', '.join(lost) or 'none'}; unlisted {', '.join(extra) or 'none'})")
    return meta


def _wanted(path: str, heads, expect: Optional[Dict[str, np.ndarray]], exact: bool):
    """The arrays to read: all, or those of ``expect`` whose headers declare its dtypes and shapes."""
    if expect is None:
        return None
    if exact:
        missing = [k for k in expect if k not in heads]
        extra = [k for k in heads if k not in expect and k != META_KEY]
        if missing or extra:
            parts = ([f"missing {', '.join(missing)}"] if missing else []) + \
                    ([f"unexpected {', '.join(extra)}"] if extra else [])
            raise CheckpointError(f"{path}: does not match this model and optimizer: {'; '.join(parts)}")
    for k, a in expect.items():
        h = heads.get(k)
        if h is not None and (h.shape != a.shape or h.dtype != a.dtype):
            raise CheckpointError(f"{path}: {k} is {_described(h)} in the checkpoint but {_described(a)} in the model")
    return [META_KEY] + [k for k in expect if k in heads]


def read(path: str, expect: Optional[Dict[str, np.ndarray]] = None,
         exact: bool = True) -> Tuple[dict, Dict[str, np.ndarray]]:
    """``(meta, {name: array})`` from a checkpoint file, with clear errors. The metadata is read and
    checked first, from the ``.npy`` headers and its own JSON string, before any array. With
    ``expect`` (``{name: an array like it}``) only those arrays are read, each refused unless its
    header declares that dtype and shape, and with ``exact`` the file must hold exactly those."""
    found = {}

    def check(heads, load):
        found["meta"] = _meta(path, heads, load)
        return _wanted(path, heads, expect, exact)
    try:
        arrays = read_npz(path, what="checkpoint", check=check)
    except ReadError as err:  # missing, or a FIFO (which np.load would wait on forever)
        raise CheckpointError(str(err)) from None
    except CheckpointError:
        raise
    except NpzRefused as err:
        raise CheckpointError(f"{path}: {err}") from None
    except Exception as err:  # zipfile/numpy raise many types (BadZipFile, NotImplementedError, ...)
        raise CheckpointError(f"{path}: not a readable checkpoint (corrupt or truncated .npz): {err}") from None
    arrays.pop(META_KEY, None)
    return found["meta"], arrays


def _count(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


# metadata field -> (what it must be, test); absent fields are fine (meta= may add others)
FIELDS = {
    "params": ("a list of names", lambda v: isinstance(v, list) and all(isinstance(k, str) for k in v)),
    "state": ("a list of names", lambda v: isinstance(v, list) and all(isinstance(k, str) for k in v)),
    "steps": ("a whole number >= 0", _count),
    "epoch": ("a whole number >= 0", _count),
    "batch": ("a whole number >= 0", _count),
    "history": ("a list of objects (one per epoch)", lambda v: isinstance(v, list) and all(isinstance(h, dict) for h in v)),
    "config": ("an object", lambda v: isinstance(v, dict)),
}


def _check_meta(path: str, meta) -> None:
    """Refuse metadata whose fields have the wrong type (a crafted or damaged file), by field."""
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path}: the checkpoint's metadata is a {_json_kind(meta)}, not an object")
    for key, (want, ok) in FIELDS.items():
        if key in meta and not ok(meta[key]):
            raise CheckpointError(f"{path}: field {key!r} must be {want}, got {json.dumps(meta[key])[:60]}")


def _json_kind(v) -> str:
    return {list: "list", str: "string", int: "number", float: "number", bool: "boolean"}.get(type(v), "null")


def resume_point(path: str, meta: dict, epochs: int, nbatches: int):
    """``(start epoch, batches of it already done, history)`` of a checkpoint to resume, checked
    against this run's epoch length: a position past the epoch's end would skip it silently."""
    start, skip = meta.get("epoch", 0), meta.get("batch", 0)
    if skip >= max(nbatches, 1):
        raise CheckpointError(f"{path}: field 'batch' is {skip}, but an epoch has {nbatches} batches; "
                              f"the checkpoint is damaged or from another data set")
    return start, skip, list(meta.get("history", []))


def read_meta(path: str) -> dict:
    """A checkpoint's metadata, checked as ``read`` checks it, without reading its arrays."""
    return read(path, expect={}, exact=False)[0]


def load(path: str, step) -> dict:
    """Copy a checkpoint into ``step``'s live arrays (all or nothing); returns its metadata."""
    live = _arrays(step)
    meta, arrays = read(path, expect=live)  # names, dtypes and shapes checked before any data is read
    for k, b in arrays.items():  # NaN weights would train (and predict) NaN from the first step
        bad = int(np.count_nonzero(~np.isfinite(b))) if b.dtype.kind == "f" else 0
        if bad:
            raise CheckpointError(f"{path}: {k} holds {bad} non-finite values (NaN or Inf); refused, "
                                  f"nothing was loaded")
    for k, a in live.items():
        np.copyto(a, arrays[k])
    step.steps = int(meta.get("steps", 0))
    return meta


def load_weights(path: str, model) -> list:
    """Copy only the trained parameters (kind ``param``) of a checkpoint into ``model`` for inference:
    no optimizer, no optimizer state. ``model`` is a cr.nn module (load before ``cr.compile(model)``:
    the inference pipeline folds the weights into the compiled graph), a Graph, or a compiled
    Executable or TrainStep whose parameters are live. Returns the names loaded.

        model = cr.nn.mlp([64, 64, 10])
        cr.checkpoint.load_weights("chainrule-run/checkpoint.npz", model)
        exe = cr.compile(model)
    """
    from ..python.nn import Module
    if isinstance(model, Module):
        live = dict(model.named_parameters())
    else:
        g = getattr(model, "graph", model)
        params = [p for p in getattr(g, "params", []) if p.kind == "param"]
        for p in params:  # a parsed graph has typed parameters but no arrays yet
            if p.name not in g.initializers:
                g.initializers[p.name] = np.zeros([int(d) for d in p.shape], p.dtype.numpy)
        live = {p.name: g.initializers[p.name] for p in params}
    meta, arrays = read(path, expect=live, exact=False)  # only these arrays, checked before they are read
    if not live:
        raise CheckpointError(f"{path}: the model has no parameters to load into (a graph compiled for "
                              f"inference holds its weights as constants: load into the module, then compile)")
    trained = {k: arrays[k] for k in meta.get("params", []) if k in arrays}
    missing = [k for k in live if k not in trained]
    if missing:
        raise CheckpointError(f"{path}: has no {', '.join(missing)} for this model (it holds "
                              f"{', '.join(trained) or 'no parameters'})")
    for k, a in live.items():
        np.copyto(a, trained[k])
    return list(live)
