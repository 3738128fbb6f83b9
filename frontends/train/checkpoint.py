"""Checkpoints: parameters and optimizer state in an ``.npz``, no pickle, written atomically.

    cr.checkpoint.save("run/checkpoint.npz", step, meta={"epoch": 3})
    meta = cr.checkpoint.load("run/checkpoint.npz", step)    # copies into step's live arrays

The file holds one array per graph parameter and state buffer (by name) and
a JSON metadata string under ``__meta__``. It is written to a temporary file
in the same folder, flushed to disk, then renamed over the target
(``os.replace`` is atomic), so a crash leaves the old checkpoint or the new
one, never half of one. Loading uses ``allow_pickle=False`` and checks every
name, shape and dtype against the step's graph before changing anything.
"""
from __future__ import annotations

import json
import os
import tempfile
from typing import Dict, Optional

import numpy as np

from ...ir.errors import ChainruleError

FORMAT = "chainrule-checkpoint"
VERSION = 1
META_KEY = "__meta__"


class CheckpointError(ChainruleError, ValueError):
    """A checkpoint is missing, corrupt, or does not match the model; the message names the file."""


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


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
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".ckpt-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **{META_KEY: np.array(json.dumps(info, sort_keys=True))}, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def require_zip(path: str) -> None:
    """Raise ValueError unless ``path`` starts like a zip archive (an .npz is one). Without this,
    np.load reads any other file as a pickle and suggests ``allow_pickle``: misleading here."""
    if os.path.isdir(path):
        raise ValueError("it is a folder")
    with open(path, "rb") as f:
        head = f.read(4)
    if head[:2] != b"PK":
        raise ValueError(f"it is not a zip archive (an .npz file starts with b'PK', this one with {head!r})")


def read(path: str):
    """``(meta, {name: array})`` from a checkpoint file, with clear errors."""
    if not os.path.exists(path):
        raise CheckpointError(f"{path}: no such checkpoint")
    try:
        require_zip(path)
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except Exception as err:  # zipfile/numpy raise many types (BadZipFile, NotImplementedError, ...)
        raise CheckpointError(f"{path}: not a readable checkpoint (corrupt or truncated .npz): {err}") from None
    bad = [k for k, a in arrays.items() if not isinstance(a, np.ndarray)]
    if bad:  # NpzFile hands back raw bytes for a member that is not a valid .npy
        raise CheckpointError(f"{path}: not a readable checkpoint (corrupt entries: {', '.join(bad)})")
    if META_KEY not in arrays:
        raise CheckpointError(f"{path}: not a chainrule checkpoint (no {META_KEY} entry)")
    try:
        meta = json.loads(str(arrays.pop(META_KEY)))
    except ValueError as err:
        raise CheckpointError(f"{path}: unreadable metadata: {err}") from None
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a chainrule checkpoint (format {meta.get('format')!r})")
    if meta.get("version") != VERSION:
        raise CheckpointError(f"{path}: checkpoint version {meta.get('version')} is not supported "
                              f"(this chainrule reads version {VERSION})")
    listed = list(meta.get("params", [])) + list(meta.get("state", []))
    if sorted(listed) != sorted(arrays):  # e.g. a damaged zip directory that drops entries
        lost = [k for k in listed if k not in arrays]
        extra = [k for k in arrays if k not in listed]
        raise CheckpointError(f"{path}: damaged checkpoint: its arrays differ from its own list "
                              f"(missing {', '.join(lost) or 'none'}; unlisted {', '.join(extra) or 'none'})")
    return meta, arrays


def load(path: str, step) -> dict:
    """Copy a checkpoint into ``step``'s live arrays (all or nothing); returns its metadata."""
    meta, arrays = read(path)
    live = _arrays(step)
    missing = [k for k in live if k not in arrays]
    extra = [k for k in arrays if k not in live]
    if missing or extra:
        parts = ([f"missing {', '.join(missing)}"] if missing else []) + \
                ([f"unexpected {', '.join(extra)}"] if extra else [])
        raise CheckpointError(f"{path}: does not match this model and optimizer: {'; '.join(parts)}")
    for k, a in live.items():
        b = arrays[k]
        if a.shape != b.shape or a.dtype != b.dtype:
            raise CheckpointError(f"{path}: {k} is {b.dtype}{list(b.shape)} in the checkpoint but "
                                  f"{a.dtype}{list(a.shape)} in the model")
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
    meta, arrays = read(path)
    if isinstance(model, Module):
        live = dict(model.named_parameters())
    else:
        g = getattr(model, "graph", model)
        params = [p for p in getattr(g, "params", []) if p.kind == "param"]
        for p in params:  # a parsed graph has typed parameters but no arrays yet
            if p.name not in g.initializers:
                g.initializers[p.name] = np.zeros([int(d) for d in p.shape], p.dtype.numpy)
        live = {p.name: g.initializers[p.name] for p in params}
    if not live:
        raise CheckpointError(f"{path}: the model has no parameters to load into (a graph compiled for "
                              f"inference holds its weights as constants: load into the module, then compile)")
    trained = {k: arrays[k] for k in meta.get("params", []) if k in arrays}
    missing = [k for k in live if k not in trained]
    if missing:
        raise CheckpointError(f"{path}: has no {', '.join(missing)} for this model (it holds "
                              f"{', '.join(trained) or 'no parameters'})")
    for k, a in live.items():
        b = trained[k]
        if a.shape != b.shape or a.dtype != b.dtype:
            raise CheckpointError(f"{path}: {k} is {b.dtype}{list(b.shape)} in the checkpoint but "
                                  f"{a.dtype}{list(a.shape)} in the model")
    for k, a in live.items():
        np.copyto(a, trained[k])
    return list(live)
